import Synchronization

/// What the cases of a run are doing right now: for the progress line, which shows the running cases and what the
/// longest-running one waits for. Cases register when they start, update their activity at each step, and leave
/// when they end. Safe to use from any task.
public final class RunActivity: Sendable {
    /// One running case.
    public struct Entry: Sendable, Hashable {
        /// The case id.
        public var id: String
        /// When the case started.
        public var started: ContinuousClock.Instant
        /// What the case is doing or waiting for, in words (`waiting for the server's 300 s timer
        /// channelAttributesEmptyTtlMs`, `alice: waiting up to 5 s for JoinChannelResponse`).
        public var activity: String
    }

    private let state = Mutex<[String: Entry]>([:])

    /// Creates an empty activity record.
    public init() {}

    /// Registers a case that starts now.
    public func begin(_ id: String, at start: ContinuousClock.Instant = .now) {
        self.state.withLock { $0[id] = Entry(id: id, started: start, activity: "starting") }
    }

    /// Sets what a running case is doing.
    public func update(_ id: String, _ activity: String) {
        self.state.withLock { entries in
            entries[id]?.activity = activity
        }
    }

    /// Removes a case that ended.
    public func end(_ id: String) {
        _ = self.state.withLock { $0.removeValue(forKey: id) }
    }

    /// The running cases, longest-running first (ties by id).
    public var running: [Entry] {
        self.state.withLock { Array($0.values) }.sorted { ($0.started, $0.id) < ($1.started, $1.id) }
    }
}

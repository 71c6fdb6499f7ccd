import Foundation
import Synchronization

/// The client's clock: Unix milliseconds, and a way to wait for one.
///
/// The client reads time only through its clock, so tests drive heartbeats, request timeouts and reconnection
/// delays with a ``ManualClientClock`` instead of sleeping.
public protocol ClientClock: Sendable {
    /// The current time in Unix milliseconds.
    func nowMs() -> Int64
    /// Returns when ``nowMs()`` has reached `deadlineMs`.
    ///
    /// - Throws: `CancellationError` when the task is cancelled first.
    func sleep(untilMs deadlineMs: Int64) async throws
}

/// The system's clock.
public struct SystemClientClock: ClientClock {
    /// Creates the clock.
    public init() {}

    /// The wall clock in Unix milliseconds.
    public func nowMs() -> Int64 {
        let now = ContinuousClock.now
        return Self.originMs + (now - Self.origin).milliseconds
    }

    /// Sleeps on the continuous clock.
    public func sleep(untilMs deadlineMs: Int64) async throws {
        let delay = deadlineMs - self.nowMs()
        if delay > 0 { try await Task.sleep(for: .milliseconds(delay)) }
    }

    // The wall clock read once; later readings advance with the monotonic clock, so a step of the wall clock
    // does not fire or starve the client's timers.
    private static let origin = ContinuousClock.now
    private static let originMs = Int64((Date().timeIntervalSince1970 * 1000).rounded())
}

extension Duration {
    /// The duration in whole milliseconds.
    var milliseconds: Int64 {
        let components = self.components
        return components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}

/// A clock that moves only when told to: for deterministic tests of a ``HeraldClient``.
public final class ManualClientClock: ClientClock {
    private struct Sleeper {
        var deadlineMs: Int64
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var nowMs: Int64
        var sleepers: [Int: Sleeper] = [:]
        var nextID = 0
    }

    private let state: Mutex<State>

    /// Creates a clock reading `startMs`.
    public init(startMs: Int64 = 1_800_000_000_000) {
        self.state = Mutex(State(nowMs: startMs))
    }

    /// The clock's time.
    public func nowMs() -> Int64 {
        self.state.withLock { $0.nowMs }
    }

    /// Moves the clock forward by `milliseconds` and wakes the sleepers whose deadline has come.
    public func advance(byMs milliseconds: Int64) {
        let due: [CheckedContinuation<Void, any Error>] = self.state.withLock { state in
            state.nowMs += milliseconds
            let now = state.nowMs
            let ids = state.sleepers.filter { $0.value.deadlineMs <= now }.map(\.key)
            return ids.compactMap { state.sleepers.removeValue(forKey: $0)?.continuation }
        }
        for continuation in due { continuation.resume() }
    }

    /// Returns once ``advance(byMs:)`` has moved the clock to `deadlineMs`.
    public func sleep(untilMs deadlineMs: Int64) async throws {
        let id = self.state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow: Bool = self.state.withLock { state in
                    if state.nowMs >= deadlineMs || Task.isCancelled { return true }
                    state.sleepers[id] = Sleeper(deadlineMs: deadlineMs, continuation: continuation)
                    return false
                }
                if resumeNow {
                    if Task.isCancelled {
                        continuation.resume(throwing: CancellationError())
                    } else {
                        continuation.resume()
                    }
                }
            }
        } onCancel: {
            let sleeper = self.state.withLock { $0.sleepers.removeValue(forKey: id) }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }
}

import Synchronization

/// How late the runner itself runs: the time its own tasks could not run because the machine (or the runner's own
/// crowds) kept the processors busy.
///
/// A sampler task sleeps ``interval`` again and again; whatever it oversleeps beyond ``tolerance`` is lag. A wait
/// for a frame that ends with nothing is extended by the lag that accrued during it, and so is a case's budget:
/// on a busy machine a deadline measures the server, not the scheduler. On an idle machine the lag stays zero and
/// every wait is exactly as written.
public final class RunnerLag: Sendable {
    /// How often the sampler wakes.
    public static let interval = Duration.milliseconds(20)
    /// Oversleeping up to this much is scheduling noise, not lag.
    public static let tolerance = Duration.milliseconds(10)

    private let state = Mutex<(total: Duration, worst: Duration)>((.zero, .zero))

    /// Creates a monitor; nothing is measured until ``run()``.
    public init() {}

    /// The lag accrued since the monitor started.
    public var total: Duration {
        self.state.withLock { $0.total }
    }

    /// The longest single stall seen.
    public var worst: Duration {
        self.state.withLock { $0.worst }
    }

    /// Samples until the task is cancelled.
    public func run() async {
        var last = ContinuousClock.now
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: Self.interval)
            } catch {
                return
            }
            let now = ContinuousClock.now
            self.record(overslept: now - last - Self.interval)
            last = now
        }
    }

    /// Counts an oversleep of the sampler (also used by tests).
    func record(overslept: Duration) {
        guard overslept > Self.tolerance else { return }
        self.state.withLock { state in
            state.total += overslept
            state.worst = max(state.worst, overslept)
        }
    }

    /// Runs `body` while the monitor samples.
    public func measuring<Result: Sendable>(_ body: () async -> Result) async -> Result {
        await withTaskGroup(of: Void.self, returning: Result.self) { group in
            group.addTask { await self.run() }
            let result = await body()
            group.cancelAll()
            return result
        }
    }
}

/// A deadline that moves later by the runner's lag: ``expired()`` says whether it has truly passed, extending it
/// by the lag that accrued since it was set (or last extended).
struct LagAdjustedDeadline {
    /// The current deadline.
    private(set) var instant: ContinuousClock.Instant
    /// How much it has been extended so far.
    private(set) var extended: Duration = .zero
    private let lag: RunnerLag?
    private var lagSeen: Duration

    init(_ instant: ContinuousClock.Instant, lag: RunnerLag?) {
        self.instant = instant
        self.lag = lag
        self.lagSeen = lag?.total ?? .zero
    }

    /// Called when a wait until ``instant`` ended with nothing: `false` (and a later ``instant``) when lag accrued
    /// meanwhile, `true` when the deadline has truly passed.
    mutating func expired() -> Bool {
        guard let lag = self.lag else { return true }
        let now = lag.total
        let accrued = now - self.lagSeen
        self.lagSeen = now
        guard accrued > .zero else { return true }
        self.instant = max(self.instant, .now) + accrued
        self.extended += accrued
        return false
    }
}

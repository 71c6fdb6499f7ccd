import HeraldMessages
import Histogram
import NIOCore

/// Helpers shared by the pressure scenarios (`stall`, `overload`, `churn`).
enum Scenario {
    /// `duration` in nanoseconds (negative durations count as zero).
    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return max(0, seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// The monotonic clock, in nanoseconds.
    static func now() -> UInt64 {
        NIODeadline.now().uptimeNanoseconds
    }

    /// Nanoseconds from `start` to `end` (default: now; 0 if `start` is later).
    static func elapsed(since start: UInt64, until end: UInt64 = Scenario.now()) -> UInt64 {
        end > start ? end - start : 0
    }

    /// A latency histogram in microseconds, up to 60 s, three significant digits.
    static func histogram() -> Histogram<UInt64> {
        Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    }

    /// Records `nanoseconds` into `histogram` in microseconds (clamped to its range).
    static func record(_ nanoseconds: UInt64, into histogram: inout Histogram<UInt64>) {
        _ = histogram.record(min(nanoseconds / 1000, histogram.highestTrackableValue))
    }

    /// The value at `percentile` in milliseconds (0 for an empty histogram).
    static func milliseconds(_ histogram: Histogram<UInt64>, _ percentile: Double) -> Double {
        guard histogram.totalCount > 0 else { return 0 }
        return Double(histogram.valueAtPercentile(percentile)) / 1000
    }

    /// The largest value in milliseconds (0 for an empty histogram).
    static func maximumMilliseconds(_ histogram: Histogram<UInt64>) -> Double {
        guard histogram.totalCount > 0 else { return 0 }
        return Double(histogram.max) / 1000
    }

    /// The advertised limit of `rateClass` as (count, window in ms), `nil` when the class is not limited.
    static func rateLimit(_ welcome: Herald_V1_Welcome?, _ rateClass: Herald_V1_RateClass) -> (Int, Int)? {
        guard let limit = welcome?.rateLimits.first(where: { $0.rateClass == rateClass }), limit.count > 0,
            limit.windowMs > 0
        else { return nil }
        return (Int(limit.count), Int(limit.windowMs))
    }

    /// Problems counted by clients that are expected to run cleanly: `ProtocolError`s, `Disconnect`s (apart from
    /// those named in `except`), transport, framing and response-matching failures; counters with another prefix
    /// (for example `nack.`) are not included, unless `prefix` names it.
    static func problems(_ stats: BenchStats, prefix: String = "", except: Set<String> = []) -> Int {
        stats.counters.filter { key, _ in
            guard key.hasPrefix(prefix), !except.contains(key) else { return false }
            let key = key.dropFirst(prefix.count)
            return
                (key.hasPrefix("protocol-error.") || key.hasPrefix("disconnect.") || key.hasPrefix("transport.")
                || key.hasPrefix("frame.") || key.hasPrefix("response.") || key.hasPrefix("connect."))
        }.values.reduce(0, +)
    }

    /// The counters of `stats` whose names start with `prefix`, as one `name=count` list (for check details).
    static func list(_ stats: BenchStats, prefix: String) -> String {
        let items = stats.counters.filter { $0.key.hasPrefix(prefix) && $0.value > 0 }.sorted { $0.key < $1.key }
        return items.isEmpty ? "none" : items.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
    }
}

extension EventLoopPromise where Value == Void {
    /// Succeeds or fails the promise with `result`.
    func complete(with result: Result<Void, BenchError>) {
        switch result {
        case .success: self.succeed()
        case .failure(let error): self.fail(error)
        }
    }
}

extension Scenario {
    /// A short random id that keeps the user ids of one run apart from those of another.
    static func runID() -> String {
        String(UInt32.random(in: 0...UInt32.max), radix: 36)
    }

    /// Runs `body` for every index of `indices`, at most `concurrency` at a time; the first error ends the run.
    static func forEach(
        _ indices: Range<Int>,
        concurrency: Int,
        _ body: @escaping @Sendable (Int) async throws(BenchError) -> Void
    ) async throws(BenchError) {
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                var next = indices.lowerBound
                var running = 0
                while next < indices.upperBound || running > 0 {
                    while next < indices.upperBound && running < max(1, concurrency) {
                        let index = next
                        group.addTask { try await body(index) }
                        next += 1
                        running += 1
                    }
                    try await group.next()
                    running -= 1
                }
            }
        } catch let error as BenchError {
            throw error
        } catch {
            throw BenchError(.run, "\(error)")
        }
    }

    /// Runs `body` on `loop` every `delay` (first after `initialDelay`); call on `loop`.
    static func repeating(
        on loop: any EventLoop,
        every delay: TimeAmount,
        initialDelay: TimeAmount = .zero,
        _ body: @escaping (RepeatedTask) -> Void
    ) -> RepeatedTask {
        let bound = NIOLoopBound(body, eventLoop: loop)
        return loop.scheduleRepeatedTask(initialDelay: initialDelay, delay: delay) { task in bound.value(task) }
    }

    /// Runs `body` on `loop` after `delay`; call on `loop`.
    static func after(_ delay: TimeAmount, on loop: any EventLoop, _ body: @escaping () -> Void) {
        loop.assumeIsolated().scheduleTask(in: delay, body)
    }

    /// Runs `body` on `loop` and returns its result.
    static func onLoop<T: Sendable>(
        _ loop: any EventLoop,
        _ body: @escaping @Sendable () throws -> T
    ) async throws(BenchError) -> T {
        do {
            return try await loop.submit(body).get()
        } catch let error as BenchError {
            throw error
        } catch {
            throw BenchError(.run, "\(error)")
        }
    }

    /// Runs `body` on `loop` and waits for the future it returns.
    static func waitOn<T: Sendable>(
        _ loop: any EventLoop,
        _ body: @escaping @Sendable () -> EventLoopFuture<T>
    ) async throws(BenchError) -> T {
        do {
            return try await loop.flatSubmit(body).get()
        } catch let error as BenchError {
            throw error
        } catch {
            throw BenchError(.run, "\(error)")
        }
    }
}

extension Scenario {
    /// The resident set size of process `pid` in KiB (`VmRSS` of `/proc/PID/status`), `nil` when unreadable.
    static func rss(pid: Int32) -> Int? {
        ProcFS.contents("/proc/\(pid)/status").flatMap { ProcFS.value("VmRSS", in: $0) }
    }
}

/// The largest RSS seen by periodic samples.
actor ScenarioRSSMaximum {
    private(set) var maximumKiB: Int?

    /// Samples `pid` every 2 s until cancelled.
    func run(pid: Int32) async {
        while !Task.isCancelled {
            if let rss = Scenario.rss(pid: pid) { self.maximumKiB = max(self.maximumKiB ?? 0, rss) }
            try? await Task.sleep(for: .seconds(2))
        }
    }
}

/// The clients of a scenario on one event loop, with what they need to connect; used only on that loop.
class ScenarioGroup {
    /// The loop.
    let loop: any EventLoop
    /// The loop's statistics.
    let stats: BenchLoopStats
    /// The server.
    let target: BenchTarget
    /// The app the clients log in to.
    let appID: String
    /// The clients made by ``makeClient(_:)``.
    private(set) var clients: [BenchClient] = []

    init(loop: any EventLoop, stats: BenchLoopStats, target: BenchTarget, appID: String) {
        self.loop = loop
        self.stats = stats
        self.target = target
        self.appID = appID
    }

    /// A new client named `user` on this loop that counts `closed.by-server`, kept for ``close()``.
    func makeClient(_ user: String) -> BenchClient {
        let client = BenchClient(name: user, eventLoop: self.loop, loopStats: self.stats)
        client.countClosesByServer()
        self.clients.append(client)
        return client
    }

    /// Closes every client made by ``makeClient(_:)``.
    func close() {
        for client in self.clients { client.close() }
    }

    /// Closes the clients of every group, each on its loop.
    static func close<Group: ScenarioGroup>(_ groups: [NIOLoopBound<Group>]) async {
        for group in groups { try? await Scenario.onLoop(group.eventLoop) { group.value.close() } }
    }
}

import HeraldMessages
import NIOCore

/// Options of ``LoginBenchmark``.
public struct LoginOptions: Sendable {
    /// Cycles in all, each a distinct user.
    public var logins = 5000
    /// Cycles in flight at any time.
    public var concurrency = 16
    /// Event-loop threads of the load generator.
    public var threads = 1
    /// The server's pid, to sample its CPU, syscalls and context switches (``ServerProbe``).
    public var serverPID: Int32?

    /// Creates default options.
    public init() {}
}

/// `herald bench login`: how many logins with real tokens the server completes per second.
///
/// ``LoginOptions/concurrency`` cycles run at a time, ``LoginOptions/logins`` in all, each: a new TCP connection,
/// `Hello`, `LoginRequest` with a JWT minted for its own user (all minted before the measured region, so that the
/// generator's signing is not measured, while the server's verification is), `LoginResponse` `OK`, `LogoutRequest`,
/// close. Reported: logins per second and the latency of the login, from the start of the TCP connect and from the
/// `LoginRequest`, to the `LoginResponse`.
public enum LoginBenchmark {
    /// Runs the scenario against `target`.
    ///
    /// - Throws: ``BenchError`` when the options are wrong or the event loops cannot start (refused logins are
    ///   counted, and fail the run's checks).
    public static func run(
        target: BenchTarget,
        credentials: BenchCredentials,
        options: LoginOptions,
        progress: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws(BenchError) -> BenchReport {
        guard options.logins > 0, options.concurrency > 0 else {
            throw BenchError(.usage, "--logins and --concurrency must be positive")
        }
        let probe = try ServerProbe(serverPID: options.serverPID)
        try BenchDescriptors.reserve(options.concurrency + 64, for: "login with --concurrency \(options.concurrency)")
        let loops = try await BenchLoops.start(threads: options.threads)
        defer { Task { await loops.shutdown() } }
        let runID = Scenario.runID()
        let users = (0..<options.logins).map { "lg\(runID)-\($0)" }
        progress("minting \(users.count) tokens")
        let tokens = try await credentials.tokens(for: users)
        // One login before the measured region: an unreachable server or a wrong secret ends the run here (exit 3).
        let checkUser = "lg\(runID)-check"
        let checkToken = try await credentials.token(for: checkUser)
        let loop = loops.loop(for: 0)
        try await Scenario.waitOn(loop) { [appID = credentials.appID] in
            let client = BenchClient(name: checkUser, eventLoop: loop, loopStats: BenchLoopStats())
            let promise = loop.makePromise(of: Void.self)
            client.connectAndLogin(to: target, appID: appID, userID: checkUser, token: checkToken) { result in
                client.close()
                promise.complete(with: result)
            }
            return promise.futureResult
        }
        let count = loops.loops.count
        let drivers = try await loops.onEach { [appID = credentials.appID] loop, stats in
            let number = loops.loops.firstIndex { $0 === loop } ?? 0
            let mine = stride(from: number, to: users.count, by: count).map { (users[$0], tokens[$0]) }
            return LoginDriver(loop: loop, stats: stats, target: target, appID: appID, logins: mine)
        }
        progress("\(options.logins) logins, \(options.concurrency) at a time")
        let start = probe.mark()
        var done: [EventLoopFuture<Void>] = []
        for (number, driver) in drivers.enumerated() {
            let slots = options.concurrency / drivers.count + (number < options.concurrency % drivers.count ? 1 : 0)
            done.append(try await Scenario.onLoop(driver.eventLoop) { driver.value.run(slots: slots) })
        }
        for future in done { _ = try? await future.get() }
        let end = probe.mark()
        let stats = try await loops.results()
        var report = Self.report(
            target: target,
            options: options,
            stats: stats,
            seconds: Double(end.nanoseconds - start.nanoseconds) / 1e9
        )
        report.add(BenchUsage(from: start, to: end, operations: [("login", stats["login.ok"])]))
        return report
    }

    static func report(target: BenchTarget, options: LoginOptions, stats: BenchStats, seconds: Double) -> BenchReport {
        var report = BenchReport(
            scenario: "login",
            target: target.description,
            parameters: [
                "logins": "\(options.logins)", "concurrency": "\(options.concurrency)",
                "threads": "\(options.threads)",
            ],
            counters: stats.counters,
            notes: stats.notes
        )
        let logins = stats["login.ok"]
        report.figures += [
            .init(name: "logins OK", value: Double(logins)),
            .init(name: "logins per second", value: Double(logins) / max(seconds, 0.001), unit: "/s"),
            .init(name: "run time", value: seconds, unit: "s"),
        ]
        report.addLatency(stats.histogram("login from connect"), label: "connect to LoginResponse")
        report.addLatency(stats, label: "LoginRequest to LoginResponse")
        let failures = stats.counters.filter {
            ($0.key.hasPrefix("login.") || $0.key.hasPrefix("logout.") || $0.key.hasPrefix("connect."))
                && !$0.key.hasSuffix(".ok")
        }
        let problems = Scenario.problems(stats, except: ["disconnect.logout"])
        report.checks = [
            .init(
                name: "every login and logout OK",
                passed: logins == options.logins && stats["cycle.ok"] == options.logins,
                detail: "\(logins) of \(options.logins) logins OK, \(stats["cycle.ok"]) cycles completed; failed: "
                    + (failures.isEmpty
                        ? "none"
                        : failures.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))
            ),
            .init(
                name: "protocol errors and disconnects",
                passed: problems == 0,
                detail: "\(problems) apart from Disconnect LOGOUT (must be 0)"
            ),
        ]
        return report
    }
}

/// The login cycles of ``LoginBenchmark`` on one event loop.
final class LoginDriver: ScenarioGroup {
    let logins: [(String, String)]
    private var next = 0
    private var running = 0
    private var done: EventLoopPromise<Void>?

    init(loop: any EventLoop, stats: BenchLoopStats, target: BenchTarget, appID: String, logins: [(String, String)]) {
        self.logins = logins
        super.init(loop: loop, stats: stats, target: target, appID: appID)
    }

    /// Runs this loop's logins, `slots` at a time.
    func run(slots: Int) -> EventLoopFuture<Void> {
        let promise = self.loop.makePromise(of: Void.self)
        self.done = promise
        for _ in 0..<max(1, slots) { self.cycle() }
        return promise.futureResult
    }

    private func cycle() {
        guard self.next < self.logins.count else {
            if self.running == 0, let done = self.done {
                self.done = nil
                done.succeed()
            }
            return
        }
        let (user, token) = self.logins[self.next]
        self.next += 1
        self.running += 1
        let began = Scenario.now()
        let client = BenchClient(name: user, eventLoop: self.loop, loopStats: self.stats)
        client.cycle(to: self.target, appID: self.appID, userID: user, token: token) { client, login, next in
            client.stats.record("login from connect", nanoseconds: Scenario.elapsed(since: began))
            client.stats.recordLatency(microseconds: login.elapsedNanoseconds / 1000)
            next(nil)
        } completion: { [self] _ in
            self.running -= 1
            // The next connection starts on the next tick, so the close is on its way first.
            Scenario.after(.zero, on: self.loop) { [self] in self.cycle() }
        }
    }
}

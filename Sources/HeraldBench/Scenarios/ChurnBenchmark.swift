import HeraldMessages
import NIOCore

/// Options of ``ChurnBenchmark``.
public struct ChurnOptions: Sendable {
    /// Cycles of connect, login, renew token, logout, close.
    public var cycles = 10_000
    /// Connections doing cycles at the same time.
    public var parallel = 8
    /// Token renewals done by the long sessions in total.
    public var renewals = 1000
    /// Long sessions that stay logged in and renew their token (each within the advertised renewal rate).
    public var longSessions = 16
    /// The share of the cycles and renewals done before the post-warm-up RSS sample, in percent.
    public var warmUpPercent = 10
    /// The server's pid (its RSS is read from `/proc/PID/status`).
    public var serverPID: Int32?
    /// The largest RSS growth from the post-warm-up sample to the end that passes, in MiB.
    public var rssBoundMiB = 5
    /// Event-loop threads of the load generator.
    public var threads = 1

    /// Creates default options.
    public init() {}
}

/// `herald bench churn`: is memory bounded by live sessions, whatever came and went before?
///
/// ``ChurnOptions/parallel`` connections each repeat: connect, Hello, login, `RenewTokenRequest`, logout, close,
/// until ``ChurnOptions/cycles`` cycles are done; meanwhile ``ChurnOptions/longSessions`` sessions stay logged in
/// and renew their token ``ChurnOptions/renewals`` times in total, each as often as its advertised
/// `RATE_CLASS_RENEW_TOKEN` limit allows. The server's RSS is sampled before the run, after the warm-up (the first
/// ``ChurnOptions/warmUpPercent`` % of cycles and renewals, then 1 s of quiet) and at the end (after 1 s of quiet).
/// Verdict: every cycle and renewal succeeded, and the end RSS is within ``ChurnOptions/rssBoundMiB`` MiB of the
/// post-warm-up one.
public enum ChurnBenchmark {
    /// Runs the scenario against `target`.
    ///
    /// - Throws: ``BenchError`` when the server cannot be reached or a login of a long session fails.
    public static func run(
        target: BenchTarget,
        credentials: BenchCredentials,
        options: ChurnOptions,
        progress: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws(BenchError) -> BenchReport {
        guard options.cycles > 0, options.parallel > 0, options.renewals >= 0, options.longSessions > 0,
            (0..<100).contains(options.warmUpPercent)
        else {
            throw BenchError(
                .usage,
                "--cycles, --parallel and --long-sessions must be positive, --renewals not negative, "
                    + "--warm-up-percent from 0 to 99"
            )
        }
        let probe = try ServerProbe(serverPID: options.serverPID)
        let loops = try await BenchLoops.start(threads: options.threads)
        defer { Task { await loops.shutdown() } }
        let runID = Scenario.runID()
        let appID = credentials.appID
        // One driver per loop, with its share of the connections and long sessions.
        var drivers: [NIOLoopBound<ChurnDriver>] = []
        for (number, loop) in loops.loops.enumerated() {
            var cycleUsers: [(String, String)] = []
            var longUsers: [(String, String)] = []
            for index in stride(from: number, to: options.parallel, by: loops.loops.count) {
                let user = "ch\(runID)-c\(index)"
                cycleUsers.append((user, try await credentials.token(for: user)))
            }
            for index in stride(from: number, to: options.longSessions, by: loops.loops.count) {
                let user = "ch\(runID)-l\(index)"
                longUsers.append((user, try await credentials.token(for: user)))
            }
            let cycles = cycleUsers
            let longs = longUsers
            drivers.append(
                try await Scenario.onLoop(loop) {
                    NIOLoopBound(
                        ChurnDriver(
                            loop: loop,
                            stats: loops.stats(on: loop),
                            target: target,
                            appID: appID,
                            cycleUsers: cycles,
                            longUsers: longs
                        ),
                        eventLoop: loop
                    )
                }
            )
        }
        let rssStart = options.serverPID.flatMap { Scenario.rss(pid: $0) }
        let sampler = ScenarioRSSMaximum()
        let pid = options.serverPID
        let sampling = Task {
            if let pid { await sampler.run(pid: pid) }
        }
        defer { sampling.cancel() }
        for driver in drivers {
            try await Scenario.waitOn(driver.eventLoop) { driver.value.startLongSessions() }
        }

        func split(_ total: Int, _ index: Int) -> Int {
            total / drivers.count + (index < total % drivers.count ? 1 : 0)
        }
        func phase(cycles: Int, renewals: Int) async throws(BenchError) {
            var futures: [EventLoopFuture<Void>] = []
            for (index, driver) in drivers.enumerated() {
                let (myCycles, myRenewals) = (split(cycles, index), split(renewals, index))
                futures.append(
                    try await Scenario.onLoop(driver.eventLoop) {
                        driver.value.run(cycles: myCycles, renewals: myRenewals)
                    }
                )
            }
            for future in futures {
                do {
                    try await future.get()
                } catch {
                    throw BenchError(.run, "\(error)")
                }
            }
        }

        let warmCycles = options.cycles * options.warmUpPercent / 100
        let warmRenewals = options.renewals * options.warmUpPercent / 100
        let started = Scenario.now()
        progress("warm-up: \(warmCycles) cycles, \(warmRenewals) renewals")
        try await phase(cycles: warmCycles, renewals: warmRenewals)
        try? await Task.sleep(for: .seconds(1))
        let rssWarm = options.serverPID.flatMap { Scenario.rss(pid: $0) }
        let measuredStart = probe.mark()
        progress("measured: \(options.cycles - warmCycles) cycles, \(options.renewals - warmRenewals) renewals")
        try await phase(cycles: options.cycles - warmCycles, renewals: options.renewals - warmRenewals)
        let measuredEnd = probe.mark()
        let measuredSeconds = Double(measuredEnd.nanoseconds - measuredStart.nanoseconds) / 1e9
        for driver in drivers {
            try await Scenario.waitOn(driver.eventLoop) { driver.value.finish() }
        }
        try? await Task.sleep(for: .seconds(1))
        let rssEnd = options.serverPID.flatMap { Scenario.rss(pid: $0) }
        let totalSeconds = Double(Scenario.elapsed(since: started)) / 1e9
        sampling.cancel()
        let rssMaximum = await sampler.maximumKiB
        let stats = try await loops.results()
        var report = Self.report(
            target: target,
            options: options,
            stats: stats,
            rss: (rssStart, rssWarm, rssEnd, rssMaximum),
            measuredSeconds: measuredSeconds,
            totalSeconds: totalSeconds
        )
        report.add(
            BenchUsage(
                label: "after warm-up",
                from: measuredStart,
                to: measuredEnd,
                operations: [("cycle", options.cycles - warmCycles)]
            )
        )
        return report
    }

    static func report(
        target: BenchTarget,
        options: ChurnOptions,
        stats: BenchStats,
        rss: (start: Int?, warm: Int?, end: Int?, max: Int?),
        measuredSeconds: Double,
        totalSeconds: Double
    ) -> BenchReport {
        var report = BenchReport(
            scenario: "churn",
            target: target.description,
            parameters: [
                "cycles": "\(options.cycles)", "parallel": "\(options.parallel)", "renewals": "\(options.renewals)",
                "long-sessions": "\(options.longSessions)", "warm-up-percent": "\(options.warmUpPercent)",
                "server-pid": options.serverPID.map { "\($0)" } ?? "none", "rss-bound-mib": "\(options.rssBoundMiB)",
                "threads": "\(options.threads)",
            ],
            counters: stats.counters,
            notes: stats.notes
        )
        let cycles = stats["cycle.ok"]
        let renewals = stats["long.renew.ok"]
        let measuredCycles = options.cycles - options.cycles * options.warmUpPercent / 100
        report.figures += [
            .init(name: "cycles completed", value: Double(cycles)),
            .init(name: "long-session renewals", value: Double(renewals)),
            .init(
                name: "cycles per second (after warm-up)",
                value: Double(measuredCycles) / max(measuredSeconds, 0.001)
            ),
            .init(name: "run time", value: totalSeconds, unit: "s"),
        ]
        for (name, value) in [("start", rss.start), ("after warm-up", rss.warm), ("end", rss.end), ("max", rss.max)] {
            if let value {
                report.figures.append(.init(name: "server RSS \(name)", value: Double(value) / 1024, unit: "MiB"))
            }
        }
        if let warm = rss.warm, let end = rss.end {
            let growth = end - warm
            report.figures.append(.init(name: "RSS growth after warm-up", value: Double(growth) / 1024, unit: "MiB"))
            if measuredCycles + options.renewals > 0 {
                let perOperation =
                    Double(growth) * 1024
                    / Double(measuredCycles + options.renewals - options.renewals * options.warmUpPercent / 100)
                report.figures.append(.init(name: "RSS growth per cycle or renewal", value: perOperation, unit: "B"))
            }
        }
        let failures = stats.counters.filter {
            ($0.key.hasPrefix("login.") || $0.key.hasPrefix("renew.") || $0.key.hasPrefix("logout.")
                || $0.key.hasPrefix("long.renew.")) && !$0.key.hasSuffix(".ok")
        }
        let failed = failures.values.reduce(0, +)
        let problems = Scenario.problems(stats, except: ["disconnect.logout"])
        report.checks = [
            .init(
                name: "every cycle and renewal succeeded",
                passed: cycles == options.cycles && renewals == options.renewals && failed == 0,
                detail: "\(cycles)/\(options.cycles) cycles, \(renewals)/\(options.renewals) renewals, \(failed) "
                    + "failed steps"
                    + (failures.isEmpty
                        ? ""
                        : " (\(failures.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")))")
            ),
            .init(
                name: "protocol errors and disconnects",
                passed: problems == 0,
                detail: "\(problems) apart from Disconnect LOGOUT (must be 0)"
            ),
        ]
        if let warm = rss.warm, let end = rss.end {
            report.checks.append(
                .init(
                    name: "server RSS flat after warm-up",
                    passed: end - warm <= options.rssBoundMiB * 1024,
                    detail: "\(BenchReport.format(Double(end - warm) / 1024)) MiB "
                        + "(must be at most \(options.rssBoundMiB) MiB)"
                )
            )
        } else {
            report.checks.append(
                .init(
                    name: "server RSS flat after warm-up",
                    passed: false,
                    detail: "not sampled: give --server-pid of a server on this machine"
                )
            )
        }
        return report
    }
}

/// The clients of ``ChurnBenchmark`` on one event loop.
final class ChurnDriver {
    let loop: any EventLoop
    let stats: BenchLoopStats
    let target: BenchTarget
    let appID: String
    let cycleUsers: [(String, String)]
    let longUsers: [(String, String)]
    var longSessions: [BenchClient] = []
    var gates: [RateGate] = []
    var renewing: [Bool] = []
    var cyclesLeft = 0
    var cyclesRunning = 0
    var renewalsLeft = 0
    var phaseDone: EventLoopPromise<Void>?

    init(
        loop: any EventLoop,
        stats: BenchLoopStats,
        target: BenchTarget,
        appID: String,
        cycleUsers: [(String, String)],
        longUsers: [(String, String)]
    ) {
        self.loop = loop
        self.stats = stats
        self.target = target
        self.appID = appID
        self.cycleUsers = cycleUsers
        self.longUsers = longUsers
    }

    /// Logs in the long sessions.
    func startLongSessions() -> EventLoopFuture<Void> {
        var logins: [EventLoopFuture<Void>] = []
        for (index, (user, token)) in self.longUsers.enumerated() {
            let client = BenchClient(name: user, eventLoop: self.loop, loopStats: self.stats)
            self.longSessions.append(client)
            self.gates.append(RateGate([]))
            self.renewing.append(false)
            let promise = self.loop.makePromise(of: Void.self)
            logins.append(promise.futureResult)
            client.connectAndLogin(to: self.target, appID: self.appID, userID: user, token: token) { [self] result in
                switch result {
                case .failure(let error):
                    promise.fail(error)
                case .success:
                    self.gates[index] = RateGate(client.welcome?.rateLimits ?? [])
                    promise.succeed()
                }
            }
        }
        return EventLoopFuture.andAllSucceed(logins, on: self.loop)
    }

    /// Runs `cycles` cycles over this driver's connections and `renewals` renewals over its long sessions.
    func run(cycles: Int, renewals: Int) -> EventLoopFuture<Void> {
        let promise = self.loop.makePromise(of: Void.self)
        self.phaseDone = promise
        self.cyclesLeft = cycles
        self.renewalsLeft = self.longSessions.isEmpty ? 0 : renewals
        for slot in self.cycleUsers.indices { self.nextCycle(slot) }
        for index in self.longSessions.indices { self.nextRenewal(index) }
        self.checkDone()
        return promise.futureResult
    }

    private func checkDone() {
        guard self.cyclesLeft == 0, self.cyclesRunning == 0, self.renewalsLeft == 0,
            !self.renewing.contains(true), let done = self.phaseDone
        else { return }
        self.phaseDone = nil
        done.succeed()
    }

    private func nextCycle(_ slot: Int) {
        guard self.cyclesLeft > 0 else { return self.checkDone() }
        self.cyclesLeft -= 1
        self.cyclesRunning += 1
        let (user, token) = self.cycleUsers[slot]
        let client = BenchClient(name: user, eventLoop: self.loop, loopStats: self.stats)
        client.cycle(to: self.target, appID: self.appID, userID: user, token: token) { client, _, next in
            var renew = Herald_V1_RenewTokenRequest()
            renew.token = token
            client.send(opcode: .renewTokenRequest, renew) { answer in
                let renewed = answer.decode(Herald_V1_RenewTokenResponse.self)
                guard renewed?.result == .ok else { return next("renew.\(answer.outcome(renewed?.result))") }
                client.stats.count("renew.ok")
                next(nil)
            }
        } completion: { [self] _ in
            self.cyclesRunning -= 1
            // The next connection starts on the next tick, so the close is on its way first.
            Scenario.after(.zero, on: self.loop) { [self] in self.nextCycle(slot) }
        }
    }

    private func nextRenewal(_ index: Int) {
        guard self.renewalsLeft > 0 else {
            self.renewing[index] = false
            return self.checkDone()
        }
        let client = self.longSessions[index]
        guard client.loggedIn else {
            self.renewing[index] = false
            client.stats.problem("long.renew.session-lost", client.name)
            return self.checkDone()
        }
        self.renewing[index] = true
        guard self.gates[index].take(.renewToken, now: Scenario.now()) else {
            Scenario.after(.milliseconds(20), on: self.loop) { [self] in self.nextRenewal(index) }
            return
        }
        self.renewalsLeft -= 1
        var renew = Herald_V1_RenewTokenRequest()
        renew.token = self.longUsers[index].1
        client.send(opcode: .renewTokenRequest, renew) { [self] answer in
            let renewed = answer.decode(Herald_V1_RenewTokenResponse.self)
            if renewed?.result == .ok {
                client.stats.count("long.renew.ok")
            } else {
                let what = answer.outcome(renewed?.result)
                client.stats.problem("long.renew.\(what)", client.name)
            }
            self.nextRenewal(index)
        }
    }

    /// Logs the long sessions out and closes them.
    func finish() -> EventLoopFuture<Void> {
        var logouts: [EventLoopFuture<Void>] = []
        for client in self.longSessions {
            let promise = self.loop.makePromise(of: Void.self)
            logouts.append(promise.futureResult)
            client.send(opcode: .logoutRequest, Herald_V1_LogoutRequest()) { _ in
                client.close()
                promise.succeed()
            }
        }
        return EventLoopFuture.andAllComplete(logouts, on: self.loop)
    }
}

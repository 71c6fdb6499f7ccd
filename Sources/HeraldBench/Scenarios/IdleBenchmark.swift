import HeraldMessages
import NIOCore

/// Options of ``IdleBenchmark``.
public struct IdleOptions: Sendable {
    /// Connections, each logged in as its own user.
    public var connections = 10_000
    /// Connections being opened and logged in at the same time.
    public var concurrency = 128
    /// How long the connections stay idle after the RSS sample.
    public var hold: Duration = .seconds(5)
    /// The wait after the last login before the RSS sample.
    public var settle: Duration = .seconds(2)
    /// Event-loop threads of the load generator.
    public var threads = 1
    /// The server's pid: its RSS (`/proc/PID/status` `VmRSS`), CPU, syscalls and context switches are sampled.
    public var serverPID: Int32?

    /// Creates default options.
    public init() {}
}

/// `herald bench idle`: what an idle logged-in connection costs the server.
///
/// Opens ``IdleOptions/connections`` connections (``IdleOptions/concurrency`` at a time), each logged in as a
/// distinct user, reads the server's RSS before the first and ``IdleOptions/settle`` after the last login, and
/// reports the growth per connection. The connections then stay idle for ``IdleOptions/hold``, sending only the
/// `Ping`s the protocol asks for (HS-41: a client that sent nothing for the heartbeat interval; ``BenchClient``
/// sends one after half of it), and are closed. Verdict: every connection logged in and still logged in at the end.
public enum IdleBenchmark {
    /// Runs the scenario against `target`.
    ///
    /// - Throws: ``BenchError`` when the options are wrong, this process or the server may not open enough file
    ///   descriptors, or a connection or login fails.
    public static func run(
        target: BenchTarget,
        credentials: BenchCredentials,
        options: IdleOptions,
        progress: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws(BenchError) -> BenchReport {
        guard options.connections > 0, options.concurrency > 0, options.hold >= .zero, options.settle >= .zero else {
            throw BenchError(.usage, "--connections and --concurrency must be positive, --hold not negative")
        }
        let probe = try ServerProbe(serverPID: options.serverPID)
        try BenchDescriptors.reserve(
            options.connections + 64,
            serverPID: options.serverPID,
            for: "idle with \(options.connections) connections"
        )
        let loops = try await BenchLoops.start(threads: options.threads)
        defer { Task { await loops.shutdown() } }
        let runID = Scenario.runID()
        let users = (0..<options.connections).map { "id\(runID)-\($0)" }
        progress("minting \(users.count) tokens")
        let tokens = try await credentials.tokens(for: users)
        let groups = try await loops.onEach { [appID = credentials.appID] loop, stats in
            IdleGroup(loop: loop, stats: stats, target: target, appID: appID)
        }
        let rssBefore = probe.serverRSS()
        progress("opening \(options.connections) connections, \(options.concurrency) at a time")
        let start = probe.mark()
        do throws(BenchError) {
            try await Scenario.forEach(0..<options.connections, concurrency: options.concurrency) {
                index throws(BenchError) in
                let group = groups[index % groups.count]
                do throws(BenchError) {
                    try await Scenario.waitOn(group.eventLoop) { group.value.open(users[index], tokens[index]) }
                } catch {
                    throw BenchError(error.code, "connection \(index + 1) of \(options.connections): \(error.message)")
                }
            }
        } catch {
            await ScenarioGroup.close(groups)
            throw error
        }
        let opened = probe.mark()
        progress("all logged in; RSS sample in \(options.settle), then idle for \(options.hold)")
        try? await Task.sleep(for: options.settle)
        let rssAfter = probe.serverRSS()
        let holdStart = probe.mark()
        try? await Task.sleep(for: options.hold)
        let holdEnd = probe.mark()
        var stillLoggedIn = 0
        for group in groups { stillLoggedIn += try await Scenario.onLoop(group.eventLoop) { group.value.loggedIn } }
        await ScenarioGroup.close(groups)
        let stats = try await loops.results()
        var report = Self.report(
            target: target,
            options: options,
            stats: stats,
            rss: (rssBefore, rssAfter),
            stillLoggedIn: stillLoggedIn,
            openSeconds: Double(opened.nanoseconds - start.nanoseconds) / 1e9
        )
        report.add(
            BenchUsage(
                label: "open and log in",
                from: start,
                to: opened,
                operations: [("connection", options.connections)]
            )
        )
        report.add(
            BenchUsage(
                label: "idle hold",
                from: holdStart,
                to: holdEnd,
                operations: [("connection", options.connections)]
            )
        )
        return report
    }

    static func report(
        target: BenchTarget,
        options: IdleOptions,
        stats: BenchStats,
        rss: (before: Int?, after: Int?),
        stillLoggedIn: Int,
        openSeconds: Double
    ) -> BenchReport {
        var report = BenchReport(
            scenario: "idle",
            target: target.description,
            parameters: [
                "connections": "\(options.connections)", "concurrency": "\(options.concurrency)",
                "hold-s": "\(options.hold.components.seconds)", "threads": "\(options.threads)",
                "server-pid": options.serverPID.map { "\($0)" } ?? "none",
            ],
            counters: stats.counters,
            notes: stats.notes
        )
        let logins = stats["login.ok"]
        report.figures += [
            .init(name: "connections logged in", value: Double(logins)),
            .init(name: "opened and logged in per second", value: Double(logins) / max(openSeconds, 0.001), unit: "/s"),
            .init(name: "still logged in after the hold", value: Double(stillLoggedIn)),
            .init(name: "Pings sent", value: Double(stats["heartbeat.ping"])),
        ]
        if let before = rss.before, let after = rss.after {
            report.figures += [
                .init(name: "server RSS before", value: Double(before) / 1024, unit: "MiB"),
                .init(name: "server RSS with every connection idle", value: Double(after) / 1024, unit: "MiB"),
                .init(
                    name: "server RSS per idle logged-in connection",
                    value: Double(after - before) * 1024 / Double(max(1, options.connections)),
                    unit: "B"
                ),
            ]
        } else {
            report.notes.append("server RSS not sampled: give --server-pid PID of a server on this machine")
        }
        let problems = Scenario.problems(stats) + stats["closed.by-server"]
        report.checks = [
            .init(
                name: "every connection logged in",
                passed: logins == options.connections,
                detail: "\(logins) of \(options.connections)"
            ),
            .init(
                name: "every connection kept through the hold",
                passed: stillLoggedIn == options.connections,
                detail: "\(stillLoggedIn) of \(options.connections) still logged in"
            ),
            .init(
                name: "protocol errors and disconnects",
                passed: problems == 0,
                detail: "\(problems) (\(Scenario.list(stats, prefix: "disconnect."))) (must be 0)"
            ),
        ]
        return report
    }
}

/// The idle connections of ``IdleBenchmark`` on one event loop.
final class IdleGroup: ScenarioGroup {
    /// The connections still logged in.
    var loggedIn: Int { self.clients.filter(\.loggedIn).count }

    /// Opens a connection and logs in as `user`.
    func open(_ user: String, _ token: String) -> EventLoopFuture<Void> {
        let promise = self.loop.makePromise(of: Void.self)
        let client = self.makeClient(user)
        client.connectAndLogin(to: self.target, appID: self.appID, userID: user, token: token) { result in
            if case .success = result { client.stats.count("login.ok") }
            promise.complete(with: result)
        }
        return promise.futureResult
    }
}

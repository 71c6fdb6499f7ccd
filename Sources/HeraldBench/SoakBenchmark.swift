import Foundation
import HeraldMessages
import Histogram
import NIOCore

/// Options of ``SoakBenchmark``.
public struct SoakOptions: Sendable {
    /// Client connections, including the never-reading, never-acking and fuzzing ones (at least 20).
    public var clients = 1000
    /// How long traffic runs (the drain afterwards is extra).
    public var duration: Duration = .seconds(180)
    /// How long after the start (and after a restart of the server) RSS may still grow.
    public var warmUp: Duration = .seconds(30)
    /// Event-loop threads of the load generator.
    public var threads = 1
    /// A file holding the server's pid, read at every RSS sample (it changes when the server restarts).
    public var serverPIDFile: String?
    /// The server's pid, when it does not change.
    public var serverPID: Int32?
    /// The largest RSS growth from the end of warm-up to the end of the run that passes, in MiB.
    public var rssBoundMiB = 16
    /// Connections sending fuzzed frames.
    public var fuzzers = 4
    /// How long after its answer a message may still be on its way to a prompt reader, in milliseconds.
    public var graceMs = 2000
    /// The longest answer time of a message that passes, in milliseconds.
    public var maxLatencyMs = 2000
    /// Bytes per message body of the regular traffic.
    public var payloadBytes = 128
    /// Bytes per message body sent to the never-reading client (large, to fill the socket buffers and then its
    /// queue within the run).
    public var sinkPayloadBytes = 30_000
    /// Seconds over which the clients log in at the start.
    public var rampSeconds = 5

    /// Creates default options.
    public init() {}
}

/// The bounded soak test (Benchmarks/README.md): about a thousand clients with mixed traffic against one server for
/// a few minutes, with an exact account of every message at the end.
public enum SoakBenchmark {
    /// Runs the soak against `target`. `progress` receives one-line progress messages.
    ///
    /// - Throws: ``BenchError`` when the server cannot be reached or most clients cannot log in.
    public static func run(
        target: BenchTarget,
        credentials: BenchCredentials,
        options: SoakOptions,
        progress: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws(BenchError) -> BenchReport {
        guard options.clients >= 20 + options.fuzzers else {
            throw BenchError(.usage, "--clients must be at least 20 more than --fuzzers")
        }
        let loops: BenchLoops
        do {
            loops = try await BenchLoops(threads: options.threads)
        } catch {
            throw BenchError(.run, "cannot start event loops: \(error)")
        }
        defer { Task { await loops.shutdown() } }
        let runID = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let layout = SoakLayout(clients: options.clients, fuzzers: options.fuzzers, runID: runID)
        progress("minting \(options.clients) tokens")
        var tokens: [String] = []
        tokens.reserveCapacity(options.clients)
        for user in layout.userIDs { tokens.append(try await credentials.token(for: user)) }
        let shared = SoakShared(
            target: target,
            appID: credentials.appID,
            tokens: tokens,
            layout: layout,
            options: options
        )
        var contexts: [NIOLoopBound<SoakLoop>] = []
        for loop in loops.loops {
            do {
                contexts.append(
                    try await loop.submit {
                        NIOLoopBound(
                            SoakLoop(loop: loop, stats: loops.stats(on: loop), shared: shared),
                            eventLoop: loop
                        )
                    }.get()
                )
            } catch {
                throw BenchError(.run, "cannot set up the event loops: \(error)")
            }
        }
        let started = NIODeadline.now().uptimeNanoseconds
        let sampler = RSSSampler(pid: options.serverPID, pidFile: options.serverPIDFile, start: started)
        let sampling = Task { await sampler.run() }
        progress("starting \(options.clients) clients over \(options.rampSeconds) s")
        let rampStep = Int64(options.rampSeconds) * 1_000_000_000 / Int64(options.clients)
        for index in 0..<options.clients {
            let bound = contexts[index % contexts.count]
            bound.eventLoop.execute {
                bound.value.startClient(index: index, after: .nanoseconds(rampStep * Int64(index)))
            }
        }
        try? await Task.sleep(for: .seconds(options.rampSeconds + 2))
        var online = await Self.onlineRegulars(contexts)
        var waited = 0
        while online < layout.regulars.count && waited < 30 {
            try? await Task.sleep(for: .seconds(1))
            waited += 1
            online = await Self.onlineRegulars(contexts)
        }
        progress("\(online) of \(layout.regulars.count) regular clients logged in; traffic for \(options.duration)")
        if online * 10 < layout.regulars.count * 9 {
            sampling.cancel()
            await Self.closeAll(contexts)
            throw BenchError(.unreachable, "only \(online) of \(layout.regulars.count) regular clients could log in")
        }
        let trafficStart = ContinuousClock.now
        let trafficEnd = trafficStart + options.duration
        while ContinuousClock.now < trafficEnd {
            try? await Task.sleep(for: min(.seconds(10), trafficEnd - ContinuousClock.now))
            let elapsed = (ContinuousClock.now - trafficStart).components.seconds
            let summary = await Self.summary(contexts)
            progress("t+\(elapsed)s \(summary)")
        }
        progress("stopping traffic; letting answers arrive")
        await Self.setPhase(.stopping, contexts)
        try? await Task.sleep(for: .seconds(3))
        progress("draining: every regular client logs in and collects its cached messages")
        await Self.setPhase(.draining, contexts)
        var lastCount = -1
        var quietSince = ContinuousClock.now
        let drainDeadline = ContinuousClock.now + .seconds(45)
        while ContinuousClock.now < drainDeadline {
            try? await Task.sleep(for: .milliseconds(500))
            let count = await Self.receiptCount(contexts)
            let regularsOnline = await Self.onlineRegulars(contexts)
            if count != lastCount || regularsOnline < layout.regulars.count {
                lastCount = count
                quietSince = ContinuousClock.now
            } else if ContinuousClock.now - quietSince >= .seconds(3) {
                break
            }
        }
        let endedAt = NIODeadline.now().uptimeNanoseconds
        sampling.cancel()
        let samples = await sampler.samples
        var ledger = SoakLedger()
        var special = SoakSpecialReport()
        for bound in contexts {
            if let part = try? await bound.eventLoop.submit({ bound.value.finish(at: endedAt) }).get() {
                ledger.merge(part.ledger)
                special.merge(part.special)
            }
        }
        let stats: BenchStats
        do {
            stats = try await loops.collect()
        } catch {
            throw BenchError(.run, "cannot collect the results: \(error)")
        }
        try? await Task.sleep(for: .milliseconds(300))
        return Self.report(
            target: target,
            options: options,
            layout: layout,
            ledger: ledger,
            stats: stats,
            special: special,
            samples: samples,
            started: started,
            endedAt: endedAt
        )
    }

    private static func onlineRegulars(_ contexts: [NIOLoopBound<SoakLoop>]) async -> Int {
        var total = 0
        for bound in contexts {
            total += (try? await bound.eventLoop.submit { bound.value.onlineRegulars }.get()) ?? 0
        }
        return total
    }

    private static func receiptCount(_ contexts: [NIOLoopBound<SoakLoop>]) async -> Int {
        var total = 0
        for bound in contexts {
            total += (try? await bound.eventLoop.submit { bound.value.receiptCount }.get()) ?? 0
        }
        return total
    }

    private static func summary(_ contexts: [NIOLoopBound<SoakLoop>]) async -> String {
        var online = 0
        var sent = 0
        var received = 0
        for bound in contexts {
            if let part = try? await bound.eventLoop.submit({
                (bound.value.onlineRegulars, bound.value.ledger.peerSends.count, bound.value.receiptCount)
            }).get() {
                online += part.0
                sent += part.1
                received += part.2
            }
        }
        return "online \(online), peer messages answered \(sent), messages received \(received)"
    }

    private static func setPhase(_ phase: SoakPhase, _ contexts: [NIOLoopBound<SoakLoop>]) async {
        for bound in contexts {
            _ = try? await bound.eventLoop.submit { bound.value.setPhase(phase) }.get()
        }
    }

    private static func closeAll(_ contexts: [NIOLoopBound<SoakLoop>]) async {
        for bound in contexts {
            _ = try? await bound.eventLoop.submit { _ = bound.value.finish(at: NIODeadline.now().uptimeNanoseconds) }
                .get()
        }
    }

    // MARK: Report

    static func report(
        target: BenchTarget,
        options: SoakOptions,
        layout: SoakLayout,
        ledger: SoakLedger,
        stats: BenchStats,
        special: SoakSpecialReport,
        samples: [RSSSampler.Sample],
        started: UInt64,
        endedAt: UInt64
    ) -> BenchReport {
        let accounting = SoakAccounting(ledger, graceNanoseconds: UInt64(options.graceMs) * 1_000_000)
        var counters = stats.counters
        for (name, value) in accounting.peerOutcomes { counters["peer.\(name)"] = value }
        for (name, value) in accounting.channelOutcomes { counters["channel-message.\(name)"] = value }
        var report = BenchReport(
            scenario: "soak",
            target: target.description,
            parameters: [
                "clients": "\(options.clients)", "duration-s": "\(options.duration.components.seconds)",
                "threads": "\(options.threads)", "fuzzers": "\(options.fuzzers)",
                "regular-clients": "\(layout.regulars.count)", "channels": "\(layout.channelCount)",
                "grace-ms": "\(options.graceMs)", "rss-bound-mib": "\(options.rssBoundMiB)",
            ],
            counters: counters,
            notes: accounting.notes + stats.notes
        )
        let seconds = Double(endedAt - started) / 1e9
        func figure(_ name: String, _ value: Int) { report.figures.append(.init(name: name, value: Double(value))) }
        figure("peer messages sent", ledger.peerSends.count)
        figure("peer messages received", ledger.peerReceipts.count)
        figure("  answered CACHED_BY_SERVER", accounting.cached)
        figure("  answered CACHED_BY_SERVER before the kill", accounting.cachedBeforeKill)
        figure("    of them received after the restart", accounting.cachedBeforeKillReceivedAfter)
        figure("    of them never received", accounting.cachedBeforeKillLost)
        figure("  cached, receiver severed, delivered after it", accounting.cachedAcrossKill)
        figure("  server-mode OK in flight at a kill (not lost)", accounting.inFlightAtKill)
        figure("  unanswered (connection closed first)", ledger.peerSends.filter { $0.outcome == .unanswered }.count)
        figure("  redelivered with the same message_id (PEER-41)", accounting.redelivered)
        figure("channel messages sent", ledger.channelSends.count)
        figure("channel messages received", ledger.channelReceipts.count)
        figure("connections severed without Disconnect (kill)", ledger.severances.count)
        figure("  of them reset (ECONNRESET) by the kill, not counted as faults", accounting.resetsAtKill)
        figure("reconnects", stats["soak.reconnect"])
        report.figures.append(.init(name: "run time", value: seconds.rounded(), unit: "s"))
        if let killedAt = accounting.killedAt {
            report.figures.append(
                .init(name: "server killed at", value: (Double(killedAt - started) / 1e9).rounded(), unit: "s")
            )
        }
        report.addLatency(stats, label: "message answer")
        figure("never-reading client: cut off", special.noReadCutOff ? 1 : 0)
        if let after = special.noReadCutOffAfterSeconds {
            report.figures.append(.init(name: "never-reading client: cut off after", value: after, unit: "s"))
        }
        figure("never-acking client: Disconnects slow-consumer", stats["sink.noack.disconnect.slow-consumer"])
        figure("fuzz connections", stats["fuzz.connections"])
        figure(
            "fuzz ProtocolErrors received",
            stats.counters.filter { $0.key.hasPrefix("fuzz.protocol-error.") }.values.reduce(0, +)
        )
        // RSS, per server incarnation (a restart changes the pid).
        var rssChecks: [BenchReport.Check] = []
        let warmUpNanoseconds = UInt64(options.warmUp.components.seconds) * 1_000_000_000
        var incarnations: [Int32: [RSSSampler.Sample]] = [:]
        var order: [Int32] = []
        for sample in samples {
            if incarnations[sample.pid] == nil { order.append(sample.pid) }
            incarnations[sample.pid, default: []].append(sample)
        }
        for pid in order {
            let list = incarnations[pid]!
            let first = list[0]
            let maximum = list.map(\.rssKiB).max()!
            report.figures.append(
                .init(name: "server \(pid) RSS first", value: Double(first.rssKiB) / 1024, unit: "MiB")
            )
            report.figures.append(.init(name: "server \(pid) RSS max", value: Double(maximum) / 1024, unit: "MiB"))
            report.figures.append(
                .init(name: "server \(pid) RSS end", value: Double(list.last!.rssKiB) / 1024, unit: "MiB")
            )
            guard let warm = list.first(where: { $0.at >= first.at + warmUpNanoseconds }),
                list.last!.at >= warm.at + warmUpNanoseconds
            else { continue }
            report.figures.append(
                .init(name: "server \(pid) RSS after warm-up", value: Double(warm.rssKiB) / 1024, unit: "MiB")
            )
            let growth = list.last!.rssKiB - warm.rssKiB
            rssChecks.append(
                .init(
                    name: "server \(pid) RSS flat after warm-up",
                    passed: growth <= options.rssBoundMiB * 1024,
                    detail: String(
                        format: "%.1f MiB growth from %.1f to %.1f MiB (bound %d MiB)",
                        Double(growth) / 1024,
                        Double(warm.rssKiB) / 1024,
                        Double(list.last!.rssKiB) / 1024,
                        options.rssBoundMiB
                    )
                )
            )
        }
        if options.serverPID != nil || options.serverPIDFile != nil {
            if samples.isEmpty {
                rssChecks.append(.init(name: "server RSS sampled", passed: false, detail: "no sample could be read"))
            } else if rssChecks.isEmpty {
                rssChecks.append(
                    .init(
                        name: "server RSS flat after warm-up",
                        passed: false,
                        detail: "no server ran for twice the warm-up (\(options.warmUp.components.seconds) s)"
                    )
                )
            }
        }
        // Checks.
        func sum(_ prefix: String) -> Int {
            stats.counters.filter { $0.key.hasPrefix(prefix) }.values.reduce(0, +)
        }
        let slowConsumer = stats["disconnect.slow-consumer"] + stats["protocol-error.slow-consumer"]
        let otherProblems =
            sum("protocol-error.") + sum("disconnect.") + sum("frame.") + sum("response.") + sum("transport.")
            - slowConsumer - accounting.resetsAtKill
        let tooOften = stats.counters.filter { $0.key.contains("too-often") || $0.key.contains("tooOften") }.values
            .reduce(0, +)
        let seqFaults = stats["seq.gap"] + stats["seq.repeat"] + stats["seq.outside-stream"]
        let sentTimeouts = ledger.peerSends.filter { $0.outcome == .sentTimeout }.count
        let maxLatencyMs = Int(stats.latency.max / 1000)
        report.checks =
            [
                .init(
                    name: "all regular clients logged in",
                    passed: stats["soak.login-failed"] == 0,
                    detail: "\(stats["soak.login-failed"]) failed logins (must be 0)"
                ),
                .init(
                    name: "lost peer messages",
                    passed: accounting.lost == 0,
                    detail: "\(accounting.lost) answered OK or CACHED_BY_SERVER and never received (must be 0)"
                ),
                .init(
                    name: "duplicated peer messages",
                    passed: accounting.duplicated == 0,
                    detail: "\(accounting.duplicated) (must be 0; \(accounting.redelivered) PEER-41 redeliveries apart)"
                ),
                .init(
                    name: "reordered peer messages",
                    passed: accounting.reordered == 0,
                    detail: "\(accounting.reordered) per sender->receiver (must be 0)"
                ),
                .init(
                    name: "lost channel messages",
                    passed: accounting.channelLost == 0,
                    detail: "\(accounting.channelLost) owed to stable members and not received (must be 0)"
                ),
                .init(
                    name: "duplicated or reordered channel messages",
                    passed: accounting.channelDuplicatedOrReordered == 0,
                    detail: "\(accounting.channelDuplicatedOrReordered) (must be 0)"
                ),
                .init(
                    name: "seq gaps and repeats",
                    passed: seqFaults == 0,
                    detail: "\(seqFaults) on any stream (must be 0)"
                ),
                .init(
                    name: "slow-consumer disconnects of reading, acking clients",
                    passed: slowConsumer == 0,
                    detail: "\(slowConsumer) (must be 0)"
                ),
                .init(
                    name: "other protocol errors, disconnects, framing faults",
                    passed: otherProblems == 0,
                    detail: "\(otherProblems) on reading, acking clients (must be 0)"
                ),
                .init(
                    name: "TOO_OFTEN answers",
                    passed: tooOften == 0,
                    detail: "\(tooOften) within the advertised limits (must be 0)"
                ),
                .init(
                    name: "SENT_TIMEOUT answers",
                    passed: sentTimeouts == 0,
                    detail: "\(sentTimeouts) for receivers that ack at once (must be 0)"
                ),
                .init(
                    name: "longest message answer",
                    passed: maxLatencyMs <= options.maxLatencyMs,
                    detail: "\(maxLatencyMs) ms (bound \(options.maxLatencyMs) ms)"
                ),
            ] + rssChecks
        return report
    }
}

/// Who each client is.
struct SoakLayout: Sendable {
    enum Role: Sendable, Equatable {
        case neverReading
        case neverAcking
        case fuzzer
        case regular(position: Int, churner: Bool)
    }

    let userIDs: [String]
    let roles: [Role]
    let regulars: [Int]
    let channelCount: Int
    let channelNames: [String]

    init(clients: Int, fuzzers: Int, runID: String) {
        var roles: [Role] = [.neverReading, .neverAcking]
        roles += Array(repeating: .fuzzer, count: fuzzers)
        var regulars: [Int] = []
        for index in roles.count..<clients {
            let position = regulars.count
            regulars.append(index)
            roles.append(.regular(position: position, churner: position % 5 == 2))
        }
        self.roles = roles
        self.regulars = regulars
        self.userIDs = (0..<clients).map { "soak\(runID)-u\($0)" }
        self.channelCount = max(1, regulars.count / 20)
        self.channelNames = (0..<self.channelCount).map { "soak\(runID)-ch\($0)" }
    }

    /// The two regular clients that regular client `position` sends peer messages to.
    func peers(of position: Int) -> [Int] {
        let count = self.regulars.count
        return [self.regulars[(position + 1) % count], self.regulars[(position + 7) % count]]
    }
}

/// What every loop of a soak shares (read-only).
struct SoakShared: Sendable {
    let target: BenchTarget
    let appID: String
    let tokens: [String]
    let layout: SoakLayout
    let options: SoakOptions
}

/// The soak's phases.
enum SoakPhase: Sendable {
    case running
    case stopping
    case draining
}

/// What the special clients did.
struct SoakSpecialReport: Sendable {
    var noReadCutOff = false
    var noReadCutOffAfterSeconds: Double?

    mutating func merge(_ other: SoakSpecialReport) {
        self.noReadCutOff = self.noReadCutOff || other.noReadCutOff
        self.noReadCutOffAfterSeconds = self.noReadCutOffAfterSeconds ?? other.noReadCutOffAfterSeconds
    }
}

/// Samples a process's resident set size from `/proc/PID/status`.
actor RSSSampler {
    struct Sample: Sendable {
        var at: UInt64
        var pid: Int32
        var rssKiB: Int
    }

    let pid: Int32?
    let pidFile: String?
    let start: UInt64
    private(set) var samples: [Sample] = []

    init(pid: Int32?, pidFile: String?, start: UInt64) {
        self.pid = pid
        self.pidFile = pidFile
        self.start = start
    }

    func run() async {
        guard self.pid != nil || self.pidFile != nil else { return }
        while !Task.isCancelled {
            if let pid = self.currentPID(), let rss = Self.rss(pid: pid) {
                self.samples.append(Sample(at: NIODeadline.now().uptimeNanoseconds, pid: pid, rssKiB: rss))
            }
            try? await Task.sleep(for: .seconds(2))
        }
    }

    private func currentPID() -> Int32? {
        if let pid { return pid }
        guard let pidFile, let text = Self.read(pidFile) else { return nil }
        return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Reads a whole file, also one of /proc whose size is reported as 0.
    static func read(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.readToEnd() else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    static func rss(pid: Int32) -> Int? {
        Scenario.rss(pid: pid)
    }
}

import HeraldMessages
import NIOCore

/// Acknowledged peer round trips: each sender keeps ``PeerLoadOptions/window`` `SendPeerMessageRequest`s in flight
/// to its receiver, which acknowledges every delivery; the figure is answered messages per second and the
/// request-to-answer latency. Every receiver checks that each message arrives once and in order. Run by
/// ``PeerLoadBenchmark``.
enum RoundTripBenchmark {
    static func report(target: BenchTarget, options: PeerLoadOptions, run: PeerLoad.Run) -> BenchReport {
        let stats = run.stats
        let seconds = run.sendingSeconds + run.drainSeconds
        var report = BenchReport(
            scenario: "roundtrip",
            target: target.description,
            parameters: [
                "pairs": "\(options.pairs)", "window": "\(options.window)",
                "duration-s": "\(options.duration.components.seconds)", "payload-bytes": "\(options.payloadBytes)",
                "threads": "\(options.threads)", "ack-mode": options.ackMode == .peer ? "peer" : "server",
            ],
            counters: stats.counters,
            notes: stats.notes
        )
        let answered = stats["answered.ok"]
        report.figures.append(.init(name: "answered OK", value: Double(answered)))
        report.figures.append(.init(name: "throughput", value: Double(answered) / max(seconds, 0.001), unit: "msg/s"))
        report.addLatency(stats)
        let received = stats["received"]
        let missing = max(0, answered - received)
        report.checks = [
            .init(
                name: "every message answered OK",
                passed: stats["answered.other"] == 0,
                detail: "\(stats["answered.other"]) answered otherwise (must be 0)"
            ),
            .init(
                name: "lost",
                passed: missing == 0 && stats["received.gap"] == 0,
                detail: "\(missing) answered OK but not received, \(stats["received.gap"]) gaps (must be 0)"
            ),
            .init(
                name: "duplicated or reordered",
                passed: stats["received.out-of-order"] == 0,
                detail: "\(stats["received.out-of-order"]) (must be 0)"
            ),
            .init(
                name: "protocol errors and disconnects",
                passed: Self.protocolProblems(stats) == 0,
                detail: "\(Self.protocolProblems(stats)) (must be 0)"
            ),
            .init(
                name: "seq gaps and repeats",
                passed: stats["seq.gap"] + stats["seq.repeat"] == 0,
                detail: "\(stats["seq.gap"]) gaps, \(stats["seq.repeat"]) repeats (must be 0)"
            ),
        ]
        return report
    }

    /// Counts of `ProtocolError`s, `Disconnect`s and transport or framing failures in `stats`.
    static func protocolProblems(_ stats: BenchStats) -> Int {
        stats.counters.filter {
            $0.key.hasPrefix("protocol-error.") || $0.key.hasPrefix("disconnect.") || $0.key.hasPrefix("transport.")
                || $0.key.hasPrefix("frame.") || $0.key.hasPrefix("response.")
        }.values.reduce(0, +)
    }
}

import HeraldMessages
import NIOCore

/// `herald bench latency`: the latency of acknowledged peer messages at a fixed offered rate, without coordinated
/// omission.
///
/// ``PeerLoadOptions/pairs`` senders send ``PeerLoadOptions/rate`` `ACK_MODE_PEER` messages per second in total,
/// open loop: each message has a due time on a fixed schedule and is sent at it whatever the answers do, so a
/// server that stalls makes the following messages late instead of fewer. Latency is measured from the due time
/// (not from the moment the message was written) to the `SendPeerMessageResponse`, and to the receipt of the
/// `PeerMessage` at the receiver, into HDR histograms. Receivers acknowledge at once and check that every message
/// arrives once and in order. The per-pair rate must stay within the advertised `RATE_CLASS_MESSAGES` limit, as for
/// ``OverloadBenchmark``.
/// Run by ``PeerLoadBenchmark``.
enum LatencyBenchmark {
    static func report(target: BenchTarget, options: PeerLoadOptions, run: PeerLoad.Run) -> BenchReport {
        let stats = run.stats
        var report = PeerLoad.openLoopReport("latency", target: target, options: options, run: run)
        report.addLatency(stats.histogram("answer from schedule"), label: "answer (from due time)")
        report.addLatency(stats.histogram("receipt from schedule"), label: "receipt (from due time)")
        report.addLatency(stats, label: "answer (from write)")
        let skipped = stats["skipped.window-full"] + stats["skipped.closed"]
        report.checks = PeerLoad.checks(stats)
        report.checks.append(
            .init(
                name: "every message sent when due",
                passed: skipped == 0,
                detail: "\(stats["skipped.window-full"]) not sent (window of \(options.window) full), "
                    + "\(stats["skipped.closed"]) not sent (connection closed) (must be 0: a skipped message is "
                    + "missing from the percentiles)"
            )
        )
        return report
    }
}

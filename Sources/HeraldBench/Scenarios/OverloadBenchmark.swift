import HeraldMessages
import NIOCore

/// `herald bench overload`: a server offered more acknowledged traffic than it can carry must slow down, not cut
/// off the clients that read and acknowledge everything at once.
///
/// ``PeerLoadOptions/pairs`` senders offer ``PeerLoadOptions/rate`` `ACK_MODE_PEER` messages per second in total
/// (open loop, each sender at most ``PeerLoadOptions/window`` in flight); receivers acknowledge every delivery at
/// once. Every `ProtocolError` and `Disconnect` is counted, `slow-consumer` above all. Verdict: nobody disconnected
/// and no `ProtocolError`. The per-pair rate must stay within the advertised `RATE_CLASS_MESSAGES` limit: use more
/// pairs, or start the server with `--no-rate-limit messages`.
/// Run by ``PeerLoadBenchmark``.
enum OverloadBenchmark {
    static func report(target: BenchTarget, options: PeerLoadOptions, run: PeerLoad.Run) -> BenchReport {
        let stats = run.stats
        var report = PeerLoad.openLoopReport("overload", target: target, options: options, run: run)
        report.addLatency(stats)
        report.figures += [
            .init(name: "slow-consumer ProtocolErrors", value: Double(stats["protocol-error.slow-consumer"])),
            .init(name: "slow-consumer Disconnects", value: Double(stats["disconnect.slow-consumer"])),
        ]
        if stats["skipped.window-full"] > 0 {
            report.notes.insert(
                "\(stats["skipped.window-full"]) due messages were not sent because the window was full: the server "
                    + "or this load generator is behind (a debug build of herald bench saturates at a few thousand "
                    + "msg/s; use a release build and more --threads)",
                at: 0
            )
        }
        report.checks = PeerLoad.checks(stats)
        return report
    }
}

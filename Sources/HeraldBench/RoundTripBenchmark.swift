import HeraldMessages
import NIOCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Options of ``RoundTripBenchmark``.
public struct RoundTripOptions: Sendable {
    /// Sender/receiver pairs, each two connections.
    public var pairs = 1
    /// Messages each sender keeps in flight (1: one at a time).
    public var window = 1
    /// How long senders send.
    public var duration: Duration = .seconds(10)
    /// Bytes in each message body (at least 16).
    public var payloadBytes = 256
    /// Event-loop threads of the load generator.
    public var threads = 1
    /// The acknowledgement mode of the messages.
    public var ackMode: Herald_V1_AckMode = .peer

    /// Creates default options.
    public init() {}
}

/// Acknowledged peer round trips: each sender keeps ``RoundTripOptions/window`` `SendPeerMessageRequest`s in flight
/// to its receiver, which acknowledges every delivery; the figure is answered messages per second and the
/// request-to-answer latency. Every receiver checks that each message arrives once and in order.
public enum RoundTripBenchmark {
    /// Runs the benchmark against `target`.
    ///
    /// - Throws: ``BenchError`` when the server cannot be reached or a login fails.
    public static func run(
        target: BenchTarget,
        credentials: BenchCredentials,
        options: RoundTripOptions
    ) async throws(BenchError) -> BenchReport {
        guard options.pairs > 0, options.window > 0, options.payloadBytes >= 16 else {
            throw BenchError(.usage, "--pairs and --window must be positive and --payload-bytes at least 16")
        }
        let loops: BenchLoops
        do {
            loops = try await BenchLoops(threads: options.threads)
        } catch {
            throw BenchError(.run, "cannot start event loops: \(error)")
        }
        defer { Task { await loops.shutdown() } }
        let runID = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        var tokens: [String: String] = [:]
        for index in 0..<options.pairs {
            for role in ["s", "r"] {
                let user = "rt\(runID)-\(role)\(index)"
                tokens[user] = try await credentials.token(for: user)
            }
        }
        let tokensByUser = tokens
        let started = ContinuousClock.now
        let stopAt = NIODeadline.now() + .nanoseconds(Int64(options.duration.components.seconds) * 1_000_000_000)
        var finished: [EventLoopFuture<Void>] = []
        for index in 0..<options.pairs {
            let loop = loops.loop(for: index)
            let done = loop.makePromise(of: Void.self)
            finished.append(done.futureResult)
            let stopAtValue = stopAt
            loop.execute {
                let pair = RoundTripPair(
                    index: index,
                    runID: runID,
                    loop: loop,
                    stats: loops.stats(on: loop),
                    options: options,
                    stopAt: stopAtValue,
                    done: done
                )
                pair.start(target: target, appID: credentials.appID, tokens: tokensByUser)
            }
        }
        var setupError: BenchError?
        for future in finished {
            do {
                try await future.get()
            } catch {
                setupError = setupError ?? (error as? BenchError) ?? BenchError(.run, "\(error)")
            }
        }
        let elapsed = ContinuousClock.now - started
        if let setupError { throw setupError }
        let stats: BenchStats
        do {
            stats = try await loops.collect()
        } catch {
            throw BenchError(.run, "cannot collect the results: \(error)")
        }
        return Self.report(target: target, options: options, stats: stats, elapsed: elapsed)
    }

    static func report(
        target: BenchTarget,
        options: RoundTripOptions,
        stats: BenchStats,
        elapsed: Duration
    )
        -> BenchReport
    {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
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

/// One sender/receiver pair of ``RoundTripBenchmark``, on one event loop.
final class RoundTripPair {
    let index: Int
    let sender: BenchClient
    let receiver: BenchClient
    let options: RoundTripOptions
    let stopAt: NIODeadline
    let done: EventLoopPromise<Void>
    let senderID: String
    let receiverID: String
    var nextSequence: UInt64 = 1
    var expected: UInt64 = 1
    var stopped = false
    var gate = RateGate([])

    init(
        index: Int,
        runID: String,
        loop: any EventLoop,
        stats: BenchLoopStats,
        options: RoundTripOptions,
        stopAt: NIODeadline,
        done: EventLoopPromise<Void>
    ) {
        self.index = index
        self.senderID = "rt\(runID)-s\(index)"
        self.receiverID = "rt\(runID)-r\(index)"
        self.sender = BenchClient(name: self.senderID, eventLoop: loop, loopStats: stats)
        self.receiver = BenchClient(name: self.receiverID, eventLoop: loop, loopStats: stats)
        self.options = options
        self.stopAt = stopAt
        self.done = done
    }

    func start(target: BenchTarget, appID: String, tokens: [String: String]) {
        self.receiver.onEvent = { [self] client, _, message, _ in
            guard let delivery = message as? Herald_V1_PeerMessage, let body = BenchBody(delivery.message) else {
                return
            }
            client.stats.count("received")
            if body.sequence == self.expected {
                self.expected += 1
            } else if body.sequence < self.expected {
                client.stats.problem(
                    "received.out-of-order",
                    "\(self.receiverID): \(body.sequence) after \(self.expected - 1)"
                )
            } else {
                client.stats.problem("received.gap", "\(self.receiverID): \(body.sequence), expected \(self.expected)")
                self.expected = body.sequence + 1
            }
        }
        self.receiver.connectAndLogin(
            to: target,
            appID: appID,
            userID: self.receiverID,
            token: tokens[self.receiverID]!
        ) {
            [self] result in
            if case .failure(let error) = result { return self.fail(error) }
            self.sender.connectAndLogin(to: target, appID: appID, userID: self.senderID, token: tokens[self.senderID]!)
            {
                [self] result in
                if case .failure(let error) = result { return self.fail(error) }
                // Stay within the server's advertised message rate (Welcome.rate_limits): never TOO_OFTEN.
                self.gate = RateGate(self.sender.welcome?.rateLimits ?? [])
                if !(self.sender.welcome?.rateLimits.filter { $0.rateClass == .messages }.isEmpty ?? true) {
                    self.sender.stats.count("paced-by-advertised-rate-limit")
                }
                for _ in 0..<self.options.window { self.sendNext() }
            }
        }
    }

    private func fail(_ error: BenchError) {
        guard !self.stopped else { return }
        self.stopped = true
        self.sender.close()
        self.receiver.close()
        self.done.fail(error)
    }

    private func sendNext() {
        guard !self.stopped else { return }
        guard NIODeadline.now() < self.stopAt, self.sender.isConnected else {
            if self.sender.inFlight == 0 { self.finish() }
            return
        }
        guard self.gate.take(.messages, now: NIODeadline.now().uptimeNanoseconds) else {
            self.sender.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(5)) { [self] in self.sendNext() }
            return
        }
        var request = Herald_V1_SendPeerMessageRequest()
        request.peerID = self.receiverID
        request.ackMode = self.options.ackMode
        request.message = BenchBody(sender: UInt64(self.index), sequence: self.nextSequence).message(
            size: self.options.payloadBytes
        )
        self.nextSequence += 1
        self.sender.stats.count("sent")
        self.sender.send(opcode: .sendPeerMessageRequest, request) { [self] answer in
            if let response = answer.decode(Herald_V1_SendPeerMessageResponse.self), response.result == .ok {
                self.sender.stats.count("answered.ok")
                self.sender.stats.recordLatency(microseconds: answer.elapsedNanoseconds / 1000)
            } else {
                let what =
                    answer.decode(Herald_V1_SendPeerMessageResponse.self).map { "\($0.result)" }
                    ?? answer.protocolError.map { "ProtocolError \($0.code)" } ?? "connection closed"
                self.sender.stats.problem("answered.other", "\(self.senderID): \(what)")
            }
            self.sendNext()
        }
    }

    private func finish() {
        guard !self.stopped else { return }
        self.stopped = true
        // Let the last acknowledgements and deliveries drain before closing.
        self.sender.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(200)) { [self] in
            self.sender.close()
            self.receiver.close()
            self.done.succeed()
        }
    }
}

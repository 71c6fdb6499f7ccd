import HeraldMessages
import NIOCore

/// Options of ``OverloadBenchmark``.
public struct OverloadOptions: Sendable {
    /// Acknowledged peer messages per second offered in total, over all pairs.
    public var rate = 10_000
    /// Sender/receiver pairs.
    public var pairs = 100
    /// How long senders offer the rate.
    public var duration: Duration = .seconds(10)
    /// Most messages in flight per sender; a message due while the window is full is not sent (counted). Larger
    /// than the default `max_outbound_queue_frames`, so that a receiver's outstanding deliveries can reach LIM-17.
    public var window = 4096
    /// Bytes per message body (at least 16).
    public var payloadBytes = 256
    /// Event-loop threads of the load generator.
    public var threads = 1

    /// Creates default options.
    public init() {}
}

/// `herald bench overload`: a server offered more acknowledged traffic than it can carry must slow down, not cut
/// off the clients that read and acknowledge everything at once.
///
/// ``OverloadOptions/pairs`` senders offer ``OverloadOptions/rate`` `ACK_MODE_PEER` messages per second in total
/// (open loop, each sender at most ``OverloadOptions/window`` in flight); receivers acknowledge every delivery at
/// once. Every `ProtocolError` and `Disconnect` is counted, `slow-consumer` above all. Verdict: nobody disconnected
/// and no `ProtocolError`. The per-pair rate must stay within the advertised `RATE_CLASS_MESSAGES` limit: use more
/// pairs, or start the server with `--no-rate-limit messages`.
public enum OverloadBenchmark {
    /// Runs the scenario against `target`.
    ///
    /// - Throws: ``BenchError`` when the server cannot be reached, a login fails, or the offered per-pair rate
    ///   exceeds the server's advertised message rate limit.
    public static func run(
        target: BenchTarget,
        credentials: BenchCredentials,
        options: OverloadOptions,
        progress: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws(BenchError) -> BenchReport {
        guard options.rate > 0, options.pairs > 0, options.window > 0, options.payloadBytes >= 16 else {
            throw BenchError(.usage, "--rate, --pairs and --window must be positive, --payload-bytes at least 16")
        }
        let loops: BenchLoops
        do {
            loops = try await BenchLoops(threads: options.threads)
        } catch {
            throw BenchError(.run, "cannot start event loops: \(error)")
        }
        defer { Task { await loops.shutdown() } }
        let runID = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let appID = credentials.appID
        var pairs: [NIOLoopBound<OverloadPair>] = []
        progress("logging in \(options.pairs) pairs")
        for index in 0..<options.pairs {
            let loop = loops.loop(for: index)
            let senderToken = try await credentials.token(for: "ov\(runID)-s\(index)")
            let receiverToken = try await credentials.token(for: "ov\(runID)-r\(index)")
            let pair = try await Scenario.onLoop(loop) {
                NIOLoopBound(
                    OverloadPair(
                        index: index,
                        runID: runID,
                        loop: loop,
                        stats: loops.stats(on: loop),
                        options: options
                    ),
                    eventLoop: loop
                )
            }
            try await Scenario.waitOn(loop) {
                pair.value.connect(target: target, appID: appID, senderToken: senderToken, receiverToken: receiverToken)
            }
            pairs.append(pair)
        }
        let first = pairs[0]
        let welcome = try await Scenario.onLoop(first.eventLoop) { first.value.sender.welcome ?? Herald_V1_Welcome() }
        if let (count, windowMs) = Scenario.rateLimit(welcome, .messages),
            options.rate * windowMs > options.pairs * count * 1000
        {
            let needed = (options.rate * windowMs + count * 1000 - 1) / (count * 1000)
            for pair in pairs { try? await Scenario.onLoop(pair.eventLoop) { pair.value.close() } }
            throw BenchError(
                .usage,
                "\(options.rate) msg/s over \(options.pairs) pairs exceeds the server's advertised limit of \(count) "
                    + "messages per \(windowMs) ms per session: use --pairs \(needed) or more, or start the server "
                    + "with --no-rate-limit messages (or --rate-limit messages=COUNT/WINDOW_MS)"
            )
        }
        progress("offering \(options.rate) msg/s for \(options.duration)")
        let startAt = Scenario.now() + 50_000_000
        let stopAt = startAt + UInt64(Scenario.nanoseconds(options.duration))
        var done: [EventLoopFuture<Void>] = []
        for pair in pairs {
            done.append(try await Scenario.onLoop(pair.eventLoop) { pair.value.run(startAt: startAt, stopAt: stopAt) })
        }
        for future in done { _ = try? await future.get() }
        let drainedAt = Scenario.now()
        for pair in pairs { try await Scenario.onLoop(pair.eventLoop) { pair.value.close() } }
        let stats: BenchStats
        do {
            stats = try await loops.collect()
        } catch {
            throw BenchError(.run, "cannot collect the results: \(error)")
        }
        return Self.report(
            target: target,
            options: options,
            stats: stats,
            sendingSeconds: Double(stopAt - startAt) / 1e9,
            drainSeconds: drainedAt > stopAt ? Double(drainedAt - stopAt) / 1e9 : 0
        )
    }

    static func report(
        target: BenchTarget,
        options: OverloadOptions,
        stats: BenchStats,
        sendingSeconds: Double,
        drainSeconds: Double
    ) -> BenchReport {
        var report = BenchReport(
            scenario: "overload",
            target: target.description,
            parameters: [
                "rate": "\(options.rate)", "pairs": "\(options.pairs)",
                "duration-s": "\(options.duration.components.seconds)", "window": "\(options.window)",
                "payload-bytes": "\(options.payloadBytes)", "threads": "\(options.threads)",
            ],
            counters: stats.counters,
            notes: stats.notes
        )
        let answered = stats["answered.ok"]
        report.figures += [
            .init(name: "offered", value: Double(options.rate), unit: "msg/s"),
            .init(name: "sent", value: Double(stats["sent"])),
            .init(name: "not sent (window full)", value: Double(stats["skipped.window-full"])),
            .init(name: "answered OK", value: Double(answered)),
            .init(name: "achieved", value: Double(answered) / max(sendingSeconds + drainSeconds, 0.001), unit: "msg/s"),
            .init(name: "received", value: Double(stats["received"])),
            .init(name: "drain after sending", value: drainSeconds * 1000, unit: "ms"),
        ]
        report.addLatency(stats)
        let disconnects = stats.counters.filter { $0.key.hasPrefix("disconnect.") }.values.reduce(0, +)
        let closed = stats["closed.by-server"]
        let protocolErrors = stats.counters.filter { $0.key.hasPrefix("protocol-error.") }.values.reduce(0, +)
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
        let missing = max(0, answered - stats["received"])
        report.checks = [
            .init(
                name: "no one disconnected",
                passed: disconnects == 0 && closed == 0,
                detail: "\(disconnects) Disconnects (\(Scenario.list(stats, prefix: "disconnect."))), "
                    + "\(closed) connections closed by the server (must be 0)"
            ),
            .init(
                name: "no ProtocolError",
                passed: protocolErrors == 0,
                detail: "\(protocolErrors) (\(Scenario.list(stats, prefix: "protocol-error."))) (must be 0)"
            ),
            .init(
                name: "every message answered OK",
                passed: stats["answered.other"] == 0,
                detail:
                    "\(stats["answered.other"]) answered otherwise (\(Scenario.list(stats, prefix: "answered.result."))) "
                    + "(must be 0)"
            ),
            .init(
                name: "received once, in order",
                passed: missing == 0 && stats["received.gap"] + stats["received.out-of-order"] == 0
                    && stats["seq.gap"] + stats["seq.repeat"] == 0,
                detail: "\(missing) answered OK but not received, \(stats["received.gap"]) gaps, "
                    + "\(stats["received.out-of-order"]) out of order, \(stats["seq.gap"] + stats["seq.repeat"]) "
                    + "seq gaps or repeats (must be 0)"
            ),
        ]
        return report
    }
}

/// One sender/receiver pair of ``OverloadBenchmark``, on one event loop.
final class OverloadPair {
    let index: Int
    let sender: BenchClient
    let receiver: BenchClient
    let senderID: String
    let receiverID: String
    let options: OverloadOptions
    var nextSequence: UInt64 = 1
    var expected: UInt64 = 1
    var due = 0
    var sending = false
    var ticker: RepeatedTask?
    var done: EventLoopPromise<Void>?

    init(index: Int, runID: String, loop: any EventLoop, stats: BenchLoopStats, options: OverloadOptions) {
        self.index = index
        self.senderID = "ov\(runID)-s\(index)"
        self.receiverID = "ov\(runID)-r\(index)"
        self.sender = BenchClient(name: self.senderID, eventLoop: loop, loopStats: stats)
        self.receiver = BenchClient(name: self.receiverID, eventLoop: loop, loopStats: stats)
        self.options = options
    }

    func connect(
        target: BenchTarget,
        appID: String,
        senderToken: String,
        receiverToken: String
    )
        -> EventLoopFuture<Void>
    {
        let promise = self.sender.eventLoop.makePromise(of: Void.self)
        for client in [self.sender, self.receiver] {
            client.onClosed = { client in
                if !client.closedByClient { client.stats.problem("closed.by-server", client.name) }
            }
        }
        self.receiver.onEvent = { [self] client, _, message, _ in
            guard let delivery = message as? Herald_V1_PeerMessage, let body = BenchBody(delivery.message) else {
                return
            }
            client.stats.count("received")
            if body.sequence == self.expected {
                self.expected += 1
            } else if body.sequence < self.expected {
                client.stats.problem("received.out-of-order", "\(self.receiverID): \(body.sequence)")
            } else {
                client.stats.problem("received.gap", "\(self.receiverID): \(body.sequence), expected \(self.expected)")
                self.expected = body.sequence + 1
            }
        }
        self.receiver.connectAndLogin(to: target, appID: appID, userID: self.receiverID, token: receiverToken) {
            [self] result in
            if case .failure(let error) = result { return promise.fail(error) }
            self.sender.connectAndLogin(to: target, appID: appID, userID: self.senderID, token: senderToken) {
                result in
                switch result {
                case .failure(let error): promise.fail(error)
                case .success: promise.succeed()
                }
            }
        }
        return promise.futureResult
    }

    /// Offers this pair's share of the rate from `startAt` to `stopAt`; the future completes when every message
    /// is answered (or 15 s after `stopAt`).
    func run(startAt: UInt64, stopAt: UInt64) -> EventLoopFuture<Void> {
        let loop = self.sender.eventLoop
        let promise = loop.makePromise(of: Void.self)
        self.done = promise
        self.sending = true
        // Pairs share the rate; pair `index` takes one more message per second while the remainder lasts.
        let share = UInt64(
            self.options.rate / self.options.pairs + (self.index < self.options.rate % self.options.pairs ? 1 : 0)
        )
        self.ticker = Scenario.repeating(on: loop, every: .milliseconds(5)) { [self] _ in
            let now = Scenario.now()
            guard now >= startAt else { return }
            if now >= stopAt {
                self.stopSending()
                return
            }
            let target = Int((now - startAt) * share / 1_000_000_000) + 1
            while self.due < target {
                self.due += 1
                if !self.sender.isConnected {
                    self.sender.stats.count("skipped.closed")
                } else if self.sender.inFlight >= self.options.window {
                    self.sender.stats.count("skipped.window-full")
                } else {
                    self.sendOne()
                }
            }
        }
        Scenario.after(.nanoseconds(Int64(stopAt - min(stopAt, Scenario.now())) + 15_000_000_000), on: loop) {
            [self] in
            self.finish()
        }
        return promise.futureResult
    }

    private func stopSending() {
        guard self.sending else { return }
        self.sending = false
        self.ticker?.cancel()
        self.ticker = nil
        if self.sender.inFlight == 0 { self.finish() }
    }

    private func finish() {
        guard let done = self.done else { return }
        self.done = nil
        if self.sender.inFlight > 0 { self.sender.stats.count("unanswered.at-end", self.sender.inFlight) }
        // Let the last deliveries arrive.
        Scenario.after(.milliseconds(200), on: self.sender.eventLoop) { done.succeed() }
    }

    private func sendOne() {
        var request = Herald_V1_SendPeerMessageRequest()
        request.peerID = self.receiverID
        request.ackMode = .peer
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
                    ?? answer.protocolError.map { "protocol-error-\($0.code)" } ?? "connection-closed"
                self.sender.stats.count("answered.result.\(what)")
                self.sender.stats.problem("answered.other", "\(self.senderID): \(what)")
            }
            if !self.sending && self.sender.inFlight == 0 { self.finish() }
        }
    }

    func close() {
        self.ticker?.cancel()
        self.ticker = nil
        self.sender.close()
        self.receiver.close()
    }
}

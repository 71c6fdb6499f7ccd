import HeraldMessages
import Histogram
import NIOCore

/// Options of ``StallBenchmark``.
public struct StallOptions: Sendable {
    /// Length of phase 1 (the control pair alone).
    public var baseline: Duration = .seconds(10)
    /// Shortest length of phase 2, from the first flood message; it lasts at least 3 s past the cut-off.
    public var pressure: Duration = .seconds(10)
    /// Messages per second of the control pair (open loop, acknowledged by the peer).
    public var rate = 50
    /// Flooder sessions; 0 chooses enough to pass `max_outbound_queue_frames` within one rate window.
    public var flooders = 0
    /// Bytes per message body (at least 16).
    public var payloadBytes = 256
    /// How long the flood may take to get the never-acking receiver cut off.
    public var cutOffTimeout: Duration = .seconds(60)
    /// How far phase 2's p99 may exceed phase 1's, in milliseconds.
    public var p99MarginMs = 50
    /// Event-loop threads (the control pair on the first loop, the flood on the second when there are two).
    public var threads = 2

    /// Creates default options.
    public init() {}
}

/// `herald bench stall`: does one receiver that never acknowledges stall everybody else?
///
/// A control pair sends ``StallOptions/rate`` acknowledged (`ACK_MODE_PEER`) messages per second. Phase 1 measures
/// its latency alone. In phase 2 a never-acking receiver R (it reads everything, never sends `DeliveryAck`) is
/// flooded with cacheable `ACK_MODE_SERVER` messages by several flooder sessions, each within its advertised rate
/// limit, until the server cuts R off as a slow consumer at `max_outbound_queue_frames` outstanding deliveries
/// (Spec/14-limits.md LIM-17) and stores them in its offline cache; the control pair keeps sending meanwhile. Then R
/// logs in again and must receive every flood message the server accepted (answered `OK` or `CACHED_BY_SERVER`).
///
/// Verdict: no `TOO_OFTEN` for the control pair in either phase, phase-2 p99 within ``StallOptions/p99MarginMs``
/// of phase-1 p99, R cut off as a slow consumer, every accepted message delivered again exactly once.
public enum StallBenchmark {
    /// Runs the scenario against `target`.
    ///
    /// - Throws: ``BenchError`` when the server cannot be reached, a login fails, or the server's limits make the
    ///   scenario impossible (its offline cache is smaller than the outbound limit).
    public static func run(
        target: BenchTarget,
        credentials: BenchCredentials,
        options: StallOptions,
        progress: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws(BenchError) -> BenchReport {
        guard options.rate > 0, options.payloadBytes >= 16, options.flooders >= 0 else {
            throw BenchError(.usage, "--rate must be positive, --flooders not negative, --payload-bytes at least 16")
        }
        let loops: BenchLoops
        do {
            loops = try await BenchLoops(threads: max(1, options.threads))
        } catch {
            throw BenchError(.run, "cannot start event loops: \(error)")
        }
        defer { Task { await loops.shutdown() } }
        let runID = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let controlLoop = loops.loop(for: 0)
        let floodLoop = loops.loop(for: 1)
        let senderID = "st\(runID)-a"
        let receiverID = "st\(runID)-b"
        let nackID = "st\(runID)-nack"
        let nackToken = try await credentials.token(for: nackID)
        let appID = credentials.appID

        // The never-acking receiver first: its Welcome says how many flooders are needed.
        let flood = try await Scenario.onLoop(floodLoop) {
            NIOLoopBound(
                StallFlood(
                    nackID: nackID,
                    loop: floodLoop,
                    stats: loops.stats(on: floodLoop),
                    payloadBytes: options.payloadBytes
                ),
                eventLoop: floodLoop
            )
        }
        let welcome = try await Scenario.waitOn(floodLoop) {
            flood.value.connectReceiver(target: target, appID: appID, token: nackToken)
        }
        let outboundLimit = Int(welcome.limits.maxOutboundQueueFrames)
        let offlineLimit = Int(welcome.limits.maxOfflineMessages)
        let messageLimit = Scenario.rateLimit(welcome, .messages)
        if let (count, windowMs) = messageLimit, options.rate * windowMs > count * 1000 {
            throw BenchError(
                .usage,
                "--rate \(options.rate) exceeds the server's advertised limit of \(count) messages per \(windowMs) ms "
                    + "per session: the control pair would be refused TOO_OFTEN by design"
            )
        }
        let perFlooder = messageLimit.map { max(1, $0.0 - 1) } ?? StallFlood.window
        let flooders =
            options.flooders > 0
            ? options.flooders : max(1, (outboundLimit + 64 + perFlooder - 1) / perFlooder)
        // Everything accepted before the cut-off is seen may be cached: at most every flooder's budget of one window.
        let mostAccepted = outboundLimit + flooders * min(perFlooder, StallFlood.window)
        if offlineLimit > 0 && offlineLimit < outboundLimit {
            throw BenchError(
                .usage,
                "the server caches \(offlineLimit) offline messages per user (max_offline_messages) but cuts a "
                    + "receiver off at \(outboundLimit) outstanding deliveries: start it with "
                    + "--max-offline-messages \(mostAccepted) or more so that every accepted message can be kept"
            )
        }
        var floodTokens: [String] = []
        for index in 0..<flooders {
            floodTokens.append(try await credentials.token(for: "st\(runID)-f\(index)"))
        }
        let tokens = floodTokens
        try await Scenario.waitOn(floodLoop) {
            flood.value.connectFlooders(target: target, appID: appID, runID: runID, tokens: tokens)
        }

        let senderToken = try await credentials.token(for: senderID)
        let receiverToken = try await credentials.token(for: receiverID)
        let control = try await Scenario.onLoop(controlLoop) {
            NIOLoopBound(
                StallControl(
                    senderID: senderID,
                    receiverID: receiverID,
                    loop: controlLoop,
                    stats: loops.stats(on: controlLoop),
                    rate: options.rate,
                    payloadBytes: options.payloadBytes
                ),
                eventLoop: controlLoop
            )
        }
        try await Scenario.waitOn(controlLoop) {
            control.value.start(target: target, appID: appID, senderToken: senderToken, receiverToken: receiverToken)
        }

        progress("phase 1: control pair alone for \(options.baseline)")
        try await Scenario.onLoop(controlLoop) { control.value.setPhase(1) }
        try? await Task.sleep(for: options.baseline)

        progress("phase 2: \(flooders) flooders against the never-acking receiver")
        try await Scenario.onLoop(controlLoop) { control.value.setPhase(2) }
        let floodStarted = Scenario.now()
        let timeout = options.cutOffTimeout
        try await Scenario.waitOn(floodLoop) { flood.value.startFlood(timeout: timeout) }
        let pressureEnd = floodStarted + UInt64(Scenario.nanoseconds(options.pressure))
        let cutOffSeen = Scenario.now()
        let phaseEnd = max(pressureEnd, cutOffSeen + 3_000_000_000)
        if phaseEnd > cutOffSeen {
            try? await Task.sleep(for: .nanoseconds(Int64(phaseEnd - cutOffSeen)))
        }
        try await Scenario.waitOn(controlLoop) { control.value.stop() }
        try await Scenario.waitOn(floodLoop) { flood.value.drain() }

        progress("the never-acking receiver logs in again")
        try await Scenario.waitOn(floodLoop) {
            flood.value.loginAgain(target: target, appID: appID, token: nackToken)
        }
        let controlResult = try await Scenario.onLoop(controlLoop) { control.value.result }
        let floodResult = try await Scenario.onLoop(floodLoop) { flood.value.result }
        try await Scenario.onLoop(controlLoop) { control.value.close() }
        try await Scenario.onLoop(floodLoop) { flood.value.close() }
        let stats: BenchStats
        do {
            stats = try await loops.collect()
        } catch {
            throw BenchError(.run, "cannot collect the results: \(error)")
        }
        return Self.report(
            target: target,
            options: options,
            flooders: flooders,
            outboundLimit: outboundLimit,
            offlineLimit: offlineLimit,
            control: controlResult,
            flood: floodResult,
            stats: stats
        )
    }

    static func report(
        target: BenchTarget,
        options: StallOptions,
        flooders: Int,
        outboundLimit: Int,
        offlineLimit: Int,
        control: StallControl.Result,
        flood: StallFlood.Result,
        stats: BenchStats
    ) -> BenchReport {
        var report = BenchReport(
            scenario: "stall",
            target: target.description,
            parameters: [
                "rate": "\(options.rate)", "baseline-s": "\(options.baseline.components.seconds)",
                "pressure-s": "\(options.pressure.components.seconds)", "flooders": "\(flooders)",
                "payload-bytes": "\(options.payloadBytes)", "threads": "\(options.threads)",
                "max-outbound-queue-frames": "\(outboundLimit)", "max-offline-messages": "\(offlineLimit)",
            ],
            counters: stats.counters,
            notes: stats.notes
        )
        for (phase, label) in [(1, "phase 1 (baseline)"), (2, "phase 2 (flood)")] {
            let latency = control.latency[phase]
            report.figures += [
                .init(name: "\(label) sent", value: Double(control.sent[phase])),
                .init(name: "\(label) answered OK", value: Double(control.answeredOK[phase])),
                .init(name: "\(label) TOO_OFTEN", value: Double(control.tooOften[phase])),
                .init(name: "\(label) p50", value: Scenario.milliseconds(latency, 50), unit: "ms"),
                .init(name: "\(label) p99", value: Scenario.milliseconds(latency, 99), unit: "ms"),
                .init(name: "\(label) max", value: Scenario.maximumMilliseconds(latency), unit: "ms"),
            ]
        }
        report.figures += [
            .init(name: "flood sent", value: Double(flood.sent)),
            .init(name: "flood answered OK", value: Double(flood.answeredOK)),
            .init(name: "flood answered CACHED_BY_SERVER", value: Double(flood.answeredCached)),
            .init(name: "flood TOO_OFTEN", value: Double(flood.tooOften)),
            .init(name: "read by R before the cut-off", value: Double(flood.liveReceived)),
            .init(name: "cut-off after", value: flood.cutOffAfterMs ?? -1, unit: "ms"),
            .init(name: "cached messages delivered at re-login", value: Double(flood.redelivered)),
            .init(name: "first re-login to last cached message", value: flood.redeliveryMs, unit: "ms"),
            .init(name: "logins needed to collect them", value: Double(flood.relogins)),
        ]
        let baselineP99 = Scenario.milliseconds(control.latency[1], 99)
        let pressureP99 = Scenario.milliseconds(control.latency[2], 99)
        let accepted = flood.answeredOK + flood.answeredCached
        report.checks = [
            .init(
                name: "no TOO_OFTEN (control pair)",
                passed: control.tooOften[1] == 0 && control.tooOften[2] == 0,
                detail: "phase 1: \(control.tooOften[1]), phase 2: \(control.tooOften[2]) (must be 0)"
            ),
            .init(
                name: "phase-2 p99 near baseline",
                passed: control.latency[2].totalCount > 0
                    && pressureP99 <= baselineP99 + Double(options.p99MarginMs),
                detail: "\(BenchReport.format(pressureP99)) ms vs \(BenchReport.format(baselineP99)) ms "
                    + "(must be within \(options.p99MarginMs) ms)"
            ),
            .init(
                name: "control pair answered and received",
                passed: control.answeredOther == 0 && control.receivedProblems == 0
                    && control.received == control.answeredOK[1] + control.answeredOK[2],
                detail:
                    "\(control.answeredOther) answered otherwise, \(control.receivedProblems) repeated or reordered, "
                    + "\(control.received) received of \(control.answeredOK[1] + control.answeredOK[2]) answered OK"
            ),
            .init(
                name: "never-acking receiver cut off as slow consumer",
                passed: flood.cutOffReason == "slow-consumer",
                detail: "\(flood.cutOffReason ?? "not cut off")"
                    + (flood.cutOffAfterMs.map { " after \(BenchReport.format($0)) ms" } ?? "")
            ),
            .init(
                name: "every accepted message delivered at re-login",
                passed: accepted > 0 && flood.missing == 0 && flood.redeliveredDuplicates == 0
                    && flood.redelivered == accepted,
                detail: "\(flood.redelivered) of \(accepted) accepted, \(flood.missing) missing, "
                    + "\(flood.redeliveredDuplicates) duplicates"
                    + (offlineLimit > 0 && accepted > offlineLimit
                        ? " (the server caches only \(offlineLimit): raise --max-offline-messages)" : "")
            ),
            .init(
                name: "re-login not cut off (it acknowledges every delivery)",
                passed: flood.reloginCutOffs.isEmpty && Scenario.problems(stats, prefix: "relogin.") == 0,
                detail: flood.reloginCutOffs.isEmpty
                    ? "\(Scenario.problems(stats, prefix: "relogin.")) problems (must be 0)"
                    : "cut off \(flood.reloginCutOffs.count) times (\(flood.reloginCutOffs.joined(separator: ", "))) "
                        + "while its cached messages were delivered"
            ),
            .init(
                name: "flooders never refused",
                passed: flood.tooOften == 0 && flood.answeredOther == 0,
                detail: "\(flood.tooOften) TOO_OFTEN, \(flood.answeredOther) other answers (must be 0)"
            ),
            .init(
                name: "protocol errors and disconnects (control pair, flooders, re-login)",
                passed: Scenario.problems(stats) == 0,
                detail: "\(Scenario.problems(stats)) (must be 0)"
            ),
        ]
        return report
    }
}

/// The control pair of ``StallBenchmark``: an open-loop sender of acknowledged peer messages and its receiver.
final class StallControl {
    struct Result: Sendable {
        var latency: [Histogram<UInt64>]
        var sent: [Int]
        var answeredOK: [Int]
        var tooOften: [Int]
        var answeredOther: Int
        var received: Int
        var receivedProblems: Int
    }

    let sender: BenchClient
    let receiver: BenchClient
    let senderID: String
    let receiverID: String
    let rate: Int
    let payloadBytes: Int
    var phase = 0
    var latency = [Scenario.histogram(), Scenario.histogram(), Scenario.histogram()]
    var sent = [0, 0, 0]
    var answeredOK = [0, 0, 0]
    var tooOften = [0, 0, 0]
    var answeredOther = 0
    var received = 0
    var receivedProblems = 0
    var nextSequence: UInt64 = 1
    var expected: UInt64 = 1
    var ticker: RepeatedTask?
    var tickerStart: UInt64 = 0
    var ticks = 0
    var drained: EventLoopPromise<Void>?

    init(senderID: String, receiverID: String, loop: any EventLoop, stats: BenchLoopStats, rate: Int, payloadBytes: Int)
    {
        self.senderID = senderID
        self.receiverID = receiverID
        self.sender = BenchClient(name: senderID, eventLoop: loop, loopStats: stats)
        self.receiver = BenchClient(name: receiverID, eventLoop: loop, loopStats: stats)
        self.rate = rate
        self.payloadBytes = payloadBytes
    }

    var result: Result {
        Result(
            latency: self.latency,
            sent: self.sent,
            answeredOK: self.answeredOK,
            tooOften: self.tooOften,
            answeredOther: self.answeredOther,
            received: self.received,
            receivedProblems: self.receivedProblems
        )
    }

    func start(target: BenchTarget, appID: String, senderToken: String, receiverToken: String) -> EventLoopFuture<Void>
    {
        let promise = self.sender.eventLoop.makePromise(of: Void.self)
        self.receiver.onEvent = { [self] _, _, message, _ in
            guard let delivery = message as? Herald_V1_PeerMessage, let body = BenchBody(delivery.message) else {
                return
            }
            self.received += 1
            // A gap is a message refused (TOO_OFTEN) or lost: the count of received against answered OK tells.
            if body.sequence >= self.expected {
                self.expected = body.sequence + 1
            } else {
                self.receivedProblems += 1
                self.receiver.stats.problem("control.received.out-of-order", "\(body.sequence), \(self.expected)")
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

    /// Starts phase `phase`; the first call starts the sending clock.
    func setPhase(_ phase: Int) {
        self.phase = phase
        guard self.ticker == nil else { return }
        self.tickerStart = Scenario.now()
        self.ticker = Scenario.repeating(on: self.sender.eventLoop, every: .milliseconds(2)) { [self] _ in
            self.tick()
        }
    }

    private func tick() {
        guard self.phase > 0 else { return }
        // Open loop: the number of messages due since the start, whatever the answers do.
        let due = Int(Scenario.elapsed(since: self.tickerStart) * UInt64(self.rate) / 1_000_000_000) + 1
        while self.ticks < due {
            self.ticks += 1
            self.sendOne()
        }
    }

    private func sendOne() {
        let phase = self.phase
        var request = Herald_V1_SendPeerMessageRequest()
        request.peerID = self.receiverID
        request.ackMode = .peer
        request.message = BenchBody(sender: 0, sequence: self.nextSequence).message(size: self.payloadBytes)
        self.nextSequence += 1
        self.sent[phase] += 1
        self.sender.send(opcode: .sendPeerMessageRequest, request) { [self] answer in
            let response = answer.decode(Herald_V1_SendPeerMessageResponse.self)
            switch response?.result {
            case .ok?:
                self.answeredOK[phase] += 1
                Scenario.record(answer.elapsedNanoseconds, into: &self.latency[phase])
            case .tooOften?:
                self.tooOften[phase] += 1
            default:
                self.answeredOther += 1
                let what =
                    response.map { "\($0.result)" } ?? answer.protocolError.map { "ProtocolError \($0.code)" }
                    ?? "connection closed"
                self.sender.stats.problem("control.answered.other", "\(self.senderID): \(what)")
            }
            if self.phase == 0 && self.sender.inFlight == 0 { self.drained?.succeed() }
        }
    }

    /// Stops sending; the future completes when every message is answered (or after 15 s).
    func stop() -> EventLoopFuture<Void> {
        self.phase = 0
        self.ticker?.cancel()
        self.ticker = nil
        let promise = self.sender.eventLoop.makePromise(of: Void.self)
        self.drained = promise
        if self.sender.inFlight == 0 {
            promise.succeed()
        } else {
            Scenario.after(.seconds(15), on: self.sender.eventLoop) {
                promise.succeed()
            }
        }
        return promise.futureResult
    }

    func close() {
        self.sender.close()
        self.receiver.close()
    }
}

/// The flood side of ``StallBenchmark``: the never-acking receiver and its flooders.
final class StallFlood {
    struct Result: Sendable {
        var sent: Int
        var answeredOK: Int
        var answeredCached: Int
        var tooOften: Int
        var answeredOther: Int
        var liveReceived: Int
        var cutOffReason: String?
        var cutOffAfterMs: Double?
        var redelivered: Int
        var redeliveredDuplicates: Int
        var missing: Int
        var redeliveryMs: Double
        var relogins: Int
        var reloginCutOffs: [String]
    }

    /// Most flood messages in flight per flooder.
    static let window = 256

    let loop: any EventLoop
    let stats: BenchLoopStats
    let nackID: String
    let nack: BenchClient
    let payloadBytes: Int
    var flooders: [BenchClient] = []
    var gates: [RateGate] = []
    var nextSequence: [UInt64] = []
    var flooding = false
    var floodStartedAt: UInt64 = 0
    var pump: RepeatedTask?
    var cutOff: EventLoopPromise<Void>?
    var cutOffReason: String?
    var cutOffAfterMs: Double?
    var sent = 0
    var answeredOK = 0
    var answeredCached = 0
    var tooOften = 0
    var answeredOther = 0
    var liveReceived = 0
    var accepted = Set<BenchBody>()
    var drained: EventLoopPromise<Void>?
    var again: BenchClient?
    var redelivered = Set<BenchBody>()
    var redeliveredDuplicates = 0
    var loginAgainAt: UInt64 = 0
    var relogins = 0
    var reloginCutOffs: [String] = []
    var lastRedeliveryAt: UInt64 = 0

    init(nackID: String, loop: any EventLoop, stats: BenchLoopStats, payloadBytes: Int) {
        self.loop = loop
        self.stats = stats
        self.nackID = nackID
        self.payloadBytes = payloadBytes
        self.nack = BenchClient(name: nackID, eventLoop: loop, loopStats: stats)
        self.nack.ackPolicy = .never
        // Its ProtocolError and Disconnect are the expected outcome, counted apart.
        self.nack.counterPrefix = "nack."
    }

    var result: Result {
        Result(
            sent: self.sent,
            answeredOK: self.answeredOK,
            answeredCached: self.answeredCached,
            tooOften: self.tooOften,
            answeredOther: self.answeredOther,
            liveReceived: self.liveReceived,
            cutOffReason: self.cutOffReason,
            cutOffAfterMs: self.cutOffAfterMs,
            redelivered: self.redelivered.count,
            redeliveredDuplicates: self.redeliveredDuplicates,
            missing: self.accepted.subtracting(self.redelivered).count,
            redeliveryMs: self.lastRedeliveryAt > self.loginAgainAt
                ? Double(self.lastRedeliveryAt - self.loginAgainAt) / 1e6 : 0,
            relogins: self.relogins,
            reloginCutOffs: self.reloginCutOffs
        )
    }

    /// Connects and logs in the never-acking receiver; the future carries its Welcome.
    func connectReceiver(target: BenchTarget, appID: String, token: String) -> EventLoopFuture<Herald_V1_Welcome> {
        let promise = self.loop.makePromise(of: Herald_V1_Welcome.self)
        self.nack.onEvent = { [self] _, _, message, _ in
            if message is Herald_V1_PeerMessage { self.liveReceived += 1 }
        }
        self.nack.onDisconnect = { [self] _, message in
            self.cutOffSeen(BenchClient.reasonName(message.reason))
        }
        self.nack.onClosed = { [self] _ in
            self.cutOffSeen("closed without Disconnect")
        }
        self.nack.connectAndLogin(to: target, appID: appID, userID: self.nackID, token: token) { [self] result in
            switch result {
            case .failure(let error): promise.fail(error)
            case .success: promise.succeed(self.nack.welcome ?? Herald_V1_Welcome())
            }
        }
        return promise.futureResult
    }

    /// Connects and logs in one flooder per token.
    func connectFlooders(target: BenchTarget, appID: String, runID: String, tokens: [String]) -> EventLoopFuture<Void> {
        var logins: [EventLoopFuture<Void>] = []
        for (index, token) in tokens.enumerated() {
            let flooder = BenchClient(name: "st\(runID)-f\(index)", eventLoop: self.loop, loopStats: self.stats)
            self.flooders.append(flooder)
            self.gates.append(RateGate([]))
            self.nextSequence.append(1)
            let promise = self.loop.makePromise(of: Void.self)
            logins.append(promise.futureResult)
            flooder.connectAndLogin(to: target, appID: appID, userID: flooder.name, token: token) { [self] result in
                switch result {
                case .failure(let error):
                    promise.fail(error)
                case .success:
                    // Each flooder stays within its own advertised message rate: never TOO_OFTEN.
                    self.gates[index] = RateGate(flooder.welcome?.rateLimits ?? [])
                    promise.succeed()
                }
            }
        }
        return EventLoopFuture.andAllSucceed(logins, on: self.loop)
    }

    /// Starts the flood; the future completes when the receiver is cut off (or the timeout passes).
    func startFlood(timeout: Duration) -> EventLoopFuture<Void> {
        let promise = self.loop.makePromise(of: Void.self)
        self.cutOff = promise
        self.flooding = true
        self.floodStartedAt = Scenario.now()
        self.pump = Scenario.repeating(on: self.loop, every: .milliseconds(5)) { [self] _ in
            self.pumpFlood()
        }
        Scenario.after(.nanoseconds(Scenario.nanoseconds(timeout)), on: self.loop) { [self] in
            if self.flooding { self.cutOffSeen(nil) }
        }
        return promise.futureResult
    }

    private func pumpFlood() {
        guard self.flooding else { return }
        let now = Scenario.now()
        for (index, flooder) in self.flooders.enumerated() where flooder.isConnected {
            while self.flooding && flooder.inFlight < Self.window && self.gates[index].take(.messages, now: now) {
                self.sendFlood(index)
            }
        }
    }

    private func sendFlood(_ index: Int) {
        let flooder = self.flooders[index]
        let body = BenchBody(sender: UInt64(index + 1), sequence: self.nextSequence[index])
        self.nextSequence[index] += 1
        var request = Herald_V1_SendPeerMessageRequest()
        request.peerID = self.nackID
        request.ackMode = .server
        request.enableOfflineMessaging = true
        request.message = body.message(size: self.payloadBytes)
        self.sent += 1
        flooder.send(opcode: .sendPeerMessageRequest, request) { [self] answer in
            let response = answer.decode(Herald_V1_SendPeerMessageResponse.self)
            switch response?.result {
            case .ok?:
                self.answeredOK += 1
                self.accepted.insert(body)
            case .cachedByServer?:
                self.answeredCached += 1
                self.accepted.insert(body)
            case .tooOften?:
                self.tooOften += 1
            default:
                self.answeredOther += 1
                let what =
                    response.map { "\($0.result)" } ?? answer.protocolError.map { "ProtocolError \($0.code)" }
                    ?? "connection closed"
                flooder.stats.problem("flood.answered.other", "\(flooder.name): \(what)")
            }
            self.checkDrained()
        }
    }

    private func cutOffSeen(_ reason: String?) {
        guard self.flooding else { return }
        self.flooding = false
        self.pump?.cancel()
        self.pump = nil
        self.cutOffReason = reason
        if reason != nil {
            self.cutOffAfterMs = Double(Scenario.elapsed(since: self.floodStartedAt)) / 1e6
        }
        self.cutOff?.succeed()
    }

    /// The future completes when every flood message is answered.
    func drain() -> EventLoopFuture<Void> {
        let promise = self.loop.makePromise(of: Void.self)
        self.drained = promise
        self.checkDrained()
        return promise.futureResult
    }

    private func checkDrained() {
        guard !self.flooding, let drained = self.drained else { return }
        if self.flooders.allSatisfy({ $0.inFlight == 0 }) {
            self.drained = nil
            drained.succeed()
        }
    }

    /// Logs the receiver in again (acknowledging now) and collects its cached messages; the future completes when
    /// every accepted message arrived or nothing arrived for 3 s. A receiver cut off again while its cached
    /// messages are delivered logs in once more, up to five logins in all.
    func loginAgain(target: BenchTarget, appID: String, token: String) -> EventLoopFuture<Void> {
        let promise = self.loop.makePromise(of: Void.self)
        self.loginAgainAt = Scenario.now()
        self.loginOnce(target: target, appID: appID, token: token, promise: promise)
        return promise.futureResult
    }

    private func loginOnce(target: BenchTarget, appID: String, token: String, promise: EventLoopPromise<Void>) {
        self.again?.onClosed = nil
        self.again?.close()
        let client = BenchClient(name: self.nackID, eventLoop: self.loop, loopStats: self.stats)
        client.counterPrefix = "relogin."
        self.again = client
        self.relogins += 1
        client.onEvent = { [self] _, _, message, _ in
            guard let delivery = message as? Herald_V1_PeerMessage, let body = BenchBody(delivery.message) else {
                return
            }
            self.lastRedeliveryAt = Scenario.now()
            if !self.redelivered.insert(body).inserted {
                self.redeliveredDuplicates += 1
            }
        }
        var finished = false
        client.onDisconnect = { [self] _, message in
            self.reloginCutOffs.append(BenchClient.reasonName(message.reason))
        }
        client.onClosed = { [self] _ in
            guard !finished else { return }
            finished = true
            if self.relogins < 5 && self.redelivered.count < self.accepted.count {
                Scenario.after(.milliseconds(200), on: self.loop) { [self] in
                    self.loginOnce(target: target, appID: appID, token: token, promise: promise)
                }
            } else {
                promise.succeed()
            }
        }
        self.lastRedeliveryAt = Scenario.now()
        client.connectAndLogin(to: target, appID: appID, userID: self.nackID, token: token) { [self] result in
            if case .failure(let error) = result {
                finished = true
                return promise.fail(error)
            }
            _ = Scenario.repeating(on: self.loop, every: .milliseconds(100), initialDelay: .milliseconds(100)) {
                [self] task in
                guard !finished else { return task.cancel() }
                // All there and nothing more for 0.5 s (a duplicate would show), or nothing at all for 3 s.
                let silence = Scenario.elapsed(since: self.lastRedeliveryAt)
                let complete = self.redelivered.count >= self.accepted.count && silence > 500_000_000
                if complete || silence > 3_000_000_000 {
                    task.cancel()
                    finished = true
                    promise.succeed()
                }
            }
        }
    }

    func close() {
        self.nack.onClosed = nil
        self.nack.close()
        self.again?.close()
        for flooder in self.flooders { flooder.close() }
    }
}

import HeraldMessages
import NIOCore

/// Options of the peer-message scenarios of ``PeerLoadBenchmark``: `roundtrip` (closed loop), `overload` and
/// `latency` (open loop).
public struct PeerLoadOptions: Sendable {
    /// Sender/receiver pairs, each two connections on one event loop.
    public var pairs = 1
    /// Messages each sender keeps in flight (closed loop), or at most has in flight (open loop: a message due
    /// while the window is full is not sent, and counted).
    public var window = 1
    /// Messages per second offered in total over all pairs (open loop only).
    public var rate = 10_000
    /// How long senders send.
    public var duration: Duration = .seconds(10)
    /// Bytes in each message body (at least 16).
    public var payloadBytes = 256
    /// Event-loop threads of the load generator.
    public var threads = 1
    /// The acknowledgement mode of the messages.
    public var ackMode: Herald_V1_AckMode = .peer
    /// The server's pid, to sample its CPU, syscalls and context switches (``ServerProbe``).
    public var serverPID: Int32?

    /// Creates default options.
    public init() {}

    func validate() throws(BenchError) {
        guard self.pairs > 0, self.window > 0, self.rate > 0, self.duration > .zero, self.payloadBytes >= 16 else {
            throw BenchError(
                .usage,
                "--pairs, --window, --rate and --duration must be positive and --payload-bytes at least 16"
            )
        }
    }
}

/// Keeps up to `window` requests in flight on one client, within the client's advertised message rate
/// (``RateGate``), while `hasMore()` says so; its future completes when every request sent is answered.
final class WindowedSender {
    private let client: BenchClient
    private let window: Int
    private let hasMore: () -> Bool
    private let sendOne: (_ answered: @escaping () -> Void) -> Void
    private var gate = RateGate([])
    private var promise: EventLoopPromise<Void>?

    /// `sendOne` sends one request and calls `answered` once it is answered.
    init(
        client: BenchClient,
        window: Int,
        hasMore: @escaping () -> Bool,
        sendOne: @escaping (_ answered: @escaping () -> Void) -> Void
    ) {
        self.client = client
        self.window = window
        self.hasMore = hasMore
        self.sendOne = sendOne
    }

    /// Fills the window; call on the client's loop once it is logged in.
    func start() -> EventLoopFuture<Void> {
        let promise = self.client.eventLoop.makePromise(of: Void.self)
        self.promise = promise
        // Stay within the server's advertised message rate (Welcome.rate_limits): never TOO_OFTEN.
        self.gate = RateGate(self.client.welcome?.rateLimits ?? [])
        if Scenario.rateLimit(self.client.welcome, .messages) != nil {
            self.client.stats.count("paced-by-advertised-rate-limit")
        }
        for _ in 0..<self.window { self.next() }
        return promise.futureResult
    }

    private func next() {
        guard let promise = self.promise else { return }
        guard self.hasMore(), self.client.isConnected else {
            if self.client.inFlight == 0 {
                self.promise = nil
                promise.succeed()
            }
            return
        }
        guard self.gate.take(.messages, now: Scenario.now()) else {
            Scenario.after(.milliseconds(5), on: self.client.eventLoop) { [self] in self.next() }
            return
        }
        self.sendOne { [self] in self.next() }
    }
}

/// When the messages of one open-loop sender are due: slot `k` (from 0) at `start + k / share` seconds.
struct OpenLoopSchedule {
    /// The first slot's time (monotonic nanoseconds).
    var start: UInt64
    /// No slot at or after this time.
    var stop: UInt64
    /// Messages per second of this sender.
    var share: UInt64

    /// The time of slot `slot`.
    func time(_ slot: UInt64) -> UInt64 {
        self.start + slot * 1_000_000_000 / self.share
    }
}

/// One sender/receiver pair of the peer-message scenarios, on one event loop.
///
/// The receiver acknowledges every delivery (``BenchClient``) and checks that the sender's messages arrive once
/// and in order; the sender counts every answer (`answered.ok`, or `answered.result.…` and `answered.other`) and
/// records its latency from the send (``BenchStats/latency``) and, in the open loop, from the time the message was
/// due (`answer from schedule`, and `receipt from schedule` at the receiver).
final class PeerPair {
    let index: Int
    let sender: BenchClient
    let receiver: BenchClient
    let senderID: String
    let receiverID: String
    let options: PeerLoadOptions
    private var nextSequence: UInt64 = 1
    private var order = BenchOrderCheck()
    /// When each message sent was due, by sequence number − 1 (open loop only).
    private var dueTimes: [UInt64] = []
    private var schedule: OpenLoopSchedule?
    private var slot: UInt64 = 0
    private var granularity: UInt64 = 0
    private var sending = false
    private var done: EventLoopPromise<Void>?

    init(
        index: Int,
        prefix: String,
        runID: String,
        loop: any EventLoop,
        stats: BenchLoopStats,
        options: PeerLoadOptions
    ) {
        self.index = index
        self.senderID = "\(prefix)\(runID)-s\(index)"
        self.receiverID = "\(prefix)\(runID)-r\(index)"
        self.sender = BenchClient(name: self.senderID, eventLoop: loop, loopStats: stats)
        self.receiver = BenchClient(name: self.receiverID, eventLoop: loop, loopStats: stats)
        self.options = options
    }

    /// Logs in the receiver, then the sender.
    func connect(
        target: BenchTarget,
        appID: String,
        senderToken: String,
        receiverToken: String
    ) -> EventLoopFuture<Void> {
        let promise = self.sender.eventLoop.makePromise(of: Void.self)
        self.sender.countClosesByServer()
        self.receiver.countClosesByServer()
        self.receiver.onEvent = { [self] client, _, message, _ in
            guard let delivery = message as? Herald_V1_PeerMessage, let body = BenchBody(delivery.message) else {
                return
            }
            if body.sequence >= 1 && body.sequence <= self.dueTimes.count {
                client.stats.record(
                    "receipt from schedule",
                    nanoseconds: Scenario.elapsed(since: self.dueTimes[Int(body.sequence) - 1])
                )
            }
            client.stats.receive(body.sequence, &self.order, who: self.receiverID)
        }
        self.receiver.connectAndLogin(to: target, appID: appID, userID: self.receiverID, token: receiverToken) {
            [self] result in
            if case .failure(let error) = result { return promise.fail(error) }
            self.sender.connectAndLogin(to: target, appID: appID, userID: self.senderID, token: senderToken) {
                promise.complete(with: $0)
            }
        }
        return promise.futureResult
    }

    /// Closed loop: keeps ``PeerLoadOptions/window`` messages in flight until `stopAt`; the future completes when
    /// every message sent is answered.
    func runClosedLoop(until stopAt: UInt64) -> EventLoopFuture<Void> {
        WindowedSender(client: self.sender, window: self.options.window, hasMore: { Scenario.now() < stopAt }) {
            [self] answered in
            self.sendOne(due: nil, then: answered)
        }.start()
    }

    /// Open loop: sends this pair's share of ``PeerLoadOptions/rate`` from `startAt` to `stopAt`, each message at
    /// its due time whatever the answers do (woken at most every `granularity` nanoseconds; 0: at every due
    /// time). The future completes when every message is answered, or 15 s after `stopAt`.
    func runOpenLoop(startAt: UInt64, stopAt: UInt64, granularity: UInt64) -> EventLoopFuture<Void> {
        let loop = self.sender.eventLoop
        let promise = loop.makePromise(of: Void.self)
        self.done = promise
        self.sending = true
        self.granularity = granularity
        // Pairs share the rate; pair `index` takes one more message per second while the remainder lasts.
        let share = UInt64(
            self.options.rate / self.options.pairs + (self.index < self.options.rate % self.options.pairs ? 1 : 0)
        )
        guard share > 0 else {
            self.stopSending()
            return promise.futureResult
        }
        // The pairs' schedules are spread over one interval, so that they do not all send at the same instant.
        let offset = UInt64(self.index) * 1_000_000_000 / share / UInt64(self.options.pairs)
        self.schedule = OpenLoopSchedule(start: startAt + offset, stop: stopAt, share: share)
        self.dueTimes.reserveCapacity(Int(share * (stopAt - min(stopAt, startAt)) / 1_000_000_000) + 1)
        loop.assumeIsolated().scheduleTask(deadline: .uptimeNanoseconds(startAt + offset)) { [self] in self.tick() }
        Scenario.after(.nanoseconds(Int64(stopAt - min(stopAt, Scenario.now())) + 15_000_000_000), on: loop) {
            [self] in
            self.finish()
        }
        return promise.futureResult
    }

    private func tick() {
        guard self.sending, let schedule = self.schedule else { return }
        let now = Scenario.now()
        while true {
            let due = schedule.time(self.slot)
            guard due < schedule.stop else { return self.stopSending() }
            guard due <= now else { break }
            self.slot += 1
            if !self.sender.isConnected {
                self.sender.stats.count("skipped.closed")
            } else if self.sender.inFlight >= self.options.window {
                self.sender.stats.count("skipped.window-full")
            } else {
                self.sendOne(due: due, then: nil)
            }
        }
        let wake = max(schedule.time(self.slot), now + self.granularity)
        self.sender.eventLoop.assumeIsolated().scheduleTask(deadline: .uptimeNanoseconds(wake)) { [self] in
            self.tick()
        }
    }

    private func stopSending() {
        guard self.sending else { return }
        self.sending = false
        if self.sender.inFlight == 0 { self.finish() }
    }

    private func finish() {
        guard let done = self.done else { return }
        self.done = nil
        if self.sender.inFlight > 0 { self.sender.stats.count("unanswered.at-end", self.sender.inFlight) }
        done.succeed()
    }

    /// Sends the next message (due at `due`, in the open loop) and calls `then` when it is answered.
    private func sendOne(due: UInt64?, then: (() -> Void)?) {
        var request = Herald_V1_SendPeerMessageRequest()
        request.peerID = self.receiverID
        request.ackMode = self.options.ackMode
        request.message = BenchBody(sender: UInt64(self.index), sequence: self.nextSequence).message(
            size: self.options.payloadBytes
        )
        self.nextSequence += 1
        if let due { self.dueTimes.append(due) }
        self.sender.stats.count("sent")
        self.sender.send(opcode: .sendPeerMessageRequest, request) { [self] answer in
            let response = answer.decode(Herald_V1_SendPeerMessageResponse.self)
            let ok = self.sender.stats.countAnswer(
                answer,
                result: response?.result,
                isOK: response?.result == .ok,
                who: self.senderID
            )
            if ok, let due {
                self.sender.stats.record("answer from schedule", nanoseconds: Scenario.elapsed(since: due))
            }
            then?()
            if !self.sending && self.sender.inFlight == 0 { self.finish() }
        }
    }

    /// Closes both connections.
    func close() {
        self.sending = false
        self.sender.close()
        self.receiver.close()
    }
}

extension BenchStats {
    /// Counts the answer to a message request: `answered.ok` and its latency when `isOK`; otherwise
    /// `answered.result.<outcome>` (``BenchAnswer/outcome(_:)``) and the problem
    /// `answered.other`. Returns `isOK`.
    @discardableResult
    mutating func countAnswer(_ answer: BenchAnswer, result: Any?, isOK: Bool, who: String) -> Bool {
        if isOK {
            self.count("answered.ok")
            self.recordLatency(microseconds: answer.elapsedNanoseconds / 1000)
            return true
        }
        let what = answer.outcome(result)
        self.count("answered.result.\(what)")
        self.problem("answered.other", "\(who): \(what)")
        return false
    }
}

/// Runs the peer-message scenarios: `roundtrip`, `overload` and `latency`.
public enum PeerLoadBenchmark {
    /// Which scenario.
    public enum Kind: Sendable, Hashable {
        /// `roundtrip`: closed loop, ``PeerLoadOptions/window`` messages in flight per sender; throughput and
        /// request-to-answer latency.
        case roundTrip
        /// `overload`: open loop at ``PeerLoadOptions/rate`` (senders woken every 5 ms); a server that cannot
        /// carry the rate must slow down, and cut nobody off.
        case overload
        /// `latency`: open loop at ``PeerLoadOptions/rate``, each message sent at its due time; latency from the
        /// due time to the answer and to the receipt (no coordinated omission).
        case latency
    }

    /// ``run(_:target:credentials:options:progress:)`` for scenario `kind`, as a function of the other arguments.
    public static func runner(
        _ kind: Kind
    ) -> (BenchTarget, BenchCredentials, PeerLoadOptions, @escaping @Sendable (String) -> Void) async throws(BenchError)
        -> BenchReport
    {
        { target, credentials, options, progress throws(BenchError) in
            try await Self.run(kind, target: target, credentials: credentials, options: options, progress: progress)
        }
    }

    /// Runs scenario `kind` against `target`: mints the tokens and logs in the pairs, sends (the measured region,
    /// sampled by ``ServerProbe``), and reports.
    ///
    /// - Throws: ``BenchError`` when the options are wrong, the server cannot be reached, a login fails, or (open
    ///   loop) the per-pair rate exceeds the server's advertised message rate limit.
    public static func run(
        _ kind: Kind,
        target: BenchTarget,
        credentials: BenchCredentials,
        options: PeerLoadOptions,
        progress: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws(BenchError) -> BenchReport {
        try options.validate()
        let probe = try ServerProbe(serverPID: options.serverPID)
        let loops = try await BenchLoops.start(threads: options.threads)
        defer { Task { await loops.shutdown() } }
        progress("logging in \(options.pairs) pairs")
        let prefix = [Kind.roundTrip: "rt", .overload: "ov", .latency: "la"][kind]!
        let pairs = try await PeerLoad.connect(
            prefix: prefix,
            target: target,
            credentials: credentials,
            options: options,
            loops: loops
        )
        let start: ServerProbe.Mark
        let startAt: UInt64
        let stopAt: UInt64
        if kind == .roundTrip {
            progress("sending for \(options.duration), \(options.window) in flight per pair")
            start = probe.mark()
            startAt = start.nanoseconds
            stopAt = startAt + UInt64(Scenario.nanoseconds(options.duration))
            try await PeerLoad.run(pairs) { $0.runClosedLoop(until: stopAt) }
        } else {
            try await PeerLoad.checkRate(pairs, options: options)
            progress("offering \(options.rate) msg/s for \(options.duration)")
            start = probe.mark()
            // Overload: every 5 ms each sender sends what is due; latency: each sender wakes at every due time.
            let granularity: UInt64 = kind == .overload ? 5_000_000 : 0
            // 50 ms to reach every loop before the first message is due.
            startAt = start.nanoseconds + 50_000_000
            stopAt = startAt + UInt64(Scenario.nanoseconds(options.duration))
            try await PeerLoad.run(pairs) {
                $0.runOpenLoop(startAt: startAt, stopAt: stopAt, granularity: granularity)
            }
        }
        let end = probe.mark()
        // Let the last deliveries arrive.
        try? await Task.sleep(for: .milliseconds(200))
        await PeerLoad.close(pairs)
        let run = PeerLoad.Run(
            stats: try await loops.results(),
            sendingSeconds: Double(min(stopAt, end.nanoseconds) - min(startAt, end.nanoseconds)) / 1e9,
            drainSeconds: end.nanoseconds > stopAt ? Double(end.nanoseconds - stopAt) / 1e9 : 0
        )
        var report: BenchReport
        switch kind {
        case .roundTrip: report = RoundTripBenchmark.report(target: target, options: options, run: run)
        case .overload: report = OverloadBenchmark.report(target: target, options: options, run: run)
        case .latency: report = LatencyBenchmark.report(target: target, options: options, run: run)
        }
        let unit = kind == .roundTrip ? "round trip" : "message"
        report.add(BenchUsage(from: start, to: end, operations: [(unit, run.stats["answered.ok"])]))
        return report
    }
}

/// The steps the peer-message scenarios share: connecting the pairs, checking the rate against the advertised
/// limit, running them, and the delivery checks.
enum PeerLoad {
    /// Mints the tokens, then connects and logs in ``PeerLoadOptions/pairs`` pairs (users `PREFIXRUN-sN` and
    /// `PREFIXRUN-rN`), spread over `loops`.
    static func connect(
        prefix: String,
        target: BenchTarget,
        credentials: BenchCredentials,
        options: PeerLoadOptions,
        loops: BenchLoops
    ) async throws(BenchError) -> [NIOLoopBound<PeerPair>] {
        let runID = Scenario.runID()
        let users = (0..<options.pairs).flatMap { ["\(prefix)\(runID)-s\($0)", "\(prefix)\(runID)-r\($0)"] }
        let tokens = try await credentials.tokens(for: users)
        let appID = credentials.appID
        var pairs: [NIOLoopBound<PeerPair>] = []
        for index in 0..<options.pairs {
            let loop = loops.loop(for: index)
            let pair = try await Scenario.onLoop(loop) {
                NIOLoopBound(
                    PeerPair(
                        index: index,
                        prefix: prefix,
                        runID: runID,
                        loop: loop,
                        stats: loops.stats(on: loop),
                        options: options
                    ),
                    eventLoop: loop
                )
            }
            pairs.append(pair)
        }
        let created = pairs
        do throws(BenchError) {
            try await Scenario.forEach(created.indices, concurrency: 64) { index throws(BenchError) in
                let pair = created[index]
                try await Scenario.waitOn(pair.eventLoop) {
                    pair.value.connect(
                        target: target,
                        appID: appID,
                        senderToken: tokens[2 * index],
                        receiverToken: tokens[2 * index + 1]
                    )
                }
            }
        } catch {
            await Self.close(pairs)
            throw error
        }
        return pairs
    }

    /// Refuses a per-pair rate above the server's advertised `RATE_CLASS_MESSAGES` limit (open loop: such messages
    /// would be refused with `TOO_OFTEN`), naming the fix.
    static func checkRate(_ pairs: [NIOLoopBound<PeerPair>], options: PeerLoadOptions) async throws(BenchError) {
        let first = pairs[0]
        let welcome = try await Scenario.onLoop(first.eventLoop) { first.value.sender.welcome ?? Herald_V1_Welcome() }
        guard let (count, windowMs) = Scenario.rateLimit(welcome, .messages),
            options.rate * windowMs > options.pairs * count * 1000
        else { return }
        let needed = (options.rate * windowMs + count * 1000 - 1) / (count * 1000)
        await Self.close(pairs)
        throw BenchError(
            .usage,
            "\(options.rate) msg/s over \(options.pairs) pairs exceeds the server's advertised limit of \(count) "
                + "messages per \(windowMs) ms per session: use --pairs \(needed) or more, or start the server "
                + "with --no-rate-limit messages (or --rate-limit messages=COUNT/WINDOW_MS)"
        )
    }

    /// Starts `body` on every pair's loop and waits for all of them.
    static func run(
        _ pairs: [NIOLoopBound<PeerPair>],
        _ body: @escaping @Sendable (PeerPair) -> EventLoopFuture<Void>
    ) async throws(BenchError) {
        var done: [EventLoopFuture<Void>] = []
        for pair in pairs {
            done.append(try await Scenario.onLoop(pair.eventLoop) { body(pair.value) })
        }
        for future in done { _ = try? await future.get() }
    }

    /// Closes every pair's connections.
    static func close(_ pairs: [NIOLoopBound<PeerPair>]) async {
        for pair in pairs { try? await Scenario.onLoop(pair.eventLoop) { pair.value.close() } }
    }

    /// What a run measured.
    struct Run {
        /// Every loop's statistics.
        var stats: BenchStats
        /// From the start of sending (the first due time, in the open loop) to the end of sending.
        var sendingSeconds: Double
        /// From the end of sending to the last answer.
        var drainSeconds: Double
    }

    /// The parameters and the rate figures of an open-loop run.
    static func openLoopReport(
        _ scenario: String,
        target: BenchTarget,
        options: PeerLoadOptions,
        run: Run
    ) -> BenchReport {
        let stats = run.stats
        var report = BenchReport(
            scenario: scenario,
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
            .init(
                name: "achieved",
                value: Double(answered) / max(run.sendingSeconds + run.drainSeconds, 0.001),
                unit: "msg/s"
            ),
            .init(name: "received", value: Double(stats["received"])),
            .init(name: "drain after sending", value: run.drainSeconds * 1000, unit: "ms"),
        ]
        return report
    }

    /// The checks of an open-loop run: nobody disconnected, no `ProtocolError`, every message answered OK and
    /// received once, in order.
    static func checks(_ stats: BenchStats) -> [BenchReport.Check] {
        let disconnects = stats.counters.filter { $0.key.hasPrefix("disconnect.") }.values.reduce(0, +)
        let closed = stats["closed.by-server"]
        let protocolErrors = stats.counters.filter { $0.key.hasPrefix("protocol-error.") }.values.reduce(0, +)
        let missing = max(0, stats["answered.ok"] - stats["received"])
        return [
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
    }
}

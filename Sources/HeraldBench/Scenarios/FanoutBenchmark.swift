import HeraldMessages
import HeraldWire
import Histogram
import NIOCore

/// Options of ``FanoutBenchmark``.
public struct FanoutOptions: Sendable {
    /// Subscriber connections, each a member of the channel.
    public var subscribers = 1000
    /// Channel messages the publisher sends.
    public var messages = 2000
    /// `SendChannelMessageRequest`s the publisher keeps in flight.
    public var window = 16
    /// Bytes per message body (at least 16).
    public var payloadBytes = 256
    /// Event-loop threads of the load generator.
    public var threads = 1
    /// The server's pid, to sample its CPU, syscalls and context switches (``ServerProbe``).
    public var serverPID: Int32?

    /// Creates default options.
    public init() {}
}

/// `herald bench fanout`: one publisher, one channel, many subscribers.
///
/// ``FanoutOptions/subscribers`` connections log in and join one channel, and so does a publisher; the publisher
/// sends ``FanoutOptions/messages`` `SendChannelMessageRequest`s with numbered bodies, ``FanoutOptions/window`` in
/// flight (within its advertised message rate). Every subscriber reads each `ChannelMessage` by its bytes
/// (``BenchWireScan``: the channel's `seq` and the body's number, no decoding), checks the channel stream's `seq`
/// and that it gets every message once and in order. Reported: deliveries per second (messages × subscribers over
/// the time from the first send to the last receipt), the publisher's answer latency and each message's completion
/// time (from its send to its receipt by the last subscriber).
public enum FanoutBenchmark {
    /// How long the subscribers may receive nothing new before the run stops waiting for the rest.
    static let patience: UInt64 = 10_000_000_000

    /// Runs the scenario against `target`.
    ///
    /// - Throws: ``BenchError`` when the server cannot be reached, a login or a join fails, or the file descriptors
    ///   of this process or of the server do not suffice.
    public static func run(
        target: BenchTarget,
        credentials: BenchCredentials,
        options: FanoutOptions,
        progress: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws(BenchError) -> BenchReport {
        guard options.subscribers > 0, options.messages > 0, options.window > 0, options.payloadBytes >= 16 else {
            throw BenchError(
                .usage,
                "--subscribers, --messages and --window must be positive, --payload-bytes at least 16"
            )
        }
        let probe = try ServerProbe(serverPID: options.serverPID)
        try BenchDescriptors.reserve(
            options.subscribers + 64,
            serverPID: options.serverPID,
            for: "fanout with \(options.subscribers) subscribers"
        )
        let loops = try await BenchLoops.start(threads: options.threads)
        defer { Task { await loops.shutdown() } }
        let runID = Scenario.runID()
        let channelID = "fo\(runID)"
        let users = (0..<options.subscribers).map { "fo\(runID)-u\($0)" } + ["fo\(runID)-p"]
        progress("minting \(users.count) tokens")
        let tokens = try await credentials.tokens(for: users)
        let groups = try await loops.onEach { [appID = credentials.appID] loop, stats in
            FanoutGroup(loop: loop, stats: stats, channelID: channelID, options: options, target: target, appID: appID)
        }
        let publisher = groups[0]
        progress("logging in and joining \(options.subscribers) subscribers and a publisher to \(channelID)")
        do throws(BenchError) {
            try await Scenario.waitOn(publisher.eventLoop) { publisher.value.addPublisher(users.last!, tokens.last!) }
            try await Scenario.forEach(0..<options.subscribers, concurrency: 64) { index throws(BenchError) in
                let group = groups[index % groups.count]
                try await Scenario.waitOn(group.eventLoop) { group.value.addSubscriber(users[index], tokens[index]) }
            }
        } catch {
            await ScenarioGroup.close(groups)
            throw error
        }
        // The member events of the joins (MemberJoined, MemberCountUpdated) die down.
        try? await Task.sleep(for: .seconds(1))
        progress("publishing \(options.messages) messages, \(options.window) in flight")
        let start = probe.mark()
        try await Scenario.waitOn(publisher.eventLoop) { publisher.value.publish() }
        for group in groups {
            try await Scenario.waitOn(group.eventLoop) { group.value.whenDelivered(patience: Self.patience) }
        }
        let end = probe.mark()
        await ScenarioGroup.close(groups)
        var tallies: [FanoutTally] = []
        for group in groups { tallies.append(try await Scenario.onLoop(group.eventLoop) { group.value.tally() }) }
        let stats = try await loops.results()
        let delivery = FanoutDelivery(tallies, subscribers: options.subscribers)
        var report = Self.report(target: target, options: options, stats: stats, delivery: delivery)
        report.add(
            BenchUsage(
                from: start,
                to: end,
                operations: [("delivery", delivery.deliveries), ("message", stats["answered.ok"])]
            )
        )
        return report
    }

    static func report(
        target: BenchTarget,
        options: FanoutOptions,
        stats: BenchStats,
        delivery: FanoutDelivery
    ) -> BenchReport {
        var report = BenchReport(
            scenario: "fanout",
            target: target.description,
            parameters: [
                "subscribers": "\(options.subscribers)", "messages": "\(options.messages)",
                "window": "\(options.window)", "payload-bytes": "\(options.payloadBytes)",
                "threads": "\(options.threads)",
            ],
            counters: stats.counters,
            notes: stats.notes
        )
        let answered = stats["answered.ok"]
        let seconds = max(delivery.seconds, 0.001)
        report.figures += [
            .init(name: "messages answered OK", value: Double(answered)),
            .init(name: "deliveries", value: Double(delivery.deliveries)),
            .init(name: "deliveries per second", value: Double(delivery.deliveries) / seconds, unit: "/s"),
            .init(name: "messages per second", value: Double(answered) / seconds, unit: "/s"),
            .init(name: "first send to last receipt", value: delivery.seconds * 1000, unit: "ms"),
        ]
        report.addLatency(stats, label: "publisher answer")
        report.addLatency(delivery.completion, label: "completion (last subscriber)")
        if stats["paced-by-advertised-rate-limit"] > 0 {
            report.notes.insert(
                "the publisher kept to the server's advertised message rate limit, so the rate above is that limit's: "
                    + "start the server with --no-rate-limit messages to measure the fan-out",
                at: 0
            )
        }
        let expected = answered * options.subscribers
        let outOfOrder = stats["received.gap"] + stats["received.out-of-order"] + stats["received.unknown"]
        let seqFaults = stats["seq.gap"] + stats["seq.repeat"] + stats["seq.outside-stream"]
        let problems = Scenario.problems(stats) + stats["closed.by-server"]
        report.checks = [
            .init(
                name: "every message answered OK",
                passed: stats["answered.other"] == 0 && answered == options.messages,
                detail: "\(answered) of \(options.messages) OK, \(stats["answered.other"]) answered otherwise "
                    + "(\(Scenario.list(stats, prefix: "answered.result.")))"
            ),
            .init(
                name: "every subscriber got every message once, in order",
                passed: delivery.deliveries == expected && delivery.incomplete == 0 && outOfOrder == 0,
                detail: "\(delivery.deliveries) of \(expected) deliveries, \(delivery.incomplete) messages not "
                    + "delivered exactly once to each subscriber, \(stats["received.gap"]) gaps, "
                    + "\(stats["received.out-of-order"]) duplicated or out of order (must be 0)"
            ),
            .init(
                name: "channel seq gaps and repeats",
                passed: seqFaults == 0,
                detail: "\(seqFaults) (\(Scenario.list(stats, prefix: "seq."))) (must be 0)"
            ),
            .init(
                name: "protocol errors and disconnects",
                passed: problems == 0,
                detail: "\(problems) (must be 0)"
            ),
        ]
        return report
    }
}

/// What the subscribers of one event loop received, by message (sequence number − 1), and when the publisher sent
/// each message (from the publisher's loop only).
struct FanoutTally: Sendable {
    /// Receipts of each message.
    var received: [UInt32]
    /// The last receipt of each message (monotonic nanoseconds, 0 when none).
    var lastReceipt: [UInt64]
    /// When each message was sent (empty on the loops without the publisher).
    var sentAt: [UInt64]
}

/// The loops' tallies combined: deliveries, their span and each message's completion time.
struct FanoutDelivery {
    /// Receipts of all messages by all subscribers.
    var deliveries = 0
    /// Messages sent that were not received exactly once by every subscriber.
    var incomplete = 0
    /// From the first send to the last receipt, in seconds.
    var seconds = 0.0
    /// Each message's time from its send to its receipt by the last subscriber, in microseconds.
    var completion = Scenario.histogram()

    init(_ tallies: [FanoutTally], subscribers: Int) {
        let sentAt = tallies.first { !$0.sentAt.isEmpty }?.sentAt ?? []
        var lastReceipt: UInt64 = 0
        for (index, sent) in sentAt.enumerated() {
            var count = 0
            var last: UInt64 = 0
            for tally in tallies where index < tally.received.count {
                count += Int(tally.received[index])
                last = max(last, tally.lastReceipt[index])
            }
            self.deliveries += count
            if count != subscribers { self.incomplete += 1 }
            if last > 0 { Scenario.record(Scenario.elapsed(since: sent, until: last), into: &self.completion) }
            lastReceipt = max(lastReceipt, last)
        }
        if let first = sentAt.first, lastReceipt > first { self.seconds = Double(lastReceipt - first) / 1e9 }
    }
}

/// The fan-out clients on one event loop: its share of the subscribers and, on the first loop, the publisher.
final class FanoutGroup: ScenarioGroup {
    let channelID: String
    let channelBytes: [UInt8]
    let stream: BenchStream
    let options: FanoutOptions
    private var subscribers: [BenchClient] = []
    private var orders: [BenchOrderCheck] = []
    private var received: [UInt32]
    private var lastReceipt: [UInt64]
    private var receivedTotal = 0
    private var lastProgress: UInt64 = 0
    private var publisher: BenchClient?
    private var sentAt: [UInt64] = []

    init(
        loop: any EventLoop,
        stats: BenchLoopStats,
        channelID: String,
        options: FanoutOptions,
        target: BenchTarget,
        appID: String
    ) {
        self.channelID = channelID
        self.channelBytes = Array(channelID.utf8)
        self.stream = .channel(channelID)
        self.options = options
        self.received = Array(repeating: 0, count: options.messages)
        self.lastReceipt = Array(repeating: 0, count: options.messages)
        super.init(loop: loop, stats: stats, target: target, appID: appID)
    }

    /// Logs in and joins subscriber `user`.
    func addSubscriber(_ user: String, _ token: String) -> EventLoopFuture<Void> {
        let slot = self.subscribers.count
        let client = self.makeClient(user)
        self.subscribers.append(client)
        self.orders.append(BenchOrderCheck())
        // Channel messages by their bytes; anything else (member events) is decoded and seq-checked as usual.
        client.onRawEvent = { [self] client, frame in
            guard frame.opcode == .channelMessage,
                let fields = BenchWireScan.channelMessage(frame.payload, channelID: self.channelBytes)
            else { return false }
            client.advance(self.stream, to: fields.seq, event: "ChannelMessage")
            self.receive(fields.body.sequence, slot: slot)
            return true
        }
        client.onEvent = { [self] client, _, message, _ in
            guard let event = message as? Herald_V1_ChannelMessage, let body = BenchBody(event.message) else { return }
            client.stats.count("received.decoded")
            self.receive(body.sequence, slot: slot)
        }
        return self.join(client, user, token)
    }

    /// Logs in and joins the publisher `user`.
    func addPublisher(_ user: String, _ token: String) -> EventLoopFuture<Void> {
        let client = self.makeClient(user)
        self.publisher = client
        return self.join(client, user, token)
    }

    private func join(_ client: BenchClient, _ user: String, _ token: String) -> EventLoopFuture<Void> {
        let promise = self.loop.makePromise(of: Void.self)
        client.connectAndLogin(to: self.target, appID: self.appID, userID: user, token: token) { [self] result in
            if case .failure(let error) = result { return promise.fail(error) }
            var request = Herald_V1_JoinChannelRequest()
            request.channelID = self.channelID
            client.send(opcode: .joinChannelRequest, request) { answer in
                let response = answer.decode(Herald_V1_JoinChannelResponse.self)
                guard response?.result == .ok else {
                    let what = answer.outcome(response?.result)
                    return promise.fail(BenchError(.run, "\(user) cannot join \(self.channelID): \(what)"))
                }
                promise.succeed()
            }
        }
        return promise.futureResult
    }

    private func receive(_ sequence: UInt64, slot: Int) {
        let now = Scenario.now()
        self.receivedTotal += 1
        self.lastProgress = now
        self.stats.stats.check(sequence, &self.orders[slot], who: self.subscribers[slot].name)
        guard sequence >= 1, sequence <= self.received.count else {
            self.stats.stats.problem("received.unknown", "\(self.subscribers[slot].name): message \(sequence)")
            return
        }
        self.received[Int(sequence) - 1] += 1
        self.lastReceipt[Int(sequence) - 1] = now
    }

    /// Sends the messages, ``FanoutOptions/window`` in flight; the future completes when all are answered.
    func publish() -> EventLoopFuture<Void> {
        guard let publisher = self.publisher else { return self.loop.makeSucceededVoidFuture() }
        self.sentAt.reserveCapacity(self.options.messages)
        return WindowedSender(
            client: publisher,
            window: self.options.window,
            hasMore: { [self] in self.sentAt.count < self.options.messages }
        ) { [self] answered in
            var request = Herald_V1_SendChannelMessageRequest()
            request.channelID = self.channelID
            request.message = BenchBody(sender: 0, sequence: UInt64(self.sentAt.count + 1)).message(
                size: self.options.payloadBytes
            )
            publisher.stats.count("sent")
            self.sentAt.append(Scenario.now())
            publisher.send(opcode: .sendChannelMessageRequest, request) { answer in
                let response = answer.decode(Herald_V1_SendChannelMessageResponse.self)
                publisher.stats.countAnswer(
                    answer,
                    result: response?.result,
                    isOK: response?.result == .ok,
                    who: publisher.name
                )
                answered()
            }
        }.start()
    }

    /// Completes when every subscriber of this loop has received the last message, or when none has received
    /// anything for `patience` nanoseconds (counted `drain.timeout`).
    func whenDelivered(patience: UInt64) -> EventLoopFuture<Void> {
        let promise = self.loop.makePromise(of: Void.self)
        let last = UInt64(self.options.messages)
        self.lastProgress = max(self.lastProgress, Scenario.now())
        _ = Scenario.repeating(on: self.loop, every: .milliseconds(10)) { [self] task in
            if self.orders.allSatisfy({ $0.expected > last }) {
                task.cancel()
                promise.succeed()
            } else if Scenario.elapsed(since: self.lastProgress) > patience {
                self.stats.stats.count("drain.timeout")
                task.cancel()
                promise.succeed()
            }
        }
        return promise.futureResult
    }

    /// This loop's receipts (and the send times, on the publisher's loop); counts `received`.
    func tally() -> FanoutTally {
        self.stats.stats.count("received", self.receivedTotal)
        self.receivedTotal = 0
        return FanoutTally(received: self.received, lastReceipt: self.lastReceipt, sentAt: self.sentAt)
    }
}

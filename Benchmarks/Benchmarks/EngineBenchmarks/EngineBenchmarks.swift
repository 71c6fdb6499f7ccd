// Engine benchmarks: the reference engine (HeraldEngine) driven in memory, without sockets, on a virtual clock that
// never moves, so no timer fires inside a measurement. Each benchmark's setup (connect, Hello, login, join) runs once,
// outside the measured region. Every run ends, outside the measured region, by checking that the engine did the work:
// the frame counts of every sink, then one more operation whose frames are decoded and compared.
import Benchmark
import HeraldEngine
import HeraldMessages
import HeraldWire
import NIOCore
import SwiftProtobuf
import Synchronization

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .instructions, .throughput],
        maxDuration: .seconds(2),
        maxIterations: 1_000_000
    )

    // One iteration is one SendChannelMessageRequest: the response to the sender and a ChannelMessage to each of the
    // other members, so `members` frames. The README reports the cost per receiver as the cost per message / members.
    // Every benchmark times 1,000 operations per sample (scaling factor K, so the harness's own allocations per sample
    // vanish from the per-operation figures); the larger rooms get more time to collect samples.
    for (members, seconds) in [(10, 2), (100, 4), (1000, 12)] {
        Benchmark(
            "Channel fan-out: 256 B ChannelMessage, \(members) members",
            configuration: configuration(maxDuration: .seconds(seconds))
        ) { benchmark, room in
            let before = room.counts()
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                await room.engine.receive(room.send, on: room.sender.id)
            }
            benchmark.stopMeasurement()
            await room.check(messages: benchmark.scaledIterations.count, since: before)
        } setup: {
            try await ChannelRoom(members: members)
        }
    }

    // One iteration is one message: SendPeerMessageRequest in, PeerMessage (ACK_REQUIRED) to bob, bob's DeliveryAck
    // for that delivery in, SendPeerMessageResponse (OK) to alice.
    Benchmark(
        "Peer message round trip: 256 B, ACK_MODE_PEER, DeliveryAck",
        configuration: configuration(maxDuration: .seconds(2))
    ) { benchmark, pair in
        let before = pair.counts()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            await pair.engine.receive(pair.send, on: pair.alice.id)
            // What bob's client does on receiving the frame: acknowledge the delivery id it carried.
            let delivery = pair.bob.sink.takeDelivery()
            require(delivery != 0, "bob was sent no ACK_REQUIRED delivery")
            await pair.engine.receive(pair.ack(delivery), on: pair.bob.id)
        }
        benchmark.stopMeasurement()
        await pair.check(messages: benchmark.scaledIterations.count, since: before)
    } setup: {
        try await PeerPair()
    }

    // One iteration is a join and a leave of one user in a channel of 100 other members: MemberJoined and MemberLeft
    // to each of them. The clock does not move, so member counts stay within their interval (CHAN-25, CHAN-26) and
    // only the joiner is sent one.
    Benchmark(
        "Channel churn: join + leave, 100 members",
        configuration: configuration(maxDuration: .seconds(5))
    ) { benchmark, room in
        let before = room.counts()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            await room.engine.receive(room.join, on: room.churner.id)
            await room.engine.receive(room.leave, on: room.churner.id)
        }
        benchmark.stopMeasurement()
        await room.check(cycles: benchmark.scaledIterations.count, since: before)
    } setup: {
        try await ChurnRoom(members: 100)
    }
}

/// The default metrics, 1,000 operations per sample, and samples collected for up to `maxDuration`.
private func configuration(maxDuration: Duration) -> Benchmark.Configuration {
    .init(
        metrics: Benchmark.defaultConfiguration.metrics,
        scalingFactor: .kilo,
        maxDuration: maxDuration,
        maxIterations: Benchmark.defaultConfiguration.maxIterations
    )
}

/// A `precondition` whose message survives release builds, where benchmarks run: a check that fails ends the run and
/// says why, so a broken engine cannot produce a fast number.
private func require(
    _ condition: Bool,
    _ message: @autoclosure () -> String = "check failed",
    file: StaticString = #fileID,
    line: UInt = #line
) {
    if !condition { fatalError(message(), file: file, line: line) }
}

// MARK: - In-memory transport

/// A connection sink that counts the frames and bytes the engine writes and keeps nothing, so memory stays bounded
/// however long a benchmark runs.
///
/// It remembers the opcode of the last frame and the request id of the last `ACK_REQUIRED` delivery (what a client
/// acknowledges). Between ``startRecording()`` and ``stopRecording()`` it also keeps the frames, for the checks made
/// outside the measured region.
private final class CountingSink: EngineConnectionSink {
    private let frameCount = Atomic<Int>(0)
    private let byteCount = Atomic<Int>(0)
    private let lastOpcodeValue = Atomic<Int>(0)
    private let delivery = Atomic<UInt32>(0)
    private let closed = Atomic<Bool>(false)
    private let isRecording = Atomic<Bool>(false)
    private let recorded = Mutex<[ByteBuffer]>([])

    func write(_ bytes: OutboundBytes) {
        let frames = bytes.frames()
        for head in frames {
            if let flags = head.getInteger(at: head.readerIndex + 3, as: UInt8.self),
                flags & HeraldFrameFlags.ackRequired.rawValue != 0,
                let requestID = head.getInteger(at: head.readerIndex + 6, as: UInt32.self)
            {
                self.delivery.store(requestID, ordering: .relaxed)
            }
        }
        if let last = frames.last, let opcode = last.getInteger(at: last.readerIndex + 4, as: UInt16.self) {
            self.lastOpcodeValue.store(Int(opcode), ordering: .relaxed)
        }
        self.frameCount.add(frames.count, ordering: .relaxed)
        self.byteCount.add(bytes.byteCount, ordering: .relaxed)
        if self.isRecording.load(ordering: .relaxed) {
            self.recorded.withLock { $0.append(contentsOf: frames) }
        }
    }

    /// Frames are handed to nobody, so none is ever queued.
    var queuedFrameCount: Int { 0 }

    func close() { self.closed.store(true, ordering: .relaxed) }

    var frames: Int { self.frameCount.load(ordering: .relaxed) }
    var bytes: Int { self.byteCount.load(ordering: .relaxed) }
    var isClosed: Bool { self.closed.load(ordering: .relaxed) }
    var lastOpcode: Herald_V1_Opcode { Herald_V1_Opcode(rawValue: self.lastOpcodeValue.load(ordering: .relaxed))! }

    /// Returns the request id of the last `ACK_REQUIRED` delivery and forgets it (0 if there was none since).
    func takeDelivery() -> UInt32 { self.delivery.exchange(0, ordering: .relaxed) }

    func startRecording() { self.isRecording.store(true, ordering: .relaxed) }

    /// Stops recording and returns the frames written since ``startRecording()``, decoded with the wire codec.
    func stopRecording() -> [HeraldFrame] {
        self.isRecording.store(false, ordering: .relaxed)
        let frames = self.recorded.withLock { frames in
            defer { frames.removeAll() }
            return frames
        }
        return frames.map { frame in
            do {
                return try HeraldWire.decodeSingleFrame(frame, maximumPayloadLength: 0x00FF_FFFF)
            } catch {
                fatalError("the engine wrote an invalid frame: \(error)")
            }
        }
    }
}

/// A client of the benchmark: its connection and its sink.
private struct BenchClient: Sendable {
    let id: ConnectionID
    let sink: CountingSink
}

/// The frames and bytes a sink had been written at some point.
private struct SinkCount {
    var frames: Int
    var bytes: Int

    init(_ client: BenchClient) {
        self.frames = client.sink.frames
        self.bytes = client.sink.bytes
    }
}

// MARK: - Engine set-up

/// The text every benchmark sends: 256 bytes.
private let body256 = String(repeating: "h", count: 256)

private func textBody() -> Herald_V1_MessageBody {
    Herald_V1_MessageBody.with {
        $0.type = .text
        $0.text = body256
    }
}

/// A client frame carrying `message` (the opcode is looked up from its type).
private func clientFrame(_ message: some SwiftProtobuf.Message, requestID: UInt32) -> HeraldFrame {
    try! HeraldFrame(requestID: requestID, message: message)
}

/// The only frame of type `M` among `frames`, decoded.
private func single<M: SwiftProtobuf.Message>(_ type: M.Type, in frames: [HeraldFrame]) -> M {
    let info = HeraldOpcodeTable.info(forMessageType: M.self)!
    let matching = frames.filter { $0.opcode == info.opcode }
    require(matching.count == 1, "expected one \(M.protoMessageName), got \(frames.map(\.opcode))")
    return try! matching[0].decodeMessage(as: M.self)
}

/// Creates an engine the way the engine tests do (Tests/HeraldEngineTests/EngineHarness.swift): a virtual clock, an
/// in-memory offline inbox, one app in app-ID-only mode (logins carry no token, so no JWT is verified) and no rate
/// limits (a rate class absent from `rateLimits` is not limited).
private func makeEngine() throws -> HeraldEngine {
    var configuration = EngineConfiguration(
        apps: [AppCredentials(appID: benchAppID, secrets: [], allowsTokenlessLogin: true)]
    )
    configuration.rateLimits = [:]
    return try HeraldEngine(configuration: configuration, clock: ManualEngineClock(), inbox: MemoryOfflineInbox())
}

private let benchAppID = "bench"

/// Connects a client, handshakes and logs `userID` in.
private func login(_ userID: String, on engine: HeraldEngine) async -> BenchClient {
    let sink = CountingSink()
    let id = await engine.connect(sink: sink, transport: "bench")
    await engine.receive(clientFrame(Herald_V1_Hello.with { $0.versions = [1] }, requestID: 1), on: id)
    require(sink.lastOpcode == .welcome, "no Welcome for \(userID)")
    let request = Herald_V1_LoginRequest.with {
        $0.appID = benchAppID
        $0.userID = userID
    }
    await engine.receive(clientFrame(request, requestID: 2), on: id)
    // A login that succeeds answers LoginResponse and then ConnectionStateChanged(CONNECTED); one that fails, only
    // LoginResponse.
    require(sink.lastOpcode == .connectionStateChanged, "the login of \(userID) failed")
    return BenchClient(id: id, sink: sink)
}

/// Joins `client` to `channelID`.
private func joinChannel(_ client: BenchClient, _ channelID: String, on engine: HeraldEngine) async {
    let request = Herald_V1_JoinChannelRequest.with { $0.channelID = channelID }
    await engine.receive(clientFrame(request, requestID: 3), on: client.id)
    // A join that succeeds answers JoinChannelResponse and then the joiner's MemberCountUpdated.
    require(client.sink.lastOpcode == .memberCountUpdated, "the join of \(client.id) failed")
}

/// `count` clients, `user0` … , logged in and joined to `channelID`.
private func channelMembers(_ count: Int, in channelID: String, on engine: HeraldEngine) async -> [BenchClient] {
    var clients: [BenchClient] = []
    for index in 0..<count {
        let client = await login("user\(index)", on: engine)
        await joinChannel(client, channelID, on: engine)
        clients.append(client)
    }
    return clients
}

// MARK: - Channel fan-out

/// `members` clients in one channel; the first one sends.
private struct ChannelRoom: Sendable {
    static let channelID = "lobby"

    let engine: HeraldEngine
    let sender: BenchClient
    let receivers: [BenchClient]
    /// The sender's SendChannelMessageRequest, sent as is every time (it is answered at once, so its request id is
    /// free again).
    let send: HeraldFrame

    init(members: Int) async throws {
        self.engine = try makeEngine()
        let clients = await channelMembers(members, in: Self.channelID, on: self.engine)
        let sessions = await self.engine.counts().sessions
        require(sessions == members, "\(sessions) sessions, expected \(members)")
        self.sender = clients[0]
        self.receivers = Array(clients.dropFirst())
        let request = Herald_V1_SendChannelMessageRequest.with {
            $0.channelID = Self.channelID
            $0.message = textBody()
        }
        self.send = clientFrame(request, requestID: 100)
    }

    func counts() -> [SinkCount] {
        [SinkCount(self.sender)] + self.receivers.map(SinkCount.init)
    }

    /// Checks that `messages` messages were answered and delivered to every receiver, then sends one more and checks
    /// its frames.
    func check(messages: Int, since before: [SinkCount]) async {
        require(self.sender.sink.frames - before[0].frames == messages, "responses missing")
        require(self.sender.sink.lastOpcode == .sendChannelMessageResponse)
        for (receiver, count) in zip(self.receivers, before.dropFirst()) {
            require(receiver.sink.frames - count.frames == messages, "\(receiver.id) missed ChannelMessages")
            require(receiver.sink.bytes - count.bytes > messages * body256.utf8.count)
            require(receiver.sink.lastOpcode == .channelMessage && !receiver.sink.isClosed)
        }
        let receiver = self.receivers[self.receivers.count - 1]
        self.sender.sink.startRecording()
        receiver.sink.startRecording()
        await self.engine.receive(self.send, on: self.sender.id)
        let response = single(Herald_V1_SendChannelMessageResponse.self, in: self.sender.sink.stopRecording())
        require(response.result == .ok, "SendChannelMessage: \(response.result)")
        let delivered = single(Herald_V1_ChannelMessage.self, in: receiver.sink.stopRecording())
        require(delivered.message.text == body256 && delivered.messageID == response.messageID)
    }
}

// MARK: - Peer round trip

/// alice sends to bob in `ACK_MODE_PEER`; bob acknowledges.
private struct PeerPair: Sendable {
    let engine: HeraldEngine
    let alice: BenchClient
    let bob: BenchClient
    /// alice's SendPeerMessageRequest, sent as is every time (it is answered before the next one, so its request id
    /// is free again).
    let send: HeraldFrame
    /// The payload of bob's DeliveryAck (ACCEPTED).
    let ackPayload: ByteBuffer

    init() async throws {
        self.engine = try makeEngine()
        self.alice = await login("alice", on: self.engine)
        self.bob = await login("bob", on: self.engine)
        let request = Herald_V1_SendPeerMessageRequest.with {
            $0.peerID = "bob"
            $0.message = textBody()
            $0.ackMode = .peer
        }
        self.send = clientFrame(request, requestID: 100)
        self.ackPayload =
            clientFrame(
                Herald_V1_DeliveryAck.with { $0.result = .accepted },
                requestID: 1
            ).payload
    }

    /// bob's DeliveryAck of a delivery: a notice whose request id is the delivery's (Spec/04-handshake.md §4.8).
    func ack(_ delivery: UInt32) -> HeraldFrame {
        HeraldFrame(header: HeraldFrameHeader(opcode: .deliveryAck, requestID: delivery), payload: self.ackPayload)
    }

    func counts() -> [SinkCount] {
        [SinkCount(self.alice), SinkCount(self.bob)]
    }

    /// Checks that alice was answered `messages` times and bob was delivered `messages` messages and nothing else (an
    /// ack the engine did not expect would have been answered with ProtocolError), then checks one more round trip's
    /// frames.
    func check(messages: Int, since before: [SinkCount]) async {
        require(self.alice.sink.frames - before[0].frames == messages, "responses missing")
        require(self.alice.sink.lastOpcode == .sendPeerMessageResponse)
        require(self.bob.sink.frames - before[1].frames == messages, "bob was sent other frames")
        require(self.bob.sink.lastOpcode == .peerMessage && !self.bob.sink.isClosed)
        self.alice.sink.startRecording()
        self.bob.sink.startRecording()
        await self.engine.receive(self.send, on: self.alice.id)
        let deliveries = self.bob.sink.stopRecording()
        let message = single(Herald_V1_PeerMessage.self, in: deliveries)
        require(message.message.text == body256 && message.fromUserID == "alice")
        require(deliveries[0].flags.contains(.ackRequired) && deliveries[0].requestID != 0)
        require(self.alice.sink.stopRecording().isEmpty, "alice was answered before bob's ack")
        _ = self.bob.sink.takeDelivery()
        self.alice.sink.startRecording()
        await self.engine.receive(self.ack(deliveries[0].requestID), on: self.bob.id)
        let response = single(Herald_V1_SendPeerMessageResponse.self, in: self.alice.sink.stopRecording())
        require(response.result == .ok && response.messageID == message.messageID, "\(response.result)")
    }
}

// MARK: - Channel churn

/// `members` clients in one channel, and one more that joins and leaves.
private struct ChurnRoom: Sendable {
    static let channelID = "lobby"

    let engine: HeraldEngine
    let churner: BenchClient
    let members: [BenchClient]
    let join: HeraldFrame
    let leave: HeraldFrame

    init(members: Int) async throws {
        self.engine = try makeEngine()
        let clients = await channelMembers(members, in: Self.channelID, on: self.engine)
        self.members = clients
        self.churner = await login("churner", on: self.engine)
        self.join = clientFrame(Herald_V1_JoinChannelRequest.with { $0.channelID = Self.channelID }, requestID: 100)
        self.leave = clientFrame(Herald_V1_LeaveChannelRequest.with { $0.channelID = Self.channelID }, requestID: 101)
    }

    func counts() -> [SinkCount] {
        [SinkCount(self.churner)] + self.members.map(SinkCount.init)
    }

    /// Checks that each of `cycles` join-and-leave cycles sent the churner JoinChannelResponse, MemberCountUpdated and
    /// LeaveChannelResponse and every member MemberJoined and MemberLeft, then checks one more cycle's frames.
    func check(cycles: Int, since before: [SinkCount]) async {
        require(self.churner.sink.frames - before[0].frames == 3 * cycles, "churner frames missing")
        require(self.churner.sink.lastOpcode == .leaveChannelResponse)
        for (member, count) in zip(self.members, before.dropFirst()) {
            require(member.sink.frames - count.frames == 2 * cycles, "\(member.id) missed member events")
            require(member.sink.lastOpcode == .memberLeft && !member.sink.isClosed)
        }
        let member = self.members[self.members.count - 1]
        self.churner.sink.startRecording()
        member.sink.startRecording()
        await self.engine.receive(self.join, on: self.churner.id)
        await self.engine.receive(self.leave, on: self.churner.id)
        let churnerFrames = self.churner.sink.stopRecording()
        require(single(Herald_V1_JoinChannelResponse.self, in: churnerFrames).result == .ok)
        require(single(Herald_V1_LeaveChannelResponse.self, in: churnerFrames).result == .ok)
        let memberFrames = member.sink.stopRecording()
        require(single(Herald_V1_MemberJoined.self, in: memberFrames).userID == "churner")
        require(single(Herald_V1_MemberLeft.self, in: memberFrames).reason == .quit)
    }
}

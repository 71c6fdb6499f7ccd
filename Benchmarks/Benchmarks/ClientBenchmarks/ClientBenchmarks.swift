// Client benchmarks: HeraldClient's own costs. The receive path runs against an in-memory connector (no sockets, no
// server), so the allocations counted are the client's; the round trip runs two clients against the reference server
// in this process over loopback TCP, so its throughput is what an app sees. Every run ends, outside the measured
// region, by checking that the client did the work (every message arrived, in order, and was acknowledged).
import Benchmark
import HeraldClient
import HeraldEngine
import HeraldMessages
import HeraldServer
import HeraldWire
import Logging
import NIOCore
import SwiftProtobuf
import Synchronization

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .instructions, .throughput],
        maxDuration: .seconds(3),
        maxIterations: 1_000_000
    )

    // One iteration is one PeerMessage (256 B text, ACK_REQUIRED) handed to the client as part of a read of 64
    // frames: decoded, seq-checked, yielded to the app's event stream and read from it, and its DeliveryAck encoded
    // and handed to the transport.
    Benchmark(
        "Client receive: PeerMessage with ACK_REQUIRED, 256 B, to the app and acknowledged",
        configuration: .init(scalingFactor: .kilo)
    ) { benchmark, receiver in
        let frames = receiver.frames(count: benchmark.scaledIterations.count)
        benchmark.startMeasurement()
        var index = 0
        while index < frames.count {
            let batch = Array(frames[index..<min(index + 64, frames.count)])
            receiver.server.deliver(batch)
            for _ in batch {
                guard case .peerMessage = await receiver.events.next() else { fatalError("not a peer message") }
            }
            index += batch.count
        }
        benchmark.stopMeasurement()
        await receiver.checkAcknowledged(frames.count)
    } setup: {
        try await Receiver()
    }

    // One iteration is one peer message, ACK_MODE_PEER: alice's client → server → bob's client, bob's DeliveryAck →
    // server → alice's SendPeerMessageResponse; 32 in flight.
    Benchmark(
        "Client peer round trip over loopback TCP: ACK_MODE_PEER, 32 in flight",
        configuration: .init(metrics: [.wallClock, .throughput], scalingFactor: .kilo, maxDuration: .seconds(5))
    ) { (benchmark: Benchmark, pair: RoundTripPair) in
        let count = benchmark.scaledIterations.count
        benchmark.startMeasurement()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<32 {
                group.addTask {
                    var sent = lane
                    while sent < count {
                        try await pair.alice.send(pair.message, toPeer: "bob")
                        sent += 32
                    }
                }
            }
            try await group.waitForAll()
        }
        benchmark.stopMeasurement()
    } setup: {
        let pair = try await RoundTripPair()
        runningPair.withLock { $0 = pair }
        return pair
    } teardown: {
        if let pair = runningPair.withLock({ $0.take() }) { await pair.stop() }
    }
}

/// The round-trip benchmark's pair, stopped by its teardown.
let runningPair = Mutex<RoundTripPair?>(nil)

/// A client on an in-memory connection whose server side the benchmark writes.
final class Receiver: Sendable {
    let client: HeraldClient
    let server: MemoryServer
    let events: StreamBox

    init() async throws {
        let connector = MemoryConnector()
        let client = HeraldClient(
            configuration: .init(address: ServerAddress(scheme: .tcp, host: "memory"), appID: "bench"),
            connector: connector,
            clock: ManualClientClock()
        )
        self.client = client
        async let login: Void = client.login(userID: "bob")
        let server = try await connector.next()
        try await server.answerHandshakeAndLogin()
        try await login
        self.server = server
        self.events = StreamBox(
            await client.events(where: { event in
                if case .peerMessage = event { return true }
                return false
            })
        )
    }

    private let nextSeq = Mutex<UInt64>(1)

    func frames(count: Int) -> [HeraldFrame] {
        var message = Herald_V1_PeerMessage()
        message.fromUserID = "alice"
        message.message.type = .text
        message.message.text = String(repeating: "x", count: 256)
        message.serverReceivedMs = 1
        return self.nextSeq.withLock { seq in
            (0..<count).map { index in
                message.messageID = seq
                message.seq = seq
                seq += 1
                return try! HeraldFrame(
                    requestID: UInt32(truncatingIfNeeded: seq % 0xFFFF_FFF0) + 1,
                    flags: .ackRequired,
                    message: message
                )
            }
        }
    }

    func checkAcknowledged(_ count: Int) async {
        for _ in 0..<count {
            guard let frame = await self.server.sent.next(), frame.opcode == .deliveryAck else {
                fatalError("a delivery was not acknowledged")
            }
        }
    }
}

/// An AsyncStream's iterator, kept between benchmark runs.
final class StreamBox: @unchecked Sendable {
    private var iterator: AsyncStream<HeraldClientEvent>.AsyncIterator
    init(_ stream: AsyncStream<HeraldClientEvent>) { self.iterator = stream.makeAsyncIterator() }
    func next() async -> HeraldClientEvent? { await self.iterator.next() }
}

/// Connections whose server side is this process's code.
final class MemoryConnector: ClientConnector {
    private let connections = AsyncStream<MemoryServer>.makeStream()

    func connect(
        to address: ServerAddress,
        maximumPayloadLength: Int,
        events: @escaping @Sendable (ClientTransportEvent) -> Void
    ) async throws(HeraldClientError) -> any ClientTransport {
        let server = MemoryServer(events: events)
        self.connections.continuation.yield(server)
        return server
    }

    func next() async throws -> MemoryServer {
        var iterator = self.connections.stream.makeAsyncIterator()
        guard let server = await iterator.next() else { throw HeraldClientError(.connectFailed) }
        return server
    }
}

/// The server side of an in-memory connection.
final class MemoryServer: ClientTransport {
    private let events: @Sendable (ClientTransportEvent) -> Void
    private let outbound = AsyncStream<HeraldFrame>.makeStream()
    let sent: FrameBox

    init(events: @escaping @Sendable (ClientTransportEvent) -> Void) {
        self.events = events
        self.sent = FrameBox(self.outbound.stream)
    }

    func send(_ frames: [HeraldFrame]) {
        for frame in frames { self.outbound.continuation.yield(frame) }
    }

    func close() {
        self.outbound.continuation.finish()
        self.events(.closed)
    }

    func deliver(_ frames: [HeraldFrame]) {
        self.events(.frames(frames))
    }

    func answerHandshakeAndLogin() async throws {
        guard let hello = await self.sent.next() else { throw HeraldClientError(.handshakeFailed) }
        var welcome = Herald_V1_Welcome()
        welcome.version = 1
        welcome.capabilities = ["core", "peer-messages"]
        self.deliver([try HeraldFrame(requestID: hello.requestID, message: welcome)])
        guard let login = await self.sent.next() else { throw HeraldClientError(.handshakeFailed) }
        var response = Herald_V1_LoginResponse()
        response.sessionID = "s"
        self.deliver([try HeraldFrame(requestID: login.requestID, message: response)])
    }
}

/// An AsyncStream's iterator of frames.
final class FrameBox: @unchecked Sendable {
    private var iterator: AsyncStream<HeraldFrame>.AsyncIterator
    init(_ stream: AsyncStream<HeraldFrame>) { self.iterator = stream.makeAsyncIterator() }
    func next() async -> HeraldFrame? { await self.iterator.next() }
}

/// Two clients of a reference server running in this process.
final class RoundTripPair: Sendable {
    let alice: HeraldClient
    let bob: HeraldClient
    let message = HeraldMessage(text: String(repeating: "x", count: 256))
    private let server: Task<Void, any Error>
    private let stopServer: AsyncStream<Void>.Continuation

    init() async throws {
        let app = AppCredentials(appID: "bench", secrets: [], allowsTokenlessLogin: true)
        var configuration = HeraldServerConfiguration(engine: EngineConfiguration(apps: [app]))
        configuration.tcp = ListenAddress(host: "127.0.0.1", port: 0)
        configuration.webSocket = nil
        configuration.engine.rateLimits = [:]
        let (ports, portsContinuation) = AsyncStream<Int>.makeStream()
        let (stop, stopContinuation) = AsyncStream<Void>.makeStream()
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        self.server = Task { [configuration, logger] in
            try await HeraldServer.withRunningServer(configuration: configuration, logger: logger) { _, listeners in
                portsContinuation.yield(listeners[0].port)
                for await _ in stop {}
            }
        }
        self.stopServer = stopContinuation
        var portIterator = ports.makeAsyncIterator()
        guard let port = await portIterator.next() else { throw HeraldClientError(.connectFailed) }
        let address = ServerAddress(scheme: .tcp, host: "127.0.0.1", port: port)
        self.alice = HeraldClient(address: address, appID: "bench")
        self.bob = HeraldClient(address: address, appID: "bench")
        try await self.alice.login(userID: "alice")
        try await self.bob.login(userID: "bob")
    }

    func stop() async {
        await self.alice.close()
        await self.bob.close()
        self.stopServer.finish()
        _ = try? await self.server.value
    }
}

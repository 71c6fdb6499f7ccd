import HeraldMessages
import HeraldServer
import HeraldWire
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOTLS
import NIOWebSocket
import SwiftProtobuf
import Synchronization

/// A test failure with a readable description.
struct TestFailure: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}

/// An unbounded queue that an async consumer reads with a timeout: how tests wait on events without sleeping.
final class AsyncQueue<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        var waiters: [UInt64: CheckedContinuation<Element?, Never>] = [:]
        var order: [UInt64] = []
        var nextWaiter: UInt64 = 0
        var finished = false
    }

    private let state = Mutex(State())

    func push(_ element: Element) {
        let waiter: CheckedContinuation<Element?, Never>? = self.state.withLock { state in
            guard !state.finished else { return nil }
            if let id = state.order.first {
                state.order.removeFirst()
                return state.waiters.removeValue(forKey: id)
            }
            state.items.append(element)
            return nil
        }
        waiter?.resume(returning: element)
    }

    /// Ends the queue: waiters get `nil` once the buffered items are consumed.
    func finish() {
        let waiters = self.state.withLock { state in
            state.finished = true
            let waiters = state.waiters.values
            state.waiters.removeAll()
            state.order.removeAll()
            return Array(waiters)
        }
        for waiter in waiters { waiter.resume(returning: nil) }
    }

    /// The next element, or `nil` when the queue has finished or `timeout` has passed.
    func next(timeout: Duration) async -> Element? {
        if let item = self.takeBuffered() { return item }
        return await withTaskGroup(of: Element?.self) { group in
            group.addTask { await self.wait() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            var result: Element?
            for await value in group {
                if let value {
                    result = value
                }
                group.cancelAll()
            }
            return result
        }
    }

    private func takeBuffered() -> Element? {
        self.state.withLock { state in
            state.items.isEmpty ? nil : state.items.removeFirst()
        }
    }

    private func wait() async -> Element? {
        let id = self.state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Element?, Never>) in
                // nil: the continuation waits; .some(value): resume now with value.
                let action: Element?? = self.state.withLock { state in
                    if !state.items.isEmpty { return .some(state.items.removeFirst()) }
                    if state.finished || Task.isCancelled { return .some(nil) }
                    state.waiters[id] = continuation
                    state.order.append(id)
                    return nil
                }
                if case .some(let value) = action {
                    continuation.resume(returning: value)
                }
            }
        } onCancel: {
            let waiter = self.state.withLock { state in
                state.order.removeAll { $0 == id }
                return state.waiters.removeValue(forKey: id)
            }
            waiter?.resume(returning: nil)
        }
    }
}

/// What a test client observes on its connection.
enum ClientEvent: Sendable {
    case frame(HeraldFrame)
    /// A WebSocket close frame from the server, with its status code.
    case webSocketClose(UInt16?)
    /// The client could not decode what the server sent.
    case error(String)
    /// A WebSocket pong, with its application data.
    case webSocketPong([UInt8])
    /// The TLS handshake finished with this ALPN protocol.
    case tlsReady(alpn: String?)
    /// The server closed its sending direction; the connection is still open (half-closure clients only).
    case inputClosed
    /// The connection closed.
    case closed
}

/// A small Herald client over TCP or WebSocket for live tests.
///
/// Frames that arrive while the test waits for something else are kept, in order, and returned by later
/// expectations.
final class TestClient: Sendable {
    static let defaultTimeout = Duration.seconds(5)

    let channel: any Channel
    let transport: HeraldTransport
    /// The subprotocol the server selected (WebSocket only).
    let subprotocol: String?
    private let events: AsyncQueue<ClientEvent>
    private let state = Mutex(State())

    private struct State {
        var nextRequestID: UInt32 = 1
        var stash: [HeraldFrame] = []
        var closed = false
        var closeCode: UInt16?
    }

    private init(
        channel: any Channel,
        transport: HeraldTransport,
        subprotocol: String?,
        events: AsyncQueue<ClientEvent>
    ) {
        self.channel = channel
        self.transport = transport
        self.subprotocol = subprotocol
        self.events = events
    }

    /// Connects to a listener of the server. TLS listeners need `tls`, a client context trusting the server.
    static func connect(
        to listener: BoundListener,
        tls: NIOSSLContext? = nil,
        path: String? = nil,
        subprotocols: [String] = ["herald.v1"],
        allowHalfClosure: Bool = false
    ) async throws -> TestClient {
        if (listener.transport == .tls || listener.transport == .wss) && tls == nil {
            throw TestFailure("a \(listener.transport) listener needs a TLS context")
        }
        switch listener.transport {
        case .tcp, .tls:
            return try await Self.connectStream(
                host: listener.host,
                port: listener.port,
                tls: tls,
                allowHalfClosure: allowHalfClosure
            )
        case .ws, .wss:
            return try await Self.connectWebSocket(
                host: listener.host,
                port: listener.port,
                tls: tls,
                path: path ?? listener.path ?? "/",
                subprotocols: subprotocols
            )
        }
    }

    /// Connects over TCP, or TLS with `tls`.
    static func connectStream(
        host: String,
        port: Int,
        tls: NIOSSLContext? = nil,
        allowHalfClosure: Bool = false
    ) async throws -> TestClient {
        let events = AsyncQueue<ClientEvent>()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.allowRemoteHalfClosure, value: allowHalfClosure)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls {
                        try pipeline.addHandler(NIOSSLClientHandler(context: tls, serverHostname: "localhost"))
                        try pipeline.addHandler(TLSEventRecorder(events: events))
                    }
                    try pipeline.addHandler(
                        ByteToMessageHandler(
                            HeraldFrameDecoder(
                                maximumPayloadLength: 0x00FF_FFFF,
                                acceptedExtensions: HeraldOpcodeTable.extensions
                            )
                        )
                    )
                    try pipeline.addHandler(StreamClientHandler(events: events))
                }
            }
            .connect(host: host, port: port)
            .get()
        return TestClient(channel: channel, transport: tls == nil ? .tcp : .tls, subprotocol: nil, events: events)
    }

    /// Connects over WebSocket, or WebSocket over TLS with `tls`.
    static func connectWebSocket(
        host: String,
        port: Int,
        tls: NIOSSLContext? = nil,
        path: String,
        subprotocols: [String]
    ) async throws -> TestClient {
        enum Upgrade: Sendable {
            case upgraded(subprotocol: String?)
            case refused
        }
        let events = AsyncQueue<ClientEvent>()
        let connection = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: tls, serverHostname: "localhost")
                        )
                        try channel.pipeline.syncOperations.addHandler(TLSEventRecorder(events: events))
                    }
                    let upgrader = NIOTypedWebSocketClientUpgrader<Upgrade>(
                        maxFrameSize: 1 << 25,
                        enableAutomaticErrorHandling: false,
                        upgradePipelineHandler: { channel, response in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(WebSocketClientHandler(events: events))
                                return .upgraded(subprotocol: response.headers["Sec-WebSocket-Protocol"].first)
                            }
                        }
                    )
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: "\(host):\(port)")
                    if !subprotocols.isEmpty {
                        headers.add(name: "Sec-WebSocket-Protocol", value: subprotocols.joined(separator: ", "))
                    }
                    let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
                    let configuration = NIOTypedHTTPClientUpgradeConfiguration<Upgrade>(
                        upgradeRequestHead: head,
                        upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in
                            channel.eventLoop.makeSucceededFuture(.refused)
                        }
                    )
                    let result = try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                        configuration: .init(upgradeConfiguration: configuration)
                    )
                    return result.map { (channel, $0) }
                }
            }
        let (channel, upgrade) = try await connection.get()
        switch upgrade {
        case .upgraded(let subprotocol):
            let transport: HeraldTransport = tls == nil ? .ws : .wss
            return TestClient(channel: channel, transport: transport, subprotocol: subprotocol, events: events)
        case .refused:
            try? await channel.close()
            throw TestFailure("the server refused the WebSocket upgrade")
        }
    }

    /// The next event as it arrives (frames kept by earlier expectations are not included).
    func nextEvent(timeout: Duration = TestClient.defaultTimeout) async throws -> ClientEvent {
        guard let event = await self.events.next(timeout: timeout) else {
            throw TestFailure("no event within \(timeout)")
        }
        return event
    }

    // MARK: - Sending

    func takeRequestID() -> UInt32 {
        self.state.withLock { state in
            defer { state.nextRequestID += 1 }
            return state.nextRequestID
        }
    }

    /// Sends the bytes of one frame (one binary message over WebSocket).
    func sendRaw(_ bytes: ByteBuffer) async throws {
        switch self.transport {
        case .ws, .wss:
            let frame = WebSocketFrame(fin: true, opcode: .binary, maskKey: .random(), data: bytes)
            try await self.channel.writeAndFlush(frame)
        case .tcp, .tls:
            try await self.channel.writeAndFlush(bytes)
        }
    }

    /// Sends raw bytes.
    func sendRaw(_ bytes: [UInt8]) async throws {
        try await self.sendRaw(ByteBuffer(bytes: bytes))
    }

    /// Sends one WebSocket frame as is (masked, as a client must).
    func sendWebSocketFrame(_ opcode: WebSocketOpcode, fin: Bool = true, data: ByteBuffer) async throws {
        let frame = WebSocketFrame(fin: fin, opcode: opcode, maskKey: .random(), data: data)
        try await self.channel.writeAndFlush(frame)
    }

    /// Sends a WebSocket text message.
    func sendText(_ text: String) async throws {
        let frame = WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(string: text))
        try await self.channel.writeAndFlush(frame)
    }

    /// Sends a frame.
    func send(frame: HeraldFrame) async throws {
        var buffer = ByteBuffer()
        try frame.encode(into: &buffer, maximumPayloadLength: 0x00FF_FFFF)
        try await self.sendRaw(buffer)
    }

    /// Sends a request or notice built from `message`, with the next request id unless one is given.
    @discardableResult
    func send<M: SwiftProtobuf.Message>(_ message: M, requestID: UInt32? = nil) async throws -> UInt32 {
        let id = requestID ?? self.takeRequestID()
        try await self.send(frame: try HeraldFrame(requestID: id, message: message))
        return id
    }

    /// Acknowledges an event sent with `ACK_REQUIRED` (HS-47).
    func acknowledge(_ frame: HeraldFrame, result: Herald_V1_DeliveryAckResult = .accepted) async throws {
        var ack = Herald_V1_DeliveryAck()
        ack.result = result
        try await self.send(ack, requestID: frame.requestID)
    }

    // MARK: - Receiving

    /// The next frame: a stashed one first, then a new one. Throws when the connection closes or nothing arrives.
    func nextFrame(timeout: Duration = TestClient.defaultTimeout) async throws -> HeraldFrame {
        if let frame = self.state.withLock({ $0.stash.isEmpty ? nil : $0.stash.removeFirst() }) {
            return frame
        }
        return try await self.receiveFrame(timeout: timeout)
    }

    private func receiveFrame(timeout: Duration) async throws -> HeraldFrame {
        guard let event = await self.events.next(timeout: timeout) else {
            throw TestFailure("no frame within \(timeout)")
        }
        switch event {
        case .frame(let frame):
            return frame
        case .webSocketClose(let code):
            self.state.withLock { $0.closeCode = code }
            throw TestFailure("the server closed the WebSocket (\(code.map(String.init) ?? "no code"))")
        case .error(let message):
            throw TestFailure("undecodable input from the server: \(message)")
        case .closed:
            self.state.withLock { $0.closed = true }
            throw TestFailure("the connection closed")
        case .webSocketPong, .tlsReady, .inputClosed:
            return try await self.receiveFrame(timeout: timeout)
        }
    }

    /// Waits for the first frame matching `predicate`, keeping the others for later.
    func expectFrame(
        timeout: Duration = TestClient.defaultTimeout,
        _ what: String,
        where predicate: (HeraldFrame) -> Bool
    ) async throws -> HeraldFrame {
        if let frame = self.state.withLock({ state -> HeraldFrame? in
            guard let index = state.stash.firstIndex(where: predicate) else { return nil }
            return state.stash.remove(at: index)
        }) {
            return frame
        }
        let deadline = ContinuousClock.now + timeout
        while true {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else {
                throw TestFailure("no \(what) within \(timeout); kept: \(self.describeStash())")
            }
            let frame: HeraldFrame
            do {
                frame = try await self.receiveFrame(timeout: remaining)
            } catch {
                throw TestFailure("waiting for \(what): \(error); kept: \(self.describeStash())")
            }
            if predicate(frame) { return frame }
            self.state.withLock { $0.stash.append(frame) }
        }
    }

    /// Waits for a frame carrying a message of type `M`.
    @discardableResult
    func expect<M: SwiftProtobuf.Message>(
        _ type: M.Type,
        timeout: Duration = TestClient.defaultTimeout
    ) async throws -> (frame: HeraldFrame, message: M) {
        guard let info = HeraldOpcodeTable.info(forMessageName: M.protoMessageName) else {
            throw TestFailure("\(M.protoMessageName) has no opcode")
        }
        let frame = try await self.expectFrame(timeout: timeout, M.protoMessageName) { $0.opcode == info.opcode }
        return (frame, try frame.decodeMessage(as: M.self))
    }

    /// Sends a request and waits for its response (matched by request id, HS-37).
    func request<M: SwiftProtobuf.Message, R: SwiftProtobuf.Message>(
        _ message: M,
        expecting: R.Type,
        timeout: Duration = TestClient.defaultTimeout
    ) async throws -> R {
        let id = try await self.send(message)
        return try await self.response(to: id, as: R.self, timeout: timeout)
    }

    /// Waits for the response to request `id`.
    func response<R: SwiftProtobuf.Message>(
        to id: UInt32,
        as type: R.Type,
        timeout: Duration = TestClient.defaultTimeout
    ) async throws -> R {
        let frame = try await self.expectFrame(timeout: timeout, "response to request \(id)") {
            $0.requestID == id && $0.opcodeInfo?.kind == .response
        }
        return try frame.decodeMessage(as: R.self)
    }

    /// The frames kept so far and not consumed by an expectation.
    var stashed: [HeraldFrame] {
        self.state.withLock { $0.stash }
    }

    private func describeStash() -> String {
        let opcodes = self.state.withLock { $0.stash.map { "\($0.opcode)" } }
        return "[" + opcodes.joined(separator: ", ") + "]"
    }

    /// Waits until the connection closes, after the frames still expected have been consumed; returns the
    /// WebSocket close code, if the server sent one. Unconsumed frames fail the wait.
    @discardableResult
    func expectClose(timeout: Duration = TestClient.defaultTimeout) async throws -> UInt16? {
        let deadline = ContinuousClock.now + timeout
        while !self.state.withLock({ $0.closed }) {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero, let event = await self.events.next(timeout: remaining) else {
                throw TestFailure("the connection did not close within \(timeout)")
            }
            switch event {
            case .frame(let frame):
                throw TestFailure("expected the connection to close, got \(frame.opcode)")
            case .webSocketClose(let code):
                self.state.withLock { $0.closeCode = code }
            case .error(let message):
                throw TestFailure("undecodable input from the server: \(message)")
            case .closed:
                self.state.withLock { $0.closed = true }
            case .webSocketPong, .tlsReady, .inputClosed:
                break
            }
        }
        return self.state.withLock { $0.closeCode }
    }

    /// Closes the connection (WebSocket: with a close frame, TRN-24).
    func close() async {
        if self.transport == .ws || self.transport == .wss {
            var data = ByteBuffer()
            data.write(webSocketErrorCode: .normalClosure)
            let frame = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: data)
            try? await self.channel.writeAndFlush(frame)
        }
        try? await self.channel.close()
    }

    // MARK: - Protocol helpers

    /// Sends `Hello` and returns the `Welcome`.
    @discardableResult
    func hello(capabilities: [String] = []) async throws -> Herald_V1_Welcome {
        var hello = Herald_V1_Hello()
        hello.versions = [1]
        hello.clientName = "herald-server-tests"
        hello.capabilities = capabilities
        return try await self.request(hello, expecting: Herald_V1_Welcome.self)
    }

    /// Logs in and consumes the `ConnectionStateChanged` that follows a successful login.
    @discardableResult
    func login(_ user: String, appID: String = testAppID, token: String = "") async throws -> Herald_V1_LoginResponse {
        var login = Herald_V1_LoginRequest()
        login.appID = appID
        login.userID = user
        login.token = token
        let response = try await self.request(login, expecting: Herald_V1_LoginResponse.self)
        if response.result == .ok {
            try await self.expect(Herald_V1_ConnectionStateChanged.self)
        }
        return response
    }

    /// A `Ping` round trip: everything the server queued before the `Pong` has arrived when this returns.
    func ping() async throws {
        var ping = Herald_V1_Ping()
        ping.clientTimeMs = 1
        let pong = try await self.request(ping, expecting: Herald_V1_Pong.self)
        guard pong.clientTimeMs == 1 else { throw TestFailure("Pong does not echo client_time_ms") }
    }
}

/// Feeds decoded frames of a TCP connection into the client's queue.
private final class StreamClientHandler: ChannelInboundHandler {
    typealias InboundIn = HeraldFrame

    private let events: AsyncQueue<ClientEvent>

    init(events: AsyncQueue<ClientEvent>) {
        self.events = events
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.events.push(.frame(Self.unwrapInboundIn(data)))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is WireError {
            self.events.push(.error("\(error)"))
        }
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent {
            self.events.push(.inputClosed)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.events.push(.closed)
        self.events.finish()
    }
}

/// Reports the end of the client's TLS handshake and the negotiated ALPN protocol.
private final class TLSEventRecorder: ChannelInboundHandler {
    typealias InboundIn = Any

    private let events: AsyncQueue<ClientEvent>

    init(events: AsyncQueue<ClientEvent>) {
        self.events = events
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let alpn) = event as? TLSUserEvent {
            self.events.push(.tlsReady(alpn: alpn))
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// Decodes binary WebSocket messages into frames, answers pings and close frames.
private final class WebSocketClientHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let events: AsyncQueue<ClientEvent>
    private var message: ByteBuffer?

    init(events: AsyncQueue<ClientEvent>) {
        self.events = events
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        switch frame.opcode {
        case .binary, .continuation:
            var data = frame.unmaskedData
            if frame.opcode == .binary {
                self.message = data
            } else {
                self.message?.writeBuffer(&data)
            }
            if frame.fin, let message = self.message {
                self.message = nil
                do {
                    self.events.push(
                        .frame(
                            try HeraldWire.decodeSingleFrame(
                                message,
                                maximumPayloadLength: 0x00FF_FFFF,
                                acceptedExtensions: HeraldOpcodeTable.extensions
                            )
                        )
                    )
                } catch {
                    self.events.push(.error("\(error)"))
                }
            }
        case .text:
            self.events.push(.error("the server sent a text message"))
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)
            context.writeAndFlush(Self.wrapOutboundOut(pong), promise: nil)
        case .pong:
            var data = frame.unmaskedData
            self.events.push(.webSocketPong(data.readBytes(length: data.readableBytes) ?? []))
        case .connectionClose:
            var payload = frame.unmaskedData
            let code = payload.readInteger(as: UInt16.self)
            self.events.push(.webSocketClose(code))
            var echo = ByteBuffer()
            if let code { echo.writeInteger(code) }
            let reply = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: echo)
            // The test client closes right after its answer instead of waiting for the server to close first.
            let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(Self.wrapOutboundOut(reply)).whenComplete { _ in
                loopBoundContext.value.close(promise: nil)
            }
        default:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.events.push(.error("\(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.events.push(.closed)
        self.events.finish()
    }
}

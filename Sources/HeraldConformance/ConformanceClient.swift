import Foundation
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

// MARK: - Events

/// A frame received from the server, decoded as far as possible.
public struct ReceivedFrame: Sendable {
    /// The frame.
    public var frame: HeraldFrame
    /// The message name (`JoinChannelResponse`), or `0x…` for an opcode outside the table.
    public var typeName: String
    /// The payload as protobuf JSON; `nil` when it does not parse as the opcode's message type.
    public var rendering: ProtoJSON.Rendering?
    /// Why the payload does not parse, when it does not.
    public var decodeError: String?
    /// When it arrived, in milliseconds since the case started.
    public var atMs: Int64
    /// How the payload differs from its canonical encoding (FRM-18), when it does; `nil` for a canonical payload,
    /// one that does not parse, and one with fields this runner does not know (whose canonical place it cannot
    /// tell).
    public var nonCanonical: String?

    /// Decodes `frame`.
    public init(frame: HeraldFrame, atMs: Int64) {
        self.frame = frame
        self.atMs = atMs
        self.typeName =
            frame.opcodeInfo?.name ?? Transcript.opcodeText(UInt16(truncatingIfNeeded: frame.opcode.rawValue))
        do {
            let message = try frame.decodeMessage()
            self.rendering = ProtoJSON.render(message)
            self.decodeError = nil
            self.nonCanonical = Self.canonicalDifference(message, frame)
        } catch {
            self.rendering = nil
            self.decodeError = error.description
        }
    }

    /// Re-encodes `message` canonically (SwiftProtobuf writes fields in number order, packs repeated scalars and
    /// omits defaults) and compares with the payload as received.
    private static func canonicalDifference(_ message: any SwiftProtobuf.Message, _ frame: HeraldFrame) -> String? {
        let received = Array(frame.payload.readableBytesView)
        guard let canonical: [UInt8] = try? message.serializedBytes(), canonical != received else { return nil }
        // Unknown fields are re-emitted after the known ones, wherever they were; only judge payloads without them.
        guard let known = try? frame.decodeMessage(discardingUnknownFields: true),
            let knownBytes: [UInt8] = try? known.serializedBytes(), knownBytes == canonical
        else { return nil }
        let index =
            zip(canonical, received).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            ?? min(canonical.count, received.count)
        func excerpt(_ bytes: [UInt8]) -> String {
            HexText.encode(bytes[index..<min(bytes.count, index + 12)])
        }
        return "the payload (\(received.count) bytes) is not its canonical encoding (\(canonical.count) bytes): "
            + "at byte \(index) it has \(excerpt(received)), the canonical encoding \(excerpt(canonical))"
    }

    /// A one-line description: type, request id, flags and payload.
    public var summary: String {
        var text = "\(self.typeName) #\(self.frame.requestID)"
        if self.frame.flags.rawValue != 0 { text += " flags=0x" + String(self.frame.flags.rawValue, radix: 16) }
        if let rendering { text += " " + PayloadMatcher.short(rendering.full) }
        if let decodeError { text += " (undecodable payload: \(decodeError))" }
        return text
    }
}

/// Something that happened on a connection, in arrival order.
public enum ConnectionEvent: Sendable {
    /// A frame arrived.
    case frame(ReceivedFrame)
    /// The server sent something that is not a valid frame (or the transport failed); a `closed` follows.
    case failure(String)
    /// The connection closed; over WebSocket, with the server's close status code if it sent one.
    case closed(webSocketCloseCode: UInt16?)
}

/// An error opening a connection.
public struct ConnectionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public var description: String

    /// Creates an error.
    public init(_ description: String) {
        self.description = description
    }
}

// MARK: - Inbound queue

/// An unbounded queue of events (connection events, accepted connections, adapter messages) that a task awaits with a deadline (no polling).
final class InboundQueue<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        var waiter: CheckedContinuation<Element?, Never>?
        var finished = false
    }

    private let state = Mutex(State())

    func push(_ event: Element) {
        let waiter: CheckedContinuation<Element?, Never>? = self.state.withLock { state in
            guard !state.finished else { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.items.append(event)
            return nil
        }
        waiter?.resume(returning: event)
    }

    /// Ends the queue after the buffered events.
    func finish() {
        let waiter = self.state.withLock { state in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// The next event, or `nil` at the deadline, after ``finish()`` or when the task is cancelled.
    func next(until deadline: ContinuousClock.Instant) async -> Element? {
        if let item = self.takeBuffered() { return item }
        return await withTaskGroup(of: Element?.self) { group in
            group.addTask { await self.wait() }
            group.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous)
                return nil
            }
            var result: Element?
            // Collect both results: an event handed to the waiter just as the deadline passed is not lost.
            for await value in group {
                if let value { result = value }
                group.cancelAll()
            }
            return result
        }
    }

    /// The next buffered event, without waiting.
    func pollBuffered() -> Element? {
        self.takeBuffered()
    }

    private func takeBuffered() -> Element? {
        self.state.withLock { state in
            state.items.isEmpty ? nil : state.items.removeFirst()
        }
    }

    private func wait() async -> Element? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Element?, Never>) in
                let immediate: Element?? = self.state.withLock { state in
                    if !state.items.isEmpty { return .some(state.items.removeFirst()) }
                    if state.finished || Task.isCancelled { return .some(nil) }
                    state.waiter = continuation
                    return nil
                }
                if case .some(let value) = immediate {
                    continuation.resume(returning: value)
                }
            }
        } onCancel: {
            let waiter = self.state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }
}

/// Shared between a connection and its channel handlers.
final class ConnectionShared: Sendable {
    let actor: String
    let queue = InboundQueue<ConnectionEvent>()
    let recorder: TranscriptRecorder
    private let state = Mutex<(closedLocally: Bool, closeCode: UInt16?)>((false, nil))

    init(actor: String, recorder: TranscriptRecorder) {
        self.actor = actor
        self.recorder = recorder
    }

    /// Request ids at or above this value are the runner's own heartbeat pings (HS-41); their `Pong`s are recorded
    /// in the transcript but never handed to the case's steps.
    static let heartbeatRequestIDBase: UInt32 = 0xFFF0_0000

    /// When the runner last wrote to this connection (continuous-clock instant), for the heartbeat.
    let lastSent = Mutex<ContinuousClock.Instant>(.now)

    func received(_ frame: HeraldFrame) {
        let received = ReceivedFrame(frame: frame, atMs: self.recorder.elapsedMs)
        self.recorder.recordReceived(actor: self.actor, frame: received)
        if frame.opcode == .pong && frame.requestID >= Self.heartbeatRequestIDBase {
            return
        }
        self.queue.push(.frame(received))
        if let difference = received.nonCanonical {
            // FRM-18 binds every sender; like the receive limit (HS-28) it is checked on every frame of every case.
            self.failed("the server sent a \(received.typeName) that breaks FRM-18 (canonical encoding): \(difference)")
        }
    }

    func failed(_ message: String) {
        self.recorder.recordTransport(actor: self.actor, event: "error", detail: message)
        self.queue.push(.failure(message))
    }

    func closeFrameReceived(code: UInt16?) {
        self.state.withLock { $0.closeCode = code }
    }

    func markClosedLocally() {
        self.state.withLock { $0.closedLocally = true }
    }

    func inactive() {
        let (local, code) = self.state.withLock { ($0.closedLocally, $0.closeCode) }
        if !local {
            self.recorder.recordTransport(
                actor: self.actor,
                event: "closed",
                detail: code.map { "by the server, WebSocket status \($0)" } ?? "by the server"
            )
        }
        self.queue.push(.closed(webSocketCloseCode: code))
        self.queue.finish()
    }
}

// MARK: - Connector

/// Opens connections to one target; TLS contexts are built once.
public struct ClientConnector: Sendable {
    /// The target.
    public let target: Target
    /// How long opening a connection (TCP, TLS and WebSocket handshakes) may take.
    public var connectTimeout: Duration
    private let sslContext: NIOSSLContext?
    private let group: any EventLoopGroup

    /// Creates a connector.
    ///
    /// - Throws: ``ConnectionError`` when the TLS configuration cannot be built (unreadable trust roots).
    public init(
        target: Target,
        tls: TLSClientOptions = TLSClientOptions(),
        connectTimeout: Duration = .seconds(10),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws(ConnectionError) {
        self.target = target
        self.connectTimeout = connectTimeout
        self.group = eventLoopGroup
        if target.usesTLS {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.minimumTLSVersion = .tlsv12
            configuration.applicationProtocols = target.transport == .tls ? [Self.heraldALPN] : ["http/1.1"]
            if tls.insecure {
                configuration.certificateVerification = .none
            }
            if let file = tls.trustRootsFile {
                configuration.trustRoots = .file(file)
            }
            do {
                self.sslContext = try NIOSSLContext(configuration: configuration)
            } catch {
                throw ConnectionError("cannot set up TLS: \(error)")
            }
        } else {
            self.sslContext = nil
        }
    }

    /// Opens a connection for `actor`, recording its frames in `recorder`.
    ///
    /// - Throws: ``ConnectionError`` when the connection, the TLS handshake or the WebSocket upgrade fails.
    public func connect(
        actor: String,
        recorder: TranscriptRecorder
    ) async throws(ConnectionError)
        -> ConformanceConnection
    {
        let shared = ConnectionShared(actor: actor, recorder: recorder)
        let channel: any Channel
        do {
            if self.target.transport.isWebSocket {
                channel = try await self.connectWebSocket(shared)
            } else {
                channel = try await self.connectStream(shared)
            }
        } catch let error as ConnectionError {
            recorder.recordTransport(actor: actor, event: "error", detail: error.description)
            throw error
        } catch {
            let wrapped = ConnectionError("cannot connect to \(self.target): \(error)")
            recorder.recordTransport(actor: actor, event: "error", detail: wrapped.description)
            throw wrapped
        }
        recorder.recordTransport(actor: actor, event: "connected", detail: self.target.url)
        return ConformanceConnection(channel: channel, transport: self.target.transport, shared: shared)
    }

    private var serverHostname: String? {
        self.target.hostIsIPAddress ? nil : self.target.host
    }

    private func connectStream(_ shared: ConnectionShared) async throws -> any Channel {
        let sslContext = self.sslContext
        let hostname = self.serverHostname
        let bootstrap = ClientBootstrap(group: self.group)
            .connectTimeout(self.timeAmount)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let sslContext {
                        try pipeline.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: hostname))
                        try pipeline.addHandler(TLSHandshakeObserver(promise: channel.eventLoop.makePromise()))
                    }
                    // The runner's Hello announces no receive limit, so it receives at most the default (HS-28):
                    // a larger frame from the server is a framing failure of the case in which it arrives.
                    try pipeline.addHandler(
                        ByteToMessageHandler(
                            HeraldFrameDecoder(
                                maximumPayloadLength: HeraldFrameHeader.defaultMaximumPayloadLength,
                                // The runner reads the test-control responses it asks for (Spec/18-test-control.md).
                                acceptedExtensions: HeraldOpcodeTable.extensions
                            )
                        )
                    )
                    try pipeline.addHandler(StreamFrameHandler(shared: shared))
                }
            }
        let channel = try await bootstrap.connect(host: self.target.host, port: self.target.port).get()
        guard sslContext != nil else { return channel }
        // Over TLS the connection is ready once the handshake is done, and the server must have selected the ALPN
        // protocol the runner offered (TRN-11).
        let handshake = try await channel.pipeline.handler(type: TLSHandshakeObserver.self).map(\.promise).get()
        let timeout = ConnectionError("the TLS handshake with \(self.target) did not finish in time")
        let deadline = channel.eventLoop.scheduleTask(in: self.timeAmount) { handshake.fail(timeout) }
        defer { deadline.cancel() }
        let negotiated: String?
        do {
            negotiated = try await handshake.futureResult.get()
        } catch {
            try? await channel.close()
            throw error as? ConnectionError ?? ConnectionError("the TLS handshake with \(self.target) failed: \(error)")
        }
        guard negotiated == Self.heraldALPN else {
            try? await channel.close()
            throw ConnectionError(
                "the server at \(self.target) did not select the ALPN protocol \(Self.heraldALPN) that the runner "
                    + "offered (TRN-11); it selected " + (negotiated.map { "'\($0)'" } ?? "none")
            )
        }
        return channel
    }

    /// Sends a WebSocket opening handshake offering `subprotocols` (no `Sec-WebSocket-Protocol` header when empty)
    /// on a new connection, reads the answer's status line and headers, and closes the connection.
    ///
    /// - Throws: ``ConnectionError`` when the target is not a WebSocket target, or the connection fails or ends
    ///   before a complete answer.
    public func webSocketUpgrade(offering subprotocols: [String]) async throws -> WebSocketUpgradeAnswer {
        guard self.target.transport.isWebSocket else {
            throw ConnectionError("\(self.target) is not a WebSocket target")
        }
        let sslContext = self.sslContext
        let hostname = self.serverHostname
        let target = self.target
        let hostHeader = target.hostHeader
        var key = [UInt8](repeating: 0, count: 16)
        for index in key.indices { key[index] = .random(in: 0...255) }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: hostHeader)
        headers.add(name: "Upgrade", value: "websocket")
        headers.add(name: "Connection", value: "Upgrade")
        headers.add(name: "Sec-WebSocket-Key", value: Data(key).base64EncodedString())
        headers.add(name: "Sec-WebSocket-Version", value: "13")
        if !subprotocols.isEmpty {
            headers.add(name: "Sec-WebSocket-Protocol", value: subprotocols.joined(separator: ", "))
        }
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: target.path, headers: headers)
        let answer = self.group.any().makePromise(of: WebSocketUpgradeAnswer.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: self.group)
                .connectTimeout(self.timeAmount)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        if let sslContext {
                            try pipeline.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: hostname))
                        }
                        try pipeline.addHTTPClientHandlers()
                        try pipeline.addHandler(UpgradeAnswerReader(answer: answer))
                    }
                }
                .connect(host: target.host, port: target.port)
                .get()
        } catch {
            answer.fail(error)
            throw ConnectionError("cannot connect to \(target): \(error)")
        }
        let deadline = channel.eventLoop.scheduleTask(in: self.timeAmount) {
            answer.fail(ConnectionError("no answer to the WebSocket opening handshake in time"))
        }
        defer {
            deadline.cancel()
            channel.close(promise: nil)
        }
        // A server may answer and close as soon as it has read the head; the answer decides, not the writes.
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        return try await answer.futureResult.get()
    }

    /// The ALPN identifier the runner offers on `tls://` targets (TRN-10).
    static let heraldALPN = "herald/1"

    private var timeAmount: TimeAmount {
        let components = self.connectTimeout.components
        return .nanoseconds(components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000)
    }

    private func connectWebSocket(_ shared: ConnectionShared) async throws -> any Channel {
        enum Upgrade: Sendable {
            case upgraded(subprotocol: String?)
            case refused
        }
        let sslContext = self.sslContext
        let hostname = self.serverHostname
        let target = self.target
        let hostHeader = target.hostHeader
        let upgradeResult = try await ClientBootstrap(group: self.group)
            .connectTimeout(self.timeAmount)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connect(host: target.host, port: target.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: sslContext, serverHostname: hostname)
                        )
                    }
                    let upgrader = NIOTypedWebSocketClientUpgrader<Upgrade>(
                        maxFrameSize: HeraldFrameHeader.size + HeraldFrameHeader.absoluteMaximumPayloadLength,
                        enableAutomaticErrorHandling: false,
                        upgradePipelineHandler: { channel, response in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(WebSocketFrameHandler(shared: shared))
                                return .upgraded(subprotocol: response.headers["Sec-WebSocket-Protocol"].first)
                            }
                        }
                    )
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: hostHeader)
                    headers.add(name: "Sec-WebSocket-Protocol", value: "herald.v1")
                    let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: target.path, headers: headers)
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
        let timeout = upgradeResult.eventLoop.scheduleTask(in: self.timeAmount) {
            upgradeResult.whenSuccess { $0.0.close(promise: nil) }
        }
        defer { timeout.cancel() }
        let (channel, upgrade): (any Channel, Upgrade)
        do {
            (channel, upgrade) = try await upgradeResult.get()
        } catch {
            throw ConnectionError("WebSocket opening handshake with \(target) failed: \(error)")
        }
        switch upgrade {
        case .upgraded(let subprotocol):
            guard subprotocol?.trimmingSpaces == "herald.v1" else {
                try? await channel.close()
                throw ConnectionError(
                    "the server at \(target) did not select the WebSocket subprotocol herald.v1 (TRN-18); it "
                        + (subprotocol.map { "selected '\($0)'" } ?? "selected none")
                )
            }
            return channel
        case .refused:
            try? await channel.close()
            throw ConnectionError(
                "the server at \(target) refused the WebSocket upgrade (wrong path? the default is /herald)"
            )
        }
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var text = Substring(self)
        while text.first == " " || text.first == "\t" { text.removeFirst() }
        while text.last == " " || text.last == "\t" { text.removeLast() }
        return String(text)
    }
}

// MARK: - Connection

/// One connection of a virtual client: frames out, events in.
public final class ConformanceConnection: Sendable {
    /// The transport.
    public let transport: HeraldTransport
    private let channel: any Channel
    private let shared: ConnectionShared

    init(channel: any Channel, transport: HeraldTransport, shared: ConnectionShared) {
        self.channel = channel
        self.transport = transport
        self.shared = shared
    }

    /// Sends a frame as it is: the header is written without validation, so deliberately invalid frames can be sent.
    ///
    /// - Parameter payload: The payload's JSON, for the transcript.
    public func send(_ frame: HeraldFrame, payload: JSONValue? = nil) async throws {
        var buffer = ByteBuffer()
        var header = frame.header
        header.payloadLength = frame.payload.readableBytes
        header.write(to: &buffer)
        buffer.writeImmutableBuffer(frame.payload)
        self.shared.recorder.recordSent(actor: self.shared.actor, frame: frame, payload: payload)
        try await self.write(buffer)
    }

    /// Writes bytes as they are (one binary message over WebSocket).
    public func sendRaw(_ bytes: [UInt8]) async throws {
        self.shared.recorder.recordTransport(actor: self.shared.actor, event: "raw", detail: HexText.encode(bytes))
        try await self.write(ByteBuffer(bytes: bytes))
    }

    /// Sends a WebSocket ping control frame carrying `data` (WebSocket only). It is not Herald traffic: the
    /// server answers with a pong, which the runner does not deliver as a frame, and must not count it as
    /// activity (HS-43).
    public func sendWebSocketPing(_ data: [UInt8]) async throws {
        precondition(self.transport.isWebSocket, "WebSocket pings need a WebSocket connection")
        self.shared.recorder.recordTransport(actor: self.shared.actor, event: "ws-ping", detail: HexText.encode(data))
        let frame = WebSocketFrame(fin: true, opcode: .ping, maskKey: .random(), data: ByteBuffer(bytes: data))
        try await self.channel.writeAndFlush(frame)
    }

    /// Sends a WebSocket text message (over TCP and TLS, writes the UTF-8 bytes).
    public func sendText(_ text: String) async throws {
        self.shared.recorder.recordTransport(actor: self.shared.actor, event: "text", detail: text)
        if self.transport.isWebSocket {
            let frame = WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(string: text))
            try await self.channel.writeAndFlush(frame)
        } else {
            try await self.channel.writeAndFlush(ByteBuffer(string: text))
        }
    }

    private func write(_ buffer: ByteBuffer) async throws {
        self.shared.lastSent.withLock { $0 = .now }
        if self.transport.isWebSocket {
            let frame = WebSocketFrame(fin: true, opcode: .binary, maskKey: .random(), data: buffer)
            try await self.channel.writeAndFlush(frame)
        } else {
            try await self.channel.writeAndFlush(buffer)
        }
    }

    /// Sends `Ping` whenever the runner has sent nothing on this connection for `intervalMs`, as every client must
    /// (HS-41), until the connection closes. The pings use request ids from
    /// ``ConnectionShared/heartbeatRequestIDBase`` up, which case steps never use, and their `Pong`s are kept out of
    /// the case's view (they still appear in the transcript).
    public func startHeartbeat(intervalMs: Int64) {
        guard intervalMs > 0 else { return }
        let interval = Duration.milliseconds(intervalMs)
        Task { [self] in
            var next = ConnectionShared.heartbeatRequestIDBase
            while self.channel.isActive {
                let due = self.shared.lastSent.withLock { $0 } + interval
                if ContinuousClock.now >= due {
                    let ping = Herald_V1_Ping.with { $0.clientTimeMs = Int64(Date().timeIntervalSince1970 * 1000) }
                    guard let frame = try? HeraldFrame(opcode: .ping, requestID: next, message: ping) else { return }
                    next = next == UInt32.max ? ConnectionShared.heartbeatRequestIDBase : next + 1
                    do {
                        try await self.send(frame, payload: nil)
                    } catch {
                        return
                    }
                } else {
                    try? await Task.sleep(until: due, clock: .continuous)
                }
            }
        }
    }

    /// The next event, or `nil` when nothing arrived before `deadline` (or the connection's events are exhausted).
    public func nextEvent(until deadline: ContinuousClock.Instant) async -> ConnectionEvent? {
        await self.shared.queue.next(until: deadline)
    }

    /// Closes the transport abruptly: no WebSocket close handshake, nothing else sent.
    public func drop() async {
        self.shared.markClosedLocally()
        self.shared.recorder.recordTransport(actor: self.shared.actor, event: "dropped")
        try? await self.channel.close()
    }

    /// Closes the transport in an orderly way (WebSocket: close frame with status 1000 first, TRN-24).
    public func close() async {
        self.shared.markClosedLocally()
        if self.transport.isWebSocket && self.channel.isActive {
            var data = ByteBuffer()
            data.write(webSocketErrorCode: .normalClosure)
            let frame = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: data)
            try? await self.channel.writeAndFlush(frame)
        }
        try? await self.channel.close()
    }
}

/// The answer to a WebSocket opening handshake (``ClientConnector/webSocketUpgrade(offering:)``).
public struct WebSocketUpgradeAnswer: Sendable, Hashable {
    /// The HTTP status code: 101 when the server switched protocols.
    public var status: Int
    /// The `Sec-WebSocket-Protocol` the server selected, if any.
    public var subprotocol: String?
}

// MARK: - Channel handlers

/// Completes its promise with the status and selected subprotocol of the first HTTP response head.
private final class UpgradeAnswerReader: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let answer: EventLoopPromise<WebSocketUpgradeAnswer>

    init(answer: EventLoopPromise<WebSocketUpgradeAnswer>) {
        self.answer = answer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = Self.unwrapInboundIn(data) {
            self.answer.succeed(
                WebSocketUpgradeAnswer(
                    status: Int(head.status.code),
                    subprotocol: head.headers["Sec-WebSocket-Protocol"].first
                )
            )
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.answer.fail(ConnectionError("the WebSocket opening handshake failed: \(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.answer.fail(ConnectionError("the connection closed before an answer to the opening handshake"))
        context.fireChannelInactive()
    }
}

/// Completes its promise with the ALPN protocol the server selected when the TLS handshake finishes, or fails it
/// when the connection fails or ends first.
private final class TLSHandshakeObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    let promise: EventLoopPromise<String?>

    init(promise: EventLoopPromise<String?>) {
        self.promise = promise
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let negotiated) = event as? TLSUserEvent {
            self.promise.succeed(negotiated)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.promise.fail(ConnectionError("the TLS handshake failed: \(error)"))
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.promise.fail(ConnectionError("the connection closed before the TLS handshake finished"))
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.promise.fail(ConnectionError("the connection closed before the TLS handshake finished"))
    }
}

/// Delivers decoded frames of a TCP or TLS stream.
private final class StreamFrameHandler: ChannelInboundHandler {
    typealias InboundIn = HeraldFrame

    private let shared: ConnectionShared

    init(shared: ConnectionShared) {
        self.shared = shared
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.shared.received(Self.unwrapInboundIn(data))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? WireError {
            self.shared.failed("the server sent bytes that are not a valid frame: \(error)")
        } else if let error = error as? NIOSSLError, case .uncleanShutdown = error {
            self.shared.failed("the TLS connection ended without close_notify (TRN-15)")
        } else {
            self.shared.failed("transport error: \(error)")
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.shared.inactive()
        context.fireChannelInactive()
    }
}

/// Reassembles binary WebSocket messages into frames; answers pings and close frames.
private final class WebSocketFrameHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let shared: ConnectionShared
    private var assembler = WebSocketMessageAssembler()
    private var closeSent = false

    init(shared: ConnectionShared) {
        self.shared = shared
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        switch frame.opcode {
        case .binary, .continuation, .text:
            let message: WebSocketMessageAssembler.Message?
            do {
                message = try self.assembler.add(frame)
            } catch {
                self.shared.failed("the server sent a continuation frame without a message to continue")
                return
            }
            switch message {
            case .binary(let bytes):
                do {
                    self.shared.received(
                        try WebSocketMessageAssembler.heraldFrame(
                            bytes,
                            maximumPayloadLength: HeraldFrameHeader.defaultMaximumPayloadLength
                        )
                    )
                } catch {
                    self.shared.failed("the server sent a message that is not exactly one valid frame: \(error)")
                }
            case .text:
                self.shared.failed("the server sent a text WebSocket message (TRN-20)")
            case nil:
                break
            }
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)
            context.writeAndFlush(Self.wrapOutboundOut(pong), promise: nil)
        case .pong:
            // The answer to a webSocketPing step; shown in the transcript, never delivered as a frame.
            self.shared.recorder.recordTransport(
                actor: self.shared.actor,
                event: "ws-pong",
                detail: HexText.encode(frame.unmaskedData.readableBytesView)
            )
        case .connectionClose:
            var payload = frame.unmaskedData
            let code = payload.readInteger(as: UInt16.self)
            self.shared.closeFrameReceived(code: code)
            if !self.closeSent {
                self.closeSent = true
                var echo = ByteBuffer()
                if let code { echo.writeInteger(code) }
                let reply = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: echo)
                let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                context.writeAndFlush(Self.wrapOutboundOut(reply)).whenComplete { _ in
                    bound.value.close(promise: nil)
                }
            }
        default:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.shared.failed("transport error: \(error)")
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.shared.inactive()
        context.fireChannelInactive()
    }
}

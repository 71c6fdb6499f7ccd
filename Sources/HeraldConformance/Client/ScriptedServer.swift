import Foundation
import HeraldMessages
import HeraldWire
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOTLS
import NIOWebSocket
import SwiftProtobuf
import Synchronization

/// The listeners of `herald conform client`: the runner's scripted Herald server on loopback, one listener per
/// transport (Spec/19-client-conformance.md §19.2). It does nothing by itself but the transport handshakes and
/// answering `Ping` when told to: every frame the client sends is queued for the case's steps, which decide what to
/// answer.
public final class ScriptedServer: Sendable {
    /// What a listener serves.
    public enum Listener: String, Sendable, CaseIterable {
        /// Frames over TCP.
        case tcp
        /// Frames in binary WebSocket messages.
        case ws
        /// Frames over TLS, ALPN `herald/1`, the certificate for `localhost` and `127.0.0.1`.
        case tls
        /// WebSocket over TLS.
        case wss
        /// TLS with a certificate for another host (TRN-8).
        case wrongHost
    }

    /// The WebSocket path of the `ws` and `wss` listeners.
    public static let webSocketPath = "/herald"

    private let group: any EventLoopGroup
    private let channels: [Listener: any Channel]
    private let accepted = InboundQueue<ScriptedConnection>()
    private let open = Mutex<[ScriptedConnection]>([])
    private let counter = Atomic<Int>(0)
    /// The files the adapter is told to trust: the `tls`/`wss` certificate and the `wrongHost` one.
    public let trustRootsFile: String
    /// The `wrongHost` listener's certificate.
    public let wrongHostTrustRootsFile: String
    private let directory: URL
    /// The recorder of the running case.
    private let recorder = Mutex<TranscriptRecorder?>(nil)

    /// The URL of each listener.
    public let urls: [Listener: String]

    /// Starts every listener on 127.0.0.1, port 0.
    public static func start(group: any EventLoopGroup) async throws -> ScriptedServer {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("herald-conform-client-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let trust = directory.appendingPathComponent("trust.pem")
        let wrongTrust = directory.appendingPathComponent("wrong-host-trust.pem")
        try Data((EmbeddedTLSIdentity.certificatePEM + "\n").utf8).write(to: trust)
        try Data((WrongHostTLSIdentity.certificatePEM + "\n").utf8).write(to: wrongTrust)
        let main = try Self.context(EmbeddedTLSIdentity.certificatePEM, EmbeddedTLSIdentity.privateKeyPEM, ["herald/1"])
        let wrong = try Self.context(
            WrongHostTLSIdentity.certificatePEM,
            WrongHostTLSIdentity.privateKeyPEM,
            ["herald/1"]
        )
        let http = try Self.context(EmbeddedTLSIdentity.certificatePEM, EmbeddedTLSIdentity.privateKeyPEM, ["http/1.1"])
        let box = ServerBox()
        var channels: [Listener: any Channel] = [:]
        var urls: [Listener: String] = [:]
        for listener in Listener.allCases {
            let tls: NIOSSLContext? =
                switch listener {
                case .tcp, .ws: nil
                case .tls: main
                case .wss: http
                case .wrongHost: wrong
                }
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try Self.configure(channel, listener: listener, tls: tls, box: box)
                    }
                }
                .bind(host: "127.0.0.1", port: 0).get()
            channels[listener] = channel
            let port = channel.localAddress?.port ?? 0
            urls[listener] =
                switch listener {
                case .tcp: "tcp://127.0.0.1:\(port)"
                case .ws: "ws://127.0.0.1:\(port)\(Self.webSocketPath)"
                case .tls: "tls://localhost:\(port)"
                case .wss: "wss://localhost:\(port)\(Self.webSocketPath)"
                case .wrongHost: "tls://localhost:\(port)"
                }
        }
        let server = ScriptedServer(
            group: group,
            channels: channels,
            urls: urls,
            trust: trust.path,
            wrongTrust: wrongTrust.path,
            directory: directory
        )
        box.server.withLock { $0 = server }
        return server
    }

    private init(
        group: any EventLoopGroup,
        channels: [Listener: any Channel],
        urls: [Listener: String],
        trust: String,
        wrongTrust: String,
        directory: URL
    ) {
        self.group = group
        self.channels = channels
        self.urls = urls
        self.trustRootsFile = trust
        self.wrongHostTrustRootsFile = wrongTrust
        self.directory = directory
    }

    private static func context(_ certificate: String, _ key: String, _ alpn: [String]) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(certificate.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(key.utf8), format: .pem))
        )
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = alpn
        return try NIOSSLContext(configuration: configuration)
    }

    /// Sets up a new child channel: TLS (with SNI recorded), then frames or the WebSocket upgrade.
    private static func configure(
        _ channel: any Channel,
        listener: Listener,
        tls: NIOSSLContext?,
        box: ServerBox
    ) throws {
        guard let server = box.server.withLock({ $0 }) else {
            channel.close(promise: nil)
            return
        }
        let connection = ScriptedConnection(
            listener: listener,
            channel: channel,
            label: "\(listener.rawValue)#\(server.counter.add(1, ordering: .relaxed).newValue)",
            server: server
        )
        server.open.withLock { $0.append(connection) }
        let pipeline = channel.pipeline.syncOperations
        let webSocket = listener == .ws || listener == .wss
        if let tls {
            let bound = NIOLoopBound(channel, eventLoop: channel.eventLoop)
            let events = TLSEventHandler(connection: connection, announce: !webSocket)
            let boundEvents = NIOLoopBound(events, eventLoop: channel.eventLoop)
            // The SNI handler reads the ClientHello's server name, then hands the bytes it held to the next
            // handler: the TLS handler goes right after it, before the handshake observer.
            try pipeline.addHandler(
                ByteToMessageHandler(
                    SNIHandler { result in
                        if case .hostname(let name) = result { connection.note(sni: name) }
                        do {
                            try bound.value.pipeline.syncOperations.addHandler(
                                NIOSSLServerHandler(context: tls),
                                position: .before(boundEvents.value)
                            )
                        } catch {
                            return bound.value.eventLoop.makeFailedFuture(error)
                        }
                        return bound.value.eventLoop.makeSucceededVoidFuture()
                    }
                )
            )
            try pipeline.addHandler(events)
        }
        if webSocket {
            let upgrader = NIOWebSocketServerUpgrader(
                maxFrameSize: 1 << 24,
                automaticErrorHandling: false,
                shouldUpgrade: { channel, head in
                    let offered = head.headers[canonicalForm: "Sec-WebSocket-Protocol"].map(String.init)
                    connection.note(webSocketProtocols: offered, path: head.uri)
                    var headers = HTTPHeaders()
                    if offered.contains("herald.v1") { headers.add(name: "Sec-WebSocket-Protocol", value: "herald.v1") }
                    return channel.eventLoop.makeSucceededFuture(headers)
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ServerWebSocketHandler(connection: connection))
                        connection.ready()
                    }
                }
            )
            try pipeline.configureHTTPServerPipeline(
                withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in })
            )
        } else {
            try pipeline.addHandler(
                ByteToMessageHandler(
                    HeraldFrameDecoder(
                        maximumPayloadLength: HeraldFrameHeader.absoluteMaximumPayloadLength,
                        acceptedExtensions: HeraldOpcodeTable.extensions
                    )
                )
            )
            try pipeline.addHandler(ServerStreamHandler(connection: connection))
            if tls == nil { connection.ready() }
        }
    }

    /// Starts a case: closes every connection of the previous one and routes transcripts to `recorder`.
    public func begin(recorder: TranscriptRecorder) async {
        self.recorder.withLock { $0 = recorder }
        await self.closeAll()
        while self.accepted.pollBuffered() != nil {}
    }

    /// Ends a case: closes every connection.
    public func end() async {
        await self.closeAll()
        self.recorder.withLock { $0 = nil }
    }

    /// Closes every connection of the running case.
    public func closeConnections() async {
        await self.closeAll()
    }

    private func closeAll() async {
        let connections = self.open.withLock { open in
            defer { open.removeAll() }
            return open
        }
        for connection in connections {
            try? await connection.channel.close()
        }
    }

    /// The next connection whose transport handshake finished, or `nil` at the deadline.
    func nextConnection(until deadline: ContinuousClock.Instant) async -> ScriptedConnection? {
        await self.accepted.next(until: deadline)
    }

    fileprivate func ready(_ connection: ScriptedConnection) {
        self.record(connection.label, "connected", connection.handshakeSummary)
        self.accepted.push(connection)
    }

    fileprivate func record(_ actor: String, _ event: String, _ detail: String) {
        self.recorder.withLock { $0 }?.recordTransport(actor: actor, event: event, detail: detail)
    }

    fileprivate var currentRecorder: TranscriptRecorder? {
        self.recorder.withLock { $0 }
    }

    /// Closes every listener and connection.
    public func shutdown() async {
        await self.closeAll()
        for channel in self.channels.values {
            try? await channel.close()
        }
        try? FileManager.default.removeItem(at: self.directory)
    }
}

/// Lets the child channel initializer find the server, which exists only after every listener is bound.
private final class ServerBox: Sendable {
    let server = Mutex<ScriptedServer?>(nil)
}

/// Something a client did on a connection, in order.
enum ScriptedConnectionEvent: Sendable {
    /// A frame arrived (a `Ping` too, also when the runner answered it).
    case frame(ReceivedFrame)
    /// The client sent something that is not a valid frame; the connection is closed.
    case failure(String)
    /// A WebSocket text message.
    case text(String)
    /// The connection closed; over WebSocket, with the client's close code if it sent a close frame.
    case closed(webSocketCode: UInt16?, byClient: Bool)
}

/// One connection from the client under test.
final class ScriptedConnection: Sendable {
    let listener: ScriptedServer.Listener
    let channel: any Channel
    let queue = InboundQueue<ScriptedConnectionEvent>()
    private unowned let server: ScriptedServer
    private struct State {
        var label: String
        var sni: String?
        var alpn: String?
        var webSocketProtocols: [String] = []
        var webSocketPath: String?
        var autoPong = true
        var closedByServer = false
        var closeCode: UInt16?
        var start = ContinuousClock.now
    }
    private let state: Mutex<State>

    init(listener: ScriptedServer.Listener, channel: any Channel, label: String, server: ScriptedServer) {
        self.listener = listener
        self.channel = channel
        self.server = server
        self.state = Mutex(State(label: label))
    }

    var label: String {
        get { self.state.withLock { $0.label } }
        set { self.state.withLock { $0.label = newValue } }
    }

    var isWebSocket: Bool { self.listener == .ws || self.listener == .wss }

    /// What the transport handshake offered, for `accept` matchers.
    var handshake: JSONValue {
        self.state.withLock { state in
            .object([
                "listener": .string(self.listener.rawValue),
                "sni": state.sni.map(JSONValue.string) ?? .null,
                "alpn": .array(state.alpn.map { [.string($0)] } ?? []),
                "webSocketProtocols": .array(state.webSocketProtocols.map(JSONValue.string)),
                "webSocketPath": state.webSocketPath.map(JSONValue.string) ?? .null,
            ])
        }
    }

    var handshakeSummary: String {
        "\(self.listener.rawValue) " + self.handshake.compactText
    }

    var autoPong: Bool {
        get { self.state.withLock { $0.autoPong } }
        set { self.state.withLock { $0.autoPong = newValue } }
    }

    func note(sni: String) { self.state.withLock { $0.sni = sni } }
    func note(alpn: String?) { self.state.withLock { $0.alpn = alpn } }
    func note(webSocketProtocols: [String], path: String) {
        self.state.withLock {
            $0.webSocketProtocols = webSocketProtocols.flatMap {
                $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            }
            $0.webSocketPath = path
        }
    }

    func ready() { self.server.ready(self) }

    private var recorder: TranscriptRecorder? { self.server.currentRecorder }

    /// A frame arrived: answer `Ping` if told to, and queue it.
    func received(_ frame: HeraldFrame) {
        let received = ReceivedFrame(frame: frame, atMs: self.recorder?.elapsedMs ?? 0)
        self.recorder?.recordReceived(actor: self.label, frame: received)
        if frame.opcode == .ping, self.autoPong {
            var pong = Herald_V1_Pong()
            if let ping = try? Herald_V1_Ping(serializedBytes: Array(frame.payload.readableBytesView)) {
                pong.clientTimeMs = ping.clientTimeMs
            }
            pong.serverTimeMs = Int64(Date().timeIntervalSince1970 * 1000)
            if let answer = try? HeraldFrame(opcode: .pong, requestID: frame.requestID, message: pong) {
                self.write(answer, payload: ProtoJSON.render(pong).canonical)
            }
        }
        // Answered or not, a Ping is queued: steps skip it unless they are about Pings.
        self.queue.push(.frame(received))
    }

    func failed(_ message: String) {
        self.server.record(self.label, "error", message)
        self.queue.push(.failure(message))
    }

    func textReceived(_ text: String) {
        self.server.record(self.label, "text", text)
        self.queue.push(.text(text))
    }

    func closeFrameReceived(code: UInt16?) {
        self.state.withLock { $0.closeCode = code }
        self.server.record(self.label, "ws-close", code.map { "status \($0)" } ?? "no status")
    }

    func inactive() {
        let (byServer, code) = self.state.withLock { ($0.closedByServer, $0.closeCode) }
        self.server.record(self.label, "closed", byServer ? "by the runner" : "by the client")
        self.queue.push(.closed(webSocketCode: code, byClient: !byServer))
        self.queue.finish()
    }

    /// Sends a frame (over WebSocket, in one binary message).
    func write(_ frame: HeraldFrame, payload: JSONValue?) {
        self.recorder?.recordSent(actor: self.label, frame: frame, payload: payload)
        var buffer = self.channel.allocator.buffer(capacity: HeraldFrameHeader.size + frame.payload.readableBytes)
        var header = frame.header
        header.payloadLength = frame.payload.readableBytes
        header.write(to: &buffer)
        buffer.writeImmutableBuffer(frame.payload)
        self.writeBytes(buffer)
    }

    /// Sends bytes as they are.
    func writeRaw(_ bytes: [UInt8]) {
        self.server.record(self.label, "raw", HexText.encode(bytes.prefix(64)) + (bytes.count > 64 ? "…" : ""))
        self.writeBytes(self.channel.allocator.buffer(bytes: bytes))
    }

    private func writeBytes(_ buffer: ByteBuffer) {
        if self.isWebSocket {
            self.channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .binary, data: buffer), promise: nil)
        } else {
            self.channel.writeAndFlush(buffer, promise: nil)
        }
    }

    /// Sends a WebSocket text message.
    func writeText(_ text: String) {
        self.server.record(self.label, "text", text)
        let data = self.channel.allocator.buffer(string: text)
        self.channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, data: data), promise: nil)
    }

    /// Closes: over WebSocket with a close frame when `code` is given, else at once.
    func close(webSocketCode code: UInt16?) async {
        self.state.withLock { $0.closedByServer = true }
        if let code, self.isWebSocket {
            var data = self.channel.allocator.buffer(capacity: 2)
            data.writeInteger(code)
            self.server.record(self.label, "ws-close-sent", "status \(code)")
            try? await self.channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, data: data))
        }
        try? await self.channel.close()
    }
}

/// Records the negotiated ALPN protocol and announces a TLS connection once its handshake is done.
private final class TLSEventHandler: ChannelInboundHandler {
    typealias InboundIn = NIOAny
    private let connection: ScriptedConnection
    private let announce: Bool

    init(connection: ScriptedConnection, announce: Bool) {
        self.connection = connection
        self.announce = announce
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let negotiated) = event as? TLSUserEvent {
            self.connection.note(alpn: negotiated)
            if self.announce { self.connection.ready() }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A client that refuses the certificate ends the handshake with an alert: recorded, never a connection.
        self.connection.failed("TLS: \(error)")
        context.close(promise: nil)
    }
}

/// Queues the frames of a TCP or TLS stream.
private final class ServerStreamHandler: ChannelInboundHandler {
    typealias InboundIn = HeraldFrame
    private let connection: ScriptedConnection

    init(connection: ScriptedConnection) {
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.connection.received(Self.unwrapInboundIn(data))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? WireError {
            self.connection.failed("the client sent bytes that are not a valid frame: \(error)")
        } else {
            self.connection.failed("transport error: \(error)")
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.connection.inactive()
        context.fireChannelInactive()
    }
}

/// Reassembles binary WebSocket messages into frames; records text messages and close frames.
private final class ServerWebSocketHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame
    private let connection: ScriptedConnection
    private var assembler = WebSocketMessageAssembler()

    init(connection: ScriptedConnection) {
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        switch frame.opcode {
        case .binary, .continuation, .text:
            let message: WebSocketMessageAssembler.Message?
            do {
                message = try self.assembler.add(frame)
            } catch {
                self.connection.failed("the client sent a continuation frame without a message to continue")
                return
            }
            switch message {
            case .binary(let bytes):
                do {
                    self.connection.received(
                        try WebSocketMessageAssembler.heraldFrame(
                            bytes,
                            maximumPayloadLength: HeraldFrameHeader.absoluteMaximumPayloadLength
                        )
                    )
                } catch {
                    self.connection.failed("the client sent a message that is not exactly one valid frame: \(error)")
                }
            case .text(let text):
                self.connection.textReceived(text)
            case nil:
                break
            }
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.writeAndFlush(Self.wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            var payload = frame.unmaskedData
            let code = payload.readInteger(as: UInt16.self)
            self.connection.closeFrameReceived(code: code)
            var echo = context.channel.allocator.buffer(capacity: 2)
            if let code { echo.writeInteger(code) }
            let reply = WebSocketFrame(fin: true, opcode: .connectionClose, data: echo)
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(Self.wrapOutboundOut(reply)).whenComplete { _ in
                bound.value.close(promise: nil)
            }
        default:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.connection.failed("transport error: \(error)")
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.connection.inactive()
        context.fireChannelInactive()
    }
}

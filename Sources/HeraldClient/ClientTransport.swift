import Foundation
import HeraldWire
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOTLS
import NIOWebSocket
import Synchronization

/// What a transport reports to its client, in order.
public enum ClientTransportEvent: Sendable {
    /// Frames arrived (one socket read or WebSocket message may give several).
    case frames([HeraldFrame])
    /// The server sent bytes that are not a valid frame, or the transport failed; `closed` follows.
    case failed(String)
    /// The transport is closed.
    case closed
}

/// An open connection to a server that carries Herald frames.
///
/// The client calls these from its own isolation; implementations forward to their I/O thread.
public protocol ClientTransport: AnyObject, Sendable {
    /// Sends `frames` in order, with one flush.
    func send(_ frames: [HeraldFrame])
    /// Closes the connection (over WebSocket with status 1000, TRN-24); `closed` is reported when it is closed.
    func close()
}

/// Opens transports: ``NIOClientConnector`` over the network, or a scripted peer in tests.
public protocol ClientConnector: Sendable {
    /// Opens a connection to `address` whose frames, failures and end are reported to `events`.
    ///
    /// - Parameters:
    ///   - maximumPayloadLength: The longest payload the client accepts (its `Hello.max_payload_length`); a longer
    ///     frame is a `frame-too-large` failure.
    /// - Throws: ``HeraldClientError`` with ``HeraldClientError/Code/connectFailed``.
    func connect(
        to address: ServerAddress,
        maximumPayloadLength: Int,
        events: @escaping @Sendable (ClientTransportEvent) -> Void
    ) async throws(HeraldClientError) -> any ClientTransport
}

/// How a client verifies TLS servers (TRN-8).
public struct ClientTLSOptions: Sendable, Hashable {
    /// Skip certificate verification: only for development servers with self-signed certificates (TRN-8 allows it
    /// when the user asks explicitly).
    public var insecure: Bool
    /// A PEM file of certificates to trust instead of the system's roots.
    public var trustRootsFile: String?

    /// Creates options; the default verifies the chain and host name against the system's roots.
    public init(insecure: Bool = false, trustRootsFile: String? = nil) {
        self.insecure = insecure
        self.trustRootsFile = trustRootsFile
    }
}

/// Opens TCP, TLS, WebSocket and secure WebSocket connections with SwiftNIO.
///
/// TLS offers ALPN `herald/1` on `tls://` (TRN-10) and `http/1.1` on `wss://`, sends the host name as SNI (TRN-9)
/// and verifies the server's certificate unless ``ClientTLSOptions/insecure`` (TRN-8); TLS 1.3 early data is never
/// used (TRN-13). WebSocket connections offer the subprotocol `herald.v1` (TRN-17), send one frame per binary
/// message, answer pings, and close with status 1003 on a text message (TRN-22).
public struct NIOClientConnector: ClientConnector {
    /// How long opening a connection (TCP, TLS and WebSocket handshakes) may take.
    public var connectTimeout: Duration
    private let tls: ClientTLSOptions
    private let group: any EventLoopGroup

    /// Creates a connector.
    public init(
        tls: ClientTLSOptions = ClientTLSOptions(),
        connectTimeout: Duration = .seconds(10),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.tls = tls
        self.connectTimeout = connectTimeout
        self.group = eventLoopGroup
    }

    /// The ALPN identifier offered on `tls://` (TRN-10).
    static let heraldALPN = "herald/1"

    /// Opens a connection; see ``ClientConnector/connect(to:maximumPayloadLength:events:)``.
    public func connect(
        to address: ServerAddress,
        maximumPayloadLength: Int,
        events: @escaping @Sendable (ClientTransportEvent) -> Void
    ) async throws(HeraldClientError) -> any ClientTransport {
        do {
            let sslContext = try self.sslContext(for: address)
            if address.scheme.isWebSocket {
                return try await self.connectWebSocket(address, sslContext, maximumPayloadLength, events)
            }
            return try await self.connectStream(address, sslContext, maximumPayloadLength, events)
        } catch let error as HeraldClientError {
            throw error
        } catch {
            throw HeraldClientError(.connectFailed, "cannot connect to \(address): \(error)")
        }
    }

    private func sslContext(for address: ServerAddress) throws -> NIOSSLContext? {
        guard address.scheme.usesTLS else { return nil }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = address.scheme == .tls ? [Self.heraldALPN] : ["http/1.1"]
        if self.tls.insecure { configuration.certificateVerification = .none }
        if let file = self.tls.trustRootsFile { configuration.trustRoots = .file(file) }
        return try NIOSSLContext(configuration: configuration)
    }

    private var timeAmount: TimeAmount {
        let components = self.connectTimeout.components
        return .nanoseconds(components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000)
    }

    private func connectStream(
        _ address: ServerAddress,
        _ sslContext: NIOSSLContext?,
        _ maximumPayloadLength: Int,
        _ events: @escaping @Sendable (ClientTransportEvent) -> Void
    ) async throws -> any ClientTransport {
        let hostname = address.hostIsIPAddress ? nil : address.host
        let handshake = self.group.any().makePromise(of: String?.self)
        let connecting = ClientBootstrap(group: self.group)
            .connectTimeout(self.timeAmount)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let sslContext {
                        try pipeline.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: hostname))
                        try pipeline.addHandler(TLSHandshakeObserver(promise: handshake))
                    } else {
                        handshake.succeed(nil)
                    }
                    try pipeline.addHandler(
                        ByteToMessageHandler(HeraldFrameDecoder(maximumPayloadLength: maximumPayloadLength))
                    )
                    try pipeline.addHandler(StreamFrameHandler(events: events))
                }
            }
        let channel: any Channel
        do {
            channel = try await connecting.connect(host: address.host, port: address.port).get()
        } catch {
            handshake.fail(error)
            throw error
        }
        if sslContext != nil {
            let deadline = channel.eventLoop.scheduleTask(in: self.timeAmount) {
                handshake.fail(HeraldClientError(.connectFailed, "the TLS handshake with \(address) timed out"))
            }
            defer { deadline.cancel() }
            let negotiated: String?
            do {
                negotiated = try await handshake.futureResult.get()
            } catch {
                try? await channel.close()
                throw error
            }
            // A server that selects no protocol is accepted (ALPN is a SHOULD for clients); one that selects
            // another protocol is not speaking Herald.
            if let negotiated, negotiated != Self.heraldALPN {
                try? await channel.close()
                throw HeraldClientError(
                    .connectFailed,
                    "the server at \(address) selected ALPN protocol '\(negotiated)', not \(Self.heraldALPN)"
                )
            }
        }
        return NIOClientTransport(channel: channel, webSocket: false)
    }

    private func connectWebSocket(
        _ address: ServerAddress,
        _ sslContext: NIOSSLContext?,
        _ maximumPayloadLength: Int,
        _ events: @escaping @Sendable (ClientTransportEvent) -> Void
    ) async throws -> any ClientTransport {
        enum Upgrade: Sendable {
            case upgraded(subprotocol: String?)
            case refused
        }
        let hostname = address.hostIsIPAddress ? nil : address.host
        let upgradeResult = try await ClientBootstrap(group: self.group)
            .connectTimeout(self.timeAmount)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connect(host: address.host, port: address.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: sslContext, serverHostname: hostname)
                        )
                    }
                    let upgrader = NIOTypedWebSocketClientUpgrader<Upgrade>(
                        maxFrameSize: HeraldFrameHeader.size + maximumPayloadLength,
                        enableAutomaticErrorHandling: true,
                        upgradePipelineHandler: { channel, response in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(
                                    WebSocketFrameHandler(maximumPayloadLength: maximumPayloadLength, events: events)
                                )
                                return .upgraded(subprotocol: response.headers["Sec-WebSocket-Protocol"].first)
                            }
                        }
                    )
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: address.hostHeader)
                    headers.add(name: "Sec-WebSocket-Protocol", value: "herald.v1")
                    let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: address.path, headers: headers)
                    let configuration = NIOTypedHTTPClientUpgradeConfiguration<Upgrade>(
                        upgradeRequestHead: head,
                        upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in channel.eventLoop.makeSucceededFuture(.refused) }
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
        let (channel, upgrade) = try await upgradeResult.get()
        switch upgrade {
        case .upgraded(let subprotocol):
            guard subprotocol?.trimmingCharacters(in: .whitespaces) == "herald.v1" else {
                try? await channel.close()
                throw HeraldClientError(
                    .connectFailed,
                    "the server at \(address) did not select the WebSocket subprotocol herald.v1 (TRN-18)"
                )
            }
            return NIOClientTransport(channel: channel, webSocket: true)
        case .refused:
            try? await channel.close()
            throw HeraldClientError(.connectFailed, "the server at \(address) refused the WebSocket upgrade")
        }
    }
}

/// A connection opened by ``NIOClientConnector``.
///
/// Frames sent from the client's actor are collected and written by one task on the channel's event loop: however
/// many requests and acknowledgements the client sends meanwhile, they cost one thread hop and one flush, and over
/// TCP and TLS one buffer.
final class NIOClientTransport: ClientTransport {
    private struct Outbox {
        var frames: [HeraldFrame] = []
        var scheduled = false
    }

    private let channel: any Channel
    private let webSocket: Bool
    private let outbox = Mutex(Outbox())

    init(channel: any Channel, webSocket: Bool) {
        self.channel = channel
        self.webSocket = webSocket
    }

    func send(_ frames: [HeraldFrame]) {
        guard !frames.isEmpty else { return }
        let schedule = self.outbox.withLock { outbox -> Bool in
            outbox.frames.append(contentsOf: frames)
            defer { outbox.scheduled = true }
            return !outbox.scheduled
        }
        if schedule {
            self.channel.eventLoop.execute { self.drain() }
        }
    }

    /// Writes and flushes every frame collected so far; on the event loop.
    private func drain() {
        let frames = self.outbox.withLock { outbox -> [HeraldFrame] in
            defer { outbox = Outbox() }
            return outbox.frames
        }
        let channel = self.channel
        // Frames are validated when built; the absolute cap only guards against a hand-made header.
        let cap = HeraldFrameHeader.absoluteMaximumPayloadLength
        if self.webSocket {
            for frame in frames {
                var buffer = channel.allocator.buffer(capacity: HeraldFrameHeader.size + frame.payload.readableBytes)
                guard (try? frame.encode(into: &buffer, maximumPayloadLength: cap)) != nil else { continue }
                channel.write(
                    WebSocketFrame(fin: true, opcode: .binary, maskKey: .random(), data: buffer),
                    promise: nil
                )
            }
        } else {
            let size = frames.reduce(0) { $0 + HeraldFrameHeader.size + $1.payload.readableBytes }
            var buffer = channel.allocator.buffer(capacity: size)
            for frame in frames {
                _ = try? frame.encode(into: &buffer, maximumPayloadLength: cap)
            }
            channel.write(buffer, promise: nil)
        }
        channel.flush()
    }

    func close() {
        let channel = self.channel
        if self.webSocket {
            channel.eventLoop.execute {
                var code = ByteBuffer()
                code.writeInteger(UInt16(1000))
                let close = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: code)
                channel.writeAndFlush(close).whenComplete { _ in channel.close(promise: nil) }
            }
        } else {
            channel.close(promise: nil)
        }
    }
}

/// Completes its promise with the ALPN protocol the server selected when the TLS handshake finishes.
private final class TLSHandshakeObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    let promise: EventLoopPromise<String?>

    init(promise: EventLoopPromise<String?>) { self.promise = promise }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let negotiated) = event as? TLSUserEvent { self.promise.succeed(negotiated) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.promise.fail(HeraldClientError(.connectFailed, "the TLS handshake failed: \(error)"))
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.promise.fail(HeraldClientError(.connectFailed, "the connection closed during the TLS handshake"))
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // A connection that never became active (refused, unreachable) ends here: the promise must not leak.
        self.promise.fail(HeraldClientError(.connectFailed, "the connection closed before the TLS handshake"))
    }
}

/// Reports the decoded frames of a TCP or TLS stream, one event per read.
private final class StreamFrameHandler: ChannelInboundHandler {
    typealias InboundIn = HeraldFrame
    private let events: @Sendable (ClientTransportEvent) -> Void
    private var batch: [HeraldFrame] = []

    init(events: @escaping @Sendable (ClientTransportEvent) -> Void) { self.events = events }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.batch.append(Self.unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.deliver()
        context.fireChannelReadComplete()
    }

    private func deliver() {
        guard !self.batch.isEmpty else { return }
        let frames = self.batch
        self.batch.removeAll(keepingCapacity: true)
        self.events(.frames(frames))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // The frames before a framing failure were valid and are delivered first (HS-69: then close).
        self.deliver()
        if let error = error as? WireError {
            self.events(.failed("the server sent bytes that are not a valid frame: \(error)"))
        } else {
            self.events(.failed("transport error: \(error)"))
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.deliver()
        self.events(.closed)
        context.fireChannelInactive()
    }
}

/// Decodes binary WebSocket messages as one frame each; answers close frames; closes with 1003 on text (TRN-22).
private final class WebSocketFrameHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame
    private let events: @Sendable (ClientTransportEvent) -> Void
    private let maximumPayloadLength: Int
    private var message: ByteBuffer?
    private var batch: [HeraldFrame] = []
    private var closing = false

    init(maximumPayloadLength: Int, events: @escaping @Sendable (ClientTransportEvent) -> Void) {
        self.maximumPayloadLength = maximumPayloadLength
        self.events = events
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        guard !self.closing else { return }
        switch frame.opcode {
        case .binary, .continuation:
            var data = frame.unmaskedData
            if frame.opcode == .binary {
                self.message = data
            } else if self.message != nil {
                self.message!.writeBuffer(&data)
            } else {
                self.fail(context, "the server sent a continuation frame without a message", code: 1002)
                return
            }
            guard frame.fin, let message = self.message else { return }
            self.message = nil
            do {
                self.batch.append(
                    try HeraldWire.decodeSingleFrame(message, maximumPayloadLength: self.maximumPayloadLength)
                )
            } catch {
                self.fail(
                    context,
                    "the server sent a message that is not exactly one valid frame: \(error)",
                    code: 1002
                )
            }
        case .text:
            self.fail(context, "the server sent a text WebSocket message (TRN-22)", code: 1003)
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)
            context.writeAndFlush(Self.wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            self.deliver()
            self.closing = true
            var payload = frame.unmaskedData
            var echo = ByteBuffer()
            if let code = payload.readInteger(as: UInt16.self) { echo.writeInteger(code) }
            let reply = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: echo)
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(Self.wrapOutboundOut(reply)).whenComplete { _ in bound.value.close(promise: nil) }
        default:
            break
        }
    }

    private func fail(_ context: ChannelHandlerContext, _ why: String, code: UInt16) {
        self.deliver()
        self.closing = true
        self.events(.failed(why))
        var data = ByteBuffer()
        data.writeInteger(code)
        let close = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: data)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(Self.wrapOutboundOut(close)).whenComplete { _ in bound.value.close(promise: nil) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.deliver()
        context.fireChannelReadComplete()
    }

    private func deliver() {
        guard !self.batch.isEmpty else { return }
        let frames = self.batch
        self.batch.removeAll(keepingCapacity: true)
        self.events(.frames(frames))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.deliver()
        self.events(.failed("transport error: \(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.deliver()
        self.events(.closed)
        context.fireChannelInactive()
    }
}

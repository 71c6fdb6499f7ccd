import HeraldClient
import HeraldMessages
import HeraldWire
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Testing

/// A TCP server on loopback that does the handshake and login, then sends what the test gives it: bytes that are
/// not what the protocol allows, through the client's real transport and decoder.
private final class BadServer: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let afterLogin: [UInt8]

    init(afterLogin: [UInt8]) { self.afterLogin = afterLogin }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var reader = HeraldFrameReader()
        guard let frames = try? reader.append(Self.unwrapInboundIn(data)) else { return }
        for frame in frames {
            var out = context.channel.allocator.buffer(capacity: 64)
            switch frame.opcode {
            case .hello:
                var welcome = Herald_V1_Welcome()
                welcome.version = 1
                welcome.capabilities = ["core", "peer-messages"]
                try? HeraldFrame(requestID: frame.requestID, message: welcome).encode(into: &out)
            case .loginRequest:
                var response = Herald_V1_LoginResponse()
                response.sessionID = "s"
                try? HeraldFrame(requestID: frame.requestID, message: response).encode(into: &out)
                out.writeBytes(self.afterLogin)
            default:
                continue
            }
            context.writeAndFlush(Self.wrapOutboundOut(out), promise: nil)
        }
    }
}

@Suite(.serialized) struct BadServerTests {
    static func run(sending bytes: [UInt8]) async throws -> String {
        let group = MultiThreadedEventLoopGroup.singleton
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(BadServer(afterLogin: bytes))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        defer { server.close(promise: nil) }
        var configuration = HeraldClient.Configuration(
            address: ServerAddress(scheme: .tcp, host: "127.0.0.1", port: server.localAddress!.port!),
            appID: "app"
        )
        configuration.reconnects = false
        let client = HeraldClient(configuration: configuration)
        let recorder = await EventRecorder(client)
        try await client.login(userID: "alice")
        let fault = try await recorder.next("protocol fault") { event -> String? in
            if case .protocolFault(let why) = event { return why }
            return nil
        }
        _ = try await recorder.next("disconnected") { event -> Bool? in
            if case .connectionStateChanged(.disconnected, .interrupted) = event { return true }
            return nil
        }
        await client.close()
        return fault
    }

    @Test func aFrameOverTheReceiveLimitEndsTheConnection() async throws {
        // A header announcing 70,000 payload bytes: over the 65,536 the client's Hello announced (HS-28).
        let header = HeraldFrameHeader(opcode: .peerMessage, requestID: 0, payloadLength: 70_000)
        var buffer = ByteBuffer()
        header.write(to: &buffer)
        let fault = try await Self.run(sending: Array(buffer.readableBytesView) + [UInt8](repeating: 0, count: 100))
        #expect(fault.contains("frame-too-large"))
    }

    @Test func bytesThatAreNoFrameEndTheConnection() async throws {
        let fault = try await Self.run(sending: Array("HTTP/1.1 400 Bad Request\r\n\r\n".utf8))
        #expect(fault.contains("bad-magic"))
    }
}

/// The WebSocket side of a bad server: answers Hello and login, then sends a text message; records the status code of
/// the client's close frame.
private final class TextSendingWebSocketServer: ChannelInboundHandler, Sendable {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let closeCode: EventLoopPromise<UInt16?>

    init(closeCode: EventLoopPromise<UInt16?>) { self.closeCode = closeCode }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = Self.unwrapInboundIn(data)
        switch message.opcode {
        case .binary:
            guard let frame = try? HeraldWire.decodeSingleFrame(message.unmaskedData) else { return }
            var out = ByteBuffer()
            if frame.opcode == .hello {
                var welcome = Herald_V1_Welcome()
                welcome.version = 1
                welcome.capabilities = ["core"]
                try? HeraldFrame(requestID: frame.requestID, message: welcome).encode(into: &out)
            } else if frame.opcode == .loginRequest {
                var response = Herald_V1_LoginResponse()
                response.sessionID = "s"
                try? HeraldFrame(requestID: frame.requestID, message: response).encode(into: &out)
            } else {
                return
            }
            context.write(Self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, data: out)), promise: nil)
            if frame.opcode == .loginRequest {
                let text = WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: "hello"))
                context.write(Self.wrapOutboundOut(text), promise: nil)
            }
            context.flush()
        case .connectionClose:
            var data = message.unmaskedData
            self.closeCode.succeed(data.readInteger(as: UInt16.self))
            context.close(promise: nil)
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.closeCode.succeed(nil)
    }
}

extension BadServerTests {
    @Test func aTextWebSocketMessageIsClosedWith1003() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let closeCode = group.any().makePromise(of: UInt16?.self)
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let upgrader = NIOTypedWebSocketServerUpgrader<Bool>(
                        shouldUpgrade: { channel, _ in
                            channel.eventLoop.makeSucceededFuture(
                                HTTPHeaders([("Sec-WebSocket-Protocol", "herald.v1")])
                            )
                        },
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(
                                    TextSendingWebSocketServer(closeCode: closeCode)
                                )
                                return true
                            }
                        }
                    )
                    let configuration = NIOTypedHTTPServerUpgradeConfiguration<Bool>(
                        upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in channel.eventLoop.makeSucceededFuture(false) }
                    )
                    _ = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
                        configuration: .init(upgradeConfiguration: configuration)
                    )
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        defer { server.close(promise: nil) }
        var configuration = HeraldClient.Configuration(
            address: ServerAddress(scheme: .ws, host: "127.0.0.1", port: server.localAddress!.port!),
            appID: "app"
        )
        configuration.reconnects = false
        let client = HeraldClient(configuration: configuration)
        let recorder = await EventRecorder(client)
        try await client.login(userID: "alice")
        let fault = try await recorder.next("protocol fault") { event -> String? in
            if case .protocolFault(let why) = event { return why }
            return nil
        }
        #expect(fault.contains("TRN-22"))
        #expect(try await closeCode.futureResult.get() == 1003)
        await client.close()
    }
}

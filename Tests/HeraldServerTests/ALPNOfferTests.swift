import Foundation
import HeraldEngine
import NIOCore
import NIOEmbedded
import NIOPosix
import NIOSSL
import Testing

@testable import HeraldServer

/// TRN-12: the `tls://` listener aborts a handshake whose ALPN offer lacks `herald/1` with `no_application_protocol`.
@Suite("ALPN offers on the tls:// listener")
struct ALPNOfferTests {
    /// The ClientHello a NIOSSL client sends when it offers `alpn` (captured from an embedded channel).
    static func clientHello(alpn: [String]) throws -> ByteBuffer {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.applicationProtocols = alpn
        configuration.certificateVerification = .none
        let context = try NIOSSLContext(configuration: configuration)
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish() }
        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: nil))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        var hello = ByteBuffer()
        while var chunk = try channel.readOutbound(as: ByteBuffer.self) {
            hello.writeBuffer(&chunk)
        }
        return hello
    }

    @Test func offersWithHeraldOrWithoutALPNProceed() throws {
        for alpn in [["herald/1"], ["h2", "herald/1"], []] {
            let hello = try Self.clientHello(alpn: alpn)
            #expect(ALPNOfferCheck.verdict(on: hello, applicationProtocol: "herald/1") == .proceed, "\(alpn)")
        }
    }

    @Test func anOfferWithoutHeraldIsRefused() throws {
        let hello = try Self.clientHello(alpn: ["h2", "http/1.1"])
        #expect(
            ALPNOfferCheck.verdict(on: hello, applicationProtocol: "herald/1") == .refuse(offered: ["h2", "http/1.1"])
        )
    }

    @Test func everyPrefixOfTheClientHelloWaitsForMore() throws {
        let hello = try Self.clientHello(alpn: ["h2"])
        for length in 0..<hello.readableBytes {
            let prefix = hello.getSlice(at: hello.readerIndex, length: length)!
            #expect(ALPNOfferCheck.verdict(on: prefix, applicationProtocol: "herald/1") == .needMoreData, "\(length)")
        }
    }

    @Test func bytesThatAreNotAClientHelloAreLeftToTheTLSHandler() {
        // A plain Herald client talking to the TLS port, and a handshake record that is not a ClientHello.
        let herald = ByteBuffer(bytes: [0x48, 0x52, 0x01, 0x00, 0x00, 0x01])
        #expect(ALPNOfferCheck.verdict(on: herald, applicationProtocol: "herald/1") == .proceed)
        let serverHello = ByteBuffer(bytes: [0x16, 0x03, 0x03, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00])
        #expect(ALPNOfferCheck.verdict(on: serverHello, applicationProtocol: "herald/1") == .proceed)
    }

    @Test("a live tls:// listener answers an h2-only offer with the alert and closes", .enabled(if: opensslPath != nil))
    func liveListenerSendsTheAlert() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let files = try makeTestCertificate(in: directory)
        let configuration = testConfiguration {
            $0.tls = files
            $0.webSocket = nil
            // The alert must come from the ALPN check, not from a handshake timeout on a busy test machine.
            $0.engine.timers.handshakeTimeoutMs = 60_000
        }
        let hello = try Self.clientHello(alpn: ["h2"])
        try await withTestServer(configuration) { _, listeners in
            let listener = try listeners.listener(.tls)
            let received = try await Self.exchangeRaw(hello, host: listener.host, port: listener.port)
            #expect(received == ALPNOfferCheck.noApplicationProtocolAlert)
        }
    }

    /// Sends `bytes` on a new TCP connection and returns everything received until the server closes.
    static func exchangeRaw(_ bytes: ByteBuffer, host: String, port: Int) async throws -> [UInt8] {
        let received = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: [UInt8].self)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RawCollector(received: received))
                }
            }
            .connect(host: host, port: port)
            .get()
        // The server may answer and close before the write completes; what arrives is the result.
        channel.writeAndFlush(bytes, promise: nil)
        return try await received.futureResult.get()
    }

    /// Collects the bytes of a connection and completes `received` with them when it closes.
    private final class RawCollector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer

        private let received: EventLoopPromise<[UInt8]>
        private var bytes: [UInt8] = []

        init(received: EventLoopPromise<[UInt8]>) {
            self.received = received
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            self.bytes += Self.unwrapInboundIn(data).readableBytesView
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.received.succeed(self.bytes)
        }
    }
}

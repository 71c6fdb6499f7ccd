import NIOCore
import NIOSSL
import NIOTLS

/// The ALPN identifier of Herald over TLS (TRN-10, TRN-11).
let heraldALPN = "herald/1"

extension TLSFiles {
    /// Loads the PEM files into an `NIOSSLContext` for a server (TLS 1.2 or later, TRN-7).
    ///
    /// - Parameter applicationProtocols: The ALPN identifiers to select, most preferred first.
    func makeServerContext(applicationProtocols: [String]) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMFile(self.certificateChainPath)
        guard !chain.isEmpty else {
            throw HeraldServerConfigurationError("no certificate in \(self.certificateChainPath)")
        }
        let key = try NIOSSLPrivateKey(file: self.privateKeyPath, format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = applicationProtocols
        return try NIOSSLContext(configuration: configuration)
    }
}

/// Turns the end of the TLS handshake into ``InboundEvent/transportReady`` (the engine's handshake timer starts
/// only then, HS-4), and closes a connection whose TLS handshake takes longer than `timeout`.
final class TLSReadyHandler: ChannelInboundHandler {
    typealias InboundIn = InboundEvent
    typealias InboundOut = InboundEvent

    private let timeout: TimeAmount
    private var deadline: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        self.deadline = context.eventLoop.scheduleTask(in: self.timeout) {
            loopBoundContext.value.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.deadline?.cancel()
        self.deadline = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            self.deadline?.cancel()
            self.deadline = nil
            context.fireChannelRead(Self.wrapInboundOut(.transportReady))
            context.fireChannelReadComplete()
        }
        context.fireUserInboundEventTriggered(event)
    }
}

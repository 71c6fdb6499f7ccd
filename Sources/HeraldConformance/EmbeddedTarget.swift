import Foundation
import HeraldEngine
import HeraldServer
import Logging

/// The reference engine, started in-process on loopback as the target of `herald conform` without a TARGET.
///
/// The server listens on `127.0.0.1` port 0 (TCP, and WebSocket), serves one app (``appID``, with the 32-byte
/// ``appSecret``, app-ID-only mode off so that token cases run), offers every v1 capability, keeps offline messages
/// in memory, uses the default limits and rate limits, and runs the short timers of ``timers`` so that the whole
/// corpus finishes quickly. The timers are advertised in `Welcome` as usual, so cases read them from there.
public struct EmbeddedTarget: Sendable {
    /// The app id the embedded engine serves.
    public static let appID = "herald-conformance"
    /// The app secret (32 bytes, TOK-1) that signs the embedded engine's tokens.
    public static let appSecret = Array("herald-conformance-embedded-key!".utf8)
    /// The server name the embedded engine reports in `Welcome`.
    public static let serverName = "herald-reference-engine (embedded)"

    /// The short timers of the embedded engine, in milliseconds.
    public static var timers: EngineTimers {
        var timers = EngineTimers()
        timers.heartbeatIntervalMs = 500
        timers.idleTimeoutMs = 2000
        timers.loginTimeoutMs = 2000
        timers.handshakeTimeoutMs = 1000
        timers.presenceUnreachableMs = 1000
        timers.peerAckTimeoutMs = 1000
        timers.invitationPeerOfflineMs = 2000
        timers.invitationNoResponseMs = 1000
        timers.invitationExpiryMs = 3000
        timers.invitationAcceptAckMs = 1000
        timers.tokenWillExpireLeadMs = 1000
        timers.channelAttributesEmptyTTLMs = 1500
        timers.memberCountIntervalMs = 200
        timers.memberCountIntervalLargeMs = 600
        return timers
    }

    /// The server configuration of the embedded engine: TCP and WebSocket listeners on `127.0.0.1:0`.
    public static func configuration() -> HeraldServerConfiguration {
        var engine = EngineConfiguration(
            apps: [AppCredentials(appID: Self.appID, secrets: [Self.appSecret], allowsTokenlessLogin: false)]
        )
        engine.serverName = Self.serverName
        engine.timers = Self.timers
        var configuration = HeraldServerConfiguration(engine: engine, dataDirectory: nil)
        configuration.tcp = ListenAddress(host: "127.0.0.1", port: 0)
        configuration.webSocket = ListenAddress(host: "127.0.0.1", port: 0)
        configuration.secureWebSocket = nil
        configuration.tls = nil
        return configuration
    }

    /// The listeners the server bound, with their ports.
    public var listeners: [BoundListener]

    /// The target of the listener of `transport` (`tcp` or `ws`), if the server has one.
    public func target(for transport: HeraldTransport) -> Target? {
        self.listeners.first { $0.transport == transport }.map(Target.init(listener:))
    }

    /// A token source that mints tokens with ``appSecret``.
    public var tokenSource: SecretTokenSource {
        SecretTokenSource(secret: Self.appSecret)
    }

    /// Starts the embedded engine, runs `body` with it, and shuts it down gracefully (every connection gets
    /// `Disconnect` with `DISCONNECT_REASON_SERVER_SHUTDOWN`) when `body` returns or throws.
    ///
    /// - Parameters:
    ///   - logger: Where the server logs; by default nothing is logged.
    ///   - body: Gets the running target.
    /// - Returns: What `body` returns.
    /// - Throws: Errors of starting the server, and what `body` throws.
    public static func withRunning<Result: Sendable>(
        logger: Logger = Logger(label: "herald.conformance.embedded", factory: { _ in SwiftLogNoOpLogHandler() }),
        _ body: (EmbeddedTarget) async throws -> Result
    ) async throws -> Result {
        try await HeraldServer.withRunningServer(configuration: Self.configuration(), logger: logger) { _, listeners in
            try await body(EmbeddedTarget(listeners: listeners))
        }
    }
}

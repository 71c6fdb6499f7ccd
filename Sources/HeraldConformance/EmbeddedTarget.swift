import Foundation
import HeraldEngine
import HeraldServer
import Logging

/// The reference engine, started in-process on loopback as the target of `herald conform` without a TARGET.
///
/// The server listens on `127.0.0.1` port 0 (TCP, and WebSocket; a second server with the same settings serves TLS,
/// with the certificate of ``EmbeddedTLSIdentity``), serves two apps — ``appID``, with the 32-byte
/// ``appSecret`` and app-ID-only mode off so that token cases run, and ``appIDOnlyAppID`` in app-ID-only mode (its
/// real tokens are verified under the same secret) — offers every v1 capability, enables test control
/// (Spec/18-test-control.md) with a random ``testControlKey``, keeps offline messages in a temporary data directory
/// (so that they survive a test-control restart, PEER-36), uses the default limits (except the two channel-size limits, ``crowdLimit``) and rate limits, and runs
/// the short timers of ``timers`` so that the whole corpus finishes quickly. Limits and timers are advertised in
/// `Welcome` as usual, so cases read them from there.
public struct EmbeddedTarget: Sendable {
    /// The app id the embedded engine serves.
    public static let appID = "herald-conformance"
    /// The app the embedded engine serves in app-ID-only mode (Spec/15-tokens.md §15.5), for the cases with
    /// `"app": "app-id-only"`.
    public static let appIDOnlyAppID = "herald-conformance-app-id-only"
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

    /// The embedded engine's `max_member_event_channel_size` and `max_members_listed` (the protocol default is 512):
    /// the cases that need a channel above these limits size their crowds from `Welcome`, so a small value keeps them
    /// fast.
    public static let crowdLimit = 16

    /// The server configuration of the embedded engine: TCP and WebSocket listeners on `127.0.0.1:0`.
    ///
    /// - Parameters:
    ///   - testControlKey: Enables test control with this key; `nil` leaves it off.
    ///   - dataDirectory: Where offline messages are kept; `nil` keeps them in memory.
    public static func configuration(
        testControlKey: String? = nil,
        dataDirectory: String? = nil
    ) -> HeraldServerConfiguration {
        var engine = EngineConfiguration(
            apps: [
                AppCredentials(appID: Self.appID, secrets: [Self.appSecret], allowsTokenlessLogin: false),
                AppCredentials(appID: Self.appIDOnlyAppID, secrets: [Self.appSecret], allowsTokenlessLogin: true),
            ]
        )
        engine.serverName = Self.serverName
        engine.timers = Self.timers
        engine.limits.maxMemberEventChannelSize = Self.crowdLimit
        engine.limits.maxMembersListed = Self.crowdLimit
        engine.testControlKey = testControlKey.map { Array($0.utf8) }
        var configuration = HeraldServerConfiguration(engine: engine, dataDirectory: dataDirectory)
        configuration.tcp = ListenAddress(host: "127.0.0.1", port: 0)
        configuration.webSocket = ListenAddress(host: "127.0.0.1", port: 0)
        configuration.secureWebSocket = nil
        configuration.tls = nil
        return configuration
    }

    /// The configuration of the embedded engine's TLS server: the same engine settings, one `tls://` listener on
    /// `127.0.0.1:0` with the certificate of ``EmbeddedTLSIdentity``. (A server's TCP listener speaks either plain
    /// TCP or TLS, so TLS needs a second server.)
    ///
    /// - Parameter files: Where ``EmbeddedTLSIdentity`` wrote the certificate and the key.
    public static func tlsConfiguration(
        files: TLSFiles,
        testControlKey: String? = nil,
        dataDirectory: String? = nil
    ) -> HeraldServerConfiguration {
        var configuration = Self.configuration(testControlKey: testControlKey, dataDirectory: dataDirectory)
        configuration.webSocket = nil
        configuration.tls = files
        return configuration
    }

    /// The listeners the servers bound, with their ports: `tcp` and `ws` of the main server, `tls` of the TLS one.
    public var listeners: [BoundListener]

    /// The certificate the `tls` listener presents; the runner trusts exactly this file for it.
    public var trustRootsFile: String?

    /// The test-control key of both servers (Spec/18-test-control.md), random per run.
    public var testControlKey: String = ""

    /// The target of the listener of `transport` (`tcp`, `ws` or `tls`), if there is one.
    public func target(for transport: HeraldTransport) -> Target? {
        self.listeners.first { $0.transport == transport }.map(Target.init(listener:))
    }

    /// The TLS options that connect to the listener of `transport`: trust in the embedded certificate for `tls`.
    public func tlsOptions(for transport: HeraldTransport) -> TLSClientOptions {
        transport == .tls ? TLSClientOptions(trustRootsFile: self.trustRootsFile) : TLSClientOptions()
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
        let identity = try EmbeddedTLSIdentity.writeFiles()
        defer { try? FileManager.default.removeItem(at: identity.directory) }
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("herald-conform-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: data) }
        let key = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        return try await HeraldServer.withRunningServer(
            configuration: Self.configuration(
                testControlKey: key,
                dataDirectory: data.appendingPathComponent("main").path
            ),
            logger: logger
        ) { _, listeners in
            try await HeraldServer.withRunningServer(
                configuration: Self.tlsConfiguration(
                    files: identity.files,
                    testControlKey: key,
                    dataDirectory: data.appendingPathComponent("tls").path
                ),
                logger: logger
            ) { _, tlsListeners in
                var target = EmbeddedTarget(
                    listeners: listeners + tlsListeners,
                    trustRootsFile: identity.files.certificateChainPath
                )
                target.testControlKey = key
                return try await body(target)
            }
        }
    }
}

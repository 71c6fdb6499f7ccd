import ArgumentParser
import HeraldEngine
import HeraldServer
import Logging
import ServiceLifecycle
import UnixSignals

extension Herald {
    /// `herald serve`: runs a Herald server until SIGINT or SIGTERM.
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve",
            abstract: "Run a Herald server (TCP, TLS and WebSocket) until SIGINT or SIGTERM.",
            discussion: """
                Prints one line per listener, with the port actually bound (so --tcp 127.0.0.1:0 is usable by \
                scripts): "herald: listening tcp 127.0.0.1:7420", "herald: listening ws ws://127.0.0.1:7421/herald". \
                SIGINT or SIGTERM shuts down gracefully: every client gets Disconnect SERVER_SHUTDOWN (HS-57).

                Authentication (Spec/15-tokens.md): tokens are HS256 JWTs signed with the app secret (at least 32 \
                bytes, TOK-1). Without --app-secret, --app-secret-file or --no-auth, a random secret is generated \
                once into DATA/app-secret (mode 0600), reused on later starts, and printed with a ready-to-copy \
                "herald token mint" command. --no-auth enables app-ID-only mode (TOK-13): an empty token or \
                "_no_need_token" logs in without verification; real tokens are still verified against a secret, \
                if one is given. --app-id-only-app ID (repeatable) serves another app, ID, in app-ID-only mode \
                beside --app-id; its real tokens are verified against the same secret as those of --app-id.

                Limits (Spec/14-limits.md §14.2), timers (§14.4) and rate limits (§14.3) default to the protocol \
                defaults and are advertised in Welcome exactly as enforced (HS-22 … HS-24). Invalid settings exit \
                with status 2.
                """
        )

        @Option(name: .customLong("tcp"), help: "TCP listener HOST:PORT; TLS when --tls-cert is given (§2.1, §2.3).")
        var tcpAddress = HeraldServerConfiguration.defaultTCPAddress.description

        @Option(name: .customLong("ws"), help: "WebSocket listener HOST:PORT (§2.4).")
        var webSocketAddress = HeraldServerConfiguration.defaultWebSocketAddress.description

        @Option(name: .customLong("wss"), help: "WebSocket-over-TLS listener HOST:PORT; needs --tls-cert (§2.4).")
        var secureWebSocketAddress: String?

        @Option(name: .customLong("ws-path"), help: "HTTP path of the WebSocket endpoints (TRN-1).")
        var webSocketPath = HeraldServerConfiguration.defaultWebSocketPath

        @Flag(name: .customLong("no-tcp"), help: "Do not open the TCP listener.")
        var noTCP = false

        @Flag(name: .customLong("no-ws"), help: "Do not open the WebSocket listener.")
        var noWebSocket = false

        @Option(name: .customLong("tls-cert"), help: "PEM certificate chain: serve TLS on --tcp (and on --wss).")
        var tlsCertificate: String?

        @Option(name: .customLong("tls-key"), help: "PEM private key of the --tls-cert certificate.")
        var tlsKey: String?

        @Option(help: "The app id served (Spec/05-session.md).")
        var appID = "herald-dev"

        @Option(help: "The app secret that signs tokens, at least 32 bytes (TOK-1).")
        var appSecret: String?

        @Option(help: "A file holding the app secret (trailing line breaks are ignored).")
        var appSecretFile: String?

        @Flag(help: "App-ID-only mode: logins with an empty token or _no_need_token succeed (TOK-13, TOK-14).")
        var noAuth = false

        @Option(
            name: .customLong("app-id-only-app"),
            help: ArgumentHelp(
                "Also serve this app, in app-ID-only mode, with the secret of --app-id (repeatable; TOK-13).",
                valueName: "app-id"
            )
        )
        var appIDOnlyApps: [String] = []

        @Option(name: .customLong("data"), help: "Data directory: offline messages (PEER-36) and the generated secret.")
        var dataDirectory = "./herald-data"

        @Option(
            name: .customLong("rate-limit"),
            help: ArgumentHelp(
                "Override a rate limit, e.g. messages=180/3000 (repeatable; §14.3).",
                valueName: "CLASS=COUNT/WINDOW_MS"
            )
        )
        var rateLimits: [String] = []

        @Option(
            name: .customLong("no-rate-limit"),
            help: ArgumentHelp("Do not limit (nor advertise) a rate class (repeatable; §14.3).", valueName: "CLASS")
        )
        var unlimitedRateClasses: [String] = []

        @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
        var logLevel = "info"

        @OptionGroup(title: "Limits (Spec/14-limits.md §14.2)")
        var limits: LimitOptions

        @OptionGroup(title: "Timers in milliseconds (Spec/14-limits.md §14.4)")
        var timers: TimerOptions

        func validate() throws {
            if (self.tlsCertificate == nil) != (self.tlsKey == nil) {
                throw ValidationError("--tls-cert and --tls-key go together")
            }
            if self.appSecret != nil && self.appSecretFile != nil {
                throw ValidationError("give --app-secret or --app-secret-file, not both")
            }
            if Logger.Level(rawValue: self.logLevel) == nil {
                throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
            }
        }

        func run() async throws {
            let level = Logger.Level(rawValue: self.logLevel) ?? .info
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
            let logger = Logger(label: "herald")

            let configuration: HeraldServerConfiguration
            let generatedSecret: (secret: [UInt8], path: String, created: Bool)?
            do {
                (configuration, generatedSecret) = try self.makeConfiguration()
                try configuration.validate()
            } catch {
                Console.error("herald: error: \(error)")
                throw ExitCode.usage
            }

            let server: HeraldServer
            do {
                server = try HeraldServer(configuration: configuration, logger: logger)
            } catch {
                Console.error("herald: error: \(error)")
                throw ExitCode.failure
            }
            let appID = self.appID
            let announced = AnnouncingService(server: server) { listeners in
                // Printed once the listeners are bound and the signal handlers are installed, so a script may
                // send SIGTERM as soon as it has read these lines.
                for listener in listeners {
                    Console.output("herald: listening \(listener)\n")
                }
                if let generatedSecret {
                    let secret = String(decoding: generatedSecret.secret, as: UTF8.self)
                    Console.output(
                        "herald: app secret of \(appID) \(generatedSecret.created ? "generated in" : "read from") "
                            + "\(generatedSecret.path)\n"
                            + "herald: mint a token with: herald token mint --app-id \(appID) "
                            + "--app-secret \(secret) --user alice\n"
                    )
                }
            }
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: [announced],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                )
            )
            do {
                try await group.run()
            } catch {
                Console.error("herald: error: \(error)")
                throw ExitCode.failure
            }
        }

        /// Builds the server configuration from the flags; generates or reads DATA/app-secret when needed.
        private func makeConfiguration() throws -> (
            HeraldServerConfiguration, (secret: [UInt8], path: String, created: Bool)?
        ) {
            var secrets: [[UInt8]] = []
            var generated: (secret: [UInt8], path: String, created: Bool)?
            if let appSecret = self.appSecret {
                secrets = [Array(appSecret.utf8)]
            } else if let path = self.appSecretFile {
                secrets = [try AppSecretFile.read(path: path)]
            } else if !self.noAuth {
                let loaded = try AppSecretFile.loadOrCreate(directory: self.dataDirectory)
                secrets = [loaded.secret]
                generated = loaded
            }
            var engine = EngineConfiguration(
                apps: [AppCredentials(appID: self.appID, secrets: secrets, allowsTokenlessLogin: self.noAuth)]
                    + self.appIDOnlyApps.map { AppCredentials(appID: $0, secrets: secrets, allowsTokenlessLogin: true) }
            )
            self.limits.apply(to: &engine.limits)
            self.timers.apply(to: &engine.timers)
            for text in self.rateLimits {
                let (rateClass, limit) = try RateClassName.parseLimit(text)
                engine.rateLimits[rateClass] = limit
            }
            for name in self.unlimitedRateClasses {
                guard let rateClass = RateClassName.rateClass(named: name) else {
                    throw HeraldServerConfigurationError("unknown rate class '\(name)'")
                }
                engine.rateLimits[rateClass] = nil
            }

            var configuration = HeraldServerConfiguration(engine: engine, dataDirectory: self.dataDirectory)
            configuration.tcp = self.noTCP ? nil : try ListenAddress(parsing: self.tcpAddress)
            configuration.webSocket = self.noWebSocket ? nil : try ListenAddress(parsing: self.webSocketAddress)
            configuration.secureWebSocket = try self.secureWebSocketAddress.map { try ListenAddress(parsing: $0) }
            configuration.webSocketPath = self.webSocketPath
            if let certificate = self.tlsCertificate, let key = self.tlsKey {
                configuration.tls = TLSFiles(certificateChainPath: certificate, privateKeyPath: key)
            }
            return (configuration, generated)
        }
    }
}

/// Runs a server in a `ServiceGroup` and reports its listeners once they are bound.
struct AnnouncingService: Service {
    let server: HeraldServer
    let announce: @Sendable ([BoundListener]) -> Void

    func run() async throws {
        self.announce(try await self.server.start())
        try await self.server.run()
    }
}

/// One flag per `EngineLimits` field (Spec/14-limits.md §14.2); unset flags keep the protocol default.
struct LimitOptions: ParsableArguments {
    private static let defaults = EngineLimits()

    @Option(help: "Largest frame payload accepted, 65536…16777215 (default \(defaults.maxPayloadLength); HS-26).")
    var maxPayloadLength: Int?
    @Option(name: .customLong("max-user-id-bytes"), help: "Longest user id (default \(defaults.maxUserIDBytes)).")
    var maxUserIDBytes: Int?
    @Option(
        name: .customLong("max-channel-id-bytes"),
        help: "Longest channel id (default \(defaults.maxChannelIDBytes))."
    )
    var maxChannelIDBytes: Int?
    @Option(help: "Largest message content (default \(defaults.maxMessageBytes)).")
    var maxMessageBytes: Int?
    @Option(help: "Channels one session may join (default \(defaults.maxChannelsJoined)).")
    var maxChannelsJoined: Int?
    @Option(help: "Most user ids in a member listing (default \(defaults.maxMembersListed)).")
    var maxMembersListed: Int?
    @Option(help: "Largest channel with member events (default \(defaults.maxMemberEventChannelSize)).")
    var maxMemberEventChannelSize: Int?
    @Option(help: "Most user ids in one presence query (default \(defaults.maxQueryPeers)).")
    var maxQueryPeers: Int?
    @Option(help: "Most users one session subscribes to (default \(defaults.maxSubscriptions)).")
    var maxSubscriptions: Int?
    @Option(help: "Most channel ids in one member-count request (default \(defaults.maxMemberCountChannels)).")
    var maxMemberCountChannels: Int?
    @Option(help: "Longest attribute key (default \(defaults.maxAttributeKeyBytes)).")
    var maxAttributeKeyBytes: Int?
    @Option(help: "Longest attribute value (default \(defaults.maxAttributeValueBytes)).")
    var maxAttributeValueBytes: Int?
    @Option(help: "Largest total of one user's attributes (default \(defaults.maxUserAttributesBytes)).")
    var maxUserAttributesBytes: Int?
    @Option(help: "Largest total of one channel's attributes (default \(defaults.maxChannelAttributesBytes)).")
    var maxChannelAttributesBytes: Int?
    @Option(help: "Most attributes per user or channel (default \(defaults.maxAttributesCount)).")
    var maxAttributesCount: Int?
    @Option(help: "Longest invitation content or response (default \(defaults.maxInvitationContentBytes)).")
    var maxInvitationContentBytes: Int?
    @Option(help: "Most offline messages cached per user (default \(defaults.maxOfflineMessages)).")
    var maxOfflineMessages: Int?
    @Option(help: "Most user ids in a legacy member list (default \(defaults.maxLegacyMemberList)).")
    var maxLegacyMemberList: Int?
    @Option(
        help: "Frames queued per connection before it is cut off (default \(defaults.maxOutboundQueueFrames); §14.5)."
    )
    var maxOutboundQueueFrames: Int?
    @Option(help: "Invitations one session may have in progress as caller (default \(defaults.maxActiveInvitations)).")
    var maxActiveInvitations: Int?

    func apply(to limits: inout EngineLimits) {
        if let value = self.maxPayloadLength { limits.maxPayloadLength = value }
        if let value = self.maxUserIDBytes { limits.maxUserIDBytes = value }
        if let value = self.maxChannelIDBytes { limits.maxChannelIDBytes = value }
        if let value = self.maxMessageBytes { limits.maxMessageBytes = value }
        if let value = self.maxChannelsJoined { limits.maxChannelsJoined = value }
        if let value = self.maxMembersListed { limits.maxMembersListed = value }
        if let value = self.maxMemberEventChannelSize { limits.maxMemberEventChannelSize = value }
        if let value = self.maxQueryPeers { limits.maxQueryPeers = value }
        if let value = self.maxSubscriptions { limits.maxSubscriptions = value }
        if let value = self.maxMemberCountChannels { limits.maxMemberCountChannels = value }
        if let value = self.maxAttributeKeyBytes { limits.maxAttributeKeyBytes = value }
        if let value = self.maxAttributeValueBytes { limits.maxAttributeValueBytes = value }
        if let value = self.maxUserAttributesBytes { limits.maxUserAttributesBytes = value }
        if let value = self.maxChannelAttributesBytes { limits.maxChannelAttributesBytes = value }
        if let value = self.maxAttributesCount { limits.maxAttributesCount = value }
        if let value = self.maxInvitationContentBytes { limits.maxInvitationContentBytes = value }
        if let value = self.maxOfflineMessages { limits.maxOfflineMessages = value }
        if let value = self.maxLegacyMemberList { limits.maxLegacyMemberList = value }
        if let value = self.maxOutboundQueueFrames { limits.maxOutboundQueueFrames = value }
        if let value = self.maxActiveInvitations { limits.maxActiveInvitations = value }
    }
}

/// One flag per `EngineTimers` field (Spec/14-limits.md §14.4), in milliseconds; unset flags keep the default.
struct TimerOptions: ParsableArguments {
    private static let defaults = EngineTimers()

    @Option(help: "Client silence before it pings (default \(defaults.heartbeatIntervalMs); HS-41).")
    var heartbeatIntervalMs: Int64?
    @Option(
        help: "Silence before a connection is closed, ≥ 2 × heartbeat (default \(defaults.idleTimeoutMs); HS-42)."
    )
    var idleTimeoutMs: Int64?
    @Option(help: "Longest login and longest time without a session (default \(defaults.loginTimeoutMs); SES-12).")
    var loginTimeoutMs: Int64?
    @Option(help: "Wait for a receiver's DeliveryAck (default \(defaults.peerAckTimeoutMs); PEER-28).")
    var peerAckTimeoutMs: Int64?
    @Option(
        help: "Silence before a user is unreachable, < idle timeout (default \(defaults.presenceUnreachableMs); §7)."
    )
    var presenceUnreachableMs: Int64?
    @Option(
        help:
            "Pending time of an invitation to an offline callee (default \(defaults.invitationPeerOfflineMs); INV-23)."
    )
    var invitationPeerOfflineMs: Int64?
    @Option(help: "Wait for a callee's acknowledgement (default \(defaults.invitationNoResponseMs); INV-28).")
    var invitationNoResponseMs: Int64?
    @Option(help: "Wait for accept, refuse or cancel (default \(defaults.invitationExpiryMs); INV-31).")
    var invitationExpiryMs: Int64?
    @Option(
        help:
            "Wait for a caller's acknowledgement of an acceptance (default \(defaults.invitationAcceptAckMs); INV-36)."
    )
    var invitationAcceptAckMs: Int64?
    @Option(help: "Warning lead before token expiry (default \(defaults.tokenWillExpireLeadMs); TOK-18).")
    var tokenWillExpireLeadMs: Int64?
    @Option(help: "How long offline messages are kept (default \(defaults.offlineRetentionMs); PEER-38).")
    var offlineRetentionMs: Int64?
    @Option(
        name: .customLong("channel-attributes-empty-ttl-ms"),
        help: "Empty-channel time before its attributes go (default \(defaults.channelAttributesEmptyTTLMs); §11)."
    )
    var channelAttributesEmptyTTLMs: Int64?
    @Option(help: "Spacing of member-count updates (default \(defaults.memberCountIntervalMs); §9).")
    var memberCountIntervalMs: Int64?
    @Option(help: "The same for large channels (default \(defaults.memberCountIntervalLargeMs); §9).")
    var memberCountIntervalLargeMs: Int64?
    @Option(
        help: "Wait for Hello, and for the TLS or WebSocket handshake (default \(defaults.handshakeTimeoutMs); HS-4)."
    )
    var handshakeTimeoutMs: Int64?

    func apply(to timers: inout EngineTimers) {
        if let value = self.heartbeatIntervalMs { timers.heartbeatIntervalMs = value }
        if let value = self.idleTimeoutMs { timers.idleTimeoutMs = value }
        if let value = self.loginTimeoutMs { timers.loginTimeoutMs = value }
        if let value = self.peerAckTimeoutMs { timers.peerAckTimeoutMs = value }
        if let value = self.presenceUnreachableMs { timers.presenceUnreachableMs = value }
        if let value = self.invitationPeerOfflineMs { timers.invitationPeerOfflineMs = value }
        if let value = self.invitationNoResponseMs { timers.invitationNoResponseMs = value }
        if let value = self.invitationExpiryMs { timers.invitationExpiryMs = value }
        if let value = self.invitationAcceptAckMs { timers.invitationAcceptAckMs = value }
        if let value = self.tokenWillExpireLeadMs { timers.tokenWillExpireLeadMs = value }
        if let value = self.offlineRetentionMs { timers.offlineRetentionMs = value }
        if let value = self.channelAttributesEmptyTTLMs { timers.channelAttributesEmptyTTLMs = value }
        if let value = self.memberCountIntervalMs { timers.memberCountIntervalMs = value }
        if let value = self.memberCountIntervalLargeMs { timers.memberCountIntervalLargeMs = value }
        if let value = self.handshakeTimeoutMs { timers.handshakeTimeoutMs = value }
    }
}

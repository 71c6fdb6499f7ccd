import ArgumentParser
import Foundation
import HeraldEngine
import HeraldServer
import Logging
import NIOPosix
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
                bytes, TOK-1), taken from --app-secret, --app-secret-file or the HERALD_APP_SECRET environment \
                variable, in that order (the variable and the file keep the secret out of the process list). \
                Without any of them and without --no-auth, a random secret is generated once into DATA/app-secret \
                (mode 0600) and reused on later starts. The secret is never printed: serve prints where it comes \
                from and a "herald token mint" command that reads it from the same place. --no-auth enables \
                app-ID-only mode (TOK-13): an empty token or "_no_need_token" logs in without verification; real \
                tokens are still verified against a secret, if one is given. --app-id-only-app ID (repeatable) \
                serves another app, ID, in app-ID-only mode beside --app-id; its real tokens are verified against \
                the same secret as those of --app-id.

                Limits (Spec/14-limits.md §14.2), timers (§14.4) and rate limits (§14.3) default to the protocol \
                defaults and are advertised in Welcome exactly as enforced (HS-22 … HS-24).

                Dependent timers: LIM-11 requires --idle-timeout-ms ≥ 2 × --heartbeat-interval-ms, \
                --presence-unreachable-ms < --idle-timeout-ms and --member-count-interval-ms ≤ \
                --member-count-interval-large-ms. A timer you leave unset whose default would break one of these \
                against a timer you set is derived from it, in the proportions of the protocol defaults: heartbeat \
                1/6 of the idle timeout, presence-unreachable 6/5 of the heartbeat, idle timeout 6 × the heartbeat \
                (or 5 × presence-unreachable), member-count interval 1/3 of the large one (or the large one 3 × the \
                other). A line "herald: derived --FLAG VALUE (…)" says so. Timers you set are never changed: two \
                that conflict are an error that names both flags. For example, --heartbeat-interval-ms 500 \
                --idle-timeout-ms 2000 runs with --presence-unreachable-ms 600.

                Exit status: 0 after SIGINT or SIGTERM; 1 the server failed while running; 2 a flag, a setting or \
                a file it names is wrong (the message names the flag); 3 a listener cannot be opened (address in \
                use, permission denied) or the data directory or its database cannot be created or written.
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

        @Option(help: "The app secret that signs tokens, at least 32 bytes (TOK-1); see also HERALD_APP_SECRET.")
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

        @Option(
            name: .customLong("max-token-lifetime"),
            help: ArgumentHelp(
                "Refuse tokens whose exp − iat exceeds this many seconds, at login and renewal (default "
                    + "\(EngineConfiguration.defaultMaximumTokenLifetimeSeconds), 24 h; TOK-10, TOK-30).",
                valueName: "seconds"
            )
        )
        var maxTokenLifetime = EngineConfiguration.defaultMaximumTokenLifetimeSeconds

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

        @Option(
            help: """
                Event-loop threads (default: the CPUs this process may run on). The engine runs on the first; every \
                thread serves connections.
                """
        )
        var threads: Int?

        @Flag(
            name: .customLong("test-control"),
            help: """
                Enable test control (Spec/18-test-control.md) for conformance runs, NEVER in production: the key is \
                HERALD_TEST_CONTROL_KEY, or a random one printed on stderr.
                """
        )
        var testControl = false

        @Option(
            name: .customLong("test-control-key-file"),
            help: "Enable test control (never in production) with the key in this file (implies --test-control)."
        )
        var testControlKeyFile: String?

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
            if let threads = self.threads, threads < 1 {
                throw ValidationError("--threads must be at least 1")
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

            // Exit status 2: the command line (or a file it names) is wrong.
            var settings: ServeSettings
            do throws(ServeSettings.Problem) {
                settings = try self.makeSettings(environment: ProcessInfo.processInfo.environment)
            } catch {
                Console.error("error: \(error.message)")
                throw ExitCode(error.status)
            }
            // Exit status 3: the machine refuses what the server needs (the data directory, its database, a port).
            do throws(ServeSettings.Problem) {
                try settings.prepareData()
            } catch {
                Console.error("error: \(error.message)")
                throw ExitCode(error.status)
            }
            let configuration = settings.configuration
            do {
                try configuration.validate()
            } catch {
                Console.error("error: \(error)")
                throw ExitCode.usage
            }
            for derived in settings.derivedTimers {
                Console.output("herald: derived \(derived)\n")
            }

            let server: HeraldServer
            do {
                server = try HeraldServer(
                    configuration: configuration,
                    logger: logger,
                    eventLoopGroup: self.threads.map { MultiThreadedEventLoopGroup(numberOfThreads: $0) }
                        ?? MultiThreadedEventLoopGroup.singleton
                )
            } catch {
                let database = self.dataDirectory + "/" + HeraldServerConfiguration.offlineInboxFileName
                Console.error("error: cannot open the offline-message database \(database) (--data): \(error)")
                throw ExitCode.environment
            }
            let listeners: [BoundListener]
            do {
                listeners = try await server.start()
            } catch let error as HeraldListenerError {
                let flag = Self.flag(of: error.transport)
                Console.error(
                    "error: cannot listen for \(error.transport.displayName) on \(error.address) (\(flag)): "
                        + "\(error.reason)"
                        + (error.isAddressInUse
                            ? "; stop the process that uses it, or choose another \(flag) HOST:PORT (port 0 picks "
                                + "a free one)" : "")
                )
                throw ExitCode.environment
            } catch {
                Console.error(
                    "error: cannot load the TLS certificate and key (--tls-cert \(self.tlsCertificate ?? "?"), "
                        + "--tls-key \(self.tlsKey ?? "?")): \(error)"
                )
                throw ExitCode.usage
            }
            let secretLines = settings.secretAnnouncement(appID: self.appID)
            let testControlLine = settings.testControlAnnouncement
            let announced = AnnouncingService(server: server) {
                // Printed once the listeners are bound and the signal handlers are installed, so a script may
                // send SIGTERM as soon as it has read these lines.
                for listener in listeners {
                    Console.output("herald: listening \(listener)\n")
                }
                for line in secretLines {
                    Console.output("herald: \(line)\n")
                }
                if let line = testControlLine {
                    Console.error("herald: \(line)")
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
                Console.error("error: the server stopped: \(error)")
                throw ExitCode.failure
            }
        }

        /// The flag that configures a transport's listener.
        static func flag(of transport: HeraldTransport) -> String {
            switch transport {
            case .tcp, .tls: "--tcp"
            case .ws: "--ws"
            case .wss: "--wss"
            }
        }

        /// Builds the server configuration from the flags and `environment`, checking everything that can be
        /// checked without touching the data directory.
        func makeSettings(environment: [String: String]) throws(ServeSettings.Problem) -> ServeSettings {
            func usage(_ message: String) -> ServeSettings.Problem { ServeSettings.Problem(message: message) }

            var secret: ServeSettings.Secret = .none
            do throws(UsageError) {
                let given = try AppSecretSource.select(
                    secret: self.appSecret,
                    file: self.appSecretFile,
                    environment: environment
                )
                if let given {
                    secret = .given(given.secret, source: given.source)
                } else if !self.noAuth {
                    secret = .generated
                }
            } catch {
                throw usage(error.message)
            }

            if self.appID.isEmpty {
                throw usage("--app-id must not be empty")
            }
            var served: Set<String> = [self.appID]
            for app in self.appIDOnlyApps {
                if app.isEmpty { throw usage("--app-id-only-app must not be empty") }
                if !served.insert(app).inserted {
                    throw usage(
                        "--app-id-only-app \(app): \(app) is already served (by --app-id or an earlier "
                            + "--app-id-only-app); give another app id"
                    )
                }
            }

            var engine = EngineConfiguration(apps: [])
            guard self.maxTokenLifetime > 0 else {
                throw usage("--max-token-lifetime (\(self.maxTokenLifetime)) must be a positive number of seconds")
            }
            engine.maximumTokenLifetimeSeconds = self.maxTokenLifetime
            var given = self.limits.apply(to: &engine.limits)
            given.formUnion(self.timers.apply(to: &engine.timers))
            let derived = EngineSettingFlags.deriveDependentTimers(&engine.timers, given: given)
            do throws(HeraldServerConfigurationError) {
                try EngineSettingFlags.check(engine, given: given, derived: Set(derived.map(\.flag)))
            } catch {
                throw usage(error.description)
            }
            for text in self.rateLimits {
                do throws(HeraldServerConfigurationError) {
                    let (rateClass, limit) = try RateClassName.parseLimit(text)
                    engine.rateLimits[rateClass] = limit
                } catch {
                    throw usage("--rate-limit \(text): \(error)")
                }
            }
            for name in self.unlimitedRateClasses {
                guard let rateClass = RateClassName.rateClass(named: name) else {
                    throw usage(
                        "--no-rate-limit \(name): unknown rate class; known: "
                            + RateClassName.all.map(\.name).joined(separator: ", ")
                    )
                }
                engine.rateLimits[rateClass] = nil
            }

            var testControlAnnouncement: String?
            if self.testControl || self.testControlKeyFile != nil {
                if let file = self.testControlKeyFile {
                    do {
                        engine.testControlKey = try AppSecretFile.read(path: file)
                    } catch {
                        throw usage("--test-control-key-file \(file): \(error)")
                    }
                    testControlAnnouncement = "test control enabled with the key in \(file); never in production"
                } else if let key = environment["HERALD_TEST_CONTROL_KEY"], !key.isEmpty {
                    engine.testControlKey = Array(key.utf8)
                    testControlAnnouncement = "test control enabled with HERALD_TEST_CONTROL_KEY; never in production"
                } else {
                    var generator = SystemRandomNumberGenerator()
                    let key = (0..<16).map { _ in
                        let byte = UInt8.random(in: 0...255, using: &generator)
                        return (byte < 0x10 ? "0" : "") + String(byte, radix: 16)
                    }.joined()
                    engine.testControlKey = Array(key.utf8)
                    testControlAnnouncement = "test control enabled (never in production); key: \(key)"
                }
            }

            var configuration = HeraldServerConfiguration(engine: engine, dataDirectory: self.dataDirectory)
            func address(_ text: String, _ flag: String) throws(ServeSettings.Problem) -> ListenAddress {
                do throws(HeraldServerConfigurationError) {
                    return try ListenAddress(parsing: text)
                } catch {
                    throw usage("\(flag): \(error)")
                }
            }
            configuration.tcp = self.noTCP ? nil : try address(self.tcpAddress, "--tcp")
            configuration.webSocket = self.noWebSocket ? nil : try address(self.webSocketAddress, "--ws")
            if let text = self.secureWebSocketAddress {
                configuration.secureWebSocket = try address(text, "--wss")
            }
            if configuration.tcp == nil && configuration.webSocket == nil && configuration.secureWebSocket == nil {
                throw usage("--no-tcp and --no-ws leave no listener; drop one of them, or add --wss")
            }
            if configuration.secureWebSocket != nil && self.tlsCertificate == nil {
                throw usage("--wss needs --tls-cert and --tls-key")
            }
            let path = self.webSocketPath
            if !path.hasPrefix("/") || path.contains("?") || path.contains("#") {
                throw usage("--ws-path \(path) must start with / and have no query (?) or fragment (#)")
            }
            configuration.webSocketPath = path
            if let certificate = self.tlsCertificate, let key = self.tlsKey {
                for (file, flag, what) in [
                    (certificate, "--tls-cert", "the TLS certificate"), (key, "--tls-key", "the TLS private key"),
                ] {
                    do throws(FileAccessError) {
                        _ = try CommandLineFiles.readFile(path: file, what: what)
                    } catch {
                        throw usage(error.description(flag: flag))
                    }
                }
                configuration.tls = TLSFiles(certificateChainPath: certificate, privateKeyPath: key)
            }
            var settings = ServeSettings(
                configuration: configuration,
                secret: secret,
                noAuth: self.noAuth,
                appID: self.appID,
                appIDOnlyApps: self.appIDOnlyApps,
                derivedTimers: derived
            )
            settings.testControlAnnouncement = testControlAnnouncement
            return settings
        }
    }
}

/// The settings of one `herald serve`, from its flags and environment.
struct ServeSettings {
    /// A setting the server cannot run with, and the exit status it ends the command with.
    struct Problem: Error {
        /// What is wrong, naming the flag to change.
        var message: String
        /// 2 for the command line and the files it names, 3 for the data directory.
        var status: Int32 = ExitCode.usage.rawValue
    }

    /// Where the app secret comes from.
    enum Secret {
        /// No secret: app-ID-only mode without verification of real tokens.
        case none
        /// A secret from a flag, a file or the environment.
        case given([UInt8], source: AppSecretSource)
        /// The secret in DATA/app-secret, generated on the first start.
        case generated
        /// The generated secret, once loaded: its file and whether it was created now.
        case loaded([UInt8], path: String, created: Bool)
    }

    /// The server's configuration; its apps have their secrets once ``prepareData()`` has run.
    var configuration: HeraldServerConfiguration
    var secret: Secret
    var noAuth: Bool
    var appID: String
    var appIDOnlyApps: [String]
    /// Timers derived because their defaults broke LIM-11 against timers that were set.
    var derivedTimers: [DerivedTimer]
    /// The line printed on stderr when test control is enabled (with the key when it was generated).
    var testControlAnnouncement: String? = nil

    /// Creates the data directory, loads or generates the app secret, and sets the configuration's apps.
    ///
    /// - Throws: ``Problem`` with status 3 when the directory or the secret file cannot be created or read, 2 when
    ///   the secret file holds too short a secret.
    mutating func prepareData() throws(Problem) {
        let directory = self.configuration.dataDirectory ?? "."
        do {
            try CommandLineFiles.createDirectory(path: directory, what: "the data directory")
        } catch {
            throw Problem(message: error.description(flag: "--data"), status: ExitCode.environment.rawValue)
        }
        if case .generated = self.secret {
            do {
                let loaded = try AppSecretFile.loadOrCreate(directory: directory)
                self.secret = .loaded(loaded.secret, path: loaded.path, created: loaded.created)
            } catch let error as FileAccessError {
                throw Problem(message: error.description(flag: "--data"), status: ExitCode.environment.rawValue)
            } catch {
                throw Problem(message: "\(error) (--data)", status: ExitCode.environment.rawValue)
            }
        }
        var secrets: [[UInt8]] = []
        switch self.secret {
        case .none, .generated: break
        case .given(let bytes, _): secrets = [bytes]
        case .loaded(let bytes, let path, _):
            guard bytes.count >= TokenMinter.minimumSecretLength else {
                throw Problem(
                    message: "the app secret in \(path) is \(bytes.count) bytes; it must be at least "
                        + "\(TokenMinter.minimumSecretLength) (TOK-1); delete the file to generate a new one"
                )
            }
            secrets = [bytes]
        }
        self.configuration.engine.apps =
            [AppCredentials(appID: self.appID, secrets: secrets, allowsTokenlessLogin: self.noAuth)]
            + self.appIDOnlyApps.map { AppCredentials(appID: $0, secrets: secrets, allowsTokenlessLogin: true) }
    }

    /// The lines `herald serve` prints about the app secret, which never show the secret itself: where it comes
    /// from, and a `herald token mint` command that reads it from the same place.
    func secretAnnouncement(appID: String) -> [String] {
        let mint = "mint a token with: herald token mint --app-id \(appID)"
        switch self.secret {
        case .none, .generated:
            return []
        case .loaded(_, let path, let created):
            return [
                "app secret of \(appID) \(created ? "generated in" : "read from") \(path)",
                "\(mint) --app-secret-file \(path) --user alice",
            ]
        case .given(let bytes, let source):
            let origin = "app secret of \(appID) from \(source) (\(bytes.count) bytes)"
            switch source {
            case .flag: return [origin, "\(mint) --app-secret … --user alice"]
            case .file(let path): return [origin, "\(mint) --app-secret-file \(path) --user alice"]
            case .environment: return [origin, "\(mint) --user alice   (with \(source) set)"]
            }
        }
    }
}

/// Runs a started server in a `ServiceGroup`, and announces it once the group has installed its signal handlers.
struct AnnouncingService: Service {
    let server: HeraldServer
    let announce: @Sendable () -> Void

    func run() async throws {
        self.announce()
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

    /// Each option with the `EngineLimits` field it sets.
    private static var fields:
        [(option: KeyPath<LimitOptions, Int?>, field: WritableKeyPath<EngineLimits, Int>, name: String)]
    {
        [
            (\.maxPayloadLength, \.maxPayloadLength, "maxPayloadLength"),
            (\.maxUserIDBytes, \.maxUserIDBytes, "maxUserIDBytes"),
            (\.maxChannelIDBytes, \.maxChannelIDBytes, "maxChannelIDBytes"),
            (\.maxMessageBytes, \.maxMessageBytes, "maxMessageBytes"),
            (\.maxChannelsJoined, \.maxChannelsJoined, "maxChannelsJoined"),
            (\.maxMembersListed, \.maxMembersListed, "maxMembersListed"),
            (\.maxMemberEventChannelSize, \.maxMemberEventChannelSize, "maxMemberEventChannelSize"),
            (\.maxQueryPeers, \.maxQueryPeers, "maxQueryPeers"),
            (\.maxSubscriptions, \.maxSubscriptions, "maxSubscriptions"),
            (\.maxMemberCountChannels, \.maxMemberCountChannels, "maxMemberCountChannels"),
            (\.maxAttributeKeyBytes, \.maxAttributeKeyBytes, "maxAttributeKeyBytes"),
            (\.maxAttributeValueBytes, \.maxAttributeValueBytes, "maxAttributeValueBytes"),
            (\.maxUserAttributesBytes, \.maxUserAttributesBytes, "maxUserAttributesBytes"),
            (\.maxChannelAttributesBytes, \.maxChannelAttributesBytes, "maxChannelAttributesBytes"),
            (\.maxAttributesCount, \.maxAttributesCount, "maxAttributesCount"),
            (\.maxInvitationContentBytes, \.maxInvitationContentBytes, "maxInvitationContentBytes"),
            (\.maxOfflineMessages, \.maxOfflineMessages, "maxOfflineMessages"),
            (\.maxLegacyMemberList, \.maxLegacyMemberList, "maxLegacyMemberList"),
            (\.maxOutboundQueueFrames, \.maxOutboundQueueFrames, "maxOutboundQueueFrames"),
            (\.maxActiveInvitations, \.maxActiveInvitations, "maxActiveInvitations"),
        ]
    }

    /// Sets the fields whose flags were given.
    ///
    /// - Returns: The names of the flags given (`max-user-id-bytes`).
    func apply(to limits: inout EngineLimits) -> Set<String> {
        var given: Set<String> = []
        for (option, field, name) in Self.fields {
            if let value = self[keyPath: option] {
                limits[keyPath: field] = value
                given.insert(EngineSettingFlags.flagName(forField: name))
            }
        }
        return given
    }
}

/// One flag per `EngineTimers` field (Spec/14-limits.md §14.4), in milliseconds; unset flags keep the default.
struct TimerOptions: ParsableArguments {
    private static let defaults = EngineTimers()

    @Option(
        help: """
            Client silence before it pings (default \(defaults.heartbeatIntervalMs), or 1/6 of a shorter \
            --idle-timeout-ms; HS-41).
            """
    )
    var heartbeatIntervalMs: Int64?
    @Option(
        help: """
            Silence before a connection is closed, ≥ 2 × heartbeat (default \(defaults.idleTimeoutMs), or more when \
            the heartbeat or presence-unreachable set needs it; HS-42).
            """
    )
    var idleTimeoutMs: Int64?
    @Option(help: "Longest login and longest time without a session (default \(defaults.loginTimeoutMs); SES-12).")
    var loginTimeoutMs: Int64?
    @Option(help: "Wait for a receiver's DeliveryAck (default \(defaults.peerAckTimeoutMs); PEER-28).")
    var peerAckTimeoutMs: Int64?
    @Option(
        help: """
            Silence before a user is unreachable, < idle timeout (default \(defaults.presenceUnreachableMs), or 6/5 of \
            the heartbeat when the idle timeout is shorter; §7).
            """
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
    @Option(
        help: "Spacing of member-count updates (default \(defaults.memberCountIntervalMs), ≤ the large one; §9)."
    )
    var memberCountIntervalMs: Int64?
    @Option(help: "The same for large channels (default \(defaults.memberCountIntervalLargeMs); §9).")
    var memberCountIntervalLargeMs: Int64?
    @Option(
        help: "Wait for Hello, and for the TLS or WebSocket handshake (default \(defaults.handshakeTimeoutMs); HS-4)."
    )
    var handshakeTimeoutMs: Int64?

    /// Each option with the `EngineTimers` field it sets.
    private static var fields:
        [(option: KeyPath<TimerOptions, Int64?>, field: WritableKeyPath<EngineTimers, Int64>, name: String)]
    {
        [
            (\.heartbeatIntervalMs, \.heartbeatIntervalMs, "heartbeatIntervalMs"),
            (\.idleTimeoutMs, \.idleTimeoutMs, "idleTimeoutMs"),
            (\.loginTimeoutMs, \.loginTimeoutMs, "loginTimeoutMs"),
            (\.peerAckTimeoutMs, \.peerAckTimeoutMs, "peerAckTimeoutMs"),
            (\.presenceUnreachableMs, \.presenceUnreachableMs, "presenceUnreachableMs"),
            (\.invitationPeerOfflineMs, \.invitationPeerOfflineMs, "invitationPeerOfflineMs"),
            (\.invitationNoResponseMs, \.invitationNoResponseMs, "invitationNoResponseMs"),
            (\.invitationExpiryMs, \.invitationExpiryMs, "invitationExpiryMs"),
            (\.invitationAcceptAckMs, \.invitationAcceptAckMs, "invitationAcceptAckMs"),
            (\.tokenWillExpireLeadMs, \.tokenWillExpireLeadMs, "tokenWillExpireLeadMs"),
            (\.offlineRetentionMs, \.offlineRetentionMs, "offlineRetentionMs"),
            (\.channelAttributesEmptyTTLMs, \.channelAttributesEmptyTTLMs, "channelAttributesEmptyTTLMs"),
            (\.memberCountIntervalMs, \.memberCountIntervalMs, "memberCountIntervalMs"),
            (\.memberCountIntervalLargeMs, \.memberCountIntervalLargeMs, "memberCountIntervalLargeMs"),
            (\.handshakeTimeoutMs, \.handshakeTimeoutMs, "handshakeTimeoutMs"),
        ]
    }

    /// Sets the fields whose flags were given.
    ///
    /// - Returns: The names of the flags given (`idle-timeout-ms`).
    func apply(to timers: inout EngineTimers) -> Set<String> {
        var given: Set<String> = []
        for (option, field, name) in Self.fields {
            if let value = self[keyPath: option] {
                timers[keyPath: field] = value
                given.insert(EngineSettingFlags.flagName(forField: name))
            }
        }
        return given
    }
}

import Foundation
import HeraldEngine
import HeraldServer
import Logging
import NIOCore
import NIOPosix
import Testing

@Suite("herald serve settings: derived timers, messages that name flags, file and listener errors")
struct ServeSettingsTests {
    /// Applies `given` (flag name → value) to default timers, derives, and checks.
    static func timers(
        _ given: [String: Int64]
    ) -> (EngineTimers, [DerivedTimer], Result<Void, HeraldServerConfigurationError>) {
        var configuration = EngineConfiguration(apps: [])
        let fields: [String: WritableKeyPath<EngineTimers, Int64>] = [
            "heartbeat-interval-ms": \.heartbeatIntervalMs, "idle-timeout-ms": \.idleTimeoutMs,
            "presence-unreachable-ms": \.presenceUnreachableMs, "member-count-interval-ms": \.memberCountIntervalMs,
            "member-count-interval-large-ms": \.memberCountIntervalLargeMs, "login-timeout-ms": \.loginTimeoutMs,
        ]
        for (flag, value) in given {
            configuration.timers[keyPath: fields[flag]!] = value
        }
        let derived = EngineSettingFlags.deriveDependentTimers(&configuration.timers, given: Set(given.keys))
        let result = Result { () throws(HeraldServerConfigurationError) in
            try EngineSettingFlags.check(configuration, given: Set(given.keys), derived: Set(derived.map(\.flag)))
        }
        return (configuration.timers, derived, result)
    }

    @Test("The README's --heartbeat-interval-ms 500 --idle-timeout-ms 2000 derives presence-unreachable 600")
    func readmeCommand() throws {
        let (timers, derived, result) = Self.timers(["heartbeat-interval-ms": 500, "idle-timeout-ms": 2000])
        try result.get()
        #expect(timers.presenceUnreachableMs == 600)
        #expect(derived.map(\.flag) == ["presence-unreachable-ms"])
        #expect(
            derived.first?.description
                == "--presence-unreachable-ms 600 (6/5 of --heartbeat-interval-ms 500; the default 6000 is not below "
                + "--idle-timeout-ms 2000, LIM-11)"
        )
    }

    @Test("A short idle timeout alone derives the heartbeat and presence-unreachable from it")
    func idleTimeoutAlone() throws {
        let (timers, derived, result) = Self.timers(["idle-timeout-ms": 1200])
        try result.get()
        #expect(timers.heartbeatIntervalMs == 200)
        #expect(timers.presenceUnreachableMs == 240)
        #expect(derived.map(\.flag) == ["heartbeat-interval-ms", "presence-unreachable-ms"])
    }

    @Test("A long heartbeat or presence-unreachable raises the unset idle timeout")
    func idleTimeoutRaised() throws {
        let (byHeartbeat, derivedByHeartbeat, first) = Self.timers(["heartbeat-interval-ms": 20_000])
        try first.get()
        #expect(byHeartbeat.idleTimeoutMs == 120_000)
        #expect(derivedByHeartbeat.map(\.flag) == ["idle-timeout-ms"])
        let (byPresence, _, second) = Self.timers(["presence-unreachable-ms": 40_000])
        try second.get()
        #expect(byPresence.idleTimeoutMs == 200_000)
    }

    @Test("Member-count intervals: the unset one follows the one set")
    func memberCountIntervals() throws {
        let (small, _, first) = Self.timers(["member-count-interval-large-ms": 600])
        try first.get()
        #expect(small.memberCountIntervalMs == 200)
        let (large, _, second) = Self.timers(["member-count-interval-ms": 5000])
        try second.get()
        #expect(large.memberCountIntervalLargeMs == 15_000)
    }

    @Test("Defaults that satisfy LIM-11 are kept, and nothing is derived without a reason")
    func defaultsKept() throws {
        let (timers, derived, result) = Self.timers(["idle-timeout-ms": 20_000, "login-timeout-ms": 5000])
        try result.get()
        #expect(derived.isEmpty)
        #expect(timers.heartbeatIntervalMs == EngineTimers().heartbeatIntervalMs)
        #expect(timers.presenceUnreachableMs == EngineTimers().presenceUnreachableMs)
    }

    @Test("Two timers that were both set and conflict are an error naming both flags and their values")
    func conflictsNameBothFlags() {
        let cases: [([String: Int64], String)] = [
            (
                ["heartbeat-interval-ms": 500, "idle-timeout-ms": 2000, "presence-unreachable-ms": 2500],
                "--presence-unreachable-ms (2500) must be shorter than --idle-timeout-ms (2000) (LIM-11); lower "
                    + "--presence-unreachable-ms or raise --idle-timeout-ms"
            ),
            (
                ["heartbeat-interval-ms": 5000, "idle-timeout-ms": 1000],
                "--idle-timeout-ms (1000) must be at least twice --heartbeat-interval-ms (5000) (LIM-11); raise "
                    + "--idle-timeout-ms or lower --heartbeat-interval-ms"
            ),
            (
                ["member-count-interval-ms": 900, "member-count-interval-large-ms": 800],
                "--member-count-interval-ms (900) must not exceed --member-count-interval-large-ms (800) (LIM-11); "
                    + "lower --member-count-interval-ms or raise --member-count-interval-large-ms"
            ),
        ]
        for (given, message) in cases {
            let (_, _, result) = Self.timers(given)
            #expect(throws: HeraldServerConfigurationError(message)) { try result.get() }
        }
    }

    @Test("Every limit and timer out of range is reported with its flag")
    func everyFieldNamesItsFlag() {
        for flag in EngineSettingFlags.limitFlags + EngineSettingFlags.timerFlags {
            var configuration = EngineConfiguration(apps: [])
            Self.zero(flag: flag, limits: &configuration.limits, timers: &configuration.timers)
            let error = #expect(throws: HeraldServerConfigurationError.self) {
                try EngineSettingFlags.check(configuration, given: [flag])
            }
            #expect(error?.description.hasPrefix("--\(flag) (0) must be") == true, "\(String(describing: error))")
        }
    }

    /// Sets the field whose flag is `flag` to 0.
    static func zero(flag: String, limits: inout EngineLimits, timers: inout EngineTimers) {
        let limitFields: [WritableKeyPath<EngineLimits, Int>] = [
            \.maxPayloadLength, \.maxUserIDBytes, \.maxChannelIDBytes, \.maxMessageBytes, \.maxChannelsJoined,
            \.maxMembersListed, \.maxMemberEventChannelSize, \.maxQueryPeers, \.maxSubscriptions,
            \.maxMemberCountChannels, \.maxAttributeKeyBytes, \.maxAttributeValueBytes, \.maxUserAttributesBytes,
            \.maxChannelAttributesBytes, \.maxAttributesCount, \.maxInvitationContentBytes, \.maxOfflineMessages,
            \.maxLegacyMemberList, \.maxOutboundQueueFrames, \.maxActiveInvitations,
        ]
        let timerFields: [WritableKeyPath<EngineTimers, Int64>] = [
            \.heartbeatIntervalMs, \.idleTimeoutMs, \.loginTimeoutMs, \.peerAckTimeoutMs, \.presenceUnreachableMs,
            \.invitationPeerOfflineMs, \.invitationNoResponseMs, \.invitationExpiryMs, \.invitationAcceptAckMs,
            \.tokenWillExpireLeadMs, \.offlineRetentionMs, \.channelAttributesEmptyTTLMs, \.memberCountIntervalMs,
            \.memberCountIntervalLargeMs, \.handshakeTimeoutMs,
        ]
        // Both lists are in declaration order, as EngineSettingFlags lists the flags.
        if let index = EngineSettingFlags.limitFlags.firstIndex(of: flag) {
            limits[keyPath: limitFields[index]] = 0
        }
        if let index = EngineSettingFlags.timerFlags.firstIndex(of: flag) {
            timers[keyPath: timerFields[index]] = 0
        }
    }

    @Test("The command-line check refuses every LIM-11 combination the engine refuses")
    func checkAgreesWithTheEngine() {
        let values: [Int64] = [1, 2, 500, 999, 1000, 1001, 2000, 6000, 30_000]
        for heartbeat in values {
            for idle in values {
                for presence in values {
                    var configuration = EngineConfiguration(apps: [
                        AppCredentials(appID: "a", secrets: [], allowsTokenlessLogin: true)
                    ])
                    configuration.timers.heartbeatIntervalMs = heartbeat
                    configuration.timers.idleTimeoutMs = idle
                    configuration.timers.presenceUnreachableMs = presence
                    let engine = Result { () throws(EngineConfigurationError) in try configuration.validate() }
                    let flags = Result { () throws(HeraldServerConfigurationError) in
                        try EngineSettingFlags.check(
                            configuration,
                            given: ["heartbeat-interval-ms", "idle-timeout-ms", "presence-unreachable-ms"]
                        )
                    }
                    let engineRefuses = (try? engine.get()) == nil
                    let flagsRefuse = (try? flags.get()) == nil
                    #expect(engineRefuses == flagsRefuse, "heartbeat \(heartbeat), idle \(idle), presence \(presence)")
                }
            }
        }
    }

    @Test("File errors name the path and say why in plain words")
    func fileErrors() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/plain"
        #expect(FileManager.default.createFile(atPath: file, contents: Data("secret".utf8)))

        #expect(
            throws: FileAccessError(
                action: "create",
                what: "the data directory",
                path: file + "/x/y",
                reason: "\(file) is not a directory"
            )
        ) {
            try CommandLineFiles.createDirectory(path: file + "/x/y", what: "the data directory")
        }
        #expect(
            throws: FileAccessError(
                action: "create",
                what: "the data directory",
                path: file,
                reason: "it is a file, not a directory"
            )
        ) {
            try CommandLineFiles.createDirectory(path: file, what: "the data directory")
        }
        try CommandLineFiles.createDirectory(path: directory + "/new/nested", what: "the data directory")
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: directory + "/new/nested", isDirectory: &isDirectory))
        #expect(isDirectory.boolValue)

        let missing = FileAccessError(
            action: "read",
            what: "the app secret file",
            path: directory + "/missing",
            reason: "no such file or directory"
        )
        #expect(throws: missing) { try AppSecretFile.read(path: directory + "/missing") }
        #expect(
            missing.description(flag: "--app-secret-file")
                == "cannot read the app secret file \(directory)/missing (--app-secret-file): no such file or directory"
        )
        #expect(throws: FileAccessError(action: "read", what: "x", path: directory, reason: "it is a directory")) {
            try CommandLineFiles.readFile(path: directory, what: "x")
        }
        #expect(try CommandLineFiles.readFile(path: file, what: "x") == Array("secret".utf8))

        // The generated secret's file is created with mode 0600 in a new directory.
        let generated = try AppSecretFile.loadOrCreate(directory: directory + "/data")
        #expect(generated.created && generated.secret.count == 64)
        let attributes = try FileManager.default.attributesOfItem(atPath: generated.path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(try AppSecretFile.loadOrCreate(directory: directory + "/data").secret == generated.secret)
    }

    @Test("A taken port is a HeraldListenerError naming the transport, the address and the reason")
    func listenerErrors() async throws {
        let taken = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(taken.localAddress?.port)
        var configuration = HeraldServerConfiguration(
            engine: EngineConfiguration(apps: [AppCredentials(appID: "a", secrets: [], allowsTokenlessLogin: true)])
        )
        configuration.tcp = ListenAddress(host: "127.0.0.1", port: 0)
        configuration.webSocket = ListenAddress(host: "127.0.0.1", port: port)
        let server = try HeraldServer(configuration: configuration, logger: Logger(label: "test"))
        do {
            _ = try await server.start()
            Issue.record("the server started on a taken port")
        } catch let error as HeraldListenerError {
            #expect(error.transport == .ws)
            #expect(error.address == ListenAddress(host: "127.0.0.1", port: port))
            #expect(error.reason == "address already in use")
            #expect(error.isAddressInUse)
            #expect(error.description == "cannot listen for WebSocket on 127.0.0.1:\(port): address already in use")
        }
        await server.shutdown()
        try await taken.close()
    }

    @Test("User ids: the rule of Spec/05-session.md §5.2 and what is wrong with an invalid one")
    func userIDs() {
        #expect(UserIDSyntax.isValid("good user!"))
        #expect(UserIDSyntax.isValid("a.b-c_d@e[f]{g}|h~i,j"))
        #expect(UserIDSyntax.problem(with: "alice") == nil)
        #expect(UserIDSyntax.problem(with: "") == "it is empty")
        #expect(UserIDSyntax.problem(with: "null") == "it is the reserved string \"null\"")
        #expect(UserIDSyntax.isValid("Null"))
        #expect(UserIDSyntax.problem(with: "a/b") == "the character '/' is not allowed")
        #expect(UserIDSyntax.problem(with: "a\"b") == "the character '\"' is not allowed")
        #expect(UserIDSyntax.problem(with: "\u{1F600}") == "the character '\u{1F600}' (U+1F600) is not allowed")
        #expect(UserIDSyntax.problem(with: "a\nb") == "the character U+A is not allowed")
        #expect(UserIDSyntax.problem(with: String(repeating: "a", count: 65)) == "it is 65 bytes, longer than 64")
        #expect(UserIDSyntax.problem(with: String(repeating: "a", count: 65), maxBytes: 65) == nil)
        #expect(UserIDSyntax.rule.contains("(Spec/05-session.md §5.2)"))
    }
}

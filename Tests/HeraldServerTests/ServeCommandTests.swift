import Foundation
import HeraldEngine
import HeraldMessages
import HeraldProcess
import HeraldServer
import HeraldWire
import Synchronization
import Testing

/// A `herald` process started by a test, with its standard output as a queue of lines.
final class HeraldProcess: Sendable {
    let process: ChildProcess
    let lines = AsyncQueue<String>()
    private let exits = AsyncQueue<Int32>()
    private let partial = Mutex<[UInt8]>([])
    /// The file that receives the process's standard error.
    private let errorPath: String

    /// The `herald` executable, built next to the test binary.
    static func executablePath() throws -> String {
        var candidates: [URL] = []
        let selfExecutable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        candidates.append(selfExecutable.deletingLastPathComponent())
        let argument = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        candidates.append(argument.deletingLastPathComponent())
        // macOS: .build/debug/herald.xctest/Contents/MacOS/heraldPackageTests
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            candidates.append(bundle.bundleURL.deletingLastPathComponent())
        }
        for directory in candidates {
            let path = directory.appendingPathComponent("herald").path
            if FileManager.default.isExecutableFile(atPath: path) {
                return path
            }
        }
        throw TestFailure("no herald executable next to the test binary (looked in \(candidates.map(\.path)))")
    }

    /// Starts `herald` with `arguments`, and `environment` added to the test's environment (a `nil` value removes
    /// a variable).
    init(_ arguments: [String], environment: [String: String?] = [:]) throws {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: try Self.executablePath())
        process.arguments = arguments
        process.environment = Self.environment(adding: environment)
        let output = Pipe()
        process.standardOutput = output
        self.errorPath =
            FileManager.default.temporaryDirectory.appendingPathComponent(
                "herald-tests-stderr-\(UUID().uuidString)"
            ).path
        _ = FileManager.default.createFile(atPath: self.errorPath, contents: nil)
        let errors = try FileHandle(forWritingTo: URL(fileURLWithPath: self.errorPath))
        process.standardError = errors
        self.process = process
        let exits = self.exits
        process.terminationHandler = { exits.push($0.terminationStatus) }
        try process.run()
        try errors.close()
        // A thread of its own reads the pipe with blocking reads until end of file.
        let reader = output.fileHandleForReading
        Thread {
            while true {
                let data = reader.availableData
                if data.isEmpty { break }
                let complete: [String] = self.partial.withLock { buffer in
                    buffer.append(contentsOf: data)
                    var found: [String] = []
                    while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                        found.append(String(decoding: buffer[..<newline], as: UTF8.self))
                        buffer.removeSubrange(...newline)
                    }
                    return found
                }
                for line in complete { self.lines.push(line) }
            }
            self.lines.finish()
        }.start()
    }

    /// The next line of output that starts with `prefix`.
    func line(startingWith prefix: String, timeout: Duration = .seconds(30)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero, let line = await self.lines.next(timeout: remaining) else {
                throw TestFailure("herald printed no line starting with '\(prefix)'")
            }
            if line.hasPrefix(prefix) { return line }
        }
    }

    /// Reads the `herald: listening tcp HOST:PORT` line.
    func tcpAddress() async throws -> ListenAddress {
        let line = try await self.line(startingWith: "herald: listening tcp ")
        return try ListenAddress(parsing: String(line.dropFirst("herald: listening tcp ".count)))
    }

    /// Everything the process has written to standard error so far.
    var standardError: String {
        String(decoding: FileManager.default.contents(atPath: self.errorPath) ?? Data(), as: UTF8.self)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: self.errorPath)
    }

    /// The test's environment with `changes` applied (a `nil` value removes the variable). `HERALD_APP_SECRET` is
    /// always removed unless set here, so a developer's own setting does not change the tests.
    static func environment(adding changes: [String: String?]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["HERALD_APP_SECRET"] = nil
        for (name, value) in changes {
            environment[name] = value
        }
        return environment
    }

    /// Sends `signal` to the process.
    func send(_ signal: Int32) {
        kill(self.process.processIdentifier, signal)
    }

    /// Waits for the process to exit and returns its status.
    func exitStatus(timeout: Duration = .seconds(30)) async throws -> Int32 {
        guard let status = await self.exits.next(timeout: timeout) else {
            self.send(SIGKILL)
            throw TestFailure("herald did not exit within \(timeout)")
        }
        return status
    }

    /// Runs `herald` to completion and returns its status, standard output and standard error.
    ///
    /// The output goes to files, not pipes: a pipe's end of file can be delayed by a `herald serve` of another
    /// test that inherited the pipe's write end.
    static func run(
        _ arguments: [String],
        environment: [String: String?] = [:]
    ) async throws -> (status: Int32, output: [String], errors: String) {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/stdout"
        let errorPath = directory + "/stderr"
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        let errors = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: try Self.executablePath())
        process.arguments = arguments
        process.environment = Self.environment(adding: environment)
        process.standardOutput = output
        process.standardError = errors
        let exits = AsyncQueue<Int32>()
        process.terminationHandler = { exits.push($0.terminationStatus) }
        try process.run()
        guard let status = await exits.next(timeout: .seconds(30)) else {
            kill(process.processIdentifier, SIGKILL)
            throw TestFailure("herald \(arguments.joined(separator: " ")) did not exit")
        }
        try output.close()
        try errors.close()
        let text = String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
        let errorText = String(decoding: FileManager.default.contents(atPath: errorPath) ?? Data(), as: UTF8.self)
        return (status, text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init), errorText)
    }
}

func temporaryDirectory() -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("herald-tests-\(UUID().uuidString)").path
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite("herald serve and herald token")
struct ServeCommandTests {
    @Test("Offline messages survive a crash of herald serve (PEER-36)")
    func offlineMessagesSurviveCrash() async throws {
        let data = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let arguments = [
            "serve", "--tcp", "127.0.0.1:0", "--no-ws", "--no-auth", "--app-id", testAppID, "--data", data,
        ]
        let first = try HeraldProcess(arguments)
        let address = try await first.tcpAddress()

        let sender = try await TestClient.connectStream(host: address.host, port: address.port)
        try await sender.hello()
        try await sender.login("sender")
        let count = 25
        var messageIDs: [UInt64] = []
        for index in 0..<count {
            var request = Herald_V1_SendPeerMessageRequest()
            request.peerID = "receiver"
            request.message = textBody("offline \(index)")
            request.enableOfflineMessaging = true
            let response = try await sender.request(request, expecting: Herald_V1_SendPeerMessageResponse.self)
            #expect(response.result == .cachedByServer)
            messageIDs.append(response.messageID)
        }
        first.send(SIGKILL)
        _ = try await first.exitStatus()
        await sender.close()

        let second = try HeraldProcess(arguments)
        let restarted = try await second.tcpAddress()
        let receiver = try await TestClient.connectStream(host: restarted.host, port: restarted.port)
        try await receiver.hello()
        try await receiver.login("receiver")
        for index in 0..<count {
            let (frame, message) = try await receiver.expect(Herald_V1_PeerMessage.self)
            #expect(message.isOffline)
            #expect(message.fromUserID == "sender")
            #expect(message.message.text == "offline \(index)")
            #expect(message.messageID == messageIDs[index])
            try await receiver.acknowledge(frame)
        }
        try await receiver.ping()
        #expect(!receiver.stashed.contains { $0.opcode == .peerMessage })

        // SIGTERM: graceful shutdown, the client sees Disconnect SERVER_SHUTDOWN, the process exits with 0.
        second.send(SIGTERM)
        let (_, disconnect) = try await receiver.expect(Herald_V1_Disconnect.self)
        #expect(disconnect.reason == .serverShutdown)
        try await receiver.expectClose()
        #expect(try await second.exitStatus() == 0)
    }

    @Test("Without a secret, herald serve generates one, keeps it, and herald token mint works with it")
    func generatedSecret() async throws {
        let data = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let arguments = ["serve", "--tcp", "127.0.0.1:0", "--no-ws", "--data", data]
        let first = try HeraldProcess(arguments)
        _ = try await first.tcpAddress()
        let firstHint = try await first.line(startingWith: "herald: mint a token with: herald token mint")
        let secretPath = data + "/" + AppSecretFile.fileName
        let attributes = try FileManager.default.attributesOfItem(atPath: secretPath)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        first.send(SIGTERM)
        #expect(try await first.exitStatus() == 0)

        // The secret is never printed; the hint reads it from its file.
        let secret = String(decoding: try #require(FileManager.default.contents(atPath: secretPath)), as: UTF8.self)
            .trimmingCharacters(in: .newlines)
        #expect(secret.utf8.count == 64)
        #expect(!firstHint.contains(secret))
        #expect(firstHint.hasSuffix("--app-secret-file \(secretPath) --user alice"), "\(firstHint)")

        let second = try HeraldProcess(arguments)
        let address = try await second.tcpAddress()
        let secondHint = try await second.line(startingWith: "herald: mint a token with: herald token mint")
        #expect(firstHint == secondHint)

        let minted = try await HeraldProcess.run([
            "token", "mint", "--app-id", "herald-dev", "--app-secret-file", secretPath, "--user", "alice", "--ttl",
            "60",
        ])
        #expect(minted.status == 0)
        let token = try #require(minted.output.first)

        let client = try await TestClient.connectStream(host: address.host, port: address.port)
        try await client.hello()
        #expect(try await client.login("alice", appID: "herald-dev", token: token).result == .ok)
        let tokenless = try await TestClient.connectStream(host: address.host, port: address.port)
        try await tokenless.hello()
        #expect(try await tokenless.login("bob", appID: "herald-dev").result == .invalidToken)  // TOK-16
        await client.close()
        await tokenless.close()
        second.send(SIGTERM)
        #expect(try await second.exitStatus() == 0)
    }

    @Test("--app-id-only-app serves another app in app-ID-only mode; herald conform --app-id-only tests it")
    func appIDOnlyApp() async throws {
        let data = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let secret = "herald-serve-tests-app-id-only-secret"
        let common = ["serve", "--tcp", "127.0.0.1:0", "--no-ws", "--data", data, "--app-secret", secret]
        #expect(try await HeraldProcess.run(common + ["--app-id-only-app", "herald-dev"]).status == 2)
        let server = try HeraldProcess(common + ["--app-id-only-app", "open-a", "--app-id-only-app", "open-b"])
        let address = try await server.tcpAddress()

        for (app, user) in [("open-a", "alice"), ("open-b", "bob")] {
            let client = try await TestClient.connectStream(host: address.host, port: address.port)
            try await client.hello()
            let response = try await client.login(user, appID: app)
            #expect(response.result == .ok && response.tokenExpiresMs == 0)  // TOK-14
            await client.close()
        }
        let now = Int64(Date().timeIntervalSince1970)
        let token = try await TokenMinter.mint(
            appID: "open-a",
            userID: "carol",
            secret: Array(secret.utf8),
            issuedAt: now,
            lifetimeSeconds: 600
        )
        let verified = try await TestClient.connectStream(host: address.host, port: address.port)
        try await verified.hello()
        #expect(try await verified.login("carol", appID: "open-a", token: token).tokenExpiresMs == (now + 600) * 1000)
        let garbage = try await TestClient.connectStream(host: address.host, port: address.port)
        try await garbage.hello()
        #expect(try await garbage.login("dave", appID: "open-a", token: "garbage").result == .invalidToken)  // TOK-15
        let strict = try await TestClient.connectStream(host: address.host, port: address.port)
        try await strict.hello()
        #expect(try await strict.login("erin", appID: "herald-dev").result == .invalidToken)  // TOK-16
        for client in [verified, garbage, strict] { await client.close() }

        // The conformance cases of app-ID-only mode, against this server: not applicable without --app-id-only.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let conform = [
            "conform", "tcp://\(address.host):\(address.port)", "--app-secret", secret, "--filter",
            "tokens.app-id-only.*", "--scenarios", root.appendingPathComponent("Vectors/scenarios").path, "--spec",
            root.appendingPathComponent("Spec").path,
        ]
        let skipped = try await HeraldProcess.run(conform)
        #expect(skipped.status == 0)
        #expect(
            skipped.output.contains {
                $0.hasPrefix("1 passed, 0 failed, 0 expected-fail, 0 unexpected-pass, 5 not-applicable")
            }
        )
        let run = try await HeraldProcess.run(conform + ["--app-id-only", "open-b"])
        #expect(run.status == 0, "\(run.output.joined(separator: "\n"))")
        #expect(
            run.output.contains {
                $0.hasPrefix("6 passed, 0 failed, 0 expected-fail, 0 unexpected-pass, 0 not-applicable")
            }
        )
        server.send(SIGTERM)
        #expect(try await server.exitStatus() == 0)
    }

    @Test("herald serve --help names one flag per limit and timer")
    func helpListsEverySetting() async throws {
        let (status, output, _) = try await HeraldProcess.run(["serve", "--help"])
        #expect(status == 0)
        let help = output.joined(separator: "\n")
        for flag in EngineSettingFlags.limitFlags + EngineSettingFlags.timerFlags {
            #expect(help.contains("--\(flag) "), "no --\(flag) in herald serve --help")
        }
        for flag in [
            "--tcp", "--ws", "--ws-path", "--no-tcp", "--no-ws", "--tls-cert", "--tls-key", "--app-id",
            "--app-secret", "--app-secret-file", "--no-auth", "--app-id-only-app", "--data", "--rate-limit",
            "--no-rate-limit", "--log-level",
        ] {
            #expect(help.contains(flag), "no \(flag) in herald serve --help")
        }
    }

    @Test("An invalid configuration exits with status 2 and names the flag to change")
    func invalidConfiguration() async throws {
        let data = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let common = ["serve", "--tcp", "127.0.0.1:0", "--no-ws", "--data", data]
        let cases: [(arguments: [String], flags: [String])] = [
            (["--no-auth", "--max-payload-length", "100"], ["--max-payload-length (100)"]),
            (["--app-secret", "too-short"], ["--app-secret"]),
            (
                ["--no-auth", "--idle-timeout-ms", "1000", "--heartbeat-interval-ms", "5000"],
                ["--idle-timeout-ms (1000)", "--heartbeat-interval-ms (5000)"]
            ),
            (
                [
                    "--no-auth", "--heartbeat-interval-ms", "500", "--idle-timeout-ms", "2000",
                    "--presence-unreachable-ms",
                    "3000",
                ],
                ["--presence-unreachable-ms (3000)", "--idle-timeout-ms (2000)", "LIM-11"]
            ),
            (
                ["--no-auth", "--member-count-interval-ms", "900", "--member-count-interval-large-ms", "800"],
                ["--member-count-interval-ms (900)", "--member-count-interval-large-ms (800)"]
            ),
            (["--no-auth", "--login-timeout-ms", "0"], ["--login-timeout-ms"]),
            (["--no-auth", "--max-channels-joined", "0"], ["--max-channels-joined"]),
            (
                ["--no-auth", "--max-payload-length", "200000", "--max-message-bytes", "100000"],
                [
                    "a ChannelMessage could have a 100179-byte payload", "HS-78",
                    "--max-message-bytes (100000): at most 65357 fits",
                    "--max-user-id-bytes (default 64): no value fits",
                ]
            ),
            (
                ["--no-auth", "--max-members-listed", "2000"],
                ["QueryChannelUsersResponse", "--max-members-listed (2000): at most 991 fits"]
            ),
            (["--no-auth", "--max-token-lifetime", "0"], ["--max-token-lifetime (0)"]),
            (["--no-auth", "--rate-limit", "messages=0/10"], ["--rate-limit"]),
            (["--no-auth", "--no-rate-limit", "nothing"], ["--no-rate-limit"]),
            (["--no-auth", "--tcp", "127.0.0.1"], ["--tcp"]),
            (["--no-auth", "--no-tcp"], ["--no-tcp", "--no-ws"]),
            (["--no-auth", "--wss", "127.0.0.1:0"], ["--wss", "--tls-cert"]),
            (["--no-auth", "--ws-path", "herald"], ["--ws-path"]),
            (["--app-id", ""], ["--app-id"]),
            (["--no-auth", "--app-id-only-app", "herald-dev"], ["--app-id-only-app"]),
            (["--app-secret-file", data + "/missing"], ["--app-secret-file", "no such file or directory"]),
            (["--no-auth", "--tls-cert", data + "/missing.pem", "--tls-key", data + "/missing.key"], ["--tls-cert"]),
            (["--log-level", "loud"], ["--log-level"]),
            (["--no-such-flag"], ["--no-such-flag"]),
        ]
        for (arguments, flags) in cases {
            let run = try await HeraldProcess.run(common + arguments)
            #expect(run.status == 2, "\(arguments): \(run.errors)")
            for flag in flags {
                #expect(run.errors.contains(flag), "\(arguments): \(run.errors)")
            }
        }
        // The LIM-11 message in full.
        let lim11 = try await HeraldProcess.run(
            common + ["--no-auth", "--idle-timeout-ms", "2000", "--presence-unreachable-ms", "2000"]
        )
        #expect(
            lim11.errors.hasPrefix(
                "error: --presence-unreachable-ms (2000) must be shorter than --idle-timeout-ms (2000) (LIM-11); "
                    + "lower --presence-unreachable-ms or raise --idle-timeout-ms"
            ),
            "\(lim11.errors)"
        )
    }

    @Test("The README's short-timer command runs: an unset dependent timer is derived (LIM-11), and advertised")
    func derivedTimers() async throws {
        let data = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let server = try HeraldProcess([
            "serve", "--no-auth", "--tcp", "127.0.0.1:0", "--no-ws", "--heartbeat-interval-ms", "500",
            "--idle-timeout-ms", "2000", "--data", data,
        ])
        let derived = try await server.line(startingWith: "herald: derived ")
        #expect(derived.hasPrefix("herald: derived --presence-unreachable-ms 600 "), "\(derived)")
        let address = try await server.tcpAddress()
        let client = try await TestClient.connectStream(host: address.host, port: address.port)
        let welcome = try await client.hello()
        #expect(welcome.timers.heartbeatIntervalMs == 500)
        #expect(welcome.timers.idleTimeoutMs == 2000)
        #expect(welcome.timers.presenceUnreachableMs == 600)
        await client.close()
        server.send(SIGTERM)
        #expect(try await server.exitStatus() == 0)
    }

    @Test("Every limit and timer flag reaches Welcome as given")
    func everySettingFlagIsApplied() async throws {
        let limits: [String: WritableKeyPath<Herald_V1_ServerLimits, UInt32>] = [
            "max-payload-length": \.maxPayloadLength, "max-user-id-bytes": \.maxUserIDBytes,
            "max-channel-id-bytes": \.maxChannelIDBytes, "max-message-bytes": \.maxMessageBytes,
            "max-channels-joined": \.maxChannelsJoined, "max-members-listed": \.maxMembersListed,
            "max-member-event-channel-size": \.maxMemberEventChannelSize, "max-query-peers": \.maxQueryPeers,
            "max-subscriptions": \.maxSubscriptions, "max-member-count-channels": \.maxMemberCountChannels,
            "max-attribute-key-bytes": \.maxAttributeKeyBytes, "max-attribute-value-bytes": \.maxAttributeValueBytes,
            "max-user-attributes-bytes": \.maxUserAttributesBytes,
            "max-channel-attributes-bytes": \.maxChannelAttributesBytes,
            "max-attributes-count": \.maxAttributesCount,
            "max-invitation-content-bytes": \.maxInvitationContentBytes,
            "max-offline-messages": \.maxOfflineMessages, "max-legacy-member-list": \.maxLegacyMemberList,
            "max-outbound-queue-frames": \.maxOutboundQueueFrames, "max-active-invitations": \.maxActiveInvitations,
        ]
        // Values that satisfy LIM-11, so nothing is derived.
        let timers: [String: (WritableKeyPath<Herald_V1_ServerTimers, UInt32>, UInt32)] = [
            "heartbeat-interval-ms": (\.heartbeatIntervalMs, 1001), "idle-timeout-ms": (\.idleTimeoutMs, 20_002),
            "login-timeout-ms": (\.loginTimeoutMs, 10_003), "peer-ack-timeout-ms": (\.peerAckTimeoutMs, 10_004),
            "presence-unreachable-ms": (\.presenceUnreachableMs, 3005),
            "invitation-peer-offline-ms": (\.invitationPeerOfflineMs, 10_006),
            "invitation-no-response-ms": (\.invitationNoResponseMs, 10_007),
            "invitation-expiry-ms": (\.invitationExpiryMs, 10_008),
            "invitation-accept-ack-ms": (\.invitationAcceptAckMs, 10_009),
            "token-will-expire-lead-ms": (\.tokenWillExpireLeadMs, 10_010),
            "channel-attributes-empty-ttl-ms": (\.channelAttributesEmptyTtlMs, 10_011),
            "member-count-interval-ms": (\.memberCountIntervalMs, 412),
            "member-count-interval-large-ms": (\.memberCountIntervalLargeMs, 1513),
            "handshake-timeout-ms": (\.handshakeTimeoutMs, 10_014),
        ]
        #expect(Set(limits.keys) == Set(EngineSettingFlags.limitFlags))
        #expect(Set(timers.keys).union(["offline-retention-ms"]) == Set(EngineSettingFlags.timerFlags))

        let data = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: data) }
        var arguments = ["serve", "--no-auth", "--tcp", "127.0.0.1:0", "--no-ws", "--data", data]
        var expectedLimits = Herald_V1_ServerLimits()
        for (index, (flag, field)) in limits.sorted(by: { $0.key < $1.key }).enumerated() {
            // Distinct values that keep every frame within the default receive limit (HS-78).
            let value = UInt32(flag == "max-payload-length" ? 70_000 : 10 + index)
            arguments += ["--\(flag)", String(value)]
            expectedLimits[keyPath: field] = value
        }
        var expectedTimers = Herald_V1_ServerTimers()
        for (flag, (field, value)) in timers {
            arguments += ["--\(flag)", String(value)]
            expectedTimers[keyPath: field] = value
        }
        arguments += ["--offline-retention-ms", "86400015"]
        expectedTimers.offlineRetentionMs = 86_400_015

        let server = try HeraldProcess(arguments)
        let address = try await server.tcpAddress()
        let client = try await TestClient.connectStream(host: address.host, port: address.port)
        let welcome = try await client.hello()
        #expect(welcome.limits == expectedLimits)
        #expect(welcome.timers == expectedTimers)
        await client.close()
        server.send(SIGTERM)
        #expect(try await server.exitStatus() == 0)
    }

    @Test("A listener that cannot be opened names the listener, the address and the flag, and exits with status 3")
    func bindFailure() async throws {
        let data = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let first = try HeraldProcess(["serve", "--no-auth", "--tcp", "127.0.0.1:0", "--no-ws", "--data", data])
        let taken = try await first.tcpAddress()

        let webSocket = try await HeraldProcess.run([
            "serve", "--no-auth", "--no-tcp", "--ws", taken.description, "--data", data,
        ])
        #expect(webSocket.status == 3)
        #expect(
            webSocket.errors.hasPrefix(
                "error: cannot listen for WebSocket on \(taken) (--ws): address already in use"
            ),
            "\(webSocket.errors)"
        )
        let tcp = try await HeraldProcess.run([
            "serve", "--no-auth", "--tcp", taken.description, "--no-ws", "--data", data,
        ])
        #expect(tcp.status == 3)
        #expect(
            tcp.errors.hasPrefix("error: cannot listen for TCP on \(taken) (--tcp): address already in use"),
            "\(tcp.errors)"
        )
        #expect(!tcp.errors.contains("errno"))
        first.send(SIGTERM)
        #expect(try await first.exitStatus() == 0)
    }

    @Test("A data directory that cannot be created is named with the reason, and exits with status 3")
    func unusableDataDirectory() async throws {
        let scratch = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let file = scratch + "/a-file"
        #expect(FileManager.default.createFile(atPath: file, contents: Data("x".utf8)))
        let run = try await HeraldProcess.run([
            "serve", "--no-auth", "--tcp", "127.0.0.1:0", "--no-ws", "--data", file + "/data",
        ])
        #expect(run.status == 3)
        #expect(
            run.errors.hasPrefix(
                "error: cannot create the data directory \(file)/data (--data): \(file) is not a directory"
            ),
            "\(run.errors)"
        )
        #expect(!run.errors.contains("NSCocoaErrorDomain"))
    }

    @Test("The app secret comes from HERALD_APP_SECRET, is used, and is never printed")
    func secretFromEnvironment() async throws {
        let data = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let secret = "herald-serve-tests-environment-secret-0123456789"
        let server = try HeraldProcess(
            ["serve", "--tcp", "127.0.0.1:0", "--no-ws", "--data", data],
            environment: ["HERALD_APP_SECRET": secret]
        )
        let address = try await server.tcpAddress()
        let origin = try await server.line(startingWith: "herald: app secret of herald-dev")
        #expect(origin == "herald: app secret of herald-dev from HERALD_APP_SECRET (\(secret.utf8.count) bytes)")
        let hint = try await server.line(startingWith: "herald: mint a token with:")
        #expect(!hint.contains(secret) && !origin.contains(secret))
        // No secret was generated: the variable's secret is the one in use.
        #expect(!FileManager.default.fileExists(atPath: data + "/" + AppSecretFile.fileName))

        let minted = try await HeraldProcess.run(
            ["token", "mint", "--user", "alice", "--ttl", "60"],
            environment: ["HERALD_APP_SECRET": secret]
        )
        #expect(minted.status == 0, "\(minted.errors)")
        let token = try #require(minted.output.first)
        let other = try await TokenMinter.mint(
            appID: "herald-dev",
            userID: "bob",
            secret: Array("another-secret-of-at-least-thirty-two-bytes".utf8),
            issuedAt: Int64(Date().timeIntervalSince1970),
            lifetimeSeconds: 60
        )
        let client = try await TestClient.connectStream(host: address.host, port: address.port)
        try await client.hello()
        #expect(try await client.login("alice", appID: "herald-dev", token: token).result == .ok)
        let wrong = try await TestClient.connectStream(host: address.host, port: address.port)
        try await wrong.hello()
        #expect(try await wrong.login("bob", appID: "herald-dev", token: other).result == .invalidToken)
        await client.close()
        await wrong.close()
        server.send(SIGTERM)
        #expect(try await server.exitStatus() == 0)
        #expect(!server.standardError.contains(secret))

        // A flag wins over the variable; an empty variable is an error that names it.
        let empty = try await HeraldProcess.run(
            ["serve", "--tcp", "127.0.0.1:0", "--no-ws", "--data", data],
            environment: ["HERALD_APP_SECRET": ""]
        )
        #expect(empty.status == 2)
        #expect(empty.errors.hasPrefix("error: HERALD_APP_SECRET is set but empty"), "\(empty.errors)")
        let short = try await HeraldProcess.run(
            ["serve", "--tcp", "127.0.0.1:0", "--no-ws", "--data", data],
            environment: ["HERALD_APP_SECRET": "short"]
        )
        #expect(short.status == 2)
        #expect(short.errors.contains("HERALD_APP_SECRET is 5 bytes; it must be at least 32 (TOK-1)"))
    }

    @Test("A secret given with --app-secret is not printed either")
    func secretFromFlagIsMasked() async throws {
        let data = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let secret = "herald-serve-tests-flag-secret-0123456789abcdef"
        let server = try HeraldProcess([
            "serve", "--tcp", "127.0.0.1:0", "--no-ws", "--data", data, "--app-secret", secret,
        ])
        _ = try await server.tcpAddress()
        let origin = try await server.line(startingWith: "herald: app secret of herald-dev")
        let hint = try await server.line(startingWith: "herald: mint a token with:")
        #expect(origin == "herald: app secret of herald-dev from --app-secret (\(secret.utf8.count) bytes)")
        #expect(hint == "herald: mint a token with: herald token mint --app-id herald-dev --app-secret … --user alice")
        server.send(SIGTERM)
        #expect(try await server.exitStatus() == 0)
    }

    @Test("herald token mint refuses user ids the server would refuse (Spec/05-session.md §5.2) with status 2")
    func tokenMintValidatesUserIDs() async throws {
        let secret = ["--app-secret", "herald-serve-tests-token-secret-0123456789"]
        let invalid: [(user: String, problem: String)] = [
            ("bad/user", "the character '/' is not allowed"),
            ("null", "it is the reserved string \"null\""),
            ("", "it is empty"),
            (String(repeating: "a", count: 65), "it is 65 bytes, longer than 64"),
            ("caf\u{E9}", "the character 'é' (U+E9) is not allowed"),
            ("tab\there", "the character U+9 is not allowed"),
        ]
        for (user, problem) in invalid {
            let run = try await HeraldProcess.run(["token", "mint", "--user", user] + secret)
            #expect(run.status == 2, "\(user): \(run.errors)")
            #expect(run.output.joined().isEmpty, "\(user): a token was printed")
            #expect(run.errors.hasPrefix("error: --user '"), "\(user): \(run.errors)")
            #expect(run.errors.contains("is not a valid user id: \(problem);"), "\(user): \(run.errors)")
            #expect(run.errors.contains("(Spec/05-session.md §5.2)"), "\(user): \(run.errors)")
            #expect(run.errors.contains("! # $ % & ( ) + - : ; < = . > ? @ [ ] ^ _ { } | ~ ,"), "\(run.errors)")
        }
        // Space and ! are in the user id character set: this id is valid, and so is a long one the server allows.
        let valid = try await HeraldProcess.run(["token", "mint", "--user", "good user!"] + secret)
        #expect(valid.status == 0, "\(valid.errors)")
        #expect(valid.output.first?.split(separator: ".").count == 3)
        let long = try await HeraldProcess.run(
            ["token", "mint", "--user", String(repeating: "a", count: 65), "--max-user-id-bytes", "128"] + secret
        )
        #expect(long.status == 0, "\(long.errors)")

        let emptyApp = try await HeraldProcess.run(["token", "mint", "--user", "alice", "--app-id", ""] + secret)
        #expect(emptyApp.status == 2)
        #expect(emptyApp.errors.contains("--app-id must not be empty"), "\(emptyApp.errors)")
        let noSecret = try await HeraldProcess.run(["token", "mint", "--user", "alice"])
        #expect(noSecret.status == 2)
        #expect(noSecret.errors.contains("HERALD_APP_SECRET"), "\(noSecret.errors)")
        let missingFile = try await HeraldProcess.run([
            "token", "mint", "--user", "alice", "--app-secret-file", "/nonexistent/herald-secret",
        ])
        #expect(missingFile.status == 2)
        #expect(
            missingFile.errors.hasPrefix(
                "error: cannot read the app secret file /nonexistent/herald-secret (--app-secret-file): no such file"
            ),
            "\(missingFile.errors)"
        )
    }
}

@Suite("Command-line parsing helpers")
struct CommandLineSupportTests {
    @Test func listenAddresses() throws {
        #expect(try ListenAddress(parsing: "127.0.0.1:7420") == ListenAddress(host: "127.0.0.1", port: 7420))
        #expect(try ListenAddress(parsing: "[::1]:0") == ListenAddress(host: "::1", port: 0))
        #expect(try ListenAddress(parsing: ":7421") == ListenAddress(host: "0.0.0.0", port: 7421))
        #expect(ListenAddress(host: "::1", port: 5).description == "[::1]:5")
        #expect(throws: HeraldServerConfigurationError.self) { try ListenAddress(parsing: "localhost") }
        #expect(throws: HeraldServerConfigurationError.self) { try ListenAddress(parsing: "::1:80") }
        #expect(throws: HeraldServerConfigurationError.self) { try ListenAddress(parsing: "host:70000") }
    }

    @Test func rateLimits() throws {
        let parsed = try RateClassName.parseLimit("messages=180/3000")
        #expect(parsed.rateClass == .messages)
        #expect(parsed.limit == RateLimitValue(count: 180, windowMs: 3000))
        #expect(try RateClassName.parseLimit("RATE_CLASS_JOIN_SAME_CHANNEL=3/100").rateClass == .joinSameChannel)
        #expect(RateClassName.rateClass(named: "join_same_channel") == .joinSameChannel)
        #expect(throws: HeraldServerConfigurationError.self) { try RateClassName.parseLimit("nothing=1/1") }
        #expect(throws: HeraldServerConfigurationError.self) { try RateClassName.parseLimit("messages=1") }
        let named = Set(RateClassName.all.map(\.rateClass))
        #expect(named == Set(EngineConfiguration.defaultRateLimits.keys))
    }

    @Test func flagNames() {
        #expect(EngineSettingFlags.flagName(forField: "maxUserIDBytes") == "max-user-id-bytes")
        #expect(
            EngineSettingFlags.flagName(forField: "channelAttributesEmptyTTLMs") == "channel-attributes-empty-ttl-ms"
        )
        #expect(EngineSettingFlags.flagName(forField: "heartbeatIntervalMs") == "heartbeat-interval-ms")
        #expect(EngineSettingFlags.limitFlags.first == "max-payload-length")
        #expect(EngineSettingFlags.timerFlags.last == "handshake-timeout-ms")
    }

    @Test func listenerDescriptions() {
        let tcp = BoundListener(transport: .tcp, host: "127.0.0.1", port: 7420)
        #expect(tcp.description == "tcp 127.0.0.1:7420")
        #expect(tcp.url == "tcp://127.0.0.1:7420")
        let ws = BoundListener(transport: .ws, host: "127.0.0.1", port: 7421, path: "/herald")
        #expect(ws.description == "ws ws://127.0.0.1:7421/herald")
    }
}

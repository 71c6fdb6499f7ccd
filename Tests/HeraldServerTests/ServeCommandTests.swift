import Foundation
import HeraldEngine
import HeraldMessages
import HeraldServer
import HeraldWire
import Synchronization
import Testing

/// A `herald` process started by a test, with its standard output as a queue of lines.
final class HeraldProcess: Sendable {
    let process: Process
    let lines = AsyncQueue<String>()
    private let exits = AsyncQueue<Int32>()
    private let partial = Mutex<[UInt8]>([])

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

    /// Starts `herald` with `arguments`.
    init(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.executablePath())
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        self.process = process
        let exits = self.exits
        process.terminationHandler = { exits.push($0.terminationStatus) }
        try process.run()
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

    /// Runs `herald` to completion and returns its status and standard output.
    ///
    /// The output goes to a file, not a pipe: a pipe's end of file can be delayed by a `herald serve` of another
    /// test that inherited the pipe's write end.
    static func run(_ arguments: [String]) async throws -> (status: Int32, output: [String]) {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/stdout"
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.executablePath())
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        let exits = AsyncQueue<Int32>()
        process.terminationHandler = { exits.push($0.terminationStatus) }
        try process.run()
        guard let status = await exits.next(timeout: .seconds(30)) else {
            kill(process.processIdentifier, SIGKILL)
            throw TestFailure("herald \(arguments.joined(separator: " ")) did not exit")
        }
        try output.close()
        let text = String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
        return (status, text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init))
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
        let (status, output) = try await HeraldProcess.run(["serve", "--help"])
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

    @Test("An invalid configuration exits with status 2")
    func invalidConfiguration() async throws {
        let data = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let common = ["serve", "--tcp", "127.0.0.1:0", "--no-ws", "--data", data]
        #expect(try await HeraldProcess.run(common + ["--no-auth", "--max-payload-length", "100"]).status == 2)
        #expect(try await HeraldProcess.run(common + ["--app-secret", "too-short"]).status == 2)
        #expect(try await HeraldProcess.run(common + ["--no-auth", "--idle-timeout-ms", "1000"]).status == 2)
        #expect(try await HeraldProcess.run(common + ["--no-auth", "--rate-limit", "messages=0/10"]).status == 2)
        #expect(try await HeraldProcess.run(common + ["--no-auth", "--tcp", "127.0.0.1"]).status == 2)
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

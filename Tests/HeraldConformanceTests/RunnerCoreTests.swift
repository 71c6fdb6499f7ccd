import Foundation
import HeraldEngine
import HeraldServer
import Logging
import Synchronization
import Testing

@testable import HeraldConformance

/// The in-process reference server the runner tests run against.
enum RunnerFixtures {
    static let appID = "conformance-tests"
    static let secret = Array("herald-conformance-runner-tests-secret-0123".utf8)

    /// Short timers so the timeout cases finish quickly.
    static func configuration(
        tls: TLSFiles? = nil,
        capabilities: Set<Capability>? = nil
    ) -> HeraldServerConfiguration {
        var engine = EngineConfiguration(apps: [AppCredentials(appID: appID, secrets: [secret])])
        // Short enough that the timeout cases finish in seconds, long enough that a test process sharing 2 busy
        // cores with the other suites still sends its Hello and heartbeats in time.
        engine.timers.heartbeatIntervalMs = 1000
        engine.timers.idleTimeoutMs = 3000
        engine.timers.presenceUnreachableMs = 2000
        engine.timers.loginTimeoutMs = 4000
        engine.timers.handshakeTimeoutMs = 2000
        engine.timers.peerAckTimeoutMs = 2000
        if let capabilities { engine.offeredCapabilities = capabilities }
        var configuration = HeraldServerConfiguration(engine: engine)
        if let tls {
            configuration.tls = tls
            configuration.tcp = ListenAddress(host: "127.0.0.1", port: 0)
            configuration.webSocket = nil
            configuration.secureWebSocket = ListenAddress(host: "127.0.0.1", port: 0)
        } else {
            configuration.tcp = ListenAddress(host: "127.0.0.1", port: 0)
            configuration.webSocket = ListenAddress(host: "127.0.0.1", port: 0)
        }
        return configuration
    }

    /// Runs a case as the runner judges it: one that ends in `error` (the runner's own client did not get through
    /// in time, or the runner itself stalled, while other tests shared the two cores) runs once more alone, as
    /// `Runner` does; the case's verdict is the second attempt's.
    static func judged(_ environment: ExecutionEnvironment, _ item: CorpusCase) async -> CaseResult {
        let first = await CaseExecutor(environment: environment).run(item)
        guard first.verdict == .error, !environment.alone else { return first }
        var alone = environment
        alone.alone = true
        return await CaseExecutor(environment: alone).run(item)
    }

    static func logger() -> Logger {
        var logger = Logger(label: "herald.conformance.tests")
        logger.logLevel = .error
        return logger
    }

    /// Runs `body` with a running server and its listeners.
    static func withServer<Result: Sendable>(
        _ configuration: HeraldServerConfiguration = RunnerFixtures.configuration(),
        _ body: ([BoundListener]) async throws -> Result
    ) async throws -> Result {
        try await HeraldServer.withRunningServer(configuration: configuration, logger: logger()) { _, listeners in
            try await body(listeners)
        }
    }

    static func target(_ listeners: [BoundListener], _ transport: HeraldTransport) throws -> Target {
        let listener = try #require(listeners.first { $0.transport == transport })
        return Target(listener: listener)
    }

    /// A runner environment for `target`, after a probe.
    static func environment(
        _ target: Target,
        tls: TLSClientOptions = TLSClientOptions(),
        tokens: any TokenSource = SecretTokenSource(secret: RunnerFixtures.secret)
    ) async throws -> ExecutionEnvironment {
        // Generous limits: the whole test bundle shares 2 cores, and while the CPU-bound suites run, a loopback
        // handshake can wait many seconds for a thread.
        let connector = try ClientConnector(target: target, tls: tls, connectTimeout: .seconds(30))
        let probe = try await Runner.probe(connector: connector, timeout: .seconds(60))
        return ExecutionEnvironment(connector: connector, appID: appID, tokens: tokens, probe: probe)
    }

    static func handshakeCases() throws -> [CorpusCase] {
        let loader = ScenarioLoader(specDirectory: LoaderFixtures.specDirectory)
        return try loader.load(directory: LoaderFixtures.scenarioDirectory).cases.filter {
            $0.chapter == "04-handshake"
        }
    }

    /// The handshake cases that apply over `transport` (cases restricted to other transports are left out).
    static func handshakeCases(over transport: HeraldTransport) throws -> [CorpusCase] {
        try Self.handshakeCases().filter { $0.scenario.transports?.contains(transport.rawValue) ?? true }
    }

    /// One case parsed from JSON text.
    static func corpusCase(_ json: String) throws -> CorpusCase {
        let file = LoaderFixtures.file(json)
        let corpus = try ScenarioLoader(requirementIDs: nil).load(files: [(name: "04-handshake.json", data: file)])
        return try #require(corpus.cases.first)
    }

    static func describe(_ results: [CaseResult]) -> String {
        results.filter { $0.verdict != .pass }.map {
            "\($0.id): \($0.verdict.rawValue)\n\($0.message)\n" + Transcript.render($0.transcript, indent: "    ")
        }.joined(separator: "\n\n")
    }
}

@Suite("Runner core against the reference server")
struct RunnerCoreTests {
    @Test("The handshake chapter passes completely", arguments: [HeraldTransport.tcp, .ws])
    func handshakeChapterPasses(transport: HeraldTransport) async throws {
        let cases = try RunnerFixtures.handshakeCases(over: transport)
        try await RunnerFixtures.withServer { listeners in
            let environment = try await RunnerFixtures.environment(try RunnerFixtures.target(listeners, transport))
            let events = EventLog()
            let results = await Runner(environment: environment).run(cases) { events.append($0) }
            #expect(results.map(\.id) == cases.map(\.id))
            #expect(results.allSatisfy { $0.verdict == .pass }, "\(RunnerFixtures.describe(results))")
            #expect(results.allSatisfy { $0.transcript.isEmpty && $0.message.isEmpty })
            #expect(events.started == cases.count)
            #expect(events.finished == cases.count)
        }
    }

    @Test("The handshake chapter passes over TLS and WebSocket over TLS")
    func handshakeChapterOverTLS() async throws {
        // The embedded engine's certificate (localhost, 127.0.0.1) serves as the test certificate.
        let identity = try EmbeddedTLSIdentity.writeFiles()
        defer { try? FileManager.default.removeItem(at: identity.directory) }
        let certificate = identity.files.certificateChainPath
        let key = identity.files.privateKeyPath
        let tls = TLSFiles(certificateChainPath: certificate, privateKeyPath: key)
        try await RunnerFixtures.withServer(RunnerFixtures.configuration(tls: tls)) { listeners in
            for transport in [HeraldTransport.tls, .wss] {
                // The idle-timeout cases take an idle timeout each; the TCP and WebSocket runs cover them.
                let cases = try RunnerFixtures.handshakeCases(over: transport).filter {
                    !$0.id.hasPrefix("handshake.idle-timeout")
                }
                var target = try RunnerFixtures.target(listeners, transport)
                target.host = "localhost"
                // Verified against the test certificate.
                let verified = try await RunnerFixtures.environment(
                    target,
                    tls: TLSClientOptions(trustRootsFile: certificate)
                )
                let results = await Runner(environment: verified).run(cases)
                #expect(results.allSatisfy { $0.verdict == .pass }, "\(transport): \(RunnerFixtures.describe(results))")
                // Unverified (--insecure).
                let insecure = try await RunnerFixtures.environment(target, tls: TLSClientOptions(insecure: true))
                let probe = try #require(insecure.probe)
                #expect(probe.grantedCapabilities.contains("core"))
            }
            // Without trust in the self-signed certificate the probe fails.
            var target = try RunnerFixtures.target(listeners, .tls)
            target.host = "localhost"
            let connector = try ClientConnector(target: target)
            await #expect(throws: ProbeError.self) {
                try await Runner.probe(connector: connector, timeout: .seconds(5))
            }
        }
    }

    @Test("A wrong expectation fails with the step, expected versus actual, the requirements and a transcript")
    func wrongExpectationFails() async throws {
        let wrong = try RunnerFixtures.corpusCase(
            #"""
            {"id": "handshake.wrong", "title": "deliberately wrong", "requirements": ["HS-40"], "level": "MUST",
             "actors": ["alice"], "steps": [
               {"connect": {"actor": "alice", "heartbeat": false}},
               {"send": {"actor": "alice", "type": "Ping", "payload": {"clientTimeMs": "5"}, "as": "ping"}},
               {"expect": {"actor": "alice", "response": "ping", "payload": {"clientTimeMs": "6"}}}
            ]}
            """#
        )
        try await RunnerFixtures.withServer { listeners in
            let environment = try await RunnerFixtures.environment(try RunnerFixtures.target(listeners, .tcp))
            let result = await RunnerFixtures.judged(environment, wrong)
            #expect(result.verdict == .fail)
            #expect(result.failedStep == 2)
            #expect(
                result.message == """
                    steps[2] expect (alice): Pong answering ping does not match:
                      payload.clientTimeMs: expected "6", got "5"
                      received: Pong #2 {"clientTimeMs":"5","serverTimeMs":"\(self.serverTime(result))"}
                    requirements: HS-40
                    """
            )
            #expect(result.transcript.map(\.type) == ["connected", "Hello", "Welcome", "Ping", "Pong"])
            #expect(result.transcript.map(\.direction) == [.transport, .sent, .received, .sent, .received])
            #expect(
                result.rerunCommand
                    == "swift run herald conform \(environment.connector.target.url) --filter 'handshake.wrong'"
            )
            #expect(result.chapter == "04-handshake")
        }
    }

    private func serverTime(_ result: CaseResult) -> String {
        let pong = result.transcript.last?.payload ?? ""
        guard let value = try? JSONValue(parsing: pong) else { return "?" }
        return value["serverTimeMs"]?.stringValue ?? "?"
    }

    @Test("A frame of the wrong type, a missing frame and an unexpected close are explained")
    func otherFailures() async throws {
        let wrongType = try RunnerFixtures.corpusCase(
            #"""
            {"id": "handshake.wrong-type", "title": "t", "requirements": ["HS-40"], "level": "MUST",
             "actors": ["alice"],
             "steps": [{"connect": {"actor": "alice"}}, {"send": {"actor": "alice", "type": "Ping"}},
                       {"expect": {"actor": "alice", "type": "ProtocolError", "ignore": []}}]}
            """#
        )
        let nothing = try RunnerFixtures.corpusCase(
            #"""
            {"id": "handshake.nothing", "title": "t", "requirements": ["HS-40"], "level": "MUST", "actors": ["alice"],
             "steps": [{"connect": {"actor": "alice"}},
                       {"expect": {"actor": "alice", "type": "Pong", "withinMs": 200}}]}
            """#
        )
        let closed = try RunnerFixtures.corpusCase(
            #"""
            {"id": "handshake.closed", "title": "t", "requirements": ["HS-12"], "level": "MUST", "actors": ["alice"],
             "steps": [{"connect": {"actor": "alice", "hello": {"versions": [7]}, "expectWelcome": false}},
                       {"expect": {"actor": "alice", "type": "Disconnect"}},
                       {"expect": {"actor": "alice", "type": "Pong"}}]}
            """#
        )
        let unexpectedFrame = try RunnerFixtures.corpusCase(
            #"""
            {"id": "handshake.none", "title": "t", "requirements": ["HS-40"], "level": "MUST", "actors": ["alice"],
             "steps": [{"connect": {"actor": "alice"}}, {"send": {"actor": "alice", "type": "Ping"}},
                       {"expectNone": {"actor": "alice", "types": ["Pong"], "forMs": 500}}]}
            """#
        )
        try await RunnerFixtures.withServer { listeners in
            let environment = try await RunnerFixtures.environment(try RunnerFixtures.target(listeners, .ws))
            let typeResult = await RunnerFixtures.judged(environment, wrongType)
            #expect(typeResult.verdict == .fail)
            #expect(typeResult.message.hasPrefix("steps[2] expect (alice): expected ProtocolError, got Pong #2 {"))
            let nothingResult = await RunnerFixtures.judged(environment, nothing)
            #expect(
                nothingResult.message.hasPrefix("steps[1] expect (alice): expected Pong within 200 ms; nothing arrived")
            )
            let closedResult = await RunnerFixtures.judged(environment, closed)
            #expect(
                closedResult.message.hasPrefix(
                    "steps[2] expect (alice): expected Pong; the server closed the connection (WebSocket status 4006)"
                )
            )
            #expect(closedResult.transcript.contains { $0.type == "closed" && $0.direction == .transport })
            let noneResult = await RunnerFixtures.judged(environment, unexpectedFrame)
            #expect(
                noneResult.message.hasPrefix("steps[2] expectNone (alice): expected no Pong for 500 ms, got Pong #2")
            )
        }
    }

    @Test("Logins use minted tokens of every kind; expectResult checks failures")
    func tokens() async throws {
        let scenario = try RunnerFixtures.corpusCase(
            #"""
            {"id": "session.tokens", "title": "t", "requirements": ["HS-40"], "level": "MUST",
             "actors": ["alice", "bob", "carol", "dave", "erin"], "steps": [
               {"connect": {"actor": "alice"}}, {"login": {"actor": "alice"}},
               {"connect": {"actor": "bob"}},
               {"login": {"actor": "bob", "token": "expired", "expectResult": "LOGIN_RESULT_TOKEN_EXPIRED"}},
               {"login": {"actor": "bob", "token": "wrong-user:carol", "expectResult": "LOGIN_RESULT_NOT_AUTHORIZED"}},
               {"connect": {"actor": "carol"}},
               {"login": {"actor": "carol", "token": "wrong-app", "expectResult": "LOGIN_RESULT_INVALID_APP_ID"}},
               {"connect": {"actor": "dave"}}, {"login": {"actor": "dave", "token": "ttl:60"}},
               {"connect": {"actor": "erin"}},
               {"login": {"actor": "erin", "token": "none", "expectResult": "LOGIN_RESULT_INVALID_TOKEN"}}
            ]}
            """#
        )
        try await RunnerFixtures.withServer { listeners in
            let environment = try await RunnerFixtures.environment(try RunnerFixtures.target(listeners, .tcp))
            let result = await RunnerFixtures.judged(environment, scenario)
            #expect(result.verdict == .pass, "\(RunnerFixtures.describe([result]))")

            // A source that cannot make expired tokens makes the case not applicable.
            var limited = environment
            limited.tokens = NoExpiredTokens()
            let notApplicable = await RunnerFixtures.judged(limited, scenario)
            #expect(notApplicable.verdict == .notApplicable)
            #expect(notApplicable.message == "cannot make expired tokens")
        }
    }

    @Test("A token command gets the app, user and kind in its environment; exit status 2 means not applicable")
    func tokenCommand() async throws {
        let source = CommandTokenSource(
            command:
                #"if [ "$HERALD_TOKEN_KIND" = expired ]; then exit 2; fi; "#
                + #"echo " $HERALD_APP_ID/$HERALD_USER/$HERALD_TOKEN_KIND ""#
        )
        let token = try await source.token(for: TokenRequest(appID: "app", userID: "u 1", kind: .ttl(seconds: 5)))
        #expect(token == "app/u 1/ttl:5")
        await #expect(throws: TokenUnavailable.self) {
            try await source.token(for: TokenRequest(appID: "app", userID: "u", kind: .expired))
        }
        let failing = CommandTokenSource(command: "echo oops >&2; exit 1")
        await #expect(throws: TargetError.self) {
            try await failing.token(for: TokenRequest(appID: "app", userID: "u", kind: .valid))
        }
    }

    @Test("Cases needing a capability the target does not grant are not applicable")
    func capabilityNotGranted() async throws {
        let cases = try RunnerFixtures.handshakeCases().filter {
            $0.id == "handshake.capability.closure" || $0.id == "handshake.request.duplicate-id"
        }
        #expect(cases.count == 2)
        let configuration = RunnerFixtures.configuration(capabilities: [.core, .presence])
        try await RunnerFixtures.withServer(configuration) { listeners in
            let environment = try await RunnerFixtures.environment(try RunnerFixtures.target(listeners, .tcp))
            #expect(environment.probe?.grantedCapabilities.sorted() == ["core", "presence"])
            let results = await Runner(environment: environment, concurrency: 1).run(cases)
            #expect(results.map(\.verdict) == [.notApplicable, .notApplicable])
            #expect(results[0].message == "the target does not grant channel-messages")

            // Without a probe, the first Welcome of the case decides.
            var unprobed = environment
            unprobed.probe = nil
            let result = await RunnerFixtures.judged(unprobed, cases[1])
            #expect(result.verdict == .notApplicable)
            #expect(result.message == "the target does not grant peer-messages")
        }
    }

    @Test("The case budget turns a slow case into a timeout")
    func caseBudget() async throws {
        let slow = try RunnerFixtures.corpusCase(
            #"""
            {"id": "handshake.slow", "title": "t", "requirements": ["HS-40"], "level": "MUST", "actors": ["alice"],
             "timeoutMs": 2000, "steps": [{"connect": {"actor": "alice"}}, {"waitTimer": {"plusMs": 60000}}]}
            """#
        )
        try await RunnerFixtures.withServer { listeners in
            let environment = try await RunnerFixtures.environment(try RunnerFixtures.target(listeners, .tcp))
            let start = ContinuousClock.now
            let result = await RunnerFixtures.judged(environment, slow)
            // The budget (2 s, generous so that a loaded machine still connects within it) ends the case long
            // before the 60 s wait would.
            #expect(ContinuousClock.now - start < .seconds(20))
            #expect(result.verdict == .timeout)
            #expect(result.failedStep == 1)
            #expect(
                result.message.hasPrefix(
                    "the case did not finish within its budget of 2 s: 2 s base; steps[1] waitTimer was running"
                ),
                "\(result.message)"
            )
        }
    }

    @Test("Repeat, captures, expectAnyOf, expectUnordered, ack and reconnect work together")
    func richScenario() async throws {
        let scenario = try RunnerFixtures.corpusCase(
            #"""
            {"id": "peer.rich", "title": "t", "requirements": ["HS-40"], "level": "MUST",
             "capabilities": ["peer-messages"],
             "actors": ["alice", "bob"], "steps": [
               {"connect": {"actor": "alice", "welcome": {"connectionId": {"$capture": "firstConnection"}}}},
               {"connect": {"actor": "bob"}},
               {"login": {"actor": "alice"}}, {"login": {"actor": "bob"}},
               {"repeat": {"times": 3, "steps": [
                 {"send": {"actor": "alice", "type": "Ping", "payload": {"clientTimeMs": "${i+100}"}, "as": "p${i}"}}
               ]}},
               {"expectUnordered": {"actor": "alice", "frames": [
                 {"response": "p2", "payload": {"clientTimeMs": "102"}},
                 {"response": "p0", "payload": {"clientTimeMs": 100}},
                 {"response": "p1", "payload": {"clientTimeMs": {"$oneOf": ["101"]}}}
               ]}},
               {"send": {"actor": "alice", "type": "SendPeerMessageRequest", "as": "m", "payload": {
                 "peerId": "${user:bob}",
                 "message": {"type": "MESSAGE_TYPE_TEXT", "text": "${capture:firstConnection}"}}}},
               {"expect": {"actor": "bob", "type": "PeerMessage", "captureFrame": "pm",
                 "capture": {"text": "message.text"},
                 "flags": 1, "requestId": {"$gte": 1}}},
               {"ack": {"actor": "bob", "delivery": "pm"}},
               {"expectAnyOf": {"actor": "alice", "alternatives": [
                 {"type": "ProtocolError"},
                 {"response": "m", "payload": {"result": "PEER_MESSAGE_RESULT_OK"}}
               ]}},
               {"send": {"actor": "alice", "type": "Ping", "payload": {"clientTimeMs": "${capture:pm.requestId}"},
                 "as": "echo"}},
               {"expect": {"actor": "alice", "response": "echo",
                 "payload": {"clientTimeMs": "${capture:pm.requestId}"}}},
               {"reconnect": {"actor": "alice", "welcome": {"connectionId": {"$regex": "."}}}},
               {"login": {"actor": "alice"}},
               {"sync": "alice"},
               {"expectNone": {"actor": "bob", "forMs": 100}}
            ]}
            """#
        )
        try await RunnerFixtures.withServer { listeners in
            for transport in [HeraldTransport.tcp, .ws] {
                var environment = try await RunnerFixtures.environment(try RunnerFixtures.target(listeners, transport))
                environment.keepPassingTranscripts = true
                let result = await RunnerFixtures.judged(environment, scenario)
                #expect(result.verdict == .pass, "\(transport): \(RunnerFixtures.describe([result]))")
                #expect(result.transcript.contains { $0.type == "dropped" })
            }
        }
    }

    @Test("The probe fails clearly when nothing listens")
    func probeUnreachable() async throws {
        let connector = try ClientConnector(
            target: try Target(parsing: "tcp://127.0.0.1:1"),
            connectTimeout: .seconds(2)
        )
        await #expect(throws: ProbeError.self) { try await Runner.probe(connector: connector, timeout: .seconds(2)) }
        do {
            _ = try await Runner.probe(connector: connector, timeout: .seconds(2))
        } catch {
            #expect(error.description.hasPrefix("cannot reach tcp://127.0.0.1:1:"))
        }
    }

    @Test("Selection by glob patterns keeps corpus order")
    func selection() throws {
        let cases = try RunnerFixtures.handshakeCases()
        let ids = cases.map(\.id)
        #expect(Runner.select(cases, filter: [], skip: []).map(\.id) == ids)
        #expect(
            Runner.select(cases, filter: ["handshake.version.*"], skip: []).map(\.id)
                == ids.filter { $0.hasPrefix("handshake.version.") }
        )
        #expect(
            Runner.select(cases, filter: ["handshake.*"], skip: ["*timeout*"]).map(\.id)
                == ids.filter { !$0.contains("timeout") }
        )
        #expect(Runner.select(cases, filter: ["nothing.*"], skip: []).isEmpty)
        #expect(Runner.glob("a.?.c", matches: "a.b.c"))
        #expect(!Runner.glob("a.?.c", matches: "a.bb.c"))
        #expect(Runner.glob("*", matches: ""))
        #expect(Runner.glob("a*b*c", matches: "a-x-b-y-c"))
        #expect(!Runner.glob("a*b", matches: "a-x-c"))
        #expect(Runner.defaultConcurrency >= 4)
    }

    @Test("Target URLs follow Spec/02: default ports and path, no credentials, no path on tcp")
    func targets() throws {
        #expect(try Target(parsing: "tcp://example.com").url == "tcp://example.com:7420")
        #expect(try Target(parsing: "tls://example.com:9000/").url == "tls://example.com:9000")
        #expect(try Target(parsing: "ws://example.com").url == "ws://example.com:7421/herald")
        #expect(try Target(parsing: "wss://[::1]:443/rtm?x=1").url == "wss://[::1]:443/rtm?x=1")
        #expect(try Target(parsing: "WS://h:1/p").transport == .ws)
        #expect(try Target(parsing: "tcp://[::1]").host == "::1")
        #expect(try Target(parsing: "tcp://10.0.0.1").hostIsIPAddress)
        #expect(!(try Target(parsing: "tls://localhost").hostIsIPAddress))
        #expect(throws: TargetError.self) { try Target(parsing: "tcp://h/path") }
        #expect(throws: TargetError.self) { try Target(parsing: "tcp://h?q") }
        #expect(throws: TargetError.self) { try Target(parsing: "ws://user:pw@h") }
        #expect(throws: TargetError.self) { try Target(parsing: "http://h") }
        #expect(throws: TargetError.self) { try Target(parsing: "tcp://h:0") }
        #expect(throws: TargetError.self) { try Target(parsing: "tcp://h:99999") }
        #expect(throws: TargetError.self) { try Target(parsing: "ws://h/#frag") }
        #expect(throws: TargetError.self) { try Target(parsing: "h:7420") }
        #expect(throws: TargetError.self) { try Target(parsing: "tcp://::1") }
        #expect(TokenSpec("wrong-user:bob") == .wrongUser("bob"))
        #expect(TokenSpec("ttl:0") == nil)
        #expect(TokenSpec("raw:abc")?.description == "raw:abc")
    }
}

/// An `openssl` executable, if the machine has one.

/// Mints every kind of token but expired ones.
struct NoExpiredTokens: TokenSource {
    func token(for request: TokenRequest) async throws -> String {
        if request.kind == .expired { throw TokenUnavailable("cannot make expired tokens") }
        return try await SecretTokenSource(secret: RunnerFixtures.secret).token(for: request)
    }
}

/// Counts progress events from any task.
final class EventLog: Sendable {
    private let counts = Mutex<(started: Int, finished: Int)>((0, 0))

    func append(_ event: RunProgress) {
        self.counts.withLock {
            switch event {
            case .started: $0.started += 1
            case .finished: $0.finished += 1
            }
        }
    }

    var started: Int { self.counts.withLock { $0.started } }
    var finished: Int { self.counts.withLock { $0.finished } }
}

import Foundation
import HeraldEngine
import HeraldServer
import Synchronization
import Testing

@testable import HeraldConformance

@Suite("Runner: test control, restartTarget and exclusive cases")
struct TestControlRunnerTests {
    static let key = "runner-test-control-key"

    @Test("The loader rejects restartTarget in a case that is not exclusive, and accepts it in one that is")
    func restartNeedsExclusive() throws {
        let loader = ScenarioLoader(requirementIDs: nil)
        let steps = #"[{"connect": {"actor": "alice"}}, {"restartTarget": {"mode": "crash"}}]"#
        let plain = LoaderFixtures.scenario("handshake.restart", steps: steps)
        #expect(throws: ScenarioLoadError.self) {
            try loader.load(files: [(name: "04-handshake.json", data: LoaderFixtures.file(plain))])
        }
        let exclusive = plain.replacingOccurrences(
            of: #""level": "MUST","#,
            with: #""level": "MUST", "exclusive": true,"#
        )
        let corpus = try loader.load(files: [(name: "04-handshake.json", data: LoaderFixtures.file(exclusive))])
        #expect(corpus.cases.first?.scenario.exclusive == true)
    }

    @Test("An exclusive case that restarts the target runs alone, after the cases that hold connections open")
    func exclusiveRunsAlone() async throws {
        var configuration = RunnerFixtures.configuration()
        configuration.engine.testControlKey = Array(Self.key.utf8)
        try await RunnerFixtures.withServer(configuration) { listeners in
            var environment = try await RunnerFixtures.environment(try RunnerFixtures.target(listeners, .tcp))
            environment.testControlKey = Self.key
            #expect(try await Runner.probeTestControl(connector: environment.connector))
            environment.probe?.grantedCapabilities.append("herald.test-control")
            let restart = try RunnerFixtures.corpusCase(
                """
                {"id": "handshake.restart", "title": "t", "requirements": ["HS-57"], "level": "MUST",
                 "capabilities": ["herald.test-control"], "exclusive": true, "actors": ["alice"], "steps": [
                  {"connect": {"actor": "alice"}},
                  {"restartTarget": {"mode": "graceful"}},
                  {"expect": {"actor": "alice", "type": "Disconnect",
                    "payload": {"reason": "DISCONNECT_REASON_SERVER_SHUTDOWN"}}},
                  {"expectClosed": {"actor": "alice"}},
                  {"connect": {"actor": "alice"}}]}
                """
            )
            // Each holds a connection across 1.5 s; a restart during that time would disconnect it.
            let holders = try (0..<3).map { index in
                try RunnerFixtures.corpusCase(
                    """
                    {"id": "handshake.hold\(index)", "title": "t", "requirements": ["HS-40"], "level": "MUST",
                     "actors": ["alice"], "steps": [
                      {"connect": {"actor": "alice"}}, {"login": {"actor": "alice"}},
                      {"waitTimer": {"plusMs": 1500}}, {"sync": "alice"}]}
                    """
                )
            }
            let order = Mutex<[String]>([])
            let results = await Runner(environment: environment, concurrency: 8).run([restart] + holders) {
                if case .started(let item, _, _) = $0 { order.withLock { $0.append(item.id) } }
            }
            #expect(results.allSatisfy { $0.verdict == .pass }, "\(RunnerFixtures.describe(results))")
            #expect(order.withLock { $0.last } == "handshake.restart")
        }
    }

    @Test("restartTarget is not applicable without test control or a restart command")
    func restartNotApplicable() async throws {
        try await RunnerFixtures.withServer { listeners in
            let environment = try await RunnerFixtures.environment(try RunnerFixtures.target(listeners, .tcp))
            let crash = try RunnerFixtures.corpusCase(
                """
                {"id": "handshake.crash", "title": "t", "requirements": ["HS-57"], "level": "MUST", "exclusive": true,
                 "actors": ["alice"], "steps": [{"connect": {"actor": "alice"}}, {"restartTarget": {"mode": "crash"}}]}
                """
            )
            let result = await RunnerFixtures.judged(environment, crash)
            #expect(result.verdict == .notApplicable, "\(result.message)")
        }
    }
}

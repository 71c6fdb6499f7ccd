import Foundation
import HeraldConformance
import HeraldServer
import Testing

/// The WebSocket-level steps: `webSocketUpgrade` and `sendRaw.webSocketPing`.
@Suite struct WebSocketStepTests {
    static func upgradeCase(_ steps: String, transports: String = #"["ws", "wss"]"#) -> String {
        #"{"id": "handshake.upgrade", "title": "t", "requirements": ["HS-2"], "level": "MUST", "actors": ["alice"], "transports": "#
            + transports + #", "steps": ["# + steps + "]}"
    }

    static func problems(_ json: String) -> [String] {
        do {
            _ = try ScenarioLoader(requirementIDs: nil).load(files: [
                (name: "04-handshake.json", data: LoaderFixtures.file(json))
            ])
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    @Test func theLoaderChecksUpgradeSteps() {
        #expect(
            Self.problems(Self.upgradeCase(#"{"webSocketUpgrade": {"subprotocols": [], "expectStatus": 400}}"#)) == []
        )
        let badToken = Self.problems(
            Self.upgradeCase(#"{"webSocketUpgrade": {"subprotocols": ["a b"], "expectStatus": 400}}"#)
        )
        #expect(badToken.contains { $0.contains("is not an HTTP token") }, "\(badToken)")
        let badStatus = Self.problems(
            Self.upgradeCase(#"{"webSocketUpgrade": {"subprotocols": [], "expectStatus": 42}}"#)
        )
        #expect(badStatus.contains { $0.contains("is not an HTTP status") }, "\(badStatus)")
        let tcp = Self.problems(
            Self.upgradeCase(
                #"{"webSocketUpgrade": {"subprotocols": [], "expectStatus": 400}}"#,
                transports: #"["tcp", "ws"]"#
            )
        )
        #expect(tcp.contains { $0.contains("restricted to") }, "\(tcp)")
        let ping = Self.problems(
            Self.upgradeCase(#"{"sendRaw": {"actor": "alice", "webSocketPing": "zz"}}"#)
        )
        #expect(ping.contains { $0.contains("webSocketPing") }, "\(ping)")
        let two = Self.problems(
            Self.upgradeCase(#"{"sendRaw": {"actor": "alice", "hex": "00", "webSocketPing": ""}}"#)
        )
        #expect(two.contains { $0.contains("exactly one of hex, text and webSocketPing") }, "\(two)")
    }

    @Test func anUpgradeStepPassesAndFailsOnTheStatus() async throws {
        let pass = try RunnerFixtures.corpusCase(
            Self.upgradeCase(
                #"{"webSocketUpgrade": {"subprotocols": ["chat"], "expectStatus": 400}}, "#
                    + #"{"webSocketUpgrade": {"subprotocols": ["herald.v1"], "expectStatus": 101}}, "#
                    + #"{"connect": {"actor": "alice"}}, {"sendRaw": {"actor": "alice", "webSocketPing": "01ff"}}, "#
                    + #"{"sync": "alice"}"#
            )
        )
        let fail = try RunnerFixtures.corpusCase(
            Self.upgradeCase(#"{"webSocketUpgrade": {"subprotocols": ["chat"], "expectStatus": 101}}"#)
        )
        try await RunnerFixtures.withServer { listeners in
            let environment = try await RunnerFixtures.environment(try RunnerFixtures.target(listeners, .ws))
            let passed = await RunnerFixtures.judged(environment, pass)
            #expect(passed.verdict == .pass, "\(RunnerFixtures.describe([passed]))")
            let failed = await RunnerFixtures.judged(environment, fail)
            #expect(failed.verdict == .fail)
            #expect(failed.message.contains("answered with HTTP status 400, expected 101"), "\(failed.message)")
        }
    }
}

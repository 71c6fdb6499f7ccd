import Foundation
import HeraldConformance
import HeraldEngine
import HeraldServer
import Testing

/// Optional expectations, crowds and generated payloads, run against the reference server.
@Suite("Optional frames, crowds and generated payloads against the reference server")
struct CrowdAndOptionalTests {
    /// The reference server with small channel limits, so crowds sized from them stay small.
    private static func configuration() -> HeraldServerConfiguration {
        var configuration = RunnerFixtures.configuration()
        configuration.engine.limits.maxMemberEventChannelSize = 5
        configuration.engine.limits.maxMembersListed = 4
        return configuration
    }

    private static func run(_ json: String, transport: HeraldTransport = .tcp) async throws -> CaseResult {
        let scenario = try RunnerFixtures.corpusCase(json)
        return try await RunnerFixtures.withServer(Self.configuration()) { listeners in
            var environment = try await RunnerFixtures.environment(try RunnerFixtures.target(listeners, transport))
            environment.keepPassingTranscripts = true
            return await RunnerFixtures.judged(environment, scenario)
        }
    }

    /// A case of one actor: connect, log in, then `steps` (JSON text of step objects).
    private static func aliceCase(_ steps: String) -> String {
        """
        {"id": "handshake.feature", "title": "t", "requirements": ["HS-40"], "level": "MUST", "actors": ["alice"],
         "steps": [{"connect": {"actor": "alice"}}, {"login": {"actor": "alice"}}, \(steps)]}
        """
    }

    private static let unknownAckError = #"""
        {"expect": {"actor": "alice", "type": "ProtocolError", "optional": true,
          "payload": {"code": "unknown-delivery", "opcode": 128, "requestId": 4242, "message": {"$capture": "why"}}}}
        """#

    @Test("An optional frame that arrives is consumed (with its captures) before the step that follows")
    func optionalPresent() async throws {
        let result = try await Self.run(
            Self.aliceCase(
                #"{"ack": {"actor": "alice", "requestId": 4242}}, "# + Self.unknownAckError
                    + #"""
                    , {"sync": "alice"}, {"expectNone": {"actor": "alice", "forMs": 200}},
                    {"send": {"actor": "alice", "type": "Ping", "payload": {"clientTimeMs": "1"}, "as": "p"}},
                    {"expect": {"actor": "alice", "response": "p"}},
                    {"send": {"actor": "alice", "type": "Ping", "as": "echo", "payload": {"clientTimeMs": "7"}}},
                    {"expect": {"actor": "alice", "response": "echo", "payload": {"clientTimeMs": {"$ne": "${capture:why}"}}}}
                    """#
            )
        )
        #expect(result.verdict == .pass, "\(RunnerFixtures.describe([result]))")
        // The server did send it: the transcript shows the frame the optional step consumed.
        #expect(result.transcript.contains { $0.type == "ProtocolError" && $0.payload.contains("unknown-delivery") })
    }

    @Test("An optional frame that is required later, or arrives in answer to a required step, is also consumed there")
    func optionalConsumedByExpect() async throws {
        // The ProtocolError arrives before the Pong the expect waits for; without the optional step, the expect would
        // fail on it.
        let steps = #"""
            {"ack": {"actor": "alice", "requestId": 4242}},
            {"send": {"actor": "alice", "type": "Ping", "payload": {"clientTimeMs": "1"}, "as": "p"}},
            {"expect": {"actor": "alice", "response": "p", "ignore": []}}
            """#
        let without = try await Self.run(Self.aliceCase(steps))
        #expect(without.verdict == .fail)
        #expect(without.message.contains("expected Pong answering p, got ProtocolError"), "\(without.message)")
        let with = try await Self.run(Self.aliceCase(Self.unknownAckError + ", " + steps))
        #expect(with.verdict == .pass, "\(RunnerFixtures.describe([with]))")
    }

    @Test("An absent optional frame never fails")
    func optionalAbsent() async throws {
        let result = try await Self.run(
            Self.aliceCase(
                #"""
                {"expect": {"actor": "alice", "type": "TokenExpired", "optional": true}},
                {"sync": "alice"}, {"expectNone": {"actor": "alice", "forMs": 200}},
                {"send": {"actor": "alice", "type": "Ping", "payload": {"clientTimeMs": "1"}, "as": "p"}},
                {"expect": {"actor": "alice", "response": "p"}}
                """#
            )
        )
        #expect(result.verdict == .pass, "\(RunnerFixtures.describe([result]))")
    }

    @Test("An optional expectation accepts one frame only: a second one fails the next step")
    func optionalOnce() async throws {
        let result = try await Self.run(
            Self.aliceCase(
                #"{"ack": {"actor": "alice", "requestId": 4242}}, {"ack": {"actor": "alice", "requestId": 4242}}, "#
                    + Self.unknownAckError + #", {"sync": "alice"}, {"expectNone": {"actor": "alice", "forMs": 200}}"#
            )
        )
        #expect(result.verdict == .fail)
        #expect(result.failedStep == 6)
        #expect(result.message.contains("expected no frame, got ProtocolError"), "\(result.message)")
    }

    @Test("An optional expectation ends with the actor's next expectation step: a later frame is not hidden")
    func optionalDisarmed() async throws {
        let result = try await Self.run(
            Self.aliceCase(
                Self.unknownAckError
                    + #"""
                    , {"send": {"actor": "alice", "type": "Ping", "payload": {"clientTimeMs": "1"}, "as": "p"}},
                    {"expect": {"actor": "alice", "response": "p"}},
                    {"ack": {"actor": "alice", "requestId": 4242}},
                    {"sync": "alice"}, {"expectNone": {"actor": "alice", "forMs": 200}}
                    """#
            )
        )
        #expect(result.verdict == .fail)
        #expect(result.failedStep == 7)
        #expect(result.message.contains("expected no frame, got ProtocolError"), "\(result.message)")
    }

    @Test("A crowd sized from an advertised limit connects, logs in and joins; members keep their connections")
    func crowd() async throws {
        let result = try await Self.run(
            #"""
            {"id": "channels.crowd", "title": "t", "requirements": ["HS-40"], "level": "MUST", "actors": ["alice"],
             "capabilities": ["channels"], "timeoutMs": 60000,
             "crowds": {"crowd": "${limit:maxMemberEventChannelSize+1}"},
             "steps": [
               {"connect": {"actor": "alice"}}, {"login": {"actor": "alice"}},
               {"forEach": {"crowd": "crowd", "concurrency": 2, "steps": [
                 {"connect": {"actor": "crowd"}}, {"login": {"actor": "crowd"}},
                 {"send": {"actor": "crowd", "type": "JoinChannelRequest", "payload": {"channelId": "${channel:big}"},
                   "as": "join"}},
                 {"expect": {"actor": "crowd", "response": "join", "payload": {"result": "JOIN_CHANNEL_RESULT_OK"}}}]}},
               {"send": {"actor": "alice", "type": "JoinChannelRequest", "payload": {"channelId": "${channel:big}"},
                 "as": "join"}},
               {"expect": {"actor": "alice", "response": "join", "payload": {"result": "JOIN_CHANNEL_RESULT_OK"}}},
               {"send": {"actor": "alice", "type": "GetMembersRequest", "payload": {"channelId": "${channel:big}"},
                 "as": "members"}},
               {"expect": {"actor": "alice", "response": "members", "ignore": ["Pong", "MemberCountUpdated"],
                 "payload": {"userIds": {
                 "$length": "${limit:maxMembersListed}", "$distinct": true,
                 "$each": {"$oneOf": ["${user:alice}", {"$oneOf": {"$generate": {
                   "count": "${limit:maxMemberEventChannelSize+1}", "item": "${user:crowd.${index}}"}}}]}}}}},
               {"forEach": {"crowd": "crowd", "steps": [
                 {"send": {"actor": "crowd", "type": "Ping", "payload": {"clientTimeMs": "${i}"}, "as": "p"}},
                 {"expect": {"actor": "crowd", "response": "p", "payload": {"clientTimeMs": "${i}"},
                   "ignore": ["Pong", "MemberJoined", "MemberCountUpdated"]}}]}}
             ]}
            """#
        )
        #expect(result.verdict == .pass, "\(RunnerFixtures.describe([result]))")
        let members = Set(result.transcript.map(\.actor).filter { $0.hasPrefix("crowd.") })
        #expect(members == Set((0..<6).map { "crowd.\($0)" }))
        // Each member connected once: the second forEach reused the connections of the first.
        #expect(result.transcript.filter { $0.type == "connected" }.count == 7)
    }

    @Test("A failing member fails the forEach step with its name and stops the others")
    func crowdFailure() async throws {
        let result = try await Self.run(
            #"""
            {"id": "handshake.crowd-failure", "title": "t", "requirements": ["HS-40"], "level": "MUST",
             "actors": ["alice"], "crowds": {"crowd": 4},
             "steps": [
               {"connect": {"actor": "alice"}},
               {"forEach": {"crowd": "crowd", "concurrency": 1, "steps": [
                 {"connect": {"actor": "crowd"}},
                 {"send": {"actor": "crowd", "type": "Ping", "payload": {"clientTimeMs": "${i}"}, "as": "p"}},
                 {"expect": {"actor": "crowd", "response": "p", "payload": {"clientTimeMs": {"$lte": 1}}}}]}}
             ]}
            """#
        )
        #expect(result.verdict == .fail)
        #expect(result.failedStep == 1)
        #expect(
            result.message.hasPrefix(
                "steps[1] forEach member crowd.2: steps[2] expect (crowd.2): Pong answering p does not match:\n"
                    + "  payload.clientTimeMs: expected ≤ 1, got \"2\""
            ),
            "\(result.message)"
        )
        // With one member at a time, member 3 never started.
        #expect(!result.transcript.contains { $0.actor == "crowd.3" })
    }

    @Test("A crowd size outside 0…10000 fails the step that first uses the crowd")
    func crowdSize() async throws {
        let result = try await Self.run(
            #"""
            {"id": "handshake.crowd-size", "title": "t", "requirements": ["HS-40"], "level": "MUST",
             "actors": ["alice"], "crowds": {"crowd": "${limit:maxMemberEventChannelSize-6}"},
             "steps": [
               {"connect": {"actor": "alice"}},
               {"forEach": {"crowd": "crowd", "steps": [{"connect": {"actor": "crowd"}}]}}
             ]}
            """#
        )
        #expect(result.verdict == .fail)
        #expect(
            result.message.hasPrefix(
                "steps[1] forEach: crowd crowd: size ${limit:maxMemberEventChannelSize-6} is -1, not between 0 and 10000"
            ),
            "\(result.message)"
        )
    }

    @Test("A generated payload is sent as built: subscriptions sized from the limit overflow by one")
    func generatedPayload() async throws {
        let result = try await Self.run(
            Self.aliceCase(
                #"""
                {"send": {"actor": "alice", "type": "SubscribePeersOnlineStatusRequest", "as": "sub", "payload": {
                  "peerIds": {"$generate": {"count": "${limit:maxSubscriptions+1}", "item": "${user:peer${index}}"}},
                  "option": "PEER_SUBSCRIPTION_OPTION_ONLINE_STATUS"}}},
                {"expect": {"actor": "alice", "response": "sub",
                  "payload": {"result": "PEER_SUBSCRIPTION_STATUS_RESULT_OVERFLOW"}}}
                """#
            )
        )
        #expect(result.verdict == .pass, "\(RunnerFixtures.describe([result]))")
        let sent = try #require(result.transcript.first { $0.type == "SubscribePeersOnlineStatusRequest" })
        let payload = try JSONValue(parsing: sent.payload)
        #expect(payload["peerIds"]?.arrayValue?.count == 513)
    }
}

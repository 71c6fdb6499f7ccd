import Foundation
import HeraldConformance
import Testing

/// Scenario files for loader tests.
enum LoaderFixtures {
    /// The package root (this file is Tests/HeraldConformanceTests/LoaderTests.swift).
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static var scenarioDirectory: String {
        packageRoot.appendingPathComponent(ScenarioLoader.defaultDirectory).path
    }

    static var specDirectory: String {
        packageRoot.appendingPathComponent("Spec").path
    }

    /// A file with the given cases (JSON text of the `cases` array members).
    static func file(chapter: String = "04-handshake", _ cases: String...) -> Data {
        Data(
            """
            {"suite": "herald-scenarios", "schemaVersion": 1, "protocolVersion": 1, "chapter": "\(chapter)",
             "description": "test", "cases": [\(cases.joined(separator: ","))]}
            """.utf8
        )
    }

    /// A valid case with the given id and steps.
    static func scenario(
        _ id: String,
        requirements: String = #"["HS-40"]"#,
        actors: String = #"["alice"]"#,
        steps: String = #"[{"connect": {"actor": "alice"}}, {"sync": "alice"}]"#
    ) -> String {
        """
        {"id": "\(id)", "title": "t", "requirements": \(requirements), "level": "MUST", "actors": \(actors),
         "steps": \(steps)}
        """
    }
}

@Suite("Scenario loader")
struct LoaderTests {
    private let loader = ScenarioLoader(requirementIDs: ["HS-40", "HS-8"])

    private func problems(_ files: [(String, Data)]) -> [ScenarioProblem] {
        do {
            _ = try self.loader.load(files: files.map { (name: $0.0, data: $0.1) })
            return []
        } catch {
            return error.problems
        }
    }

    @Test("The starter corpus loads and validates against the Spec's requirement index")
    func starterCorpus() throws {
        let loader = ScenarioLoader(specDirectory: LoaderFixtures.specDirectory)
        #expect(loader.requirementIDs?.contains("HS-2") == true)
        let corpus = try loader.load(directory: LoaderFixtures.scenarioDirectory)
        let handshake = corpus.cases.filter { $0.chapter == "04-handshake" }
        #expect(handshake.count >= 10)
        #expect(handshake.allSatisfy { $0.file == "04-handshake.json" })
    }

    @Test("A valid file decodes into the model, steps and all")
    func decodes() throws {
        let corpus = try self.loader.load(files: [
            (
                "04-handshake.json",
                LoaderFixtures.file(
                    LoaderFixtures.scenario(
                        "handshake.one",
                        steps: #"""
                            [{"connect": {"actor": "alice", "hello": null}},
                             {"send": {"actor": "alice", "type": "Ping", "payload": {"clientTimeMs": "1"}, "as": "p"}},
                             {"expect": {"actor": "alice", "response": "p", "payload": {"serverTimeMs": {"$gte": 1}}}},
                             {"repeat": {"times": "${limit:maxChannelsJoined+1}",
                                         "steps": [{"sync": {"actor": "alice"}}]}},
                             {"waitTimer": {"timer": "idleTimeoutMs", "factor": 0.5, "plusMs": 10}},
                             {"expectClosed": {"actor": "alice", "closeCode": {"$oneOf": [4002, 1000]}}}]
                            """#
                    )
                )
            )
        ])
        let steps = try #require(corpus.cases.first).scenario.steps
        #expect(steps.map(\.kind) == ["connect", "send", "expect", "repeat", "waitTimer", "expectClosed"])
        guard case .connect(let connect) = steps[0], case .repeat(let loop) = steps[3] else {
            Issue.record("wrong step kinds")
            return
        }
        #expect(connect.hello == .none)
        #expect(loop.times == .template("${limit:maxChannelsJoined+1}"))
        // Encoding gives the same shape back.
        let encoded = try JSONEncoder().encode(steps)
        #expect(try JSONDecoder().decode([Step].self, from: encoded) == steps)
    }

    @Test("Duplicate case ids are found across files")
    func duplicateIDs() {
        let problems = self.problems([
            ("04-handshake.json", LoaderFixtures.file(LoaderFixtures.scenario("handshake.same"))),
            ("05-session.json", LoaderFixtures.file(chapter: "05-session", LoaderFixtures.scenario("handshake.same"))),
        ])
        #expect(
            problems.map(\.description)
                == [
                    "05-session.json: case handshake.same: duplicate case id (also in 04-handshake.json); ids are "
                        + "unique across the corpus"
                ]
        )
    }

    @Test("Unknown requirement ids, bad levels, bad ids and undeclared actors are reported")
    func semanticProblems() {
        let problems = self.problems([
            (
                "04-handshake.json",
                LoaderFixtures.file(
                    LoaderFixtures.scenario("handshake.reqs", requirements: #"["HS-999"]"#),
                    LoaderFixtures.scenario("Bad_ID"),
                    LoaderFixtures.scenario(
                        "handshake.actor",
                        steps: #"[{"connect": {"actor": "alice"}}, {"sync": {"actor": "bob"}}]"#
                    )
                )
            )
        ]).map(\.description)
        #expect(
            problems.contains(
                "04-handshake.json: case handshake.reqs, requirements: HS-999 is not a requirement of the Spec"
            )
        )
        #expect(
            problems.contains(
                #"04-handshake.json: case Bad_ID, id: "Bad_ID" does not match ^[a-z0-9]+(-[a-z0-9]+)*(\.[a-z0-9-]+)+$"#
            )
        )
        #expect(
            problems.contains(
                #"04-handshake.json: case handshake.actor, steps[1].sync: actor "bob" is not declared in actors"#
            )
        )
    }

    @Test("Without a requirement index, requirement ids are not checked")
    func noIndex() throws {
        let loader = ScenarioLoader(specDirectory: "/nonexistent/Spec")
        #expect(loader.requirementIDs == nil)
        let corpus = try loader.load(files: [
            (
                "04-handshake.json",
                LoaderFixtures.file(LoaderFixtures.scenario("handshake.x", requirements: #"["ZZ-1"]"#))
            )
        ])
        #expect(corpus.cases.count == 1)
    }

    @Test("A bad step names the file, the case id and the step")
    func badStep() {
        let twoKeys = self.problems([
            (
                "04-handshake.json",
                LoaderFixtures.file(
                    LoaderFixtures.scenario(
                        "handshake.bad",
                        steps: #"[{"connect": {"actor": "alice"}, "sync": {"actor": "alice"}}]"#
                    )
                )
            )
        ])
        #expect(twoKeys.count == 1)
        #expect(twoKeys.first?.caseID == "handshake.bad")
        #expect(twoKeys.first?.location == "steps[0]")
        #expect(twoKeys.first?.message.hasPrefix("a step is an object with exactly one key naming its kind") == true)

        let unknownKey = self.problems([
            (
                "04-handshake.json",
                LoaderFixtures.file(
                    LoaderFixtures.scenario(
                        "handshake.bad",
                        steps: #"[{"connect": {"actor": "alice"}}, {"expect": {"actor": "alice", "typo": "Pong"}}]"#
                    )
                )
            )
        ])
        #expect(
            unknownKey.first?.description.hasPrefix(
                #"04-handshake.json: case handshake.bad, steps[1].expect.typo: unknown key "typo" in expect"#
            ) == true
        )

        let unknownKind = self.problems([
            (
                "04-handshake.json",
                LoaderFixtures.file(LoaderFixtures.scenario("handshake.bad", steps: #"[{"sleep": 5}]"#))
            )
        ])
        #expect(unknownKind.first?.location == "steps[0].sleep")
        #expect(unknownKind.first?.message.hasPrefix(#"unknown step kind "sleep""#) == true)

        let missing = self.problems([
            (
                "04-handshake.json",
                LoaderFixtures.file(LoaderFixtures.scenario("handshake.bad", steps: #"[{"send": {"actor": "alice"}}]"#))
            )
        ])
        #expect(
            missing.first?.description == #"04-handshake.json: case handshake.bad, steps[0].send: missing key "type""#
        )
    }

    @Test("Message names, payloads, operators and templates are checked")
    func payloadProblems() {
        let problems = self.problems([
            (
                "04-handshake.json",
                LoaderFixtures.file(
                    LoaderFixtures.scenario(
                        "handshake.payloads",
                        steps: #"""
                            [{"connect": {"actor": "alice"}},
                             {"send": {"actor": "alice", "type": "NoSuchRequest"}},
                             {"send": {"actor": "alice", "type": "Ping", "payload": {"clientTime": "1"}}},
                             {"send": {"actor": "alice", "type": "Ping", "payload": {"clientTimeMs": {"$any": true}}}},
                             {"expect": {"actor": "alice", "type": "Pong", "payload": {"clientTimeMs": {"$nope": 1}}}},
                             {"expect": {"actor": "alice", "response": "never"}},
                             {"send": {"actor": "alice", "type": "Ping", "payload": {"clientTimeMs": "${bogus}"}}},
                             {"login": {"actor": "alice", "token": "forever"}},
                             {"sendRaw": {"actor": "alice", "hex": "abc"}},
                             {"waitTimer": {"timer": "noSuchTimer"}}]
                            """#
                    )
                )
            )
        ]).map { "\($0.location ?? "-"): \($0.message)" }
        #expect(problems.contains(#"steps[1].send.type: "NoSuchRequest" is not a Herald v1 message with an opcode"#))
        #expect(
            problems.contains { $0.hasPrefix("steps[2].send.payload: the payload does not parse as herald.v1.Ping") }
        )
        #expect(problems.contains("steps[3].send.payload: matcher operators ($…) are only allowed in expectations"))
        #expect(problems.contains { $0.contains("steps[4].expect.payload.clientTimeMs: unknown operator $nope") })
        #expect(problems.contains(#"steps[5].expect.response: no send step has "as": "never""#))
        #expect(problems.contains { $0.hasPrefix("steps[6].send.payload.clientTimeMs: unknown template ${bogus}") })
        #expect(problems.contains { $0.hasPrefix(#"steps[7].login.token: unknown token kind "forever""#) })
        #expect(problems.contains("steps[8].sendRaw.hex: not an even number of hexadecimal digits"))
        #expect(
            problems.contains { $0.hasPrefix(#"steps[9].waitTimer.timer: "noSuchTimer" is not a ServerTimers field"#) }
        )
    }

    @Test("Crowds, forEach, optional expectations and $generate are validated with clear messages")
    func crowdsOptionalAndGenerators() throws {
        let valid = #"""
            {"id": "channels.crowd", "title": "t", "requirements": ["HS-40"], "level": "MUST", "actors": ["alice"],
             "crowds": {"crowd": "${limit:maxMemberEventChannelSize+1}", "few": 2},
             "steps": [
               {"connect": {"actor": "alice"}},
               {"forEach": {"crowd": "crowd", "concurrency": 8, "steps": [
                 {"connect": {"actor": "crowd"}}, {"login": {"actor": "crowd"}},
                 {"send": {"actor": "crowd", "type": "Ping", "as": "p"}},
                 {"expect": {"actor": "crowd", "response": "p"}}]}},
               {"send": {"actor": "alice", "type": "SubscribePeersOnlineStatusRequest", "payload": {
                 "peerIds": {"$generate": {"count": "${calc:${limit:maxSubscriptions}+1}", "item": "${user:crowd.${index}}"}},
                 "option": "PEER_SUBSCRIPTION_OPTION_ONLINE_STATUS"}}},
               {"expect": {"actor": "alice", "type": "ProtocolError", "optional": true}},
               {"expect": {"actor": "alice", "type": "SubscribePeersOnlineStatusResponse", "payload": {
                 "result": {"$ne": "PEER_SUBSCRIPTION_STATUS_RESULT_OK"}}}}]}
            """#
        let corpus = try self.loader.load(files: [(name: "09-channels.json", data: LoaderFixtures.file(valid))])
        let scenario = try #require(corpus.cases.first?.scenario)
        #expect(scenario.crowds == ["crowd": .template("${limit:maxMemberEventChannelSize+1}"), "few": .literal(2)])
        guard case .forEach(let loop) = scenario.steps[1], case .expect(let optional) = scenario.steps[3] else {
            Issue.record("unexpected steps \(scenario.steps)")
            return
        }
        #expect(loop.crowd == "crowd")
        #expect(loop.concurrency == .literal(8))
        #expect(loop.steps.count == 4)
        #expect(optional.optional == true)

        let problems = self.problems([
            (
                "09-channels.json",
                LoaderFixtures.file(
                    #"""
                    {"id": "channels.bad-crowd", "title": "t", "requirements": ["HS-40"], "level": "MUST",
                     "actors": ["alice", "bob"], "crowds": {"bob": 3, "Big": -1},
                     "steps": [
                       {"connect": {"actor": "alice"}},
                       {"forEach": {"crowd": "nobody", "concurrency": 0, "steps": []}},
                       {"forEach": {"crowd": "bob", "steps": [
                         {"connect": {"actor": "alice"}},
                         {"forEach": {"crowd": "bob", "steps": [{"sync": "bob"}]}}]}},
                       {"sync": "Big"},
                       {"expect": {"actor": "alice", "type": "Pong", "optional": true, "withinMs": 100, "ignore": []}},
                       {"expectAnyOf": {"actor": "alice", "alternatives": [{"type": "Pong", "optional": true}]}},
                       {"send": {"actor": "alice", "type": "SetLocalUserAttributesRequest", "payload": {
                         "attributes": {"$generate": {"count": "lots", "item": {"kee": "k"}, "extra": 1}}}}}]}
                    """#
                )
            )
        ]).map { "\($0.location ?? "-"): \($0.message)" }
        #expect(problems.contains(#"crowds: "bob" is both an actor and a crowd"#))
        #expect(problems.contains(#"crowds: crowd name "Big" does not match ^[a-z][a-z0-9_]*$"#))
        #expect(problems.contains("crowds.Big: a crowd has 0 to 10000 members"))
        #expect(problems.contains(#"steps[1].forEach.crowd: "nobody" is not a crowd of the case (crowds: Big, bob)"#))
        #expect(problems.contains("steps[1].forEach.concurrency: at least 1 member runs at a time"))
        #expect(problems.contains("steps[1].forEach.steps: no steps for the members"))
        #expect(
            problems.contains(
                #"steps[2].forEach.steps[0].connect: inside forEach over bob, steps act on the member ("actor": "bob"), not on "alice""#
            )
        )
        #expect(
            problems.contains(
                "steps[2].forEach.steps[1].forEach: forEach steps do not nest (this one is inside forEach over bob)"
            )
        )
        #expect(problems.contains(#"steps[3].sync: crowd "Big" acts only inside a forEach step"#))
        #expect(
            problems.contains("steps[4].expect.withinMs: an optional expect does not wait; withinMs has no meaning")
        )
        #expect(problems.contains("steps[4].expect.ignore: an optional expect skips nothing; ignore has no meaning"))
        #expect(problems.contains("steps[5].expectAnyOf.alternatives[0].optional: only an expect step can be optional"))
        #expect(
            problems.contains("steps[6].send.payload.attributes: $generate: unknown key extra; allowed: count, item")
        )
        #expect(
            problems.contains(
                #"steps[6].send.payload.attributes: $generate: count "lots" is neither a number nor a template"#
            )
        )
        #expect(
            problems.contains {
                $0.hasPrefix(
                    "steps[6].send.payload: the payload does not parse as herald.v1.SetLocalUserAttributesRequest"
                )
            }
        )
    }

    @Test("Invalid JSON is reported with the file name")
    func invalidJSON() {
        let problems = self.problems([("04-handshake.json", Data("{ not json".utf8))])
        #expect(problems.count == 1)
        #expect(problems.first?.file == "04-handshake.json")
        #expect(problems.first?.message.hasPrefix("not valid JSON") == true)
    }
}

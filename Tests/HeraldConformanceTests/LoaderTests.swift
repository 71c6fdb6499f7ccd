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

    @Test("Invalid JSON is reported with the file name")
    func invalidJSON() {
        let problems = self.problems([("04-handshake.json", Data("{ not json".utf8))])
        #expect(problems.count == 1)
        #expect(problems.first?.file == "04-handshake.json")
        #expect(problems.first?.message.hasPrefix("not valid JSON") == true)
    }
}

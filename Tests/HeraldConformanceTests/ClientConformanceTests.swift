import Foundation
import HeraldConformance
import HeraldSpec
import Testing

/// `herald conform client`: the client corpus loads and covers the client role, the runner's own checks, and the
/// proof that the suite can fail: every deliberately broken client (`herald-mutant-client`) is caught by the cases
/// of the requirement it breaks, which the reference client (`herald client-adapter`) passes.
@Suite("Client conformance")
struct ClientConformanceTests {
    static var clientScenarios: String {
        ReportFixtures.packageRoot.appendingPathComponent("Vectors/client-scenarios").path
    }

    @Test("the client corpus loads; every case cites requirements of the Spec; coverage of the client role is complete")
    func corpus() throws {
        let corpus = try ClientCorpus.load(directory: Self.clientScenarios)
        #expect(corpus.cases.count >= 60)
        let index = try RequirementIndex(specDirectory: ReportFixtures.packageRoot.appendingPathComponent("Spec"))
        let report = CoverageReport(index: index, clientCorpus: corpus)
        #expect(report.problems.isEmpty, "client coverage problems")
        #expect(report.uncoveredMusts.isEmpty, "client MUSTs neither covered nor waived")
        // The server's report leaves the client role out: its waivers no longer mention client requirements.
        let server = try CoverageReport.forCorpus(
            scenariosDirectory: ReportFixtures.packageRoot.appendingPathComponent("Vectors/scenarios").path,
            specDirectory: ReportFixtures.packageRoot.appendingPathComponent("Spec").path
        )
        #expect(Set(server.requirements.map(\.id)).isDisjoint(with: corpus.requirementIDs))
        #expect(server.problems.isEmpty, "server coverage problems")
    }

    @Test("a client scenario file with an unknown key, an unknown message or an unaccepted connection is refused")
    func strictLoading() throws {
        func load(_ steps: String) -> String? {
            let text = """
                {"suite": "herald-client-scenarios", "schemaVersion": 1, "protocolVersion": 1, "chapter": "04-handshake",
                 "description": "x", "cases": [{"id": "client.x", "title": "x", "requirements": ["HS-1"],
                 "level": "MUST", "steps": [\(steps)]}]}
                """
            do {
                _ = try ClientScenarioFile(data: Data(text.utf8), fileName: "x.json")
                return nil
            } catch {
                return error.description
            }
        }
        #expect(load(#"{"accept": {"conn": "c1"}}, {"expectFrame": {"conn": "c1", "type": "Hello"}}"#) == nil)
        #expect(load(#"{"accept": {"conn": "c1", "withinMS": 5}}"#)?.contains("unknown key withinMS") == true)
        #expect(
            load(#"{"accept": {"conn": "c1"}}, {"expectFrame": {"conn": "c1", "type": "Helo"}}"#)?.contains(
                "not a message of the schema"
            ) == true
        )
        #expect(load(#"{"expectFrame": {"conn": "c1", "type": "Hello"}}"#)?.contains("not accepted") == true)
        #expect(load(#"{"reply": {"to": "login"}}"#)?.contains("no earlier command") == true)
    }

    /// Which cases must catch each mutant client (a subset of those that do; the closing note of issue 15 lists
    /// them all).
    static let mutants: [(mutation: String, cases: [String])] = [
        ("no-heartbeat", ["client.handshake.heartbeat.ping-when-idle"]),
        ("early-ack", ["client.peer.delivery.unknown-type-incompatible"]),
        ("ignore-seq-gaps", ["client.extensibility.seq.user-gap-closes"]),
        ("reuse-idempotency-key", ["client.extensibility.idempotency.distinct-keys"]),
        ("accept-wrong-host", ["client.transports.tls.wrong-host-refused"]),
        ("unknown-enum-fatal", ["client.extensibility.enum.unknown-rate-class"]),
    ]

    /// Whether the mutant test runs: it starts some twenty client processes and timing cases, so CI runs it in a
    /// step of its own (`HERALD_CLIENT_MUTANTS=1 swift test --filter ClientConformanceTests`) rather than beside
    /// the hundreds of tests `swift test` runs in parallel on two cores, whose timing it disturbed.
    static let runsMutants = ProcessInfo.processInfo.environment["HERALD_CLIENT_MUTANTS"] == "1"

    @Test(
        "each mutant client fails the cases of the rule it breaks; the reference client passes them",
        .enabled(if: runsMutants, "set HERALD_CLIENT_MUTANTS=1 (CI runs it in a step of its own)")
    )
    func mutantsAreCaught() async throws {
        let directory = try Self.binaries()
        let herald = directory.appendingPathComponent("herald").path
        let mutant = directory.appendingPathComponent("herald-mutant-client").path
        let cases = Self.mutants.flatMap(\.cases)
        let reference = try await Self.run(adapter: "\(herald) client-adapter", cases: cases)
        for id in cases {
            #expect(reference[id] == .pass, "the reference client: \(id) is \(reference[id]?.rawValue ?? "missing")")
        }
        for (mutation, caught) in Self.mutants {
            let results = try await Self.run(adapter: "\(mutant) --mutation \(mutation)", cases: caught)
            for id in caught {
                #expect(
                    results[id] == .fail || results[id] == .warning,
                    "mutant \(mutation): \(id) is \(results[id]?.rawValue ?? "missing"), not a failure"
                )
            }
        }
    }

    /// Runs the client suite's `cases` against `adapter`; the verdicts by case id.
    static func run(adapter: String, cases: [String]) async throws -> [String: Verdict] {
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("client-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: report) }
        var options = ClientConformOptions()
        options.adapters = [adapter]
        options.filters = cases
        options.scenarios = Self.clientScenarios
        options.jsonPath = report.path
        _ = await ClientConformance.run(options, output: { _ in }, errorOutput: { _ in })
        let run = try JSONReport.decode(try Data(contentsOf: report))
        return Dictionary(run.cases.map { ($0.id, $0.verdict) }, uniquingKeysWith: { first, _ in first })
    }

    /// The directory of the built executables (`herald`, `herald-mutant-client`), next to the test binary.
    static func binaries() throws -> URL {
        let candidates = [
            URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent(),
            URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent(),
        ]
        for directory in candidates
        where FileManager.default.isExecutableFile(
            atPath: directory.appendingPathComponent("herald-mutant-client").path
        )
            && FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent("herald").path)
        {
            return directory
        }
        throw ClientTestFailure("no herald and herald-mutant-client next to the test binary; run swift build first")
    }
}

struct ClientTestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

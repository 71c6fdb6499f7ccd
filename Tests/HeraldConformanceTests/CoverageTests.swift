import Foundation
import HeraldSpec
import Testing

@testable import HeraldConformance

/// Small requirement sets for coverage tests.
enum CoverageFixtures {
    static func requirement(_ id: String, _ level: RequirementLevel, _ chapter: String) -> Requirement {
        let parts = id.split(separator: "-")
        return Requirement(
            id: id,
            prefix: String(parts[0]),
            number: Int(parts[1]) ?? 0,
            level: level,
            chapter: chapter,
            section: "",
            line: 1,
            text: "\(id) text \(level.rawValue)"
        )
    }

    static func requirements() -> [Requirement] {
        [
            requirement("HS-1", .must, "04-handshake.md"),
            requirement("HS-2", .must, "04-handshake.md"),
            requirement("HS-3", .should, "04-handshake.md"),
            requirement("CHAN-1", .must, "09-channels.md"),
            requirement("CHAN-2", .may, "09-channels.md"),
            requirement("CHAN-3", .must, "09-channels.md"),
        ]
    }
}

@Suite("Coverage")
struct CoverageTests {
    @Test("counts covered, waived and uncovered per chapter and level")
    func counts() throws {
        let report = CoverageReport(
            requirements: CoverageFixtures.requirements(),
            chapters: ["01-overview.md", "04-handshake.md", "09-channels.md"],
            cases: [
                CoverageCase(id: "handshake.a", chapter: "04-handshake", requirements: ["HS-1", "HS-3"]),
                CoverageCase(id: "handshake.b", chapter: "04-handshake", requirements: ["HS-1"]),
                CoverageCase(id: "channels.a", chapter: "09-channels", requirements: ["CHAN-2"]),
            ],
            waivers: [Waiver(requirement: "HS-2", reason: "client only")]
        )
        #expect(report.chapters.map(\.chapter) == ["04-handshake", "09-channels"])
        let handshake = report.chapters[0].levels
        #expect(handshake["MUST"]?.total == 2)
        #expect(handshake["MUST"]?.covered == 1)
        #expect(handshake["MUST"]?.waived == 1)
        #expect(handshake["MUST"]?.uncovered == 0)
        #expect(handshake["SHOULD"]?.covered == 1)
        #expect(handshake["MAY"]?.total == 0)
        let channels = report.chapters[1].levels
        #expect(channels["MUST"]?.uncovered == 2)
        #expect(channels["MAY"]?.covered == 1)
        #expect(report.totals["MUST"]?.total == 4)
        #expect(report.totals["MUST"]?.uncovered == 2)
        #expect(report.uncoveredMusts.map(\.id) == ["CHAN-1", "CHAN-3"])
        #expect(report.requirements.first { $0.id == "HS-1" }?.cases == ["handshake.a", "handshake.b"])
        #expect(report.requirements.first { $0.id == "HS-2" }?.waiverReason == "client only")
        #expect(report.problems.isEmpty)
        #expect(!report.passed)
        let text = report.renderText()
        #expect(text.contains("uncovered MUST requirements (2):"))
        #expect(text.contains("CHAN-1 [MUST, 09-channels]"))
        #expect(text.contains("coverage INCOMPLETE"))
    }

    @Test("complete when every MUST is covered or waived; SHOULD and MAY gaps do not fail it")
    func complete() {
        let report = CoverageReport(
            requirements: CoverageFixtures.requirements(),
            chapters: [],
            cases: [CoverageCase(id: "x.a", chapter: "09-channels", requirements: ["HS-1", "CHAN-1", "CHAN-3"])],
            waivers: [Waiver(requirement: "HS-2", reason: "client only")]
        )
        #expect(report.passed)
        #expect(report.renderText().contains("coverage complete"))
    }

    @Test("waiving a covered or unknown requirement, waiving twice and citing unknown ids are problems")
    func problems() {
        let report = CoverageReport(
            requirements: CoverageFixtures.requirements(),
            chapters: [],
            cases: [
                CoverageCase(id: "x.a", chapter: "04-handshake", requirements: ["HS-1", "CHAN-1", "CHAN-3", "NOPE-1"]),
                CoverageCase(id: "x.b", chapter: "04-handshake", requirements: ["HS-9"]),
            ],
            waivers: [
                Waiver(requirement: "HS-1", reason: "r"),
                Waiver(requirement: "HS-2", reason: "r"),
                Waiver(requirement: "HS-2", reason: "again"),
                Waiver(requirement: "ZZ-1", reason: "r"),
            ],
            removedIDs: ["HS-9"]
        )
        #expect(report.uncoveredMusts.isEmpty)
        #expect(!report.passed)
        #expect(report.problems.count == 5)
        #expect(report.problems.contains { $0.hasPrefix("HS-1 is waived but checked by x.a") })
        #expect(report.problems.contains("HS-2 is waived twice"))
        #expect(report.problems.contains { $0.contains("ZZ-1") })
        #expect(report.problems.contains { $0.contains("NOPE-1") && $0.contains("x.a") })
        #expect(report.problems.contains { $0.contains("HS-9") && $0.contains("removed") })
    }

    @Test("waivers file: schemaVersion 1, a reason for every waiver")
    func waiverFile() throws {
        let good = try WaiverFile(
            data: Data(#"{"schemaVersion":1,"waivers":[{"requirement":"HS-1","reason":"client only"}]}"#.utf8)
        )
        #expect(good.waivers == [Waiver(requirement: "HS-1", reason: "client only")])
        for bad in [
            #"{"schemaVersion":1,"waivers":[{"requirement":"HS-1","reason":"  "}]}"#,
            #"{"schemaVersion":1,"waivers":[{"requirement":"HS-1"}]}"#,
            #"{"schemaVersion":2,"waivers":[]}"#,
            #"{"waivers":[]}"#,
            "not json",
        ] {
            #expect(throws: CoverageError.self, "\(bad)") { try WaiverFile(data: Data(bad.utf8)) }
        }
    }

    @Test("JSON form round-trips")
    func json() throws {
        let report = CoverageReport(
            requirements: CoverageFixtures.requirements(),
            chapters: ["04-handshake.md", "09-channels.md"],
            cases: [CoverageCase(id: "x.a", chapter: "04-handshake", requirements: ["HS-1"])],
            waivers: []
        )
        let decoded = try JSONDecoder().decode(CoverageReport.self, from: try report.renderJSON())
        #expect(decoded == report)
    }

    @Test("Vectors/scenarios/waivers.json names existing requirements, each once, each with a reason")
    func realWaivers() throws {
        let root = ReportFixtures.packageRoot
        let index = try RequirementIndex(specDirectory: root.appendingPathComponent("Spec"))
        let file = try WaiverFile(contentsOfFile: root.appendingPathComponent("Vectors/scenarios/waivers.json").path)
        #expect(!file.waivers.isEmpty)
        let report = CoverageReport(index: index, cases: [], waivers: file.waivers)
        #expect(report.problems.isEmpty, "\(report.problems)")
    }
}

/// Coverage of the real corpus: fails until every MUST of the Spec is covered by a case or waived (tracked by the
/// lead while the corpus is written).
@Suite("Coverage of the real corpus")
struct CorpusCoverageTests {
    @Test("every MUST requirement is covered by a case or waived, and there is no coverage problem")
    func corpusCoverage() throws {
        let root = ReportFixtures.packageRoot
        let report = try CoverageReport.forCorpus(
            scenariosDirectory: root.appendingPathComponent("Vectors/scenarios").path,
            specDirectory: root.appendingPathComponent("Spec").path
        )
        let problems = report.problems
        #expect(problems.isEmpty, "coverage problems")
        let uncovered = report.uncoveredMusts.map(\.id)
        #expect(uncovered.isEmpty, "\(uncovered.count) MUST requirements are neither covered nor waived")
    }
}

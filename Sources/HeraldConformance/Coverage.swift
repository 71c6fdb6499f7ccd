import Foundation
import HeraldSpec

/// A requirement that no server test can check, with the reason (`Vectors/scenarios/waivers.json`).
public struct Waiver: Codable, Sendable, Hashable {
    /// The requirement id, such as `HS-1`.
    public var requirement: String
    /// Why no case checks it.
    public var reason: String

    /// Creates a waiver.
    public init(requirement: String, reason: String) {
        self.requirement = requirement
        self.reason = reason
    }
}

/// The waivers file: `{"schemaVersion": 1, "waivers": [{"requirement": "HS-1", "reason": "…"}]}`.
public struct WaiverFile: Codable, Sendable, Hashable {
    /// The only schema version this runner reads.
    public static let currentSchemaVersion = 1
    /// The file's name inside the scenarios directory.
    public static let fileName = "waivers.json"

    /// The file format's version.
    public var schemaVersion: Int
    /// The waivers in file order.
    public var waivers: [Waiver]

    /// Creates a waivers file.
    public init(waivers: [Waiver]) {
        self.schemaVersion = Self.currentSchemaVersion
        self.waivers = waivers
    }

    /// Parses a waivers file; every waiver needs a non-empty reason.
    ///
    /// - Throws: ``CoverageError`` for malformed JSON, an unknown schema version or an empty reason.
    public init(data: Data, fileName: String = WaiverFile.fileName) throws(CoverageError) {
        let file: WaiverFile
        do {
            file = try JSONDecoder().decode(WaiverFile.self, from: data)
        } catch {
            throw CoverageError("\(fileName): not a waivers file: \(error)")
        }
        guard file.schemaVersion == Self.currentSchemaVersion else {
            throw CoverageError(
                "\(fileName): schemaVersion \(file.schemaVersion) is not supported "
                    + "(expected \(Self.currentSchemaVersion))"
            )
        }
        for waiver in file.waivers where waiver.reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw CoverageError("\(fileName): the waiver of \(waiver.requirement) has no reason")
        }
        self = file
    }

    /// Reads a waivers file; a missing file is an empty list.
    ///
    /// - Throws: ``CoverageError`` if the file exists but cannot be read or parsed.
    public init(contentsOfFile path: String) throws(CoverageError) {
        guard FileManager.default.fileExists(atPath: path) else {
            self.init(waivers: [])
            return
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CoverageError("cannot read \(path)")
        }
        try self.init(data: data, fileName: path)
    }
}

/// A case as coverage sees it: its id, its chapter and the requirements it checks.
public struct CoverageCase: Sendable, Hashable {
    /// The case id.
    public var id: String
    /// The scenario file's chapter, such as `09-channels`.
    public var chapter: String
    /// The requirement ids the case checks.
    public var requirements: [String]

    /// Creates a case description.
    public init(id: String, chapter: String, requirements: [String]) {
        self.id = id
        self.chapter = chapter
        self.requirements = requirements
    }
}

/// A file that coverage cannot work with (a usage error: exit status 2).
public struct CoverageError: Error, Hashable, CustomStringConvertible {
    /// What is wrong.
    public var description: String

    /// Creates an error.
    public init(_ description: String) {
        self.description = description
    }
}

/// Requirement coverage: the Spec's requirements against the corpus's cases and the waivers
/// (`herald conform coverage`).
public struct CoverageReport: Codable, Sendable, Hashable {
    /// The format version of the JSON form.
    public static let formatVersion = 1

    /// The counts of one level in one chapter (or overall).
    public struct Counts: Codable, Sendable, Hashable {
        /// Requirements of the level.
        public var total = 0
        /// Requirements checked by at least one case.
        public var covered = 0
        /// Requirements waived (no case can check them).
        public var waived = 0
        /// Requirements neither covered nor waived.
        public var uncovered = 0

        /// Creates zero counts.
        public init() {}
    }

    /// One chapter's counts by level (`MUST`, `SHOULD`, `MAY`; every level is present).
    public struct Chapter: Codable, Sendable, Hashable {
        /// The chapter's name without `.md`, such as `09-channels`.
        public var chapter: String
        /// Counts by level name.
        public var levels: [String: Counts]
    }

    /// How one requirement is covered.
    public enum Status: String, Codable, Sendable, Hashable {
        /// At least one case checks it.
        case covered
        /// The waivers file explains why no case can check it.
        case waived
        /// Neither.
        case uncovered
    }

    /// One requirement's coverage.
    public struct Entry: Codable, Sendable, Hashable {
        /// The requirement id.
        public var id: String
        /// `MUST`, `SHOULD` or `MAY`.
        public var level: String
        /// The chapter without `.md`.
        public var chapter: String
        /// The requirement's text.
        public var text: String
        /// Covered, waived or uncovered.
        public var status: Status
        /// The ids of the cases that check it.
        public var cases: [String]
        /// The waiver's reason, when waived.
        public var waiverReason: String?
    }

    /// ``formatVersion``.
    public var formatVersion: Int
    /// Counts per chapter, in Spec chapter order.
    public var chapters: [Chapter]
    /// Counts over all chapters, by level name.
    public var totals: [String: Counts]
    /// Every requirement, in Spec order.
    public var requirements: [Entry]
    /// Inconsistencies: waivers of covered or unknown requirements, duplicate waivers, cases citing unknown ids.
    public var problems: [String]

    /// The MUST requirements that are neither covered nor waived.
    public var uncoveredMusts: [Entry] {
        self.requirements.filter { $0.level == RequirementLevel.must.rawValue && $0.status == .uncovered }
    }

    /// Whether coverage is complete: every MUST covered or waived, and no problem.
    public var passed: Bool {
        self.uncoveredMusts.isEmpty && self.problems.isEmpty
    }

    /// Computes coverage.
    ///
    /// - Parameters:
    ///   - requirements: The Spec's requirements (`RequirementIndex.requirements`), in Spec order.
    ///   - chapters: The Spec's chapter file names in order (`RequirementIndex.chapters`); chapters without
    ///     requirements are left out of the report.
    ///   - cases: The corpus's cases.
    ///   - waivers: The waivers.
    ///   - removedIDs: Ids tagged `(Removed.)` in the Spec: citing them is a problem too.
    ///   - otherRole: Requirements of the other role (those a client corpus names, when this is the server's
    ///     report): left out of this report; a case may cite one, a waiver of one is a problem.
    public init(
        requirements: [Requirement],
        chapters: [String],
        cases: [CoverageCase],
        waivers: [Waiver],
        removedIDs: Set<String> = [],
        otherRole: Set<String> = []
    ) {
        var casesByRequirement: [String: [String]] = [:]
        var problems: [String] = []
        let requirements = requirements.filter { !otherRole.contains($0.id) }
        let known = Set(requirements.map(\.id))
        for coverageCase in cases {
            for id in coverageCase.requirements {
                if otherRole.contains(id) {
                    continue
                } else if known.contains(id) {
                    if casesByRequirement[id]?.last != coverageCase.id {
                        casesByRequirement[id, default: []].append(coverageCase.id)
                    }
                } else if removedIDs.contains(id) {
                    problems.append("case \(coverageCase.id) cites \(id), which the specification has removed")
                } else {
                    problems.append(
                        "case \(coverageCase.id) cites \(id), which is not a requirement of the specification"
                    )
                }
            }
        }
        var waiverReasons: [String: String] = [:]
        for waiver in waivers {
            if waiverReasons[waiver.requirement] != nil {
                problems.append("\(waiver.requirement) is waived twice")
                continue
            }
            if otherRole.contains(waiver.requirement) {
                problems.append(
                    "\(waiver.requirement) is a requirement of the other role (the client corpus names it); remove "
                        + "this waiver"
                )
                continue
            }
            if !known.contains(waiver.requirement) {
                problems.append("the waiver of \(waiver.requirement) names no requirement of the specification")
                continue
            }
            if let covering = casesByRequirement[waiver.requirement] {
                problems.append(
                    "\(waiver.requirement) is waived but checked by \(covering.joined(separator: ", ")); "
                        + "remove the waiver"
                )
            }
            waiverReasons[waiver.requirement] = waiver.reason
        }

        var entries: [Entry] = []
        var byChapter: [String: [String: Counts]] = [:]
        var totals = Self.zeroCounts()
        for requirement in requirements {
            let chapter = Self.chapterName(requirement.chapter)
            let covering = casesByRequirement[requirement.id] ?? []
            let status: Status
            if !covering.isEmpty {
                status = .covered
            } else if waiverReasons[requirement.id] != nil {
                status = .waived
            } else {
                status = .uncovered
            }
            entries.append(
                Entry(
                    id: requirement.id,
                    level: requirement.level.rawValue,
                    chapter: chapter,
                    text: requirement.text,
                    status: status,
                    cases: covering,
                    waiverReason: status == .waived ? waiverReasons[requirement.id] : nil
                )
            )
            var counts = byChapter[chapter] ?? Self.zeroCounts()
            Self.count(status, level: requirement.level.rawValue, in: &counts)
            byChapter[chapter] = counts
            Self.count(status, level: requirement.level.rawValue, in: &totals)
        }
        var orderedChapters = chapters.map(Self.chapterName).filter { byChapter[$0] != nil }
        for chapter in byChapter.keys.sorted() where !orderedChapters.contains(chapter) {
            orderedChapters.append(chapter)
        }
        self.formatVersion = Self.formatVersion
        self.chapters = orderedChapters.map { Chapter(chapter: $0, levels: byChapter[$0] ?? Self.zeroCounts()) }
        self.totals = totals
        self.requirements = entries
        self.problems = problems
    }

    /// Computes coverage from a requirement index.
    public init(index: RequirementIndex, cases: [CoverageCase], waivers: [Waiver], otherRole: Set<String> = []) {
        self.init(
            requirements: index.requirements,
            chapters: index.chapters,
            cases: cases,
            waivers: waivers,
            removedIDs: index.removedIDs,
            otherRole: otherRole
        )
    }

    /// The client role's coverage: the requirements the client corpus names (``ClientCorpus/requirementIDs``)
    /// against its cases and waivers.
    public init(index: RequirementIndex, clientCorpus: ClientCorpus) {
        let clientIDs = clientCorpus.requirementIDs
        self.init(
            requirements: index.requirements,
            chapters: index.chapters,
            cases: clientCorpus.cases.map {
                CoverageCase(id: $0.id, chapter: $0.chapter, requirements: $0.requirements)
            },
            waivers: clientCorpus.waivers,
            removedIDs: index.removedIDs,
            otherRole: Set(index.requirements.map(\.id)).subtracting(clientIDs)
        )
    }

    /// A chapter file name without its `.md` extension (`09-channels.md` → `09-channels`).
    public static func chapterName(_ fileName: String) -> String {
        fileName.hasSuffix(".md") ? String(fileName.dropLast(3)) : fileName
    }

    /// The report as pretty-printed JSON with sorted keys and a final newline.
    public func renderJSON() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(self)
        data.append(UInt8(ascii: "\n"))
        return data
    }

    /// The human-readable report: a table per chapter and level, the uncovered MUSTs and the problems.
    public func renderText(listUncoveredShouldAndMay: Bool = false) -> String {
        let levels = RequirementLevel.allCases.map(\.rawValue)
        var lines: [String] = []
        let header = ["chapter", "level", "total", "covered", "waived", "uncovered"]
        var rows: [[String]] = []
        for chapter in self.chapters {
            for level in levels {
                let counts = chapter.levels[level] ?? Counts()
                guard counts.total > 0 else { continue }
                rows.append([
                    chapter.chapter, level, "\(counts.total)", "\(counts.covered)", "\(counts.waived)",
                    "\(counts.uncovered)",
                ])
            }
        }
        for level in levels {
            let counts = self.totals[level] ?? Counts()
            rows.append([
                "all", level, "\(counts.total)", "\(counts.covered)", "\(counts.waived)", "\(counts.uncovered)",
            ])
        }
        let widths = header.indices.map { column in
            ([header] + rows).map { $0[column].count }.max() ?? 0
        }
        func format(_ row: [String]) -> String {
            row.enumerated().map { column, cell in
                column < 2
                    ? cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[column] - cell.count) + cell
            }.joined(separator: "  ")
        }
        lines.append(format(header))
        lines.append(contentsOf: rows.map(format))
        let uncovered = self.requirements.filter {
            $0.status == .uncovered && (listUncoveredShouldAndMay || $0.level == RequirementLevel.must.rawValue)
        }
        if !uncovered.isEmpty {
            lines.append("")
            lines.append(
                listUncoveredShouldAndMay
                    ? "uncovered requirements (\(uncovered.count)):"
                    : "uncovered MUST requirements (\(uncovered.count)):"
            )
            for entry in uncovered {
                lines.append("  \(entry.id) [\(entry.level), \(entry.chapter)] \(Self.shorten(entry.text, to: 100))")
            }
        }
        if !self.problems.isEmpty {
            lines.append("")
            lines.append("problems (\(self.problems.count)):")
            lines.append(contentsOf: self.problems.map { "  " + $0 })
        }
        lines.append("")
        let must = self.totals[RequirementLevel.must.rawValue] ?? Counts()
        lines.append(
            "MUST: \(must.covered) covered, \(must.waived) waived, \(must.uncovered) uncovered of \(must.total); "
                + (self.passed ? "coverage complete" : "coverage INCOMPLETE")
        )
        return lines.joined(separator: "\n") + "\n"
    }

    private static func zeroCounts() -> [String: Counts] {
        Dictionary(uniqueKeysWithValues: RequirementLevel.allCases.map { ($0.rawValue, Counts()) })
    }

    private static func count(_ status: Status, level: String, in counts: inout [String: Counts]) {
        var value = counts[level] ?? Counts()
        value.total += 1
        switch status {
        case .covered: value.covered += 1
        case .waived: value.waived += 1
        case .uncovered: value.uncovered += 1
        }
        counts[level] = value
    }

    static func shorten(_ text: String, to length: Int) -> String {
        text.count <= length ? text : String(text.prefix(length - 1)) + "…"
    }
}

extension CoverageReport {
    /// Computes the coverage of a scenario corpus: the requirement index of `specDirectory`, the cases of every
    /// scenario file of `scenariosDirectory`, and its `waivers.json` (a missing file is no waivers).
    ///
    /// Requirement ids cited by cases are not checked while loading; unknown ones are reported in ``problems``.
    ///
    /// - Throws: ``CoverageError`` if the Spec or the waivers cannot be read, ``ScenarioLoadError`` for scenario
    ///   files that cannot be loaded.
    public static func forCorpus(scenariosDirectory: String, specDirectory: String) throws -> CoverageReport {
        let index: RequirementIndex
        do {
            index = try RequirementIndex(specDirectory: URL(fileURLWithPath: specDirectory))
        } catch {
            throw CoverageError("cannot read the specification in \(specDirectory): \(error.localizedDescription)")
        }
        guard !index.requirements.isEmpty else {
            throw CoverageError("\(specDirectory) has no tagged requirements")
        }
        let corpus = try ScenarioLoader(requirementIDs: nil).load(directory: scenariosDirectory)
        let waivers = try WaiverFile(
            contentsOfFile: (scenariosDirectory as NSString).appendingPathComponent(WaiverFile.fileName)
        )
        let clientIDs =
            (try? ClientCorpus.load(directory: Self.clientDirectory(beside: scenariosDirectory)))?
            .requirementIDs ?? []
        return CoverageReport(index: index, corpus: corpus, waivers: waivers.waivers, otherRole: clientIDs)
    }

    /// `client-scenarios` beside a scenario directory, if it exists; else `nil` (the embedded client corpus).
    public static func clientDirectory(beside scenariosDirectory: String) -> String? {
        let sibling = ((scenariosDirectory as NSString).deletingLastPathComponent as NSString)
            .appendingPathComponent("client-scenarios")
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: sibling, isDirectory: &isDirectory) && isDirectory.boolValue
            ? sibling : nil
    }

    /// The coverage of a loaded corpus against a requirement index and waivers; requirements of `otherRole` (the
    /// client role's) are left out.
    public init(index: RequirementIndex, corpus: ScenarioCorpus, waivers: [Waiver], otherRole: Set<String> = []) {
        self.init(
            index: index,
            cases: corpus.cases.map {
                CoverageCase(id: $0.id, chapter: $0.chapter, requirements: $0.scenario.requirements)
            },
            waivers: waivers,
            otherRole: otherRole
        )
    }
}

import Foundation
import Synchronization

/// Every tagged normative statement of the specification, parsed from `Spec/README.md` and `Spec/NN-*.md`.
///
/// A requirement is a Markdown paragraph or list item that starts with `[PREFIX-N]` (PREFIX: 2–6 upper-case
/// letters, N: a positive integer without leading zeros), one space and the statement. The statement runs to the
/// end of the paragraph or list item. Problems are collected in ``diagnostics`` instead of stopping the parse.
public struct RequirementIndex: Sendable {
    /// The requirements in chapter order, then by position in the chapter.
    public private(set) var requirements: [Requirement]
    /// Duplicate ids, statements without a keyword and malformed tags, in file order.
    public private(set) var diagnostics: [SpecDiagnostic]
    /// The chapter file names in order, including chapters without requirements.
    public private(set) var chapters: [String]
    /// Ids tagged `(Removed.)`: reserved so they are never reused, but not requirements.
    public private(set) var removedIDs: Set<String>

    /// The version of the specification written into `requirements.json`.
    public static let specVersion = "1.0.1"
    /// The command that regenerates `requirements.json`, written into the file.
    public static let generatedBy = "herald spec requirements --write"
    /// The file name of the generated index inside the Spec directory.
    public static let fileName = "requirements.json"

    /// Parses requirement tags from documents given in chapter order.
    ///
    /// The indexes of the last few sets of documents are kept for the life of the process: the runner, coverage and
    /// every test that builds a loader parse the same Spec, and parsing it is long synchronous work.
    public init(documents: [SpecDocument]) {
        if let cached = Self.cache.withLock({ $0[documents] }) {
            self = cached
            return
        }
        self.init(parsing: documents)
        let index = self
        Self.cache.withLock { cache in
            if cache.count >= 8 { cache.removeAll() }
            cache[documents] = index
        }
    }

    private static let cache = Mutex<[[SpecDocument]: RequirementIndex]>([:])

    private init(parsing documents: [SpecDocument]) {
        self.requirements = []
        self.diagnostics = []
        self.chapters = documents.map(\.name)
        self.removedIDs = []
        var firstDefinition: [String: (file: String, line: Int)] = [:]
        for document in documents {
            let markdown = MarkdownBlocks(text: document.text)
            let firstDiagnostic = self.diagnostics.count
            var taggedLines: Set<Int> = []
            for block in markdown.blocks {
                if self.scan(block, in: document.name, firstDefinition: &firstDefinition) {
                    taggedLines.formUnion(block.line..<block.line + block.lines.count)
                }
            }
            for (number, text) in markdown.proseLines where !taggedLines.contains(number) {
                let keywords = RFC2119.keywords(in: text)
                guard !keywords.isEmpty else { continue }
                self.diagnostics.append(
                    SpecDiagnostic(
                        kind: .keywordOutsideRequirement,
                        file: document.name,
                        line: number,
                        message: "\(keywords.joined(separator: ", ")) outside a tagged requirement (use lower case "
                            + "or a code span in informative text)"
                    )
                )
            }
            // Report this document's problems in line order.
            let documentDiagnostics = self.diagnostics[firstDiagnostic...].enumerated().sorted {
                ($0.element.line, $0.offset) < ($1.element.line, $1.offset)
            }
            self.diagnostics.replaceSubrange(firstDiagnostic..., with: documentDiagnostics.map(\.element))
        }
    }

    /// Reads and parses `README.md` and every `NN-*.md` chapter in `specDirectory`.
    ///
    /// - Throws: The Foundation error if the directory or a chapter cannot be read.
    public init(specDirectory: URL) throws {
        self.init(documents: try SpecDocument.loadChapters(in: specDirectory))
    }

    /// The requirement with the given id, if any.
    public func requirement(withID id: String) -> Requirement? {
        self.requirements.first { $0.id == id }
    }

    /// The set of all requirement ids.
    public var ids: Set<String> {
        Set(self.requirements.map(\.id))
    }

    /// The number of requirements at each level (every level is present, possibly with 0).
    public var countsByLevel: [RequirementLevel: Int] {
        var counts = Dictionary(uniqueKeysWithValues: RequirementLevel.allCases.map { ($0, 0) })
        for requirement in self.requirements { counts[requirement.level, default: 0] += 1 }
        return counts
    }

    /// The number of requirements per chapter at each level, in chapter order.
    public var countsByChapter: [(chapter: String, counts: [RequirementLevel: Int])] {
        self.chapters.map { chapter in
            var counts = Dictionary(uniqueKeysWithValues: RequirementLevel.allCases.map { ($0, 0) })
            for requirement in self.requirements where requirement.chapter == chapter {
                counts[requirement.level, default: 0] += 1
            }
            return (chapter, counts)
        }
    }

    /// The contents of `Spec/requirements.json`: deterministic, pretty-printed with sorted keys and a final newline.
    public func renderJSON() throws -> Data {
        let file = RequirementsFile(
            specVersion: Self.specVersion,
            generatedBy: Self.generatedBy,
            count: self.requirements.count,
            countsByLevel: Dictionary(
                uniqueKeysWithValues: self.countsByLevel.map { ($0.key.rawValue, $0.value) }
            ),
            requirements: self.requirements.map {
                RequirementsFile.Entry(
                    id: $0.id,
                    level: $0.level.rawValue,
                    chapter: $0.chapter,
                    section: $0.section,
                    line: $0.line,
                    text: $0.text
                )
            }
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(file)
        data.append(UInt8(ascii: "\n"))
        return data
    }

    // MARK: - Parsing

    /// Records the requirement (or problem) of one block; returns whether the block starts with a tag.
    @discardableResult
    private mutating func scan(
        _ block: MarkdownBlocks.Block,
        in file: String,
        firstDefinition: inout [String: (file: String, line: Int)]
    ) -> Bool {
        guard let first = block.lines.first, first.hasPrefix("[") else { return false }
        switch TagScanner.scan(first) {
        case .notATag:
            return false
        case .malformed(let reason):
            self.diagnostics.append(SpecDiagnostic(kind: .malformedTag, file: file, line: block.line, message: reason))
            return true
        case .tag(let prefix, let number, let statementStart):
            let id = "\(prefix)-\(number)"
            let statement = ([String(first[statementStart...])] + block.lines.dropFirst())
                .joined(separator: " ")
                .trimmingCharacters(in: .whitespaces)
            if let previous = firstDefinition[id] {
                self.diagnostics.append(
                    SpecDiagnostic(
                        kind: .duplicateID,
                        file: file,
                        line: block.line,
                        message: "\(id) is already defined at \(previous.file):\(previous.line)"
                    )
                )
                return true
            }
            firstDefinition[id] = (file, block.line)
            if statement == "(Removed.)" {
                self.removedIDs.insert(id)
                return true
            }
            guard let level = RFC2119.level(of: statement) else {
                self.diagnostics.append(
                    SpecDiagnostic(
                        kind: .missingKeyword,
                        file: file,
                        line: block.line,
                        message: "\(id) has no upper-case RFC 2119 keyword (MUST, SHOULD, MAY, …)"
                    )
                )
                return true
            }
            self.requirements.append(
                Requirement(
                    id: id,
                    prefix: prefix,
                    number: number,
                    level: level,
                    chapter: file,
                    section: block.section,
                    line: block.line,
                    text: statement
                )
            )
            return true
        }
    }
}

/// The shape of `Spec/requirements.json`.
private struct RequirementsFile: Encodable {
    struct Entry: Encodable {
        var id: String
        var level: String
        var chapter: String
        var section: String
        var line: Int
        var text: String
    }

    var specVersion: String
    var generatedBy: String
    var count: Int
    var countsByLevel: [String: Int]
    var requirements: [Entry]
}

/// Recognises the `[PREFIX-N] ` tag at the start of a block.
enum TagScanner {
    enum Result: Equatable {
        /// The block does not start with anything tag-like (or starts with a link or link definition).
        case notATag
        /// The block starts like a tag but breaks the markup rule.
        case malformed(String)
        /// A well-formed tag; `statementStart` indexes the first character of the statement.
        case tag(prefix: String, number: Int, statementStart: String.Index)
    }

    static func scan(_ line: String) -> Result {
        guard line.hasPrefix("["), let close = line.firstIndex(of: "]") else { return .notATag }
        let inner = line[line.index(after: line.startIndex)..<close]
        let after = line[line.index(after: close)...]
        // `[FRM-3](link)`, `[FRM-3]: url` and `[FRM-3][ref]` are references to a requirement, not definitions.
        if let next = after.first, next == "(" || next == ":" || next == "[" { return .notATag }
        // Tag-like: letters, an optional separator, then a digit; or upper-case letters and '-' (this catches
        // unnumbered placeholders such as `[PEER-#:size]`).
        let letters = inner.prefix { $0.isASCII && $0.isLetter }
        guard !letters.isEmpty else { return .notATag }
        var rest = inner.dropFirst(letters.count)
        let separator = rest.first
        if let separator, separator == "-" || separator == "_" || separator == " " {
            rest = rest.dropFirst()
        }
        let startsWithDigit = rest.first.map { $0.isASCII && $0.isNumber } ?? false
        let upperCaseDash = separator == "-" && letters.allSatisfy(\.isUppercase)
        guard startsWithDigit || upperCaseDash else { return .notATag }
        let tag = "[\(inner)]"
        guard (2...6).contains(letters.count), letters.allSatisfy(\.isUppercase) else {
            return .malformed("\(tag): the prefix must be 2–6 upper-case letters")
        }
        guard inner.dropFirst(letters.count).first == "-" else {
            return .malformed("\(tag): the prefix and number must be separated by '-'")
        }
        guard !rest.isEmpty, rest.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            return .malformed("\(tag): '\(letters)-' must be followed by the requirement number and ']' (unnumbered?)")
        }
        guard rest.first != "0", let number = Int(rest) else {
            return .malformed("\(tag): the number must be a positive integer without leading zeros")
        }
        guard after.first == " ", let statementFirst = after.dropFirst().first, statementFirst != " " else {
            return .malformed("\(tag) must be followed by exactly one space and the statement")
        }
        return .tag(prefix: String(letters), number: number, statementStart: after.index(after: after.startIndex))
    }
}

/// RFC 2119 / BCP 14 keyword detection.
enum RFC2119 {
    private static let mustKeywords: Set<String> = ["MUST", "REQUIRED", "SHALL"]
    private static let shouldKeywords: Set<String> = ["SHOULD", "RECOMMENDED"]
    private static let mayKeywords: Set<String> = ["MAY", "OPTIONAL"]

    /// The level of `statement`, or `nil` if it contains no upper-case keyword outside code spans.
    ///
    /// Keywords are whole words (`ACK_REQUIRED` or `MUSTARD` do not count). `MUST NOT`, `SHALL NOT`,
    /// `SHOULD NOT` and `NOT RECOMMENDED` contain `MUST`, `SHALL`, `SHOULD` and `RECOMMENDED`, so they fall out.
    static func level(of statement: String) -> RequirementLevel? {
        let words = Set(self.words(in: self.removingCodeSpans(statement)))
        if !words.isDisjoint(with: self.mustKeywords) { return .must }
        if !words.isDisjoint(with: self.shouldKeywords) { return .should }
        if !words.isDisjoint(with: self.mayKeywords) { return .may }
        return nil
    }

    /// The upper-case keywords in `text` outside code spans, in order of first appearance.
    static func keywords(in text: String) -> [String] {
        let all = self.mustKeywords.union(self.shouldKeywords).union(self.mayKeywords)
        var found: [String] = []
        for word in self.words(in: self.removingCodeSpans(text)) where all.contains(word) && !found.contains(word) {
            found.append(word)
        }
        return found
    }

    /// Splits on every character that is not a letter, digit or underscore.
    static func words(in text: String) -> [String] {
        text.split { !($0.isLetter || $0.isNumber || $0 == "_") }.map(String.init)
    }

    /// Removes inline code spans (`` `…` ``), whose content is code, not prose.
    static func removingCodeSpans(_ text: String) -> String {
        var result = ""
        var inCode = false
        for character in text {
            if character == "`" {
                inCode.toggle()
                result.append(" ")
            } else if !inCode {
                result.append(character)
            }
        }
        return result
    }
}

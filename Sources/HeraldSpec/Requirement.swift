/// The strength of a normative statement, derived from its RFC 2119 keywords (Spec/README.md).
///
/// A statement is ``must`` if it contains MUST, MUST NOT, REQUIRED, SHALL or SHALL NOT; otherwise ``should`` if it
/// contains SHOULD, SHOULD NOT, RECOMMENDED or NOT RECOMMENDED; otherwise ``may`` (MAY, OPTIONAL).
public enum RequirementLevel: String, Sendable, Hashable, CaseIterable, Codable, Comparable {
    /// An absolute requirement or prohibition.
    case must = "MUST"
    /// A recommendation (or a recommendation against).
    case should = "SHOULD"
    /// A truly optional behaviour.
    case may = "MAY"

    /// Orders levels from strongest (``must``) to weakest (``may``).
    public static func < (lhs: Self, rhs: Self) -> Bool {
        lhs.rank < rhs.rank
    }

    private var rank: Int {
        switch self {
        case .must: 0
        case .should: 1
        case .may: 2
        }
    }
}

/// One tagged normative statement of the Herald specification, such as `[FRM-3] …`.
public struct Requirement: Hashable, Sendable {
    /// The requirement identifier, for example `FRM-3`.
    public var id: String
    /// The identifier's prefix, for example `FRM`.
    public var prefix: String
    /// The identifier's number, for example `3`.
    public var number: Int
    /// The level derived from the statement's RFC 2119 keywords.
    public var level: RequirementLevel
    /// The file name of the chapter that defines it, for example `03-framing.md`.
    public var chapter: String
    /// The text of the nearest heading above the statement (empty if there is none).
    public var section: String
    /// The 1-based line number of the tag in the chapter file.
    public var line: Int
    /// The statement without its tag; continuation lines are joined with single spaces and Markdown is kept.
    public var text: String

    /// Creates a requirement.
    public init(
        id: String,
        prefix: String,
        number: Int,
        level: RequirementLevel,
        chapter: String,
        section: String,
        line: Int,
        text: String
    ) {
        self.id = id
        self.prefix = prefix
        self.number = number
        self.level = level
        self.chapter = chapter
        self.section = section
        self.line = line
        self.text = text
    }
}

/// A problem found while reading requirement tags, reported with its file and line.
public struct SpecDiagnostic: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of problem.
    public enum Kind: String, Sendable, Hashable {
        /// The same identifier is defined twice.
        case duplicateID = "duplicate-id"
        /// A tagged statement contains no upper-case RFC 2119 keyword.
        case missingKeyword = "missing-keyword"
        /// A block starts with something that looks like a tag but does not follow `[PREFIX-N] statement`.
        case malformedTag = "malformed-tag"
        /// An upper-case RFC 2119 keyword outside a tagged requirement (Spec/README.md: non-normative prose must
        /// not use them; in code spans they are fine).
        case keywordOutsideRequirement = "keyword-outside-requirement"
        /// A file could not be read or parsed.
        case unreadable = "unreadable"
    }

    /// The kind of problem.
    public var kind: Kind
    /// The file name (relative to the Spec directory) where it was found.
    public var file: String
    /// The 1-based line number (0 when the problem concerns the whole file).
    public var line: Int
    /// A human-readable explanation.
    public var message: String

    /// Creates a diagnostic.
    public init(kind: Kind, file: String, line: Int, message: String) {
        self.kind = kind
        self.file = file
        self.line = line
        self.message = message
    }

    /// `file:line: kind: message`, the format compilers use so editors can jump to it.
    public var description: String {
        "\(self.file):\(self.line): \(self.kind.rawValue): \(self.message)"
    }
}

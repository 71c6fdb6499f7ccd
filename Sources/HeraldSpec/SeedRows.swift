import Foundation

/// The seed list: one row per Agora Signaling / RTM capability that Herald must cover.
///
/// The file is tab-separated with the header `seed section kind description description_en signaling rtm`.
/// `signaling` and `rtm` hold comma-separated API names, or `N/A` for none.
public struct SeedRows: Sendable {
    /// The header the file must start with.
    public static let header = ["seed", "section", "kind", "description", "description_en", "signaling", "rtm"]

    /// One seed row.
    public struct Row: Hashable, Sendable {
        /// The position in the file, starting at 1 for the first row after the header.
        public var number: Int
        /// The seed file name.
        public var seed: String
        /// The section title (as in the seed).
        public var section: String
        /// `method`, `event` or `sync`.
        public var kind: String
        /// The original description.
        public var description: String
        /// The English description.
        public var descriptionEnglish: String
        /// The Signaling API names (empty for `N/A`).
        public var signaling: [String]
        /// The RTM API names (empty for `N/A`).
        public var rtm: [String]

        /// Creates a row.
        public init(
            number: Int,
            seed: String,
            section: String,
            kind: String,
            description: String,
            descriptionEnglish: String,
            signaling: [String],
            rtm: [String]
        ) {
            self.number = number
            self.seed = seed
            self.section = section
            self.kind = kind
            self.description = description
            self.descriptionEnglish = descriptionEnglish
            self.signaling = signaling
            self.rtm = rtm
        }
    }

    /// A problem that prevents reading the file.
    public typealias ParseError = SpecFileParseError

    /// The rows in file order.
    public var rows: [Row]

    /// Parses the TSV text.
    ///
    /// - Throws: ``ParseError`` if the header differs or a row does not have 7 fields.
    public init(tsv: String) throws(ParseError) {
        let lines = tsv.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            String(line.hasSuffix("\r") ? line.dropLast() : line)
        }
        guard let headerLine = lines.first,
            headerLine.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) == Self.header
        else {
            throw ParseError(
                file: "seed-rows.tsv",
                line: 1,
                message: "the header must be '\(Self.header.joined(separator: "\\t"))'"
            )
        }
        var rows: [Row] = []
        for (offset, line) in lines.enumerated().dropFirst() where !line.isEmpty {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard fields.count == Self.header.count else {
                throw ParseError(
                    file: "seed-rows.tsv",
                    line: offset + 1,
                    message: "expected 7 tab-separated fields, found \(fields.count)"
                )
            }
            rows.append(
                Row(
                    number: rows.count + 1,
                    seed: fields[0],
                    section: fields[1],
                    kind: fields[2],
                    description: fields[3],
                    descriptionEnglish: fields[4],
                    signaling: Self.names(fields[5]),
                    rtm: Self.names(fields[6])
                )
            )
        }
        self.rows = rows
    }

    /// Reads and parses the TSV file at `url`.
    ///
    /// - Throws: A Foundation error if the file cannot be read, or ``ParseError``.
    public init(contentsOf url: URL) throws {
        let data = try Data(contentsOf: url)
        try self.init(tsv: String(decoding: data, as: UTF8.self))
    }

    /// Splits a comma-separated API list; `N/A` (or an empty field) means no names.
    static func names(_ field: String) -> [String] {
        if field.isEmpty || field == "N/A" { return [] }
        return field.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
            !$0.isEmpty && $0 != "N/A"
        }
    }
}

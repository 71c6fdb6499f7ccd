import Foundation

/// The table in `Spec/mapping.md` that maps every seed row (an Agora Signaling / RTM API or callback) to Herald.
///
/// The table's header is
/// `| # | Seed | Section | Kind | Description | Signaling | RTM (Objective-C) | RTM (C++) | Herald | HeraldClient |`.
/// Names in backticks are extracted from every cell. A Herald cell either starts with `client-side:` or names
/// schema messages in backticks; a HeraldClient cell names the public symbols of the `HeraldClient` library in
/// backticks.
public struct MappingTable: Sendable {
    /// The column titles the table must have, in order.
    public static let columns = [
        "#", "Seed", "Section", "Kind", "Description", "Signaling", "RTM (Objective-C)", "RTM (C++)", "Herald",
        "HeraldClient",
    ]

    /// The prefix of a Herald cell for behaviour that stays in the client library.
    public static let clientSidePrefix = "client-side:"

    /// One table row.
    public struct Row: Hashable, Sendable {
        /// The position in the seed list (the `#` column), starting at 1.
        public var number: Int
        /// The seed file name.
        public var seed: String
        /// The seed section.
        public var section: String
        /// `method`, `event` or `sync`.
        public var kind: String
        /// The English description.
        public var description: String
        /// The Signaling cell, verbatim.
        public var signaling: String
        /// The RTM Objective-C cell, verbatim.
        public var rtmObjectiveC: String
        /// The RTM C++ cell, verbatim.
        public var rtmCpp: String
        /// The Herald cell, verbatim.
        public var herald: String
        /// The HeraldClient cell, verbatim.
        public var heraldClient: String
        /// The 1-based line number of the row in `mapping.md`.
        public var line: Int

        /// Creates a row.
        public init(
            number: Int,
            seed: String,
            section: String,
            kind: String,
            description: String,
            signaling: String,
            rtmObjectiveC: String,
            rtmCpp: String,
            herald: String,
            heraldClient: String = "",
            line: Int
        ) {
            self.number = number
            self.seed = seed
            self.section = section
            self.kind = kind
            self.description = description
            self.signaling = signaling
            self.rtmObjectiveC = rtmObjectiveC
            self.rtmCpp = rtmCpp
            self.herald = herald
            self.heraldClient = heraldClient
            self.line = line
        }

        /// Whether the Herald cell says the behaviour is client-side only.
        public var isClientSide: Bool {
            self.herald.trimmingCharacters(in: .whitespaces).hasPrefix(MappingTable.clientSidePrefix)
        }

        /// The backticked names of the Herald cell (schema message names, possibly with `.field` suffixes).
        public var heraldNames: [String] {
            MappingTable.backtickedNames(in: self.herald)
        }

        /// The backticked names of the HeraldClient cell (public symbols of the `HeraldClient` library, written
        /// `Type.member(label:)` or `HeraldClientEvent.case`).
        public var heraldClientNames: [String] {
            MappingTable.backtickedNames(in: self.heraldClient)
        }

        /// The backticked names in every cell of the row.
        public var allNames: Set<String> {
            Set(
                [
                    self.seed, self.section, self.kind, self.description, self.signaling, self.rtmObjectiveC,
                    self.rtmCpp, self.herald, self.heraldClient,
                ]
                .flatMap(MappingTable.backtickedNames)
            )
        }
    }

    /// The rows in table order.
    public var rows: [Row]
    /// The Markdown after the table (the note that lists messages with no seed row).
    public var note: String

    /// The backticked names in `note`.
    public var noteNames: [String] {
        Self.backtickedNames(in: self.note)
    }

    /// A problem that prevents reading the file.
    public typealias ParseError = SpecFileParseError

    /// Parses the first table whose header matches ``columns``.
    ///
    /// - Throws: ``ParseError`` if the table is missing, a row has the wrong number of cells or `#` is not a number.
    public init(markdown: String) throws(ParseError) {
        let lines = markdown.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            String(line.hasSuffix("\r") ? line.dropLast() : line)
        }
        guard
            let headerIndex = lines.firstIndex(where: { line in
                Self.cells(of: line).map { $0.trimmingCharacters(in: .whitespaces) } == Self.columns
            })
        else {
            throw ParseError(
                file: "mapping.md",
                line: 0,
                message: "no table with header | \(Self.columns.joined(separator: " | ")) |"
            )
        }
        var rows: [Row] = []
        var index = headerIndex + 2  // skip the delimiter row
        while index < lines.count, lines[index].trimmingCharacters(in: .whitespaces).hasPrefix("|") {
            let cells = Self.cells(of: lines[index]).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == Self.columns.count else {
                throw ParseError(
                    file: "mapping.md",
                    line: index + 1,
                    message: "expected \(Self.columns.count) cells, found \(cells.count)"
                )
            }
            guard let number = Int(cells[0]) else {
                throw ParseError(
                    file: "mapping.md",
                    line: index + 1,
                    message: "'#' cell '\(cells[0])' is not a number"
                )
            }
            rows.append(
                Row(
                    number: number,
                    seed: Self.unquoted(cells[1]),
                    section: cells[2],
                    kind: Self.unquoted(cells[3]),
                    description: cells[4],
                    signaling: cells[5],
                    rtmObjectiveC: cells[6],
                    rtmCpp: cells[7],
                    herald: cells[8],
                    heraldClient: cells[9],
                    line: index + 1
                )
            )
            index += 1
        }
        self.rows = rows
        self.note = lines[index...].joined(separator: "\n")
    }

    /// Reads and parses `mapping.md` from `specDirectory`.
    ///
    /// - Throws: A Foundation error if the file cannot be read, or ``ParseError``.
    public init(specDirectory: URL) throws {
        let data = try Data(contentsOf: specDirectory.appendingPathComponent("mapping.md"))
        try self.init(markdown: String(decoding: data, as: UTF8.self))
    }

    /// Splits a table row into cells; `\|` is an escaped pipe inside a cell.
    static func cells(of line: String) -> [String] {
        var trimmed = Substring(line.trimmingCharacters(in: .whitespaces))
        guard trimmed.hasPrefix("|") else { return [] }
        trimmed = trimmed.dropFirst()
        if trimmed.hasSuffix("|") && !trimmed.hasSuffix("\\|") { trimmed = trimmed.dropLast() }
        var cells: [String] = []
        var current = ""
        var escaped = false
        for character in trimmed {
            if escaped {
                current.append(character == "|" ? "|" : "\\\(character)")
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "|" {
                cells.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        if escaped { current.append("\\") }
        cells.append(current)
        return cells
    }

    /// The text of every code span (`` `name` ``) in `text`, trimmed, in order.
    public static func backtickedNames(in text: String) -> [String] {
        var names: [String] = []
        var current: String?
        for character in text {
            if character == "`" {
                if let name = current {
                    let trimmed = name.trimmingCharacters(in: .whitespaces)
                    if !trimmed.isEmpty { names.append(trimmed) }
                    current = nil
                } else {
                    current = ""
                }
            } else if current != nil {
                current?.append(character)
            }
        }
        return names
    }

    /// The cell text without one pair of surrounding backticks.
    private static func unquoted(_ cell: String) -> String {
        if cell.count >= 2, cell.hasPrefix("`"), cell.hasSuffix("`") {
            return String(cell.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
        }
        return cell
    }
}

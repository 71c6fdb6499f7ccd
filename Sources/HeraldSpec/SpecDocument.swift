import Foundation

/// One Markdown file of the specification: its file name and its text.
public struct SpecDocument: Hashable, Sendable {
    /// The file name relative to the Spec directory, for example `03-framing.md`.
    public var name: String
    /// The UTF-8 text of the file.
    public var text: String

    /// Creates a document from its name and text.
    public init(name: String, text: String) {
        self.name = name
        self.text = text
    }

    /// Whether `name` is a chapter that carries requirements: `README.md` or `NN-*.md`.
    public static func isRequirementSource(_ name: String) -> Bool {
        if name == "README.md" { return true }
        return self.chapterNumber(of: name) != nil
    }

    /// The chapter number of a `NN-*.md` file name (`README.md` is chapter 0); `nil` for other files.
    public static func chapterNumber(of name: String) -> Int? {
        if name == "README.md" { return 0 }
        guard name.hasSuffix(".md") else { return nil }
        let digits = name.prefix { $0.isASCII && $0.isNumber }
        guard digits.count == 2, name.dropFirst(2).first == "-", let number = Int(digits) else { return nil }
        return number
    }

    /// Whether requirement source `lhs` comes before `rhs`: `NN-*.md` chapters by number, `README.md` (no number) last
    /// among them, ties by name.
    public static func inChapterOrder(_ lhs: String, _ rhs: String) -> Bool {
        let left = Self.chapterNumber(of: lhs) ?? Int.max
        let right = Self.chapterNumber(of: rhs) ?? Int.max
        return left != right ? left < right : lhs < rhs
    }

    /// Reads every requirement source in `directory` (`README.md`, then `NN-*.md` in chapter order).
    ///
    /// - Throws: The underlying Foundation error if the directory or a file cannot be read.
    public static func loadChapters(in directory: URL) throws -> [SpecDocument] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter(Self.isRequirementSource)
            .sorted(by: Self.inChapterOrder)
        return try names.map { name in
            let data = try Data(contentsOf: directory.appendingPathComponent(name))
            return SpecDocument(name: name, text: String(decoding: data, as: UTF8.self))
        }
    }
}

/// A block-level view of Markdown, just detailed enough to find requirement tags.
///
/// It understands ATX and setext headings, fenced code blocks (skipped), HTML comments (skipped), list items and
/// paragraphs. A block ends at a blank line, a heading, a fence, a new list item, a table row, a block quote or a
/// thematic break.
struct MarkdownBlocks {
    /// A paragraph or list item: the first line's content (list marker removed) plus continuation lines.
    struct Block {
        /// The 1-based line number of the block's first line.
        var line: Int
        /// The text of each line, trimmed, with the list marker removed from the first.
        var lines: [String]
        /// The text of the nearest heading above the block.
        var section: String
        /// Whether the block is a list item.
        var isListItem: Bool
    }

    var blocks: [Block] = []
    /// Every line outside fenced code blocks and HTML comments, with its 1-based number.
    var proseLines: [(number: Int, text: String)] = []

    init(text: String) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> Substring in
            line.hasSuffix("\r") ? line.dropLast() : line
        }
        var section = ""
        var index = 0
        var fence: String?
        var inComment = false
        while index < lines.count {
            let raw = lines[index]
            let trimmed = raw.trimmingCharacters(in: .whitespaces)
            if let marker = fence {
                if trimmed.hasPrefix(marker) { fence = nil }
                index += 1
                continue
            }
            if inComment {
                if trimmed.contains("-->") { inComment = false }
                index += 1
                continue
            }
            if let marker = Self.fenceMarker(trimmed) {
                fence = marker
                index += 1
                continue
            }
            if trimmed.hasPrefix("<!--") {
                inComment = !trimmed.contains("-->")
                index += 1
                continue
            }
            self.proseLines.append((index + 1, String(raw)))
            if let heading = Self.atxHeading(trimmed) {
                section = heading
                index += 1
                continue
            }
            if trimmed.isEmpty || Self.isOtherBlockStart(trimmed) {
                index += 1
                continue
            }
            // A paragraph or a list item starts here.
            let listContent = Self.listItemContent(trimmed)
            var block = Block(
                line: index + 1,
                lines: [listContent ?? trimmed],
                section: section,
                isListItem: listContent != nil
            )
            index += 1
            var isSetextHeading = false
            while index < lines.count {
                let next = lines[index].trimmingCharacters(in: .whitespaces)
                if listContent == nil, block.lines.count >= 1, Self.isSetextUnderline(next) {
                    self.proseLines.append((index + 1, String(lines[index])))
                    isSetextHeading = true
                    index += 1
                    break
                }
                if next.isEmpty || Self.atxHeading(next) != nil || Self.fenceMarker(next) != nil
                    || Self.listItemContent(next) != nil || Self.isOtherBlockStart(next) || next.hasPrefix("<!--")
                {
                    break
                }
                block.lines.append(next)
                self.proseLines.append((index + 1, String(lines[index])))
                index += 1
            }
            if isSetextHeading {
                section = block.lines.joined(separator: " ")
            } else {
                self.blocks.append(block)
            }
        }
    }

    /// The fence string (```` ``` ```` or `~~~`) if `line` opens a fenced code block.
    static func fenceMarker(_ line: String) -> String? {
        if line.hasPrefix("```") { return "```" }
        if line.hasPrefix("~~~") { return "~~~" }
        return nil
    }

    /// The heading text if `line` is an ATX heading (`#` to `######`).
    static func atxHeading(_ line: String) -> String? {
        let hashes = line.prefix { $0 == "#" }
        guard (1...6).contains(hashes.count) else { return nil }
        let rest = line.dropFirst(hashes.count)
        guard rest.isEmpty || rest.first == " " || rest.first == "\t" else { return nil }
        var title = rest.trimmingCharacters(in: .whitespaces)
        // An optional closing sequence of #s.
        while title.hasSuffix("#") { title.removeLast() }
        return title.trimmingCharacters(in: .whitespaces)
    }

    /// The content after the marker if `line` starts a list item (`-`, `*`, `+`, `1.` or `1)`).
    static func listItemContent(_ line: String) -> String? {
        var rest = Substring(line)
        if let first = rest.first, first == "-" || first == "*" || first == "+" {
            rest = rest.dropFirst()
        } else {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard (1...9).contains(digits.count) else { return nil }
            rest = rest.dropFirst(digits.count)
            guard let delimiter = rest.first, delimiter == "." || delimiter == ")" else { return nil }
            rest = rest.dropFirst()
        }
        guard let space = rest.first, space == " " || space == "\t" else { return nil }
        if Self.isThematicBreak(line) { return nil }
        return rest.trimmingCharacters(in: .whitespaces)
    }

    /// Whether `line` starts a block that is neither a paragraph nor a list item (table, quote, rule, HTML).
    static func isOtherBlockStart(_ line: String) -> Bool {
        line.hasPrefix("|") || line.hasPrefix(">") || Self.isThematicBreak(line)
    }

    /// Whether `line` is a thematic break (`---`, `***`, `___`, spaces allowed).
    static func isThematicBreak(_ line: String) -> Bool {
        let characters = line.filter { $0 != " " && $0 != "\t" }
        guard characters.count >= 3, let first = characters.first, "-*_".contains(first) else { return false }
        return characters.allSatisfy { $0 == first }
    }

    /// Whether `line` underlines the paragraph above it as a setext heading.
    static func isSetextUnderline(_ line: String) -> Bool {
        guard let first = line.first, first == "=" || first == "-" else { return false }
        return line.allSatisfy { $0 == first }
    }
}

/// A problem that prevents reading one of the machine-read files next to the Spec (the mapping table, the seed rows).
public struct SpecFileParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The file's name, as shown in messages (`mapping.md`, `seed-rows.tsv`).
    public var file: String
    /// The 1-based line of the problem (0 when the problem is not tied to a line).
    public var line: Int
    /// What is wrong.
    public var message: String

    /// Creates a parse error.
    public init(file: String, line: Int, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    /// `file:line: message`.
    public var description: String { "\(self.file):\(self.line): \(self.message)" }
}

import Foundation

/// The expected-failures file of an implementation (`herald conform --expected-failures FILE`): the cases it is known
/// to fail, each with the reason.
///
/// The file is UTF-8 text, one entry per line:
///
/// ```text
/// # Lines starting with '#' and blank lines are comments.
/// channels.join.exceed-limit # we allow 50 channels (issue #12)
/// presence.* -- presence is not implemented yet
/// ```
///
/// An entry is a case id or a glob (`*` matches any run of characters, dots included; `?` matches one character),
/// then ` # ` or ` -- ` (a space on each side), then the reason, which is mandatory. An entry without a reason, an
/// empty pattern or a pattern with spaces is a usage error (exit status 2).
///
/// Applying the file to results (``apply(to:)``):
/// - a matched case that failed (`fail` or `timeout`) becomes `expected-fail`, which does not fail the run;
/// - a matched case that passed becomes `unexpected-pass`, which fails the run (remove the stale entry);
/// - a matched case with `error` (the runner could not execute it) or `not-applicable` keeps its verdict;
/// - an entry that matches no selected case is stale (``staleEntries(selectedIDs:)``) and fails the run.
public struct ExpectedFailures: Sendable, Hashable {
    /// One entry of the file.
    public struct Entry: Sendable, Hashable {
        /// The case id or glob.
        public var pattern: String
        /// Why the case is expected to fail.
        public var reason: String
        /// The 1-based line of the entry in its file.
        public var line: Int

        /// Creates an entry.
        public init(pattern: String, reason: String, line: Int) {
            self.pattern = pattern
            self.reason = reason
            self.line = line
        }

        /// Whether `id` matches the entry's pattern.
        public func matches(_ id: String) -> Bool {
            Runner.glob(self.pattern, matches: id)
        }
    }

    /// The separators between a pattern and its reason, in the order they are looked for.
    public static let reasonSeparators = [" # ", " -- "]

    /// The entries in file order.
    public var entries: [Entry]

    /// Creates a list from entries.
    public init(entries: [Entry]) {
        self.entries = entries
    }

    /// Parses the text of an expected-failures file.
    ///
    /// - Parameters:
    ///   - text: The file's contents.
    ///   - fileName: The name used in error messages.
    /// - Throws: ``ExpectedFailuresError`` naming the first malformed line.
    public init(parsing text: String, fileName: String = "expected-failures") throws(ExpectedFailuresError) {
        var entries: [Entry] = []
        var seen: [String: Int] = [:]
        for (offset, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = offset + 1
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let (pattern, reason) = Self.split(line) else {
                throw ExpectedFailuresError(
                    "\(fileName):\(lineNumber): '\(line)' has no reason; write '<case id or glob> # <reason>' "
                        + "or '<case id or glob> -- <reason>'"
                )
            }
            guard !pattern.isEmpty, !pattern.contains(where: \.isWhitespace) else {
                throw ExpectedFailuresError(
                    "\(fileName):\(lineNumber): '\(pattern)' is not a case id or glob (no spaces allowed)"
                )
            }
            guard !reason.isEmpty else {
                throw ExpectedFailuresError("\(fileName):\(lineNumber): the reason for '\(pattern)' is empty")
            }
            if let previous = seen[pattern] {
                throw ExpectedFailuresError(
                    "\(fileName):\(lineNumber): '\(pattern)' is already listed on line \(previous)"
                )
            }
            seen[pattern] = lineNumber
            entries.append(Entry(pattern: pattern, reason: reason, line: lineNumber))
        }
        self.entries = entries
    }

    /// Reads and parses an expected-failures file.
    ///
    /// - Throws: ``ExpectedFailuresError`` if the file cannot be read or is malformed.
    public init(contentsOfFile path: String) throws(ExpectedFailuresError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ExpectedFailuresError("cannot read the expected-failures file \(path)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ExpectedFailuresError("\(path) is not UTF-8 text")
        }
        try self.init(parsing: text, fileName: path)
    }

    /// The first entry that matches `id`, if any.
    public func entry(matching id: String) -> Entry? {
        self.entries.first { $0.matches(id) }
    }

    /// The result with the verdict the expected-failures list gives it (see the type's documentation).
    public func apply(to result: CaseResult) -> CaseResult {
        guard let entry = self.entry(matching: result.id) else { return result }
        var result = result
        switch result.verdict {
        case .fail, .timeout:
            let original = result.verdict
            result.verdict = .expectedFail
            result.expectedFailureReason = entry.reason
            if original == .timeout {
                result.message = "timeout: " + result.message
            }
        case .pass:
            result.verdict = .unexpectedPass
            result.expectedFailureReason = entry.reason
            result.message =
                "passed, but the expected-failures entry '\(entry.pattern)' (line \(entry.line)) says it fails: "
                + "\(entry.reason); remove the entry"
        case .expectedFail, .unexpectedPass, .notApplicable, .error, .warning:
            break
        }
        return result
    }

    /// The patterns of the entries that match none of `selectedIDs`, in file order.
    public func staleEntries(selectedIDs: some Sequence<String>) -> [String] {
        let ids = Array(selectedIDs)
        return self.entries.filter { entry in !ids.contains { entry.matches($0) } }.map(\.pattern)
    }

    /// Applies the list to every case of a run and records the stale entries.
    public func apply(to run: RunResult) -> RunResult {
        var run = run
        run.cases = run.cases.map { self.apply(to: $0) }
        run.staleExpectedFailures = self.staleEntries(selectedIDs: run.cases.map(\.id))
        return run
    }

    private static func split(_ line: String) -> (pattern: String, reason: String)? {
        var best: Range<String.Index>?
        for separator in Self.reasonSeparators {
            if let range = line.range(of: separator), best.map({ range.lowerBound < $0.lowerBound }) ?? true {
                best = range
            }
        }
        guard let best else { return nil }
        let pattern = line[..<best.lowerBound].trimmingCharacters(in: .whitespaces)
        let reason = line[best.upperBound...].trimmingCharacters(in: .whitespaces)
        return (pattern, reason)
    }
}

/// A malformed or unreadable expected-failures file (a usage error: exit status 2).
public struct ExpectedFailuresError: Error, Hashable, CustomStringConvertible {
    /// What is wrong, with the file name and line.
    public var description: String

    /// Creates an error.
    public init(_ description: String) {
        self.description = description
    }
}

import Foundation

/// The counts of a run, written beside the results in the JSON report.
public struct RunSummary: Codable, Sendable, Hashable {
    /// Cases in the corpus.
    public var total: Int
    /// Cases selected by the filters (and run).
    public var selected: Int
    /// Cases with verdict `pass`.
    public var passed: Int
    /// Cases with verdict `fail`.
    public var failed: Int
    /// Cases with verdict `expected-fail`.
    public var expectedFail: Int
    /// Cases with verdict `unexpected-pass`.
    public var unexpectedPass: Int
    /// Cases with verdict `not-applicable`.
    public var notApplicable: Int
    /// Cases with verdict `timeout`.
    public var timeout: Int
    /// Cases with verdict `error`.
    public var error: Int
    /// Expected-failure entries that matched no selected case.
    public var staleExpectedFailures: Int
    /// Whether the run passed (exit status 0).
    public var runPassed: Bool

    /// Counts the verdicts of a run.
    public init(_ run: RunResult) {
        let counts = run.counts
        self.total = run.totalCases
        self.selected = run.selectedCases
        self.passed = counts[.pass, default: 0]
        self.failed = counts[.fail, default: 0]
        self.expectedFail = counts[.expectedFail, default: 0]
        self.unexpectedPass = counts[.unexpectedPass, default: 0]
        self.notApplicable = counts[.notApplicable, default: 0]
        self.timeout = counts[.timeout, default: 0]
        self.error = counts[.error, default: 0]
        self.staleExpectedFailures = run.staleExpectedFailures.count
        self.runPassed = run.passed
    }
}

/// The `--json` report: the ``RunResult`` (every field, versioned by `formatVersion`) plus a `summary` object with
/// the counts. `Vectors/schema/conformance-result.schema.json` describes it exactly.
public enum JSONReport {
    /// The version written in `formatVersion` (``RunResult/currentFormatVersion``).
    public static let formatVersion = RunResult.currentFormatVersion

    /// Renders the report: pretty-printed, keys sorted, a final newline.
    public static func render(_ run: RunResult) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(Document(run: run))
        data.append(UInt8(ascii: "\n"))
        return data
    }

    /// Reads a report back (the `summary` object is recomputed, not read).
    ///
    /// - Throws: `DecodingError` for anything that is not a report of ``formatVersion``.
    public static func decode(_ data: Data) throws -> RunResult {
        let run = try JSONDecoder().decode(RunResult.self, from: data)
        guard run.formatVersion == Self.formatVersion else {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(
                    codingPath: [],
                    debugDescription: "formatVersion \(run.formatVersion) is not \(Self.formatVersion)"
                )
            )
        }
        return run
    }

    /// The run's fields and the summary, in one object.
    private struct Document: Encodable {
        var run: RunResult

        enum CodingKeys: String, CodingKey {
            case summary
        }

        func encode(to encoder: any Encoder) throws {
            try self.run.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(RunSummary(self.run), forKey: .summary)
        }
    }
}

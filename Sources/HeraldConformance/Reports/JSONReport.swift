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
    /// Cases with verdict `warning`.
    public var warning: Int
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
        self.warning = counts[.warning, default: 0]
        self.staleExpectedFailures = run.staleExpectedFailures.count
        self.runPassed = run.passed
    }
}

/// What the JSON report left out to stay bounded (the `reportDigest` object): the limits it was made with and how
/// many cases it cut. Each cut case says what in its own `transcriptDigest` and `messageOmittedCharacters`.
public struct ReportDigestSummary: Codable, Sendable, Hashable {
    /// Whether the `--verbose` limits were used.
    public var verbose: Bool
    /// The budget of bytes of details for the whole run (``ReportLimits/runBytes``).
    public var budgetBytes: Int
    /// The bytes of details reckoned against it.
    public var usedBytes: Int
    /// Cases whose message or transcript was cut (folded, summarised, shortened or left out).
    public var casesCut: Int
    /// Cases listed without details because the budget was spent on earlier cases.
    public var casesListedOnly: Int

    /// Summarises a digest.
    public init(_ digest: ReportDigest) {
        self.verbose = digest.limits.isVerbose
        self.budgetBytes = digest.limits.runBytes
        self.usedBytes = digest.bytes
        self.casesCut = digest.cases.filter { $0.transcript.cut != nil || $0.messageOmittedCharacters > 0 }.count
        self.casesListedOnly = digest.listedOnly
    }
}

/// The `--json` report: the ``RunResult`` (every field, versioned by `formatVersion`) plus a `summary` object with
/// the counts and a `reportDigest` object saying what was left out. `Vectors/schema/conformance-result.schema.json`
/// describes it exactly.
///
/// The report is bounded like the others (``ReportLimits``): a case's `message` and `transcript` are what
/// ``ReportDigest`` keeps (payloads shortened, crowd members summarised, similar frames folded, long stretches left
/// out), and a case that was cut says how in `transcriptDigest` (``TranscriptCut``) and `messageOmittedCharacters`.
public enum JSONReport {
    /// The version written in `formatVersion` (``RunResult/currentFormatVersion``).
    public static let formatVersion = RunResult.currentFormatVersion

    /// Renders the report: pretty-printed, keys sorted, a final newline.
    ///
    /// - Parameters:
    ///   - run: The run.
    ///   - limits: How much of each case to keep (``ReportLimits/forVerbose(_:)`` for `--verbose`).
    public static func render(_ run: RunResult, limits: ReportLimits = .standard) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(Document(run: run, digest: ReportDigest(run, limits: limits)))
        data.append(UInt8(ascii: "\n"))
        return data
    }

    /// Reads a report back (the `summary` and `reportDigest` objects are recomputed, not read; cases hold what the
    /// report kept of their messages and transcripts).
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

    /// The run's fields, the summary and the digest summary, in one object.
    ///
    /// The run's fields are written one by one (cases need their digests beside them);
    /// `ReportTests.writesEveryRunField` checks that none of ``RunResult``'s own keys is missing.
    private struct Document: Encodable {
        var run: RunResult
        var digest: ReportDigest

        enum CodingKeys: String, CodingKey {
            case formatVersion, suite, specVersion, target, transport, nonce, startedMs, durationMs, totalCases
            case selectedCases, grantedCapabilities, cases, staleExpectedFailures, level, strict, summary
            case reportDigest
        }

        func encode(to encoder: any Encoder) throws {
            let run = self.run
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(run.formatVersion, forKey: .formatVersion)
            try container.encode(run.suite, forKey: .suite)
            try container.encode(run.specVersion, forKey: .specVersion)
            try container.encode(run.target, forKey: .target)
            try container.encode(run.transport, forKey: .transport)
            try container.encode(run.nonce, forKey: .nonce)
            try container.encode(run.startedMs, forKey: .startedMs)
            try container.encode(run.durationMs, forKey: .durationMs)
            try container.encode(run.totalCases, forKey: .totalCases)
            try container.encode(run.selectedCases, forKey: .selectedCases)
            try container.encode(run.grantedCapabilities, forKey: .grantedCapabilities)
            let cases = zip(run.cases, self.digest.cases).map { CaseDocument(result: $0, digest: $1) }
            try container.encode(cases, forKey: .cases)
            try container.encode(run.staleExpectedFailures, forKey: .staleExpectedFailures)
            try container.encode(run.level, forKey: .level)
            try container.encode(run.strict, forKey: .strict)
            try container.encode(RunSummary(run), forKey: .summary)
            try container.encode(ReportDigestSummary(self.digest), forKey: .reportDigest)
        }
    }

    /// One case as the digest keeps it, with `transcriptDigest` and `messageOmittedCharacters` when it was cut.
    private struct CaseDocument: Encodable {
        var result: CaseResult
        var digest: CaseDigest

        enum CodingKeys: String, CodingKey {
            case transcriptDigest, messageOmittedCharacters
        }

        func encode(to encoder: any Encoder) throws {
            var shown = self.result
            shown.message = self.digest.message
            shown.transcript = self.digest.transcript.entries
            if let message = self.digest.firstAttemptMessage {
                shown.firstAttempt?.message = message
            }
            try shown.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(self.digest.transcript.cut, forKey: .transcriptDigest)
            if self.digest.messageOmittedCharacters > 0 {
                try container.encode(self.digest.messageOmittedCharacters, forKey: .messageOmittedCharacters)
            }
        }
    }
}

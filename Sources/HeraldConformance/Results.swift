#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The verdict of one conformance case.
public enum Verdict: String, Codable, Sendable, CaseIterable {
    /// Every step behaved as the case expects.
    case pass
    /// A step did not behave as the case expects.
    case fail
    /// The case failed and is listed in the expected-failures file.
    case expectedFail = "expected-fail"
    /// The case passed although the expected-failures file lists it (fails the run: the entry is stale).
    case unexpectedPass = "unexpected-pass"
    /// The target did not grant a capability the case needs; never counted as a pass.
    case notApplicable = "not-applicable"
    /// The case did not finish within its time budget.
    case timeout
    /// The runner could not execute the case: its own clients could not connect or complete the handshake in
    /// time, a token could not be made, or an internal error (infrastructure, not the target's fault).
    case error
    /// A SHOULD or MAY case failed or timed out without `--strict`: reported, but does not fail the run.
    case warning

    /// Whether this verdict makes the run fail (exit status 1).
    public var failsRun: Bool {
        switch self {
        case .pass, .expectedFail, .notApplicable, .warning: return false
        case .fail, .unexpectedPass, .timeout, .error: return true
        }
    }
}

/// The requirement levels a run selects (`--level`): each level includes the stronger ones.
public enum LevelSelection: String, Codable, Sendable, CaseIterable {
    /// MUST cases only.
    case must
    /// MUST and SHOULD cases (the default).
    case should
    /// Every case: MUST, SHOULD and MAY.
    case may

    /// Whether a case of `level` (`MUST`, `SHOULD` or `MAY`) is selected.
    public func includes(_ level: String) -> Bool {
        switch level {
        case "MUST": return true
        case "SHOULD": return self != .must
        default: return self == .may
        }
    }
}

/// The first attempt of a case that was run again alone after an ``Verdict/error`` verdict.
public struct FirstAttempt: Codable, Sendable, Hashable {
    /// The first attempt's verdict (always ``Verdict/error``).
    public var verdict: Verdict
    /// Its message.
    public var message: String
    /// Its wall time in milliseconds.
    public var durationMs: Int64

    /// Creates a first-attempt record.
    public init(verdict: Verdict, message: String, durationMs: Int64) {
        self.verdict = verdict
        self.message = message
        self.durationMs = durationMs
    }
}

/// Which way a frame went, in a transcript.
public enum TranscriptDirection: String, Codable, Sendable {
    /// From the runner's virtual client to the server.
    case sent
    /// From the server to the runner's virtual client.
    case received
    /// A transport event (connected, closed by the server, dropped by the runner).
    case transport
}

/// One line of a case's wire transcript.
public struct TranscriptEntry: Codable, Sendable, Hashable {
    /// Milliseconds since the case started.
    public var atMs: Int64
    /// The actor whose connection carried the frame.
    public var actor: String
    /// Which way it went.
    public var direction: TranscriptDirection
    /// The message name (`JoinChannelRequest`), or a transport event (`connected`, `closed`).
    public var type: String
    /// The header's request id (or delivery id).
    public var requestID: UInt32
    /// The header's flags.
    public var flags: UInt8
    /// The payload in protobuf JSON, or a note for transport events and undecodable bytes.
    public var payload: String

    /// Creates an entry.
    public init(
        atMs: Int64,
        actor: String,
        direction: TranscriptDirection,
        type: String,
        requestID: UInt32 = 0,
        flags: UInt8 = 0,
        payload: String = ""
    ) {
        self.atMs = atMs
        self.actor = actor
        self.direction = direction
        self.type = type
        self.requestID = requestID
        self.flags = flags
        self.payload = payload
    }
}

/// The result of one case.
public struct CaseResult: Codable, Sendable, Hashable {
    /// The case's stable id.
    public var id: String
    /// The case's title.
    public var title: String
    /// The scenario file (chapter) the case comes from, e.g. `09-channels`.
    public var chapter: String
    /// `MUST`, `SHOULD` or `MAY`.
    public var level: String
    /// The requirement ids the case checks.
    public var requirements: [String]
    /// The verdict.
    public var verdict: Verdict
    /// Wall time of the case in milliseconds.
    public var durationMs: Int64
    /// Why the case did not pass: expected versus actual, or the infrastructure error. Empty on a pass.
    public var message: String
    /// The index of the step that failed (0-based), if one did.
    public var failedStep: Int?
    /// Every frame of every actor in order, with times (kept for every verdict other than pass, and on request).
    public var transcript: [TranscriptEntry]
    /// A command that reruns only this case.
    public var rerunCommand: String
    /// The reason given in the expected-failures file, for expected-fail and unexpected-pass.
    public var expectedFailureReason: String?
    /// When the case ended in ``Verdict/error`` while other cases ran and was run once more alone, the first
    /// attempt; the verdict above is the second attempt's.
    public var firstAttempt: FirstAttempt?

    /// Creates a result.
    public init(
        id: String,
        title: String,
        chapter: String,
        level: String,
        requirements: [String],
        verdict: Verdict,
        durationMs: Int64,
        message: String = "",
        failedStep: Int? = nil,
        transcript: [TranscriptEntry] = [],
        rerunCommand: String = "",
        expectedFailureReason: String? = nil
    ) {
        self.id = id
        self.title = title
        self.chapter = chapter
        self.level = level
        self.requirements = requirements
        self.verdict = verdict
        self.durationMs = durationMs
        self.message = message
        self.failedStep = failedStep
        self.transcript = transcript
        self.rerunCommand = rerunCommand
        self.expectedFailureReason = expectedFailureReason
    }
}

/// The result of a whole run: what reports are made from.
public struct RunResult: Codable, Sendable {
    /// The version of this result format (bumped on incompatible changes). Version 2 added the verdict
    /// `warning`, ``level``, ``strict`` and ``CaseResult/firstAttempt``.
    public static let currentFormatVersion = 2

    /// ``currentFormatVersion`` at the time of writing.
    public var formatVersion: Int
    /// The suite's name and version, e.g. `herald-conformance 1.0.0`.
    public var suite: String
    /// The specification version the suite targets, e.g. `Herald Spec v1`.
    public var specVersion: String
    /// The target URL, or `embedded` for the in-process reference engine.
    public var target: String
    /// The transport used (`tcp`, `tls`, `ws`, `wss`).
    public var transport: String
    /// The run's nonce (prefix of every user and channel id it used).
    public var nonce: String
    /// When the run started (Unix milliseconds).
    public var startedMs: Int64
    /// Wall time of the run in milliseconds.
    public var durationMs: Int64
    /// Cases in the corpus, and cases selected by the filters.
    public var totalCases: Int
    /// Cases selected by `--filter` / `--skip`.
    public var selectedCases: Int
    /// The capabilities the target granted.
    public var grantedCapabilities: [String]
    /// Every selected case's result, in corpus order.
    public var cases: [CaseResult]
    /// Expected-failure entries that matched no selected case (they fail the run).
    public var staleExpectedFailures: [String]
    /// The levels selected (`--level`).
    public var level: LevelSelection = .should
    /// Whether SHOULD and MAY failures fail the run (`--strict`) instead of being warnings.
    public var strict = false

    /// Creates a run result.
    public init(
        suite: String,
        specVersion: String,
        target: String,
        transport: String,
        nonce: String,
        startedMs: Int64,
        durationMs: Int64,
        totalCases: Int,
        selectedCases: Int,
        grantedCapabilities: [String],
        cases: [CaseResult],
        staleExpectedFailures: [String]
    ) {
        self.formatVersion = Self.currentFormatVersion
        self.suite = suite
        self.specVersion = specVersion
        self.target = target
        self.transport = transport
        self.nonce = nonce
        self.startedMs = startedMs
        self.durationMs = durationMs
        self.totalCases = totalCases
        self.selectedCases = selectedCases
        self.grantedCapabilities = grantedCapabilities
        self.cases = cases
        self.staleExpectedFailures = staleExpectedFailures
    }

    /// The number of cases with each verdict.
    public var counts: [Verdict: Int] {
        var counts: [Verdict: Int] = [:]
        for result in self.cases { counts[result.verdict, default: 0] += 1 }
        return counts
    }

    /// Whether the run passes (exit status 0): no verdict fails it and no expected-failure entry is stale.
    public var passed: Bool {
        !self.cases.contains { $0.verdict.failsRun } && self.staleExpectedFailures.isEmpty
    }
}

import Foundation
import HeraldSpec
import Synchronization

/// Prints a run's progress and outcome on the terminal.
///
/// On a terminal (`isatty(1)`) progress is one line redrawn in place (a bar with counts), and each failure is
/// printed above it as it happens. Otherwise (CI logs, pipes) there is one plain line per finished case, such as
/// `PASS channels.join.ok (12 ms)`. At the end come every failing case in full (id, requirement ids and their text,
/// the message, the decoded transcript of all actors and the rerun command), the stale expected-failure entries,
/// one line per expected failure, and the closing line (``closingLine(_:)``).
public final class ConsoleReporter: Sendable {
    private let isTerminal: Bool
    private let verbose: Bool
    private let requirements: [String: Requirement]
    private let write: @Sendable (String) -> Void
    private let state = Mutex(State())

    private struct State {
        var total = 0
        var finished = 0
        var counts: [Verdict: Int] = [:]
        var started = ContinuousClock.now
        var barShown = false
    }

    /// Creates a reporter.
    ///
    /// - Parameters:
    ///   - isTerminal: Whether standard output is a terminal (progress bar) or not (one line per case).
    ///   - verbose: Whether transcripts of passing cases are printed too.
    ///   - requirements: The requirement index by id, for the text of failed requirements.
    ///   - write: Where text goes; standard output by default.
    public init(
        isTerminal: Bool,
        verbose: Bool = false,
        requirements: [String: Requirement] = [:],
        write: @escaping @Sendable (String) -> Void = ConsoleReporter.standardOutput
    ) {
        self.isTerminal = isTerminal
        self.verbose = verbose
        self.requirements = requirements
        self.write = write
    }

    /// Writes text to standard output, unbuffered.
    public static let standardOutput: @Sendable (String) -> Void = { text in
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// Whether standard output is a terminal.
    public static var standardOutputIsTerminal: Bool {
        isatty(1) == 1
    }

    /// Prints the run's header: suite and spec version, target, and selected/total counts.
    public func begin(suite: String, specVersion: String, target: String, selected: Int, total: Int) {
        self.state.withLock { state in
            state.total = selected
            state.started = .now
        }
        self.write("\(suite) (\(specVersion))\ntarget: \(target)\ncases: \(selected) selected of \(total)\n")
    }

    /// Reports a finished case.
    public func caseFinished(_ result: CaseResult) {
        let line = "\(Self.label(result.verdict)) \(result.id) (\(ReportText.duration(result.durationMs)))"
        var text = ""
        if self.isTerminal {
            if result.verdict.failsRun || self.verbose {
                text += line + "\n"
            }
        } else {
            text += line + "\n"
        }
        if self.verbose && !result.transcript.isEmpty {
            text += ReportText.transcriptLines(result.transcript).map { "    " + $0 + "\n" }.joined()
        }
        // Counting and writing under the lock keeps lines and progress in order when cases finish concurrently.
        self.state.withLock { state in
            state.finished += 1
            state.counts[result.verdict, default: 0] += 1
            guard self.isTerminal else {
                self.write(text)
                return
            }
            let clear = state.barShown ? "\r\u{1B}[2K" : ""
            state.barShown = true
            let bar = Self.progressBar(
                finished: state.finished,
                total: state.total,
                counts: state.counts,
                elapsed: state.started.duration(to: .now)
            )
            self.write(clear + text + bar)
        }
    }

    /// Prints the failures in full, the stale entries, the expected failures, `notes` (one line each, such as the
    /// reports written) and the closing line.
    public func finish(_ run: RunResult, notes: [String] = []) {
        let summary = self.summary(run, notes: notes)
        self.state.withLock { state in
            self.write((state.barShown ? "\r\u{1B}[2K" : "") + summary)
            state.barShown = false
        }
    }

    /// Everything ``finish(_:)`` prints, as a string.
    public func summary(_ run: RunResult, notes: [String] = []) -> String {
        var text = ""
        let failures = run.cases.filter(\.verdict.failsRun)
        if !failures.isEmpty {
            text += "\nFailures (\(failures.count)):\n"
            for result in failures {
                text += "\n" + Self.failureReport(result, requirements: self.requirements)
            }
        }
        if !run.staleExpectedFailures.isEmpty {
            text +=
                "\nStale expected-failure entries (\(run.staleExpectedFailures.count)), matching no selected case:\n"
            text += run.staleExpectedFailures.map { "  \($0)\n" }.joined()
        }
        let expected = run.cases.filter { $0.verdict == .expectedFail }
        if !expected.isEmpty {
            text += "\nExpected failures (\(expected.count)):\n"
            for result in expected {
                text += "  XFAIL \(result.id): \(result.expectedFailureReason ?? "")\n"
            }
        }
        text += "\n" + notes.map { $0 + "\n" }.joined() + Self.closingLine(run) + "\n"
        return text
    }

    /// The full report of one failing case: id and title, verdict, each requirement with its level and text, the
    /// message, the transcript of every actor in order with times, and the rerun command.
    public static func failureReport(_ result: CaseResult, requirements: [String: Requirement]) -> String {
        var lines: [String] = []
        lines.append("\(Self.label(result.verdict)) \(result.id): \(result.title)")
        lines.append("  chapter \(result.chapter), level \(result.level), \(ReportText.duration(result.durationMs))")
        lines.append("  requirements:")
        for id in result.requirements {
            if let requirement = requirements[id] {
                lines.append("    \(id) (\(requirement.level.rawValue)): \(requirement.text)")
            } else {
                lines.append("    \(id)")
            }
        }
        if let reason = result.expectedFailureReason {
            lines.append("  expected-failures entry: \(reason)")
        }
        let message = result.message.isEmpty ? "(no message)" : result.message
        let prefix = result.failedStep.map { "  step \($0): " } ?? "  "
        let messageLines = message.split(separator: "\n", omittingEmptySubsequences: false)
        lines.append(prefix + (messageLines.first.map(String.init) ?? ""))
        lines.append(contentsOf: messageLines.dropFirst().map { "    " + $0 })
        if result.transcript.isEmpty {
            lines.append("  transcript: (empty)")
        } else {
            let actors = Set(result.transcript.map(\.actor)).sorted().joined(separator: ", ")
            lines.append("  transcript (\(actors)):")
            lines.append(contentsOf: ReportText.transcriptLines(result.transcript).map { "    " + $0 })
        }
        if !result.rerunCommand.isEmpty {
            lines.append("  rerun: \(result.rerunCommand)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The closing line: `N passed, N failed, N expected-fail, N unexpected-pass, N not-applicable, N timeout,
    /// N error in 1.23 s`, with `, N stale expected-failure entries` before ` in` when there are any.
    public static func closingLine(_ run: RunResult) -> String {
        let counts = run.counts
        var line = "\(counts[.pass, default: 0]) passed, \(counts[.fail, default: 0]) failed"
        for verdict in [Verdict.expectedFail, .unexpectedPass, .notApplicable, .timeout, .error] {
            line += ", \(counts[verdict, default: 0]) \(verdict.rawValue)"
        }
        if !run.staleExpectedFailures.isEmpty {
            line +=
                ", \(run.staleExpectedFailures.count) stale expected-failure "
                + (run.staleExpectedFailures.count == 1 ? "entry" : "entries")
        }
        return line + " in " + ReportText.seconds(run.durationMs)
    }

    /// The short label of a verdict: PASS, FAIL, XFAIL, XPASS, N/A, TIMEOUT, ERROR.
    public static func label(_ verdict: Verdict) -> String {
        switch verdict {
        case .pass: "PASS"
        case .fail: "FAIL"
        case .expectedFail: "XFAIL"
        case .unexpectedPass: "XPASS"
        case .notApplicable: "N/A"
        case .timeout: "TIMEOUT"
        case .error: "ERROR"
        }
    }

    static func progressBar(finished: Int, total: Int, counts: [Verdict: Int], elapsed: Duration) -> String {
        let width = 30
        let filled = total > 0 ? min(width, finished * width / total) : width
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let failed = counts.filter { $0.key.failsRun }.reduce(0) { $0 + $1.value }
        let milliseconds = elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
        return "[\(bar)] \(finished)/\(total)  pass \(counts[.pass, default: 0])  fail \(failed)  "
            + "xfail \(counts[.expectedFail, default: 0])  n/a \(counts[.notApplicable, default: 0])  "
            + ReportText.seconds(milliseconds)
    }
}

/// Plain-text pieces shared by the reports.
enum ReportText {
    /// `12 ms` below a second, `1.23 s` above.
    static func duration(_ milliseconds: Int64) -> String {
        milliseconds < 1000 ? "\(milliseconds) ms" : Self.seconds(milliseconds)
    }

    /// `1.23 s`.
    static func seconds(_ milliseconds: Int64) -> String {
        let value = max(milliseconds, 0)
        let hundredths = (value % 1000) / 10
        return "\(value / 1000).\(hundredths < 10 ? "0" : "")\(hundredths) s"
    }

    /// The arrow of a direction, seen from the runner's actors: `→` sent, `←` received, `·` transport event.
    static func arrow(_ direction: TranscriptDirection) -> String {
        switch direction {
        case .sent: "→"
        case .received: "←"
        case .transport: "·"
        }
    }

    /// One line per entry: `+   12 ms  alice  →  JoinChannelRequest #3  {…}`, columns aligned.
    static func transcriptLines(_ transcript: [TranscriptEntry]) -> [String] {
        let timeWidth = transcript.map { "\($0.atMs)".count }.max() ?? 1
        let actorWidth = transcript.map(\.actor.count).max() ?? 1
        return transcript.map { entry in
            let time = "\(entry.atMs)"
            var line = "+" + String(repeating: " ", count: timeWidth - time.count) + time + " ms  "
            line += entry.actor.padding(toLength: actorWidth, withPad: " ", startingAt: 0)
            line += "  " + Self.arrow(entry.direction) + "  " + entry.type
            if entry.requestID != 0 { line += " #\(entry.requestID)" }
            if entry.flags != 0 { line += " flags=0x" + String(entry.flags, radix: 16) }
            if !entry.payload.isEmpty { line += "  " + Self.singleLine(entry.payload) }
            return line
        }
    }

    /// The text on one line: line breaks and tabs as `\n`, `\t`.
    static func singleLine(_ text: String) -> String {
        guard text.contains(where: { $0 == "\n" || $0 == "\r" || $0 == "\t" }) else { return text }
        return text.replacingOccurrences(of: "\r", with: "\\r")
            .replacingOccurrences(of: "\n", with: "\\n")
            .replacingOccurrences(of: "\t", with: "\\t")
    }
}

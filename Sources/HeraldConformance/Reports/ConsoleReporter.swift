import Foundation
import HeraldSpec
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Prints a run's progress and outcome on the terminal.
///
/// On a terminal (`isatty(1)`) progress is one line redrawn in place: a bar with counts, how many cases are running
/// and what the longest-running one is doing (from a ``RunActivity``), cut to the terminal's width; each failure and
/// warning is printed above it as it happens. Otherwise (CI logs, pipes) there is one plain line per finished case,
/// such as `PASS channels.join.ok (12 ms)`, and, after 60 s without output, a line saying which cases still run.
///
/// At the end come the failing cases in full (id, requirement ids and their text, the message, the transcript of
/// all actors with times — bounded, see ``ReportLimits`` — and the rerun command), then the warnings the same way,
/// the stale expected-failure entries, one line per expected failure, one line per case rerun after an error, the
/// notes (reports written), the summary list (one line per failing case and per warning), and last the closing line
/// (``closingLine(_:)``).
///
/// To redraw the progress line while no case finishes (and to print the CI "still running" lines), call
/// ``startTicker(every:)`` after ``begin(suite:specVersion:target:selected:total:)``; ``finish(_:notes:)`` and
/// ``stop()`` end it. Or call ``tick(now:)`` from a timer of your own.
public final class ConsoleReporter: Sendable {
    private let isTerminal: Bool
    private let verbose: Bool
    private let requirements: [String: Requirement]
    private let activity: RunActivity?
    private let columns: @Sendable () -> Int
    private let write: @Sendable (String) -> Void
    private let limits: ReportLimits
    private let state = Mutex(State())

    /// How long CI output (not a terminal) may stay silent before a "still running" line.
    public static let quietInterval: Duration = .seconds(60)

    private struct State {
        var total = 0
        var finished = 0
        var counts: [Verdict: Int] = [:]
        var started = ContinuousClock.now
        var begun = false
        var ended = false
        var barShown = false
        var lastOutput = ContinuousClock.now
        var liveTranscriptBytes = 0
        var liveBudgetNoted = false
        var ticker: Task<Void, Never>?
    }

    /// Creates a reporter.
    ///
    /// - Parameters:
    ///   - isTerminal: Whether standard output is a terminal (progress line) or not (one line per case).
    ///   - verbose: Whether transcripts of passing cases are printed too, with the larger ``ReportLimits/verbose``.
    ///   - requirements: The requirement index by id, for the text of failed requirements.
    ///   - activity: The running cases, for the progress line and the "still running" lines; none when `nil`.
    ///   - columns: The terminal's width in columns; ``terminalColumns()`` when `nil`.
    ///   - write: Where text goes; standard output by default.
    public init(
        isTerminal: Bool,
        verbose: Bool = false,
        requirements: [String: Requirement] = [:],
        activity: RunActivity? = nil,
        columns: (@Sendable () -> Int)? = nil,
        write: @escaping @Sendable (String) -> Void = ConsoleReporter.standardOutput
    ) {
        self.isTerminal = isTerminal
        self.verbose = verbose
        self.requirements = requirements
        self.activity = activity
        self.columns = columns ?? { ConsoleReporter.terminalColumns() }
        self.write = write
        self.limits = .forVerbose(verbose)
    }

    deinit {
        self.state.withLock { $0.ticker?.cancel() }
    }

    /// Writes text to standard output, unbuffered.
    public static let standardOutput: @Sendable (String) -> Void = { text in
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// Whether standard output is a terminal.
    public static var standardOutputIsTerminal: Bool {
        isatty(1) == 1
    }

    /// The width of the terminal on standard output: `ioctl(TIOCGWINSZ)`, else `$COLUMNS`, else 80.
    public static func terminalColumns() -> Int {
        #if canImport(Glibc) || canImport(Musl) || canImport(Darwin)
        var size = winsize()
        #if canImport(Darwin)
        let status = ioctl(1, TIOCGWINSZ, &size)
        #else
        let status = ioctl(1, UInt(TIOCGWINSZ), &size)
        #endif
        if status == 0 && size.ws_col > 0 {
            return Int(size.ws_col)
        }
        #endif
        if let text = ProcessInfo.processInfo.environment["COLUMNS"], let columns = Int(text), columns > 0 {
            return columns
        }
        return 80
    }

    /// Prints the run's header: suite and spec version, target, and selected/total counts.
    public func begin(suite: String, specVersion: String, target: String, selected: Int, total: Int) {
        self.state.withLock { state in
            state.total = selected
            state.started = .now
            state.lastOutput = .now
            state.begun = true
            state.ended = false
            self.write("\(suite) (\(specVersion))\ntarget: \(target)\ncases: \(selected) selected of \(total)\n")
        }
    }

    /// Reports a finished case.
    public func caseFinished(_ result: CaseResult) {
        var line = "\(Self.label(result.verdict)) \(result.id) (\(ReportText.duration(result.durationMs)))"
        if let first = result.firstAttempt {
            line += " — rerun alone after \(Self.label(first.verdict)) on the first attempt"
        }
        var text = ""
        if self.isTerminal {
            if result.verdict.failsRun || result.verdict == .warning || result.firstAttempt != nil || self.verbose {
                text += line + "\n"
            }
        } else {
            text += line + "\n"
        }
        let transcript: [String] =
            self.verbose && !result.transcript.isEmpty
            ? TranscriptDigest.make(result.transcript, message: result.message, limits: self.limits).lines() : []
        // Counting and writing under the lock keeps lines and progress in order when cases finish concurrently.
        self.state.withLock { state in
            state.finished += 1
            state.counts[result.verdict, default: 0] += 1
            if !transcript.isEmpty {
                let bytes = transcript.reduce(0) { $0 + $1.utf8.count + 5 }
                if state.liveTranscriptBytes + bytes <= self.limits.runBytes {
                    state.liveTranscriptBytes += bytes
                    text += transcript.map { "    " + $0 + "\n" }.joined()
                } else if !state.liveBudgetNoted {
                    state.liveBudgetNoted = true
                    text += "    (transcripts of further cases are left out here: this output's size budget is spent)\n"
                }
            }
            guard self.isTerminal else {
                state.lastOutput = .now
                self.write(text)
                return
            }
            let clear = state.barShown ? "\r\u{1B}[2K" : ""
            state.barShown = true
            self.write(clear + text + self.progressLine(state, now: .now))
        }
    }

    /// Redraws the progress line (on a terminal), or, on CI output that has been quiet for ``quietInterval``, prints
    /// `… still running N cases; longest: <id> (4m12s): <activity>`. Does nothing before
    /// ``begin(suite:specVersion:target:selected:total:)`` and after ``finish(_:notes:)``.
    public func tick(now: ContinuousClock.Instant = .now) {
        self.state.withLock { state in
            guard state.begun && !state.ended else { return }
            if self.isTerminal {
                let clear = state.barShown ? "\r\u{1B}[2K" : ""
                state.barShown = true
                self.write(clear + self.progressLine(state, now: now))
                return
            }
            guard state.lastOutput.duration(to: now) >= Self.quietInterval else { return }
            state.lastOutput = now
            let running = self.activity?.running ?? []
            guard let longest = running.first else { return }
            var line = "… still running \(running.count) \(running.count == 1 ? "case" : "cases"); longest: "
            line += "\(longest.id) (\(Self.clock(longest.started.duration(to: now)))): "
            line += ReportText.singleLine(longest.activity)
            self.write(ReportText.truncate(line, to: 400) + "\n")
        }
    }

    /// Starts a task that calls ``tick(now:)`` every `interval` until ``stop()`` or ``finish(_:notes:)``.
    public func startTicker(every interval: Duration = .seconds(1)) {
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard !Task.isCancelled, let self else { return }
                self.tick()
            }
        }
        self.state.withLock { state in
            state.ticker?.cancel()
            state.ticker = task
        }
    }

    /// Stops the task ``startTicker(every:)`` started.
    public func stop() {
        self.state.withLock { state in
            state.ticker?.cancel()
            state.ticker = nil
        }
    }

    /// Stops the ticker and prints the failures in full, the warnings, the stale entries, the expected failures,
    /// the cases rerun after an error, `notes` (one line each, such as the reports written), the summary list and
    /// the closing line.
    public func finish(_ run: RunResult, notes: [String] = []) {
        self.stop()
        let summary = self.summary(run, notes: notes)
        self.state.withLock { state in
            state.ended = true
            self.write((state.barShown ? "\r\u{1B}[2K" : "") + summary)
            state.barShown = false
        }
    }

    /// Everything ``finish(_:notes:)`` prints, as a string.
    public func summary(_ run: RunResult, notes: [String] = []) -> String {
        let digest = ReportDigest(run, limits: self.limits)
        var text = ""
        let failing = run.cases.indices.filter { run.cases[$0].verdict.failsRun }
        let warnings = run.cases.indices.filter { run.cases[$0].verdict == .warning }
        for (title, indices) in [("Failures", failing), ("Warnings", warnings)] where !indices.isEmpty {
            text += "\n\(title) (\(indices.count)):\n"
            for index in indices {
                text +=
                    "\n"
                    + Self.failureReport(run.cases[index], digest: digest.cases[index], requirements: self.requirements)
            }
        }
        if digest.listedOnly > 0 {
            text += "\n(details of \(digest.listedOnly) \(digest.listedOnly == 1 ? "case" : "cases") left out: this "
            text += "output's size budget was spent; rerun a case with its rerun command"
            text += self.verbose ? ")\n" : " and --verbose)\n"
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
        let reruns = run.cases.indices.filter { run.cases[$0].firstAttempt != nil }
        if !reruns.isEmpty {
            text += "\nRerun alone after an error (\(reruns.count)):\n"
            for index in reruns {
                text +=
                    "  \(run.cases[index].id): \(Self.firstAttemptNote(run.cases[index], digest: digest.cases[index], limits: self.limits))\n"
            }
        }
        if !notes.isEmpty {
            text += "\n" + notes.map { $0 + "\n" }.joined()
        }
        text += Self.summaryList(run, limits: self.limits)
        text += "\n" + Self.closingLine(run) + "\n"
        return text
    }

    /// One line per failing case, then one per warning: `  FAIL     <id>: <first line of the message>`, under
    /// `Failing cases (N):` and `Warnings (N):`; empty when there are neither.
    static func summaryList(_ run: RunResult, limits: ReportLimits) -> String {
        var text = ""
        let failing = run.cases.filter(\.verdict.failsRun)
        let warnings = run.cases.filter { $0.verdict == .warning }
        for (title, cases) in [("Failing cases", failing), ("Warnings", warnings)] where !cases.isEmpty {
            text += "\n\(title) (\(cases.count)):\n"
            for result in cases {
                text += "  " + Self.summaryLine(result, limits: limits) + "\n"
            }
        }
        return text
    }

    /// `FAIL     <id>: <first line of the message>`, the message's line cut to
    /// ``ReportLimits/summaryLineCharacters``.
    static func summaryLine(_ result: CaseResult, limits: ReportLimits) -> String {
        let label = Self.label(result.verdict)
        let first = ReportText.truncate(ReportText.firstLine(result.message), to: limits.summaryLineCharacters)
        return label.padding(toLength: 8, withPad: " ", startingAt: 0) + " " + result.id
            + (first.isEmpty ? "" : ": " + first)
    }

    /// `ERROR on the first attempt while other cases ran: <message>; rerun alone: PASS`.
    static func firstAttemptNote(_ result: CaseResult, digest: CaseDigest?, limits: ReportLimits) -> String {
        guard let first = result.firstAttempt else { return "" }
        let message = ReportText.truncate(
            ReportText.singleLine(ReportText.firstLine(digest?.firstAttemptMessage ?? first.message)),
            to: limits.summaryLineCharacters
        )
        return "\(Self.label(first.verdict)) on the first attempt while other cases ran"
            + (message.isEmpty ? "" : ": \(message)") + "; rerun alone: \(Self.label(result.verdict))"
    }

    /// The full report of one failing case: id and title, verdict, each requirement with its level and text, the
    /// message, the transcript of every actor in order with times, and the rerun command; bounded by `limits`.
    public static func failureReport(
        _ result: CaseResult,
        requirements: [String: Requirement],
        limits: ReportLimits = .standard
    ) -> String {
        Self.failureReport(result, digest: CaseDigest(result, limits: limits), requirements: requirements)
    }

    /// ``failureReport(_:requirements:limits:)`` from the case's digest; a case without details (past the run's
    /// budget) gets its first line, the first line of its message and its rerun command.
    static func failureReport(_ result: CaseResult, digest: CaseDigest, requirements: [String: Requirement]) -> String {
        var lines: [String] = []
        lines.append("\(Self.label(result.verdict)) \(result.id): \(result.title)")
        let prefix = result.failedStep.map { "  step \($0): " } ?? "  "
        guard digest.detailed else {
            lines.append(prefix + (digest.message.isEmpty ? "(no message)" : digest.message))
            if result.firstAttempt != nil {
                lines.append("  " + Self.firstAttemptNote(result, digest: digest, limits: .standard))
            }
            if digest.transcript.cut?.leftOutByBudget == true {
                lines.append(
                    "  transcript: (\(ReportText.count(result.transcript.count)) entries, left out: size budget)"
                )
            }
            if !result.rerunCommand.isEmpty {
                lines.append("  rerun: \(result.rerunCommand)")
            }
            return lines.joined(separator: "\n") + "\n"
        }
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
        if result.firstAttempt != nil {
            lines.append("  " + Self.firstAttemptNote(result, digest: digest, limits: .verbose))
        }
        let message = digest.message.isEmpty ? "(no message)" : digest.message
        let messageLines = message.split(separator: "\n", omittingEmptySubsequences: false)
        lines.append(prefix + (messageLines.first.map(String.init) ?? ""))
        lines.append(contentsOf: messageLines.dropFirst().map { "    " + $0 })
        if result.transcript.isEmpty {
            lines.append("  transcript: (empty)")
        } else {
            lines.append("  transcript (\(digest.transcript.actors)):")
            lines.append(contentsOf: digest.transcript.lines().map { "    " + $0 })
        }
        if !result.rerunCommand.isEmpty {
            lines.append("  rerun: \(result.rerunCommand)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The closing line: `N passed, N failed, N expected-fail, N unexpected-pass, N not-applicable, N timeout,
    /// N error, N warning in 1.23 s`, with `, N stale expected-failure entries` before ` in` when there are any.
    public static func closingLine(_ run: RunResult) -> String {
        let counts = run.counts
        var line = "\(counts[.pass, default: 0]) passed, \(counts[.fail, default: 0]) failed"
        for verdict in [Verdict.expectedFail, .unexpectedPass, .notApplicable, .timeout, .error, .warning] {
            line += ", \(counts[verdict, default: 0]) \(verdict.rawValue)"
        }
        if !run.staleExpectedFailures.isEmpty {
            line +=
                ", \(run.staleExpectedFailures.count) stale expected-failure "
                + (run.staleExpectedFailures.count == 1 ? "entry" : "entries")
        }
        return line + " in " + ReportText.seconds(run.durationMs)
    }

    /// The short label of a verdict: PASS, FAIL, XFAIL, XPASS, N/A, TIMEOUT, ERROR, WARN.
    public static func label(_ verdict: Verdict) -> String {
        switch verdict {
        case .pass: "PASS"
        case .fail: "FAIL"
        case .expectedFail: "XFAIL"
        case .unexpectedPass: "XPASS"
        case .notApplicable: "N/A"
        case .timeout: "TIMEOUT"
        case .error: "ERROR"
        case .warning: "WARN"
        }
    }

    private func progressLine(_ state: State, now: ContinuousClock.Instant) -> String {
        Self.progressLine(
            finished: state.finished,
            total: state.total,
            counts: state.counts,
            elapsed: state.started.duration(to: now),
            running: self.activity?.running ?? [],
            now: now,
            columns: self.columns()
        )
    }

    /// The progress line: `[#####-----] 12/500  pass 10  fail 1  warn 2  xfail 1  n/a 3  12.34 s  3 running:
    /// <id> 4m12s: <activity>` (warn, xfail and n/a only when not zero; no bar below 60 columns), never more than
    /// `columns - 1` characters so that it never wraps: the longest-running case's id and activity are cut first,
    /// then the line.
    public static func progressLine(
        finished: Int,
        total: Int,
        counts: [Verdict: Int],
        elapsed: Duration,
        running: [RunActivity.Entry],
        now: ContinuousClock.Instant,
        columns: Int
    ) -> String {
        let room = max(columns - 1, 1)
        var line = ""
        if room >= 60 {
            let width = room >= 120 ? 30 : (room >= 90 ? 20 : 10)
            let filled = total > 0 ? min(width, finished * width / total) : width
            line += "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] "
        }
        let failed = counts.filter { $0.key.failsRun }.reduce(0) { $0 + $1.value }
        line += "\(finished)/\(total)  pass \(counts[.pass, default: 0])  fail \(failed)"
        for (name, verdict) in [("warn", Verdict.warning), ("xfail", .expectedFail), ("n/a", .notApplicable)] {
            if let count = counts[verdict], count > 0 { line += "  \(name) \(count)" }
        }
        line += "  " + ReportText.seconds(Self.milliseconds(elapsed))
        if let longest = running.first {
            let head = "  \(running.count) running: "
            let age = " " + Self.clock(longest.started.duration(to: now)) + ": "
            let activity = ReportText.singleLine(longest.activity)
            var id = longest.id
            let available = room - line.count - head.count - age.count
            if id.count + activity.count > available && id.count > 28 {
                id = ReportText.truncate(id, to: max(28, available - activity.count))
            }
            line += head + id + age + ReportText.truncate(activity, to: max(0, available - id.count))
        }
        return ReportText.truncate(line, to: room)
    }

    /// `12s`, `4m12s`, `1h02m`.
    static func clock(_ duration: Duration) -> String {
        let seconds = max(0, duration.components.seconds)
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 {
            let rest = seconds % 60
            return "\(seconds / 60)m\(rest < 10 ? "0" : "")\(rest)s"
        }
        let minutes = seconds / 60 % 60
        return "\(seconds / 3600)h\(minutes < 10 ? "0" : "")\(minutes)m"
    }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
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

    /// `1,530`.
    static func count(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (offset, digit) in digits.enumerated() {
            if offset > 0 && (digits.count - offset) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return (value < 0 ? "-" : "") + out
    }

    /// `1.5 MB`, `64 kB`, `12 bytes`.
    static func bytes(_ value: Int) -> String {
        if value >= 1_000_000 {
            let tenths = value / 100_000
            return "\(tenths / 10).\(tenths % 10) MB"
        }
        return value >= 1000 ? "\(value / 1000) kB" : "\(value) bytes"
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

    /// The first line of the text.
    static func firstLine(_ text: String) -> String {
        String(text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
    }

    /// The text cut to `limit` characters (not bytes), the last one `…` when cut.
    static func truncate(_ text: String, to limit: Int) -> String {
        guard limit > 0 else { return "" }
        guard text.utf8.count > limit, text.count > limit else { return text }
        return String(text.prefix(limit - 1)) + "…"
    }

    /// The text cut to `characters` characters and `lines` lines, with a note saying how much was left out; and how
    /// many characters were left out.
    static func cap(_ text: String, characters: Int, lines: Int) -> (text: String, omitted: Int) {
        guard text.utf8.count > characters || (lines < Int.max && text.utf8.count > lines) else { return (text, 0) }
        var kept = text[...]
        if lines < Int.max {
            var seen = 0
            for index in text.indices where text[index] == "\n" {
                seen += 1
                if seen == lines {
                    kept = text[..<index]
                    break
                }
            }
        }
        if kept.utf8.count > characters && kept.count > characters {
            kept = kept.prefix(characters)
        }
        guard kept.endIndex < text.endIndex else { return (text, 0) }
        let omitted = text[kept.endIndex...].count
        let separator = kept.contains("\n") ? "\n" : ""
        return (String(kept) + separator + "…(\(Self.count(omitted)) more characters)", omitted)
    }
}

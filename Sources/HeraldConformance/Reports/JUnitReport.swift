import Foundation

/// The `--junit` report: JUnit XML as Jenkins, GitLab and GitHub test reporters read it.
///
/// Shape: `<testsuites>` with one `<testsuite>` per Spec chapter (scenario file) in corpus order, one `<testcase
/// name="<case id>" classname="<chapter>" time="<seconds>">` per case. Each test case starts with `<properties>`:
/// one `requirement` property per requirement id, `level`, `verdict`, `title` and, for expected failures,
/// `expected-failure-reason`. Verdicts map to elements as follows:
///
/// | verdict          | element                                     |
/// |------------------|---------------------------------------------|
/// | pass             | none                                        |
/// | fail             | `<failure type="fail">`                     |
/// | unexpected-pass  | `<failure type="unexpected-pass">`          |
/// | timeout          | `<failure type="timeout">`                  |
/// | error            | `<error type="error">`                      |
/// | not-applicable   | `<skipped message="…">`                     |
/// | expected-fail    | none; the message and transcript in `<system-out>` |
/// | warning          | none (a pass); `WARNING: …`, the message and transcript in `<system-out>` |
///
/// A case run again alone after an error on its first attempt has a `first-attempt` property and says so in its
/// text (`ERROR on the first attempt while other cases ran: …; rerun alone: PASS`). Messages and transcripts are
/// bounded like every report's (``ReportLimits``, ``ReportDigest``): past the run's budget a case's text is the
/// first line of its message and its rerun command.
///
/// Stale expected-failure entries are test cases with a `<failure type="stale-expected-failure">` in an extra
/// suite named `expected-failures`. Text is escaped for XML 1.0: characters XML cannot carry (control characters
/// other than tab, line feed and carriage return, U+FFFE, U+FFFF) are written as `\u{XXXX}`.
public enum JUnitReport {
    /// The name of the extra suite that holds stale expected-failure entries.
    public static let staleSuiteName = "expected-failures"

    /// Renders the report as UTF-8 XML, each case's text bounded by `limits` (``ReportLimits/forVerbose(_:)`` for
    /// `--verbose`).
    public static func render(_ run: RunResult, limits: ReportLimits = .standard) -> Data {
        Data(self.renderString(run, limits: limits).utf8)
    }

    /// Renders the report as a string.
    public static func renderString(_ run: RunResult, limits: ReportLimits = .standard) -> String {
        let digest = ReportDigest(run, limits: limits)

        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        let failures =
            run.cases.filter { [.fail, .unexpectedPass, .timeout].contains($0.verdict) }.count
            + run.staleExpectedFailures.count
        let errors = run.cases.filter { $0.verdict == .error }.count
        let tests = run.cases.count + run.staleExpectedFailures.count
        xml += "<testsuites"
        xml += attribute("name", run.suite)
        xml += attribute("tests", "\(tests)")
        xml += attribute("failures", "\(failures)")
        xml += attribute("errors", "\(errors)")
        xml += attribute("time", seconds(run.durationMs))
        xml += ">\n"
        let timestamp = Self.timestamp(run.startedMs)
        let indexed = Array(zip(run.cases, digest.cases))
        for (chapter, cases) in Self.groupByChapter(indexed, chapter: { $0.0.chapter }) {
            xml += Self.suite(name: chapter, cases: cases, run: run, timestamp: timestamp)
        }
        if !run.staleExpectedFailures.isEmpty {
            xml += "  <testsuite"
            xml += attribute("name", Self.staleSuiteName)
            xml += attribute("tests", "\(run.staleExpectedFailures.count)")
            xml += attribute("failures", "\(run.staleExpectedFailures.count)")
            xml += attribute("errors", "0")
            xml += attribute("skipped", "0")
            xml += attribute("time", "0.000")
            xml += attribute("timestamp", timestamp)
            xml += ">\n"
            for entry in run.staleExpectedFailures {
                xml += "    <testcase" + attribute("name", entry) + attribute("classname", Self.staleSuiteName)
                xml += attribute("time", "0.000") + ">\n"
                let message = "the expected-failures entry '\(entry)' matches no selected case; remove it"
                xml += "      <failure" + attribute("type", "stale-expected-failure") + attribute("message", message)
                xml += ">" + text(message) + "</failure>\n"
                xml += "    </testcase>\n"
            }
            xml += "  </testsuite>\n"
        }
        xml += "</testsuites>\n"
        return xml
    }

    /// The cases grouped by chapter, chapters in order of first appearance.
    static func groupByChapter(_ cases: [CaseResult]) -> [(String, [CaseResult])] {
        Self.groupByChapter(cases, chapter: { $0.chapter })
    }

    /// The elements grouped by chapter, chapters in order of first appearance.
    static func groupByChapter<Element>(
        _ elements: [Element],
        chapter: (Element) -> String
    ) -> [(String, [Element])] {
        var order: [String] = []
        var groups: [String: [Element]] = [:]
        for element in elements {
            let name = chapter(element)
            if groups[name] == nil { order.append(name) }
            groups[name, default: []].append(element)
        }
        return order.map { ($0, groups[$0] ?? []) }
    }

    private static func suite(
        name: String,
        cases pairs: [(CaseResult, CaseDigest)],
        run: RunResult,
        timestamp: String
    ) -> String {
        let cases = pairs.map(\.0)
        var xml = "  <testsuite"
        xml += attribute("name", name)
        xml += attribute("tests", "\(cases.count)")
        xml += attribute(
            "failures",
            "\(cases.filter { [.fail, .unexpectedPass, .timeout].contains($0.verdict) }.count)"
        )
        xml += attribute("errors", "\(cases.filter { $0.verdict == .error }.count)")
        xml += attribute("skipped", "\(cases.filter { $0.verdict == .notApplicable }.count)")
        xml += attribute("time", seconds(cases.reduce(0) { $0 + $1.durationMs }))
        xml += attribute("timestamp", timestamp)
        xml += ">\n"
        xml += "    <properties>\n"
        for (key, value) in [
            ("suite", run.suite), ("spec-version", run.specVersion), ("target", run.target),
            ("transport", run.transport), ("nonce", run.nonce),
            ("granted-capabilities", run.grantedCapabilities.joined(separator: " ")),
        ] {
            xml += "      <property" + attribute("name", key) + attribute("value", value) + "/>\n"
        }
        xml += "    </properties>\n"
        for (result, digest) in pairs {
            xml += Self.testcase(result, digest: digest)
        }
        xml += "  </testsuite>\n"
        return xml
    }

    private static func testcase(_ result: CaseResult, digest: CaseDigest) -> String {
        var xml = "    <testcase"
        xml += attribute("name", result.id)
        xml += attribute("classname", result.chapter)
        xml += attribute("time", seconds(result.durationMs))
        xml += ">\n"
        xml += "      <properties>\n"
        var properties = result.requirements.map { ("requirement", $0) }
        properties.append(("level", result.level))
        properties.append(("verdict", result.verdict.rawValue))
        properties.append(("title", result.title))
        if let reason = result.expectedFailureReason {
            properties.append(("expected-failure-reason", reason))
        }
        if let step = result.failedStep {
            properties.append(("failed-step", "\(step)"))
        }
        if let first = result.firstAttempt {
            let message = ReportText.truncate(
                ReportText.firstLine(digest.firstAttemptMessage ?? first.message),
                to: 500
            )
            properties.append(("first-attempt", "\(first.verdict.rawValue) (\(first.durationMs) ms): \(message)"))
        }
        for (key, value) in properties {
            xml += "        <property" + attribute("name", key) + attribute("value", value) + "/>\n"
        }
        xml += "      </properties>\n"
        let details = Self.details(result, digest: digest)
        switch result.verdict {
        case .pass:
            if !result.transcript.isEmpty || result.firstAttempt != nil {
                xml += "      <system-out>" + text(details) + "</system-out>\n"
            }
        case .fail, .unexpectedPass, .timeout:
            xml += "      <failure" + attribute("type", result.verdict.rawValue)
            xml += attribute("message", firstLine(digest.message)) + ">" + text(details) + "</failure>\n"
        case .error:
            xml += "      <error" + attribute("type", result.verdict.rawValue)
            xml += attribute("message", firstLine(digest.message)) + ">" + text(details) + "</error>\n"
        case .notApplicable:
            let message = digest.message.isEmpty ? "not applicable" : digest.message
            xml += "      <skipped" + attribute("message", firstLine(message)) + ">" + text(message) + "</skipped>\n"
        case .expectedFail:
            xml += "      <system-out>" + text(details) + "</system-out>\n"
        case .warning:
            let note = "WARNING: a \(result.level) case that did not pass; it does not fail the run without --strict"
            xml += "      <system-out>" + text(note + "\n" + details) + "</system-out>\n"
        }
        xml += "    </testcase>\n"
        return xml
    }

    /// The message, the failed step, the transcript and the rerun command, as plain text, bounded by the digest.
    static func details(_ result: CaseResult, digest: CaseDigest) -> String {
        var lines: [String] = []
        if let reason = result.expectedFailureReason {
            lines.append("expected failure: \(reason)")
        }
        if result.firstAttempt != nil {
            lines.append(ConsoleReporter.firstAttemptNote(result, digest: digest, limits: .verbose))
        }
        if !digest.message.isEmpty {
            if let step = result.failedStep {
                lines.append("step \(step): \(digest.message)")
            } else {
                lines.append(digest.message)
            }
        }
        if !result.transcript.isEmpty {
            if digest.transcript.entries.isEmpty, let note = digest.transcript.cut?.note {
                lines.append("transcript: " + note)
            } else {
                lines.append("transcript (\(digest.transcript.actors)):")
                lines.append(contentsOf: digest.transcript.lines().map { "  " + $0 })
            }
        }
        if !result.rerunCommand.isEmpty {
            lines.append("rerun: \(result.rerunCommand)")
        }
        return lines.joined(separator: "\n")
    }

    private static func firstLine(_ text: String) -> String {
        let line = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return line.count > 500 ? String(line.prefix(499)) + "…" : String(line)
    }

    private static func seconds(_ milliseconds: Int64) -> String {
        let value = max(milliseconds, 0)
        let fraction = String(value % 1000)
        return "\(value / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }

    /// `YYYY-MM-DDTHH:MM:SS` in UTC, without a zone designator (the form the Ant JUnit schema requires).
    static func timestamp(_ unixMilliseconds: Int64) -> String {
        let seconds = unixMilliseconds >= 0 ? unixMilliseconds / 1000 : (unixMilliseconds - 999) / 1000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let time = "\(two(secondOfDay / 3600)):\(two(secondOfDay % 3600 / 60)):\(two(secondOfDay % 60))"
        return "\(year)-\(two(month))-\(two(day))T" + time
    }

    private static func attribute(_ name: String, _ value: String) -> String {
        " \(name)=\"\(XMLEscaping.attribute(value))\""
    }

    private static func text(_ value: String) -> String {
        XMLEscaping.text(value)
    }
}

/// Escaping for XML 1.0 text and attribute values.
enum XMLEscaping {
    /// Escapes character data: `&`, `<`, `>`; characters XML 1.0 cannot carry become `\u{XXXX}`.
    static func text(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\r": out += "&#13;"
            default: Self.appendAllowed(scalar, to: &out)
            }
        }
        return out
    }

    /// Escapes an attribute value: also quotes, and tab, line feed and carriage return as character references so
    /// that attribute-value normalisation keeps them.
    static func attribute(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t": out += "&#9;"
            case "\n": out += "&#10;"
            case "\r": out += "&#13;"
            default: Self.appendAllowed(scalar, to: &out)
            }
        }
        return out
    }

    /// Whether XML 1.0 allows the character (the `Char` production).
    static func isAllowed(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x9, 0xA, 0xD: true
        case 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: true
        default: false
        }
    }

    private static func appendAllowed(_ scalar: Unicode.Scalar, to out: inout String) {
        if Self.isAllowed(scalar) {
            out.unicodeScalars.append(scalar)
        } else {
            let hex = String(scalar.value, radix: 16, uppercase: true)
            out += "\\u{" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex + "}"
        }
    }
}

import Foundation
import HeraldSpec

/// The `--html` report: one self-contained HTML file (inline CSS and a few lines of inline JavaScript for the verdict
/// filter; no external resources).
///
/// The first screen has the outcome, the closing line (``ConsoleReporter/closingLine(_:)``) and the summary list:
/// one line per failing case and per warning (verdict, id linking to the case, first line of the message). Then
/// come the run's details (counts, wall time, target, transport, nonce, versions, granted capabilities), the stale
/// expected-failure entries, one section per Spec chapter with a row per case (verdict, id, title, level,
/// requirement ids with their text as tooltip, duration) and, for every case that did not pass, a collapsed row with
/// its message, rerun command and transcript (plain text, bounded by ``ReportLimits``: the report stays a few
/// megabytes and opens in a browser in seconds however many cases fail); and, when coverage is given, a coverage
/// section with the per-chapter counts of requirements covered by at least one case, waived and uncovered, by level,
/// and the uncovered requirements.
public enum HTMLReport {
    /// Renders the report.
    ///
    /// - Parameters:
    ///   - run: The run.
    ///   - coverage: Requirement coverage of the corpus, for the coverage section; omitted when `nil`.
    ///   - requirements: The requirement index by id, for the requirement texts.
    ///   - verbose: Whether transcripts of passing cases are shown too, with the ``ReportLimits/verbose`` limits.
    ///   - limits: How much of each case to show; ``ReportLimits/forVerbose(_:)`` of `verbose` when `nil`.
    public static func render(
        _ run: RunResult,
        coverage: CoverageReport? = nil,
        requirements: [String: Requirement] = [:],
        verbose: Bool = false,
        limits: ReportLimits? = nil
    ) -> String {
        let digest = ReportDigest(run, limits: limits ?? .forVerbose(verbose))
        var html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        html += "<title>\(escape(run.suite)) — \(escape(run.target))</title>\n"
        html += "<style>\n\(Self.style)</style>\n</head>\n<body>\n"
        html += Self.header(run, digest: digest)
        html += Self.filter(run)
        if !run.staleExpectedFailures.isEmpty {
            html += "<section class=\"stale\">\n<h2>Stale expected-failure entries</h2>\n"
            html +=
                "<p>These entries of the expected-failures file match no selected case; they fail the run.</p>\n<ul>"
            html += run.staleExpectedFailures.map { "<li><code>\(escape($0))</code></li>" }.joined()
            html += "</ul>\n</section>\n"
        }
        let pairs = Array(zip(run.cases, digest.cases))
        for (chapter, cases) in JUnitReport.groupByChapter(pairs, chapter: { $0.0.chapter }) {
            html += Self.chapterSection(chapter, cases: cases, requirements: requirements, verbose: verbose)
        }
        if let coverage {
            html += Self.coverageSection(coverage)
        }
        html += "<script>\n\(Self.script)</script>\n</body>\n</html>\n"
        return html
    }

    // MARK: - Sections

    private static func header(_ run: RunResult, digest: ReportDigest) -> String {
        let counts = run.counts
        var html = "<header>\n<h1>\(escape(run.suite)) <span class=\"outcome \(run.passed ? "ok" : "bad")\">"
        html += run.passed ? "PASSED" : "FAILED"
        html += "</span></h1>\n"
        html += "<p class=\"closing\" id=\"closing\">\(escape(ConsoleReporter.closingLine(run)))</p>\n"
        html += Self.summaryList(run, limits: digest.limits)
        if digest.listedOnly > 0 {
            html += "<p class=\"note\">Details of \(digest.listedOnly) \(digest.listedOnly == 1 ? "case" : "cases") "
            html += "are left out: this report's size budget (\(ReportText.bytes(digest.limits.runBytes))) was spent "
            html += "on earlier cases. Each is listed with the first line of its message and its rerun command.</p>\n"
        }
        html += "<table class=\"meta\">\n"
        let started = JUnitReport.timestamp(run.startedMs) + " UTC"
        let rows: [(String, String)] = [
            ("Specification", run.specVersion),
            ("Target", run.target),
            ("Transport", run.transport),
            ("Nonce", run.nonce),
            ("Started", started),
            ("Wall time", ReportText.seconds(run.durationMs)),
            ("Cases", "\(run.selectedCases) selected of \(run.totalCases)"),
            ("Levels", run.level.rawValue + (run.strict ? ", strict" : "")),
            ("Granted capabilities", run.grantedCapabilities.joined(separator: ", ")),
        ]
        for (key, value) in rows {
            html += "<tr><th>\(escape(key))</th><td>\(escape(value))</td></tr>\n"
        }
        html += "</table>\n<p class=\"counts\">"
        html += Verdict.allCases.map { verdict in
            "<span class=\"badge \(verdict.rawValue)\">\(counts[verdict, default: 0]) \(verdict.rawValue)</span>"
        }.joined(separator: " ")
        if !run.staleExpectedFailures.isEmpty {
            html += " <span class=\"badge fail\">\(run.staleExpectedFailures.count) stale</span>"
        }
        html += "</p>\n</header>\n"
        return html
    }

    /// The summary list: one line per failing case, then per warning, each linking to the case's row.
    private static func summaryList(_ run: RunResult, limits: ReportLimits) -> String {
        var html = ""
        let failing = run.cases.filter(\.verdict.failsRun)
        let warnings = run.cases.filter { $0.verdict == .warning }
        for (title, id, cases) in [("Failing cases", "failures", failing), ("Warnings", "warnings", warnings)]
        where !cases.isEmpty {
            html += "<section class=\"summary\" id=\"\(id)\">\n<h2>\(title) (\(cases.count))</h2>\n<ol>\n"
            for result in cases {
                let first = ReportText.truncate(ReportText.firstLine(result.message), to: limits.summaryLineCharacters)
                html += "<li><span class=\"badge \(result.verdict.rawValue)\">\(ConsoleReporter.label(result.verdict))"
                html += "</span> <a href=\"#case-\(escape(result.id))\"><code>\(escape(result.id))</code></a>"
                html += first.isEmpty ? "" : ": \(escape(first))"
                html += "</li>\n"
            }
            html += "</ol>\n</section>\n"
        }
        return html
    }

    private static func filter(_ run: RunResult) -> String {
        var html = "<nav class=\"filter\">Show: "
        for verdict in Verdict.allCases {
            let id = "show-\(verdict.rawValue)"
            html += "<label><input type=\"checkbox\" id=\"\(id)\" data-verdict=\"\(verdict.rawValue)\" checked> "
            html += "\(verdict.rawValue)</label> "
        }
        html += "</nav>\n"
        return html
    }

    private static func chapterSection(
        _ chapter: String,
        cases: [(CaseResult, CaseDigest)],
        requirements: [String: Requirement],
        verbose: Bool
    ) -> String {
        var counts: [Verdict: Int] = [:]
        for (result, _) in cases { counts[result.verdict, default: 0] += 1 }
        let summary = Verdict.allCases.compactMap { verdict in
            counts[verdict].map { "\($0) \(verdict.rawValue)" }
        }.joined(separator: ", ")
        var html = "<section class=\"chapter\" id=\"chapter-\(escape(chapter))\">\n"
        html += "<h2>\(escape(chapter)) <small>\(escape(summary))</small></h2>\n"
        html += "<table class=\"cases\">\n<thead><tr><th>Verdict</th><th>Case</th><th>Title</th><th>Level</th>"
        html += "<th>Requirements</th><th>Time</th></tr></thead>\n<tbody>\n"
        for (result, digest) in cases {
            html += "<tr class=\"case v-\(result.verdict.rawValue)\" id=\"case-\(escape(result.id))\">"
            html += "<td><span class=\"badge \(result.verdict.rawValue)\">\(ConsoleReporter.label(result.verdict))"
            html += "</span></td><td><code>\(escape(result.id))</code></td><td>\(escape(result.title))</td>"
            html += "<td>\(escape(result.level))</td><td>"
            html += result.requirements.map { id in
                let tip = requirements[id].map { " title=\"\(escape("\($0.level.rawValue): \($0.text)"))\"" } ?? ""
                return "<span class=\"req\"\(tip)>\(escape(id))</span>"
            }.joined(separator: " ")
            html += "</td><td class=\"num\">\(escape(ReportText.duration(result.durationMs)))</td></tr>\n"
            if result.verdict != .pass || result.firstAttempt != nil || (verbose && !result.transcript.isEmpty) {
                html += "<tr class=\"detail v-\(result.verdict.rawValue)\"><td colspan=\"6\">"
                html += Self.details(result, digest: digest, requirements: requirements)
                html += "</td></tr>\n"
            }
        }
        html += "</tbody>\n</table>\n</section>\n"
        return html
    }

    private static func details(
        _ result: CaseResult,
        digest: CaseDigest,
        requirements: [String: Requirement]
    ) -> String {
        let first = ReportText.truncate(ReportText.firstLine(digest.message), to: 160)
        var html = "<details><summary>Details"
        html += first.isEmpty ? "" : " <span class=\"first\">\(escape(first))</span>"
        html += "</summary>\n"
        if result.firstAttempt != nil {
            let note = ConsoleReporter.firstAttemptNote(result, digest: digest, limits: .verbose)
            html += "<p class=\"rerun-note\">\(escape(note))</p>\n"
        }
        if let reason = result.expectedFailureReason {
            html += "<p><b>Expected-failures entry:</b> \(escape(reason))</p>\n"
        }
        if !digest.message.isEmpty {
            let step = result.failedStep.map { "Step \($0): " } ?? ""
            html += "<p><b>\(escape(step))Message</b></p>\n<pre class=\"message\">\(escape(digest.message))</pre>\n"
        }
        let texts = result.requirements.compactMap { id in requirements[id].map { (id, $0) } }
        if !texts.isEmpty && digest.detailed {
            html += "<ul class=\"reqtext\">"
            html += texts.map { id, requirement in
                "<li><b>\(escape(id))</b> (\(requirement.level.rawValue)): \(escape(requirement.text))</li>"
            }.joined()
            html += "</ul>\n"
        }
        if !result.rerunCommand.isEmpty {
            html += "<p><b>Rerun:</b> <code>\(escape(result.rerunCommand))</code></p>\n"
        }
        if !result.transcript.isEmpty {
            if digest.transcript.entries.isEmpty, let note = digest.transcript.cut?.note {
                html += "<p class=\"note\">\(escape(note))</p>\n"
            } else {
                html += "<p><b>Transcript</b> (\(escape(digest.transcript.actors)))</p>\n<pre class=\"transcript\">"
                html += escape(digest.transcript.lines().joined(separator: "\n"))
                html += "</pre>\n"
            }
        }
        html += "</details>"
        return html
    }

    private static func coverageSection(_ coverage: CoverageReport) -> String {
        let levels = RequirementLevel.allCases.map(\.rawValue)
        var html = "<section class=\"coverage\" id=\"coverage\">\n<h2>Requirement coverage</h2>\n"
        html += "<p>Requirements of the specification checked by at least one case of the corpus (covered), "
        html += "explained in waivers.json (waived), or neither (uncovered).</p>\n"
        html += "<table class=\"cov\">\n<thead><tr><th>Chapter</th>"
        for level in levels {
            html += "<th>\(level) covered</th><th>\(level) waived</th><th>\(level) uncovered</th>"
        }
        html += "</tr></thead>\n<tbody>\n"
        func cells(_ countsByLevel: [String: CoverageReport.Counts]) -> String {
            levels.map { level in
                let counts = countsByLevel[level] ?? CoverageReport.Counts()
                let bad = counts.uncovered > 0 && level == RequirementLevel.must.rawValue ? " bad" : ""
                return "<td class=\"num\">\(counts.covered)/\(counts.total)</td><td class=\"num\">\(counts.waived)</td>"
                    + "<td class=\"num\(bad)\">\(counts.uncovered)</td>"
            }.joined()
        }
        for chapter in coverage.chapters {
            html += "<tr><td>\(escape(chapter.chapter))</td>\(cells(chapter.levels))</tr>\n"
        }
        html += "<tr class=\"total\"><td>all</td>\(cells(coverage.totals))</tr>\n</tbody>\n</table>\n"
        let uncovered = coverage.requirements.filter { $0.status == .uncovered }
        if !uncovered.isEmpty {
            html += "<details><summary>Uncovered requirements (\(uncovered.count))</summary>\n<ul class=\"reqtext\">"
            html += uncovered.map { entry in
                "<li><b>\(escape(entry.id))</b> (\(escape(entry.level)), \(escape(entry.chapter))): "
                    + "\(escape(entry.text))</li>"
            }.joined()
            html += "</ul>\n</details>\n"
        }
        let waived = coverage.requirements.filter { $0.status == .waived }
        if !waived.isEmpty {
            html += "<details><summary>Waived requirements (\(waived.count))</summary>\n<ul class=\"reqtext\">"
            html += waived.map { entry in
                "<li><b>\(escape(entry.id))</b> (\(escape(entry.level))): \(escape(entry.waiverReason ?? ""))</li>"
            }.joined()
            html += "</ul>\n</details>\n"
        }
        if !coverage.problems.isEmpty {
            html += "<p class=\"bad\"><b>Problems:</b></p>\n<ul>"
            html += coverage.problems.map { "<li>\(escape($0))</li>" }.joined()
            html += "</ul>\n"
        }
        html += "</section>\n"
        return html
    }

    // MARK: - Escaping, style, script

    /// Escapes text for HTML content and attribute values; control characters become `\u{XXXX}`.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\t", "\n": out.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || !XMLEscaping.isAllowed(scalar) {
                    let hex = String(scalar.value, radix: 16, uppercase: true)
                    out += "\\u{" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex + "}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    private static let style = """
        body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
        h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.5em; }
        h2 small { font-weight: normal; color: #666; }
        table { border-collapse: collapse; } th, td { padding: 2px 8px; text-align: left; vertical-align: top; }
        table.cases, table.cov { width: 100%; } table.cases > tbody > tr.case { border-top: 1px solid #ddd; }
        table.meta th { color: #555; font-weight: normal; }
        .num { text-align: right; font-variant-numeric: tabular-nums; }
        code, pre { font: 12px/1.35 ui-monospace, monospace; }
        pre { margin: 0; white-space: pre-wrap; word-break: break-all; }
        pre.message { background: #fff4f4; border-left: 3px solid #c33; padding: 4px 8px; }
        .badge { display: inline-block; padding: 0 6px; border-radius: 3px; font-size: 12px; background: #eee; }
        .badge.pass { background: #d8f0d8; } .badge.fail, .badge.unexpected-pass { background: #f6cccc; }
        .badge.timeout, .badge.error { background: #f7ddb0; } .badge.expected-fail { background: #e6dcf5; }
        .badge.not-applicable { background: #e4e4e4; color: #555; } .badge.warning { background: #fbe9a0; }
        .outcome { font-size: 0.7em; padding: 2px 8px; border-radius: 3px; }
        .outcome.ok { background: #d8f0d8; } .outcome.bad { background: #f6cccc; }
        .req { border-bottom: 1px dotted #888; cursor: help; }
        pre.transcript { background: #f7f7f7; padding: 4px 8px; white-space: pre; overflow-x: auto; word-break: normal; }
        p.closing { font-size: 1.1em; font-weight: bold; } section.summary ol { max-height: 45vh; overflow: auto; }
        section.summary h2 { margin-top: 0.8em; } section.summary li { margin: 1px 0; }
        .note { color: #555; font-style: italic; } .rerun-note { background: #fff8e0; padding: 2px 8px; }
        summary .first { color: #555; font-family: ui-monospace, monospace; font-size: 12px; }
        .bad { color: #b00; font-weight: bold; } tr.total td { border-top: 2px solid #999; font-weight: bold; }
        nav.filter { margin: 1em 0; } nav.filter label { margin-right: 1em; } .hidden { display: none; }
        ul.reqtext li { margin: 2px 0; }

        """

    private static let script = """
        function openCase() {
          var row = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
          var next = row && row.nextElementSibling;
          var details = next && next.classList.contains('detail') && next.querySelector('details');
          if (details) { details.open = true; }
        }
        window.addEventListener('hashchange', openCase);
        openCase();
        document.querySelectorAll('nav.filter input').forEach(function (box) {
          box.addEventListener('change', function () {
            var rows = document.querySelectorAll('tr.v-' + box.dataset.verdict);
            rows.forEach(function (row) { row.classList.toggle('hidden', !box.checked); });
          });
        });

        """
}

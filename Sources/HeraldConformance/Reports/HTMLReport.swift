import Foundation
import HeraldSpec

/// The `--html` report: one self-contained HTML file (inline CSS and a few lines of inline JavaScript for the verdict
/// filter; no external resources).
///
/// It has a summary header (counts, wall time, target, transport, nonce, versions, granted capabilities), the stale
/// expected-failure entries, one section per Spec chapter with a row per case (verdict, id, title, level,
/// requirement ids with their text as tooltip, duration) and, for every case that did not pass, its message, rerun
/// command and transcript table; and, when coverage is given, a coverage section with the per-chapter counts of
/// requirements covered by at least one case, waived and uncovered, by level, and the uncovered requirements.
public enum HTMLReport {
    /// Renders the report.
    ///
    /// - Parameters:
    ///   - run: The run.
    ///   - coverage: Requirement coverage of the corpus, for the coverage section; omitted when `nil`.
    ///   - requirements: The requirement index by id, for the requirement texts.
    ///   - verbose: Whether transcripts of passing cases are shown too.
    public static func render(
        _ run: RunResult,
        coverage: CoverageReport? = nil,
        requirements: [String: Requirement] = [:],
        verbose: Bool = false
    ) -> String {
        var html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        html += "<title>\(escape(run.suite)) — \(escape(run.target))</title>\n"
        html += "<style>\n\(Self.style)</style>\n</head>\n<body>\n"
        html += Self.header(run)
        html += Self.filter(run)
        if !run.staleExpectedFailures.isEmpty {
            html += "<section class=\"stale\">\n<h2>Stale expected-failure entries</h2>\n"
            html +=
                "<p>These entries of the expected-failures file match no selected case; they fail the run.</p>\n<ul>"
            html += run.staleExpectedFailures.map { "<li><code>\(escape($0))</code></li>" }.joined()
            html += "</ul>\n</section>\n"
        }
        for (chapter, cases) in JUnitReport.groupByChapter(run.cases) {
            html += Self.chapterSection(chapter, cases: cases, requirements: requirements, verbose: verbose)
        }
        if let coverage {
            html += Self.coverageSection(coverage)
        }
        html += "<script>\n\(Self.script)</script>\n</body>\n</html>\n"
        return html
    }

    // MARK: - Sections

    private static func header(_ run: RunResult) -> String {
        let counts = run.counts
        var html = "<header>\n<h1>\(escape(run.suite)) <span class=\"outcome \(run.passed ? "ok" : "bad")\">"
        html += run.passed ? "PASSED" : "FAILED"
        html += "</span></h1>\n<table class=\"meta\">\n"
        let started = JUnitReport.timestamp(run.startedMs) + " UTC"
        let rows: [(String, String)] = [
            ("Specification", run.specVersion),
            ("Target", run.target),
            ("Transport", run.transport),
            ("Nonce", run.nonce),
            ("Started", started),
            ("Wall time", ReportText.seconds(run.durationMs)),
            ("Cases", "\(run.selectedCases) selected of \(run.totalCases)"),
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
        html += "</p>\n<p class=\"closing\">\(escape(ConsoleReporter.closingLine(run)))</p>\n</header>\n"
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
        cases: [CaseResult],
        requirements: [String: Requirement],
        verbose: Bool
    ) -> String {
        var counts: [Verdict: Int] = [:]
        for result in cases { counts[result.verdict, default: 0] += 1 }
        let summary = Verdict.allCases.compactMap { verdict in
            counts[verdict].map { "\($0) \(verdict.rawValue)" }
        }.joined(separator: ", ")
        var html = "<section class=\"chapter\" id=\"chapter-\(escape(chapter))\">\n"
        html += "<h2>\(escape(chapter)) <small>\(escape(summary))</small></h2>\n"
        html += "<table class=\"cases\">\n<thead><tr><th>Verdict</th><th>Case</th><th>Title</th><th>Level</th>"
        html += "<th>Requirements</th><th>Time</th></tr></thead>\n<tbody>\n"
        for result in cases {
            html += "<tr class=\"case v-\(result.verdict.rawValue)\" id=\"case-\(escape(result.id))\">"
            html += "<td><span class=\"badge \(result.verdict.rawValue)\">\(ConsoleReporter.label(result.verdict))"
            html += "</span></td><td><code>\(escape(result.id))</code></td><td>\(escape(result.title))</td>"
            html += "<td>\(escape(result.level))</td><td>"
            html += result.requirements.map { id in
                let tip = requirements[id].map { " title=\"\(escape("\($0.level.rawValue): \($0.text)"))\"" } ?? ""
                return "<span class=\"req\"\(tip)>\(escape(id))</span>"
            }.joined(separator: " ")
            html += "</td><td class=\"num\">\(escape(ReportText.duration(result.durationMs)))</td></tr>\n"
            if result.verdict != .pass || (verbose && !result.transcript.isEmpty) {
                html += "<tr class=\"detail v-\(result.verdict.rawValue)\"><td colspan=\"6\">"
                html += Self.details(result, requirements: requirements)
                html += "</td></tr>\n"
            }
        }
        html += "</tbody>\n</table>\n</section>\n"
        return html
    }

    private static func details(_ result: CaseResult, requirements: [String: Requirement]) -> String {
        var html = "<details\(result.verdict.failsRun ? " open" : "")><summary>Details</summary>\n"
        if let reason = result.expectedFailureReason {
            html += "<p><b>Expected-failures entry:</b> \(escape(reason))</p>\n"
        }
        if !result.message.isEmpty {
            let step = result.failedStep.map { "Step \($0): " } ?? ""
            html += "<p><b>\(escape(step))Message</b></p>\n<pre class=\"message\">\(escape(result.message))</pre>\n"
        }
        let texts = result.requirements.compactMap { id in requirements[id].map { (id, $0) } }
        if !texts.isEmpty {
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
            html += "<table class=\"transcript\">\n<thead><tr><th>ms</th><th>Actor</th><th></th><th>Type</th>"
            html += "<th>Request id</th><th>Flags</th><th>Payload</th></tr></thead>\n<tbody>\n"
            for entry in result.transcript {
                html += "<tr class=\"\(entry.direction.rawValue)\"><td class=\"num\">\(entry.atMs)</td>"
                html += "<td>\(escape(entry.actor))</td><td>\(ReportText.arrow(entry.direction))</td>"
                html += "<td>\(escape(entry.type))</td><td class=\"num\">\(entry.requestID)</td>"
                html += "<td class=\"num\">0x\(String(entry.flags, radix: 16))</td>"
                html += "<td><pre>\(escape(entry.payload))</pre></td></tr>\n"
            }
            html += "</tbody>\n</table>\n"
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
        .badge.not-applicable { background: #e4e4e4; color: #555; }
        .outcome { font-size: 0.7em; padding: 2px 8px; border-radius: 3px; }
        .outcome.ok { background: #d8f0d8; } .outcome.bad { background: #f6cccc; }
        .req { border-bottom: 1px dotted #888; cursor: help; }
        table.transcript { margin-top: 4px; font-size: 12px; } table.transcript td { border-top: 1px solid #eee; }
        table.transcript tr.received td { background: #f4f8ff; } table.transcript tr.transport td { color: #777; }
        .bad { color: #b00; font-weight: bold; } tr.total td { border-top: 2px solid #999; font-weight: bold; }
        nav.filter { margin: 1em 0; } nav.filter label { margin-right: 1em; } .hidden { display: none; }
        ul.reqtext li { margin: 2px 0; }

        """

    private static let script = """
        document.querySelectorAll('nav.filter input').forEach(function (box) {
          box.addEventListener('change', function () {
            var rows = document.querySelectorAll('tr.v-' + box.dataset.verdict);
            rows.forEach(function (row) { row.classList.toggle('hidden', !box.checked); });
          });
        });

        """
}

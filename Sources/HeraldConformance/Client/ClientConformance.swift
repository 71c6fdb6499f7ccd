import Foundation
import HeraldCorpus
import HeraldSpec
import NIOCore
import NIOPosix

/// The client cases of a run: from the corpus built into herald, or from a directory.
public struct ClientCorpus: Sendable {
    /// The cases, in file and case order.
    public var cases: [ClientCase]
    /// `waivers.json` of the client corpus.
    public var waivers: [Waiver]
    /// Where the cases came from: `embedded` or the directory.
    public var label: String

    /// Loads the corpus built into herald (`directory` `nil`) or the files of `directory`.
    ///
    /// - Throws: ``ClientScenarioError`` for a file that is not a valid client scenario file, or a duplicate id.
    public static func load(directory: String?) throws(ClientScenarioError) -> ClientCorpus {
        var files: [(name: String, data: Data)] = []
        if let directory {
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
            } catch {
                throw ClientScenarioError("cannot read the directory \(directory): \(error)")
            }
            for name in names where name.hasSuffix(".json") {
                guard let data = FileManager.default.contents(atPath: directory + "/" + name) else {
                    throw ClientScenarioError("cannot read \(directory)/\(name)")
                }
                files.append((name, data))
            }
        } else {
            files = EmbeddedCorpus.clientScenarios.map { ($0.name, Data($0.text.utf8)) }
        }
        var cases: [ClientCase] = []
        var waivers: [Waiver] = []
        var seen: Set<String> = []
        for file in files {
            if file.name == WaiverFile.fileName {
                do {
                    waivers = try WaiverFile(data: file.data, fileName: file.name).waivers
                } catch {
                    throw ClientScenarioError(error.description)
                }
                continue
            }
            for scenario in try ClientScenarioFile(data: file.data, fileName: file.name).cases {
                guard seen.insert(scenario.id).inserted else {
                    throw ClientScenarioError("\(file.name): the case id \(scenario.id) is used twice")
                }
                cases.append(scenario)
            }
        }
        return ClientCorpus(cases: cases, waivers: waivers, label: directory ?? "embedded")
    }

    /// The requirement ids the client corpus is about: those its cases check and those it waives.
    public var requirementIDs: Set<String> {
        Set(self.cases.flatMap(\.requirements)).union(self.waivers.map(\.requirement))
    }
}

/// The settings of one `herald conform client` invocation.
public struct ClientConformOptions: Sendable {
    /// The adapter command lines (`/bin/sh -c`), one run each.
    public var adapters: [String] = []
    /// A client scenario directory instead of the embedded corpus.
    public var scenarios: String?
    /// Case id globs to run (all when empty).
    public var filters: [String] = []
    /// Case id globs to leave out.
    public var skips: [String] = []
    /// The levels to run.
    public var level: LevelSelection = .should
    /// Whether SHOULD and MAY failures fail the run.
    public var strict = false
    /// Expected-failure files: by adapter name, or `""` for every adapter without a file of its own.
    public var expectedFailures: [String: String] = [:]
    /// Report paths; with several adapters each gets the adapter's name before the extension.
    public var jsonPath: String?
    /// JUnit XML report path.
    public var junitPath: String?
    /// HTML report path.
    public var htmlPath: String?
    /// Where the matrix goes (Markdown, or HTML for a `.html` path).
    public var matrixPath: String?
    /// List the cases instead of running them.
    public var list = false
    /// Print transcripts of passing cases too.
    public var verbose = false

    /// Creates default options.
    public init() {}
}

/// `herald conform client`: the runner plays the server and tests client implementations through their adapters
/// (Spec/19-client-conformance.md).
public enum ClientConformance {
    /// The adapter protocol version this runner speaks.
    public static let adapterProtocol = "herald-adapter/1"
    /// The suite's name in reports.
    public static let suiteName = "herald-client-conformance"

    /// One adapter's results.
    public struct AdapterRun: Sendable {
        /// The adapter's name (from its `hello` reply).
        public var name: String
        /// Its command line.
        public var command: String
        /// The run.
        public var run: RunResult
    }

    /// Runs the command; returns its exit status.
    public static func run(
        _ options: ClientConformOptions,
        output: @escaping @Sendable (String) -> Void = ConsoleReporter.standardOutput,
        errorOutput: @escaping @Sendable (String) -> Void = ConformDriver.standardError
    ) async -> ConformExitStatus {
        let corpus: ClientCorpus
        do {
            corpus = try ClientCorpus.load(directory: options.scenarios)
        } catch {
            errorOutput("error: the client scenarios (\(options.scenarios ?? "embedded")) cannot be used:\n\(error)\n")
            return .usage
        }
        let selected = corpus.cases.filter { scenario in
            options.level.includes(scenario.level)
                && (options.filters.isEmpty || options.filters.contains { Self.glob($0, matches: scenario.id) })
                && !options.skips.contains { Self.glob($0, matches: scenario.id) }
        }
        if options.list {
            for scenario in selected {
                output(
                    "\(scenario.id)  \(scenario.level)  \(scenario.transport)  "
                        + "\(scenario.requirements.joined(separator: ","))  \(scenario.title)\n"
                )
            }
            output("\(selected.count) of \(corpus.cases.count) client cases\n")
            return selected.isEmpty ? .usage : .passed
        }
        guard !options.adapters.isEmpty else {
            errorOutput("error: no adapter: give --adapter COMMAND (Spec/19-client-conformance.md)\n")
            return .usage
        }
        guard !selected.isEmpty else {
            errorOutput("error: no client case selected\n")
            return .usage
        }
        var expected: [String: ExpectedFailures] = [:]
        for (name, path) in options.expectedFailures {
            do {
                expected[name] = try ExpectedFailures(contentsOfFile: path)
            } catch {
                errorOutput("error: \(error)\n")
                return .usage
            }
        }
        signal(SIGPIPE, SIG_IGN)
        let requirements = Self.requirementTexts()
        let group = MultiThreadedEventLoopGroup.singleton
        let server: ScriptedServer
        do {
            server = try await ScriptedServer.start(group: group)
        } catch {
            errorOutput("error: cannot start the runner's listeners: \(error)\n")
            return .failed
        }
        var runs: [AdapterRun] = []
        var status = ConformExitStatus.passed
        for command in options.adapters {
            guard let name = await Self.adapterName(command, errorOutput: errorOutput) else {
                status = .unreachable
                continue
            }
            if runs.contains(where: { $0.name == name }) {
                errorOutput("error: two adapters are named \(name)\n")
                await server.shutdown()
                return .usage
            }
            let reporter = ConsoleReporter(
                isTerminal: ConsoleReporter.standardOutputIsTerminal,
                verbose: options.verbose,
                requirements: requirements,
                write: output
            )
            reporter.begin(
                suite: "\(Self.suiteName) \(ConformDriver.suiteVersion)",
                specVersion: ConformDriver.specVersion,
                target: "client \(name) (adapter: \(command))",
                selected: selected.count,
                total: corpus.cases.count
            )
            let started = ContinuousClock.now
            let startedMs = Int64(Date().timeIntervalSince1970 * 1000)
            var results: [CaseResult] = []
            for scenario in selected {
                let executor = ClientCaseExecutor(
                    scenario: scenario,
                    server: server,
                    adapterCommand: command,
                    rerunCommand: "herald conform client --adapter \(Self.shellQuoted(command)) --filter \(scenario.id)"
                )
                var result = await executor.run()
                if let list = expected[name] ?? expected[""] { result = list.apply(to: result) }
                result = ConformDriver.judge(result, strict: options.strict)
                reporter.caseFinished(result)
                results.append(result)
            }
            let elapsed = ContinuousClock.now - started
            var run = RunResult(
                suite: "\(Self.suiteName) \(ConformDriver.suiteVersion)",
                specVersion: ConformDriver.specVersion,
                target: "client \(name)",
                transport: Set(selected.map(\.transport)).sorted().joined(separator: "+"),
                nonce: "client",
                startedMs: startedMs,
                durationMs: elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000,
                totalCases: corpus.cases.count,
                selectedCases: selected.count,
                grantedCapabilities: [],
                cases: results,
                staleExpectedFailures: []
            )
            if let list = expected[name] ?? expected[""] {
                run.staleExpectedFailures = list.staleEntries(selectedIDs: selected.map(\.id))
            }
            run.level = options.level
            run.strict = options.strict
            var notes: [String] = []
            do {
                notes = try Self.writeReports(
                    run,
                    adapter: name,
                    several: options.adapters.count > 1,
                    options: options,
                    requirements: requirements
                )
            } catch {
                errorOutput("error: \(error)\n")
                status = .usage
            }
            reporter.finish(run, notes: notes)
            if !run.passed, status == .passed { status = .failed }
            runs.append(AdapterRun(name: name, command: command, run: run))
        }
        await server.shutdown()
        if runs.count > 1 || options.matrixPath != nil {
            let matrix = ClientMatrix(runs: runs, cases: selected)
            output("\n" + matrix.text())
            if let path = options.matrixPath {
                let text = path.hasSuffix(".html") ? matrix.html() : matrix.markdown()
                do {
                    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
                    output("wrote the matrix \(path)\n")
                } catch {
                    errorOutput("error: cannot write \(path): \(error)\n")
                    return .usage
                }
            }
        }
        return status
    }

    /// Starts the adapter once to read its name; `nil` (with a message) when it does not answer `hello`.
    static func adapterName(_ command: String, errorOutput: @Sendable (String) -> Void) async -> String? {
        let recorder = TranscriptRecorder()
        do {
            let adapter = try AdapterProcess(command: command, recorder: recorder)
            let id = adapter.send("hello", arguments: ["protocol": .string(Self.adapterProtocol)])
            let deadline = ContinuousClock.now + .seconds(30)
            var reply: JSONValue?
            while reply == nil, let message = await adapter.messages.next(until: deadline) {
                adapter.consumed()
                switch message {
                case .reply(let replyID, let value) where replyID == id: reply = value
                case .ended: break
                default: continue
                }
                if case .ended = message { break }
            }
            await adapter.stop(grace: .seconds(2))
            guard let reply, reply["ok"] == .bool(true), let result = reply["result"] else {
                let tail = adapter.errorTail.suffix(5).joined(separator: "\n  ")
                errorOutput(
                    "error: the adapter \(command) did not answer hello: "
                        + (reply?.compactText ?? "no reply within 30 s") + (tail.isEmpty ? "" : "\n  " + tail) + "\n"
                )
                return nil
            }
            guard result["protocol"]?.stringValue == Self.adapterProtocol else {
                errorOutput(
                    "error: the adapter \(command) speaks \(result["protocol"]?.compactText ?? "no protocol"), "
                        + "this runner \(Self.adapterProtocol)\n"
                )
                return nil
            }
            let name = result["name"]?.stringValue ?? ""
            return name.isEmpty ? "adapter" : name
        } catch {
            errorOutput("error: cannot start the adapter \(command): \(error)\n")
            return nil
        }
    }

    private static func writeReports(
        _ run: RunResult,
        adapter: String,
        several: Bool,
        options: ClientConformOptions,
        requirements: [String: Requirement]
    ) throws -> [String] {
        var notes: [String] = []
        func path(_ base: String) -> String {
            guard several else { return base }
            let url = URL(fileURLWithPath: base)
            let ext = url.pathExtension
            let stem = url.deletingPathExtension().path
            return ext.isEmpty ? "\(stem).\(adapter)" : "\(stem).\(adapter).\(ext)"
        }
        if let base = options.jsonPath {
            try JSONReport.render(run).write(to: URL(fileURLWithPath: path(base)))
            notes.append("wrote JSON report \(path(base))")
        }
        if let base = options.junitPath {
            try JUnitReport.render(run).write(to: URL(fileURLWithPath: path(base)))
            notes.append("wrote JUnit report \(path(base))")
        }
        if let base = options.htmlPath {
            let html = HTMLReport.render(run, requirements: requirements, verbose: options.verbose)
            try Data(html.utf8).write(to: URL(fileURLWithPath: path(base)))
            notes.append("wrote HTML report \(path(base))")
        }
        return notes
    }

    /// The requirement texts of the embedded Spec, by id.
    static func requirementTexts() -> [String: Requirement] {
        let index = RequirementIndex(documents: CorpusSource.embeddedSpec)
        return Dictionary(index.requirements.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Whether a `*`/`?` glob matches the whole of `text`.
    static func glob(_ pattern: String, matches text: String) -> Bool {
        ExpectedFailures.Entry(pattern: pattern, reason: "", line: 0).matches(text)
    }

    static func shellQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

/// The client × case matrix of a run with several adapters, like quic-interop-runner's.
public struct ClientMatrix: Sendable {
    /// The adapter runs, in command-line order.
    public var runs: [ClientConformance.AdapterRun]
    /// The cases, in corpus order.
    public var cases: [ClientCase]

    private func cell(_ run: RunResult, _ id: String) -> String {
        guard let result = run.cases.first(where: { $0.id == id }) else { return "–" }
        switch result.verdict {
        case .pass: return "pass"
        case .fail: return "FAIL"
        case .expectedFail: return "xfail"
        case .unexpectedPass: return "XPASS"
        case .notApplicable: return "n/a"
        case .timeout: return "TIMEOUT"
        case .error: return "ERROR"
        case .warning: return "warn"
        }
    }

    private func totals(_ run: RunResult) -> String {
        let counts = run.counts
        let failing = run.cases.filter(\.verdict.failsRun).count
        let pass = counts[.pass] ?? 0
        let xfail = counts[.expectedFail] ?? 0
        let warn = counts[.warning] ?? 0
        return "\(pass) pass, \(xfail) xfail, \(warn) warn, \(failing) failing"
    }

    /// A plain-text table for the console.
    public func text() -> String {
        let idWidth = max(4, self.cases.map(\.id.count).max() ?? 4)
        let widths = self.runs.map { max($0.name.count, 7) }
        var text = "Matrix (client × case):\n"
        text += "case".padding(toLength: idWidth, withPad: " ", startingAt: 0) + "  level "
        for (run, width) in zip(self.runs, widths) {
            text += "  " + run.name.padding(toLength: width, withPad: " ", startingAt: 0)
        }
        text += "\n"
        for scenario in self.cases {
            text += scenario.id.padding(toLength: idWidth, withPad: " ", startingAt: 0) + "  "
            text += scenario.level.padding(toLength: 6, withPad: " ", startingAt: 0)
            for (run, width) in zip(self.runs, widths) {
                text += "  " + self.cell(run.run, scenario.id).padding(toLength: width, withPad: " ", startingAt: 0)
            }
            text += "\n"
        }
        for run in self.runs {
            text += "\(run.name): \(self.totals(run.run))\n"
        }
        return text
    }

    /// A Markdown table.
    public func markdown() -> String {
        var text = "| Case | Level | Requirements | " + self.runs.map(\.name).joined(separator: " | ") + " |\n"
        text += "|---|---|---|" + String(repeating: "---|", count: self.runs.count) + "\n"
        for scenario in self.cases {
            text += "| `\(scenario.id)` | \(scenario.level) | \(scenario.requirements.joined(separator: ", ")) | "
            text += self.runs.map { self.cell($0.run, scenario.id) }.joined(separator: " | ") + " |\n"
        }
        text +=
            "\n"
            + self.runs.map { "- **\($0.name)** (`\($0.command)`): \(self.totals($0.run))" }.joined(
                separator: "\n"
            ) + "\n"
        return text
    }

    /// An HTML page with the table.
    public func html() -> String {
        var html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        html += "<title>Herald client conformance matrix</title>\n<style>\n"
        html += "body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
        html += "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}"
        html += ".pass{background:#dfd}.xfail{background:#eee}.warn{background:#ffd}.bad{background:#fcc}\n"
        html += "</style>\n</head>\n<body>\n<h1>Herald client conformance matrix</h1>\n<table>\n<tr><th>Case</th>"
        html += "<th>Level</th>" + self.runs.map { "<th>\(HTMLReport.escape($0.name))</th>" }.joined() + "</tr>\n"
        for scenario in self.cases {
            html += "<tr><td><code>\(HTMLReport.escape(scenario.id))</code></td><td>\(scenario.level)</td>"
            for run in self.runs {
                let cell = self.cell(run.run, scenario.id)
                let style =
                    switch cell {
                    case "pass": "pass"
                    case "xfail", "n/a", "–": "xfail"
                    case "warn": "warn"
                    default: "bad"
                    }
                html += "<td class=\"\(style)\">\(cell)</td>"
            }
            html += "</tr>\n"
        }
        html += "</table>\n<ul>\n"
        for run in self.runs {
            html += "<li><b>\(HTMLReport.escape(run.name))</b>: \(HTMLReport.escape(self.totals(run.run)))</li>\n"
        }
        html += "</ul>\n</body>\n</html>\n"
        return html
    }
}

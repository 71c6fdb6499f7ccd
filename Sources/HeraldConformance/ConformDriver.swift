import Foundation
import HeraldServer
import HeraldSpec
import NIOPosix
import Synchronization

/// The exit statuses of `herald conform`.
public enum ConformExitStatus: Int32, Sendable, CaseIterable {
    /// Every selected case passed or failed as expected (not-applicable cases do not count against it).
    case passed = 0
    /// A case failed, passed unexpectedly, timed out or could not be run, or an expected-failure entry is stale.
    case failed = 1
    /// The command was used wrongly, a file could not be read, or no case was selected.
    case usage = 2
    /// The target could not be reached, or did not answer `Hello` with `Welcome`.
    case unreachable = 3
}

/// The settings of one `herald conform` invocation (the command line, parsed).
public struct ConformOptions: Sendable {
    /// The target URL (`tcp://`, `tls://`, `ws://`, `wss://`); `nil` runs the embedded reference engine.
    public var target: String?
    /// The embedded engine's transport (`tcp`, `ws` or `tls`); `nil` is `tcp`. Only without ``target``.
    public var transport: String?
    /// The app id of an external target; `herald-dev` (the default of `herald serve`) when `nil`.
    public var appID: String?
    /// The app secret of an external target, for minting tokens.
    public var appSecret: String?
    /// A file holding the app secret (trailing line breaks removed).
    public var appSecretFile: String?
    /// A shell command that prints a token (see ``CommandTokenSource``).
    public var tokenCommand: String?
    /// The id of an app that the external target serves in app-ID-only mode (Spec/15-tokens.md §15.5), used by the
    /// cases with `"app": "app-id-only"`; without it those cases are not applicable. The embedded engine serves its
    /// own (``EmbeddedTarget/appIDOnlyAppID``).
    public var appIDOnly: String?
    /// The test-control key of an external target (Spec/18-test-control.md); the embedded engine has its own.
    public var testControlKey: String?
    /// A file holding the test-control key of an external target (trailing line breaks removed).
    public var testControlKeyFile: String?
    /// A shell command that restarts an external target abruptly: `restartTarget` steps in crash mode use it when
    /// the target does not grant `herald.test-control`.
    public var restartCommand: String?
    /// List the selected cases instead of running them.
    public var list = false
    /// With ``list``: print JSON.
    public var json = false
    /// Globs of case ids to run (all when empty).
    public var filters: [String] = []
    /// Globs of case ids not to run.
    public var skips: [String] = []
    /// The requirement levels to run (`--level`): MUST and SHOULD by default.
    public var level: LevelSelection = .should
    /// Whether a failed SHOULD or MAY case fails the run (`--strict`); without it, it is a warning.
    public var strict = false
    /// How many cases run at once; ``Runner/defaultConcurrency`` when `nil`.
    public var parallelism: Int?
    /// Multiplies every wait and budget.
    public var timeoutScale = 1.0
    /// The expected-failures file.
    public var expectedFailuresFile: String?
    /// Where to write the JSON report.
    public var jsonReport: String?
    /// Where to write the JUnit XML report.
    public var junitReport: String?
    /// Where to write the HTML report.
    public var htmlReport: String?
    /// The scenario directory; found relative to the current directory or the package root when `nil`.
    public var scenarios: String?
    /// The Spec directory (requirement texts and coverage); found next to the scenarios when `nil`.
    public var spec: String?
    /// Skip TLS certificate verification.
    public var insecure = false
    /// Print (and keep) transcripts of passing cases too.
    public var verbose = false
    /// The program name used in rerun commands.
    public var programName = "herald"

    /// Creates options with the defaults.
    public init() {}
}

/// Runs `herald conform`: selection, listing, the embedded engine, the probe, the run, the expected failures, the
/// console output and the reports. The command-line layer only parses arguments into ``ConformOptions``.
public struct ConformDriver: Sendable {
    /// The suite's name.
    public static let suiteName = "herald-conformance"
    /// The suite's version.
    public static let suiteVersion = HeraldVersion.tool
    /// The specification version the suite targets.
    public static var specVersion: String { "Herald Spec v\(RequirementIndex.specVersion)" }
    /// `herald conform --version`: the tool, protocol, specification and corpus versions.
    public static var versionText: String {
        "herald-conformance \(HeraldVersion.tool)\nprotocol: Herald v\(HeraldVersion.protocolVersion) (Herald Spec "
            + "v\(HeraldVersion.spec))\ncorpus: \(CorpusSource.embeddedVersion)"
    }
    /// The app id used for external targets when none is given (the default of `herald serve`).
    public static let defaultAppID = "herald-dev"

    /// The options.
    public var options: ConformOptions
    /// Where normal output goes.
    public var output: @Sendable (String) -> Void
    /// Where diagnostics go (`error: …` lines).
    public var errorOutput: @Sendable (String) -> Void
    /// Whether ``output`` is a terminal (progress bar) or not (one line per case).
    public var isTerminal: Bool
    /// What the running cases are doing, shown by the progress line.
    public let activity = RunActivity()

    /// Creates a driver.
    public init(
        options: ConformOptions,
        output: @escaping @Sendable (String) -> Void = ConsoleReporter.standardOutput,
        errorOutput: @escaping @Sendable (String) -> Void = ConformDriver.standardError,
        isTerminal: Bool = ConsoleReporter.standardOutputIsTerminal
    ) {
        self.options = options
        self.output = output
        self.errorOutput = errorOutput
        self.isTerminal = isTerminal
    }

    /// Writes text to standard error.
    public static let standardError: @Sendable (String) -> Void = { text in
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// A failure that ends the command with an exit status.
    struct Exit: Error {
        var status: ConformExitStatus
        var message: String
    }

    /// Runs the command and returns its exit status.
    public func run() async -> ConformExitStatus {
        do {
            return try await self.execute()
        } catch let exit as Exit {
            self.errorOutput("error: \(exit.message)\n")
            return exit.status
        } catch {
            self.errorOutput("error: \(error)\n")
            return .failed
        }
    }

    // MARK: - Steps

    private func execute() async throws -> ConformExitStatus {
        let options = self.options
        try self.validate()
        let source: CorpusSource
        do {
            source = try CorpusSource.resolve(scenarios: options.scenarios, spec: options.spec)
        } catch {
            throw Exit(status: .usage, message: error.description)
        }
        let scenarios = source.scenariosLabel
        let index: RequirementIndex?
        let corpus: ScenarioCorpus
        do {
            // Parsing the Spec and decoding hundreds of scenario files is long synchronous work: it runs on NIO's
            // blocking pool, so the cooperative threads (two on a 2-core machine) stay free for the cases' clients
            // and their timers.
            (index, corpus) = try await NIOThreadPool.singleton.runIfActive {
                let index = source.requirementIndex
                return (index, try ScenarioLoader(requirementIDs: index?.ids).load(files: source.scenarioFiles))
            }
        } catch let error as ScenarioLoadError {
            throw Exit(
                status: .usage,
                message: "the scenarios (\(scenarios)) cannot be used:\n\(error.description)"
            )
        } catch {
            throw Exit(status: .usage, message: "the scenarios (\(scenarios)) cannot be loaded: \(error)")
        }
        let selected = Runner.select(corpus.cases, filter: options.filters, skip: options.skips).filter {
            options.level.includes($0.scenario.level)
        }
        guard !selected.isEmpty else {
            var message = "no case selected"
            if !options.filters.isEmpty {
                message +=
                    ": --filter \(options.filters.joined(separator: ", ")) matches none of the "
                    + "\(corpus.cases.count) cases"
            }
            if !options.skips.isEmpty {
                message += (options.filters.isEmpty ? ": " : "; ") + "--skip \(options.skips.joined(separator: ", "))"
            }
            if options.level != .may {
                message += "; --level \(options.level.rawValue)"
            }
            if corpus.cases.isEmpty {
                message = "no case selected: \(scenarios) has no cases"
            }
            throw Exit(status: .usage, message: message + " (list the cases with --list)")
        }
        if options.list {
            self.output(try Self.renderList(selected, json: options.json))
            return .passed
        }
        let expectedFailures: ExpectedFailures?
        do {
            expectedFailures = try options.expectedFailuresFile.map { path throws(ExpectedFailuresError) in
                try ExpectedFailures(contentsOfFile: path)
            }
        } catch {
            throw Exit(status: .usage, message: error.description)
        }
        let context = RunContext(
            corpus: corpus,
            selected: selected,
            index: index,
            source: source,
            expectedFailures: expectedFailures
        )
        if let url = options.target {
            let target: Target
            do {
                target = try Target(parsing: url)
            } catch {
                throw Exit(status: .usage, message: error.description)
            }
            return try await self.run(
                context,
                target: target,
                targetLabel: target.url,
                tokens: try self.tokenSource(),
                testControlKey: try self.testControlKey()
            )
        }
        let transport = HeraldTransport(rawValue: options.transport ?? "tcp") ?? .tcp
        return try await EmbeddedTarget.withRunning { embedded in
            guard let target = embedded.target(for: transport) else {
                throw Exit(status: .usage, message: "the embedded engine has no \(transport) listener")
            }
            // Without --transport the embedded engine is tested over TCP, and the cases that only apply to
            // WebSocket or TLS run over its WebSocket or TLS listener, so the whole corpus runs and none is
            // not-applicable.
            let alternates =
                options.transport == nil ? [HeraldTransport.ws, .tls].compactMap(embedded.target(for:)) : []
            return try await self.run(
                context,
                target: target,
                tlsOptions: embedded.tlsOptions(for: transport),
                alternates: alternates.map { ($0, embedded.tlsOptions(for: $0.transport)) },
                targetLabel: "embedded reference engine (\(target.url)"
                    + alternates.map { ", \($0.transport.rawValue)-only cases over \($0.url)" }.joined() + ")",
                tokens: embedded.tokenSource,
                appID: EmbeddedTarget.appID,
                appIDOnly: EmbeddedTarget.appIDOnlyAppID,
                testControlKey: embedded.testControlKey
            )
        }
    }

    /// What the run needs besides the target.
    private struct RunContext: Sendable {
        var corpus: ScenarioCorpus
        var selected: [CorpusCase]
        var index: RequirementIndex?
        var source: CorpusSource
        var expectedFailures: ExpectedFailures?
    }

    private func run(
        _ context: RunContext,
        target: Target,
        tlsOptions: TLSClientOptions? = nil,
        alternates: [(target: Target, tls: TLSClientOptions)] = [],
        targetLabel: String,
        tokens: any TokenSource,
        appID: String? = nil,
        appIDOnly: String? = nil,
        testControlKey: String? = nil
    ) async throws -> ConformExitStatus {
        let options = self.options
        let connector: ClientConnector
        do {
            connector = try ClientConnector(
                target: target,
                tls: tlsOptions ?? TLSClientOptions(insecure: options.insecure)
            )
        } catch {
            throw Exit(status: .usage, message: error.description)
        }
        let requirements = Dictionary(
            (context.index?.requirements ?? []).map { ($0.id, $0) },
            uniquingKeysWith: { first, _ in first }
        )
        let reporter = ConsoleReporter(
            isTerminal: self.isTerminal,
            verbose: options.verbose,
            requirements: requirements,
            activity: self.activity,
            write: self.output
        )
        reporter.begin(
            suite: "\(Self.suiteName) \(Self.suiteVersion)",
            specVersion: Self.specVersion,
            target: targetLabel,
            selected: context.selected.count,
            total: context.corpus.cases.count
        )
        let source = context.source
        var corpusLine = "corpus: \(source.scenariosLabel)"
        if source.scenariosDirectory == nil { corpusLine += " (\(CorpusSource.embeddedVersion))" }
        corpusLine += "; requirement texts: \(source.specDocuments == nil ? "none" : source.specLabel)"
        var levels = ["MUST", "SHOULD", "MAY"].filter(options.level.includes).joined(separator: ", ")
        levels += options.strict ? " (--strict: every failure fails the run)" : ""
        if options.level != .must && !options.strict { levels += " (SHOULD and MAY failures are warnings)" }
        self.output(corpusLine + "\nlevels: \(levels)\n")
        let startedMs = Int64(Date().timeIntervalSince1970 * 1000)
        let clock = ContinuousClock.now
        let lag = RunnerLag()
        let sampler = Task { await lag.run() }
        defer { sampler.cancel() }
        var probe: ProbeResult
        do {
            probe = try await Runner.probe(
                connector: connector,
                timeout: .milliseconds(Int64(30_000 * max(options.timeoutScale, 0.1))),
                lag: lag
            )
            // Test control is granted only to a Hello that names it (Spec/18-test-control.md): a second probe asks.
            if testControlKey != nil,
                try await Runner.probeTestControl(
                    connector: connector,
                    timeout: .milliseconds(Int64(30_000 * max(options.timeoutScale, 0.1))),
                    lag: lag
                )
            {
                probe.grantedCapabilities.append(RunnerTestControl.capability)
            }
        } catch {
            throw Exit(status: .unreachable, message: error.description)
        }
        self.output("server: \(probe.serverName), granted: \(probe.grantedCapabilities.joined(separator: " "))\n")
        if let longest = Self.longestTimerWait(context.selected, welcome: probe.welcome), longest.wait >= .seconds(60) {
            self.output(
                "note: the target's advertised timers make the run take at least \(CaseBudget.text(longest.wait)): "
                    + "\(longest.id) waits that long on \(longest.timers.joined(separator: ", "))\n"
            )
        }
        var environment = ExecutionEnvironment(
            connector: connector,
            appID: appID ?? options.appID ?? Self.defaultAppID,
            tokens: tokens,
            timeoutScale: options.timeoutScale,
            probe: probe,
            keepPassingTranscripts: options.verbose,
            rerunCommand: self.rerunCommandMaker(),
            appIDOnlyAppID: appIDOnly ?? options.appIDOnly
        )
        environment.activity = self.activity
        environment.lag = lag
        environment.testControlKey = testControlKey
        environment.restartCommand = options.restartCommand
        reporter.startTicker()
        defer { reporter.stop() }
        let concurrency = options.parallelism ?? Runner.defaultConcurrency
        let runner = Runner(environment: environment, concurrency: concurrency)
        let expectedFailures = context.expectedFailures
        let strict = options.strict
        let progress: @Sendable (RunProgress) -> Void = { progress in
            if case .finished(let result, _, _) = progress {
                reporter.caseFinished(Self.judge(expectedFailures?.apply(to: result) ?? result, strict: strict))
            }
        }
        // Cases restricted to transports the primary target does not use go to the first alternate target that
        // uses one of theirs, if any.
        let primary = target.transport.rawValue
        let destination: (CorpusCase) -> Int? = { item in
            guard let transports = item.scenario.transports, !transports.contains(primary) else { return nil }
            return alternates.firstIndex { transports.contains($0.target.transport.rawValue) }
        }
        var results = await runner.run(context.selected.filter { destination($0) == nil }, progress: progress)
        for (index, alternate) in alternates.enumerated() {
            let moved = context.selected.filter { destination($0) == index }
            guard !moved.isEmpty else { continue }
            var alternateEnvironment = environment
            do {
                alternateEnvironment.connector = try ClientConnector(target: alternate.target, tls: alternate.tls)
            } catch {
                throw Exit(status: .usage, message: error.description)
            }
            let alternateRunner = Runner(environment: alternateEnvironment, concurrency: concurrency)
            results += await alternateRunner.run(moved, progress: progress)
        }
        if !alternates.isEmpty {
            let order = Dictionary(
                context.selected.enumerated().map { ($1.id, $0) },
                uniquingKeysWith: { first, _ in first }
            )
            results.sort { (order[$0.id] ?? 0) < (order[$1.id] ?? 0) }
        }
        let elapsed = ContinuousClock.now - clock
        var run = RunResult(
            suite: "\(Self.suiteName) \(Self.suiteVersion)",
            specVersion: Self.specVersion,
            target: options.target == nil ? "embedded" : target.url,
            transport: ([target.transport.rawValue] + alternates.map(\.target.transport.rawValue)).joined(
                separator: "+"
            ),
            nonce: environment.nonce,
            startedMs: startedMs,
            durationMs: elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000,
            totalCases: context.corpus.cases.count,
            selectedCases: context.selected.count,
            grantedCapabilities: probe.grantedCapabilities,
            cases: results,
            staleExpectedFailures: []
        )
        if let expectedFailures {
            run = expectedFailures.apply(to: run)
        }
        run.cases = run.cases.map { Self.judge($0, strict: strict) }
        run.level = options.level
        run.strict = strict
        let written = try self.writeReports(run, context: context, requirements: requirements)
        var notes = written.map { "wrote \($0.kind) report \($0.path)" }
        if lag.total >= .seconds(1) {
            notes.append(
                "note: this machine was too busy to run the runner for \(CaseBudget.text(lag.total)) in all (the "
                    + "longest stall \(CaseBudget.text(lag.worst))); waits that ended with nothing were extended by "
                    + "as much"
            )
        }
        reporter.finish(run, notes: notes)
        return run.passed ? .passed : .failed
    }

    /// The selected case that waits longest on the server's timers, with that wait and the timers' names.
    static func longestTimerWait(
        _ cases: [CorpusCase],
        welcome: JSONValue
    ) -> (id: String, wait: Duration, timers: [String])? {
        cases.map { item in
            let budget = CaseBudget(scenario: item.scenario, welcome: welcome, defaultBaseMs: 0, timeoutScale: 1)
            return (item.id, budget.serverTimers, budget.timerNames)
        }.max { $0.1 < $1.1 }
    }

    /// The final verdict of a case by its level: without `strict`, a SHOULD or MAY case that failed or timed out is
    /// a ``Verdict/warning`` (reported, but the run passes), as h2spec does.
    static func judge(_ result: CaseResult, strict: Bool) -> CaseResult {
        guard !strict, result.level != "MUST", result.verdict == .fail || result.verdict == .timeout else {
            return result
        }
        var judged = result
        judged.message =
            "\(result.level) case \(result.verdict == .fail ? "failed" : "timed out") (a warning; "
            + "--strict makes it fail the run)\n" + result.message
        judged.verdict = .warning
        return judged
    }

    /// Writes the requested reports; returns what was written.
    private func writeReports(
        _ run: RunResult,
        context: RunContext,
        requirements: [String: Requirement]
    ) throws -> [(kind: String, path: String)] {
        let options = self.options
        var written: [(kind: String, path: String)] = []
        func write(_ data: Data, to path: String, kind: String) throws {
            do {
                try data.write(to: URL(fileURLWithPath: path))
                written.append((kind, path))
            } catch {
                throw Exit(status: .failed, message: "cannot write the \(kind) report \(path): \(error)")
            }
        }
        if let path = options.jsonReport {
            try write(try JSONReport.render(run, limits: .forVerbose(options.verbose)), to: path, kind: "JSON")
        }
        if let path = options.junitReport {
            try write(JUnitReport.render(run, limits: .forVerbose(options.verbose)), to: path, kind: "JUnit")
        }
        if let path = options.htmlReport {
            var coverage: CoverageReport?
            if let index = context.index {
                let waivers = try? context.source.waivers()
                coverage = CoverageReport(
                    index: index,
                    corpus: context.corpus,
                    waivers: waivers?.waivers ?? [],
                    otherRole: (try? ClientCorpus.load(directory: nil))?.requirementIDs ?? []
                )
            }
            let html = HTMLReport.render(run, coverage: coverage, requirements: requirements, verbose: options.verbose)
            try write(Data(html.utf8), to: path, kind: "HTML")
        }
        return written
    }

    // MARK: - Validation and helpers

    private func validate() throws {
        let options = self.options
        func usage(_ message: String) -> Exit { Exit(status: .usage, message: message) }
        if options.json && !options.list {
            throw usage("--json without a file name is only for --list; write --json FILE to save the JSON report")
        }
        if let transport = options.transport {
            guard options.target == nil else {
                throw usage("--transport selects the embedded engine's listener; a TARGET URL names its own transport")
            }
            guard ["tcp", "ws", "tls"].contains(transport) else {
                throw usage("--transport must be tcp, ws or tls (the embedded engine's listeners)")
            }
        }
        let credentials = [
            options.appSecret.map { _ in "--app-secret" }, options.appSecretFile.map { _ in "--app-secret-file" },
            options.tokenCommand.map { _ in "--token-command" },
        ].compactMap(\.self)
        if credentials.count > 1 {
            throw usage("\(credentials.joined(separator: ", ")) cannot be used together; give one source of tokens")
        }
        if options.target == nil && (!credentials.isEmpty || options.appID != nil || options.appIDOnly != nil) {
            throw usage(
                "--app-id, --app-id-only, --app-secret, --app-secret-file and --token-command are for a TARGET; the "
                    + "embedded engine has its own apps (\(EmbeddedTarget.appID), and \(EmbeddedTarget.appIDOnlyAppID) "
                    + "in app-ID-only mode) and secret"
            )
        }
        if options.target == nil
            && (options.testControlKey != nil || options.testControlKeyFile != nil || options.restartCommand != nil)
        {
            throw usage(
                "--test-control-key, --test-control-key-file and --restart-command are for a TARGET; the embedded "
                    + "engine enables test control with a key of its own"
            )
        }
        if options.testControlKey != nil && options.testControlKeyFile != nil {
            throw usage("give --test-control-key or --test-control-key-file, not both")
        }
        if let appIDOnly = options.appIDOnly, appIDOnly.isEmpty {
            throw usage("--app-id-only needs the id of an app that the target serves in app-ID-only mode")
        }
        if let secret = options.appSecret, secret.utf8.count < 32 {
            throw usage("--app-secret must be at least 32 bytes (TOK-1)")
        }
        if let parallelism = options.parallelism, parallelism < 1 {
            throw usage("-j must be at least 1")
        }
        if !(options.timeoutScale > 0) || !options.timeoutScale.isFinite {
            throw usage("--timeout-scale must be a positive number")
        }
        for path in [options.jsonReport, options.junitReport, options.htmlReport].compactMap(\.self) {
            let directory = (path as NSString).deletingLastPathComponent
            var isDirectory: ObjCBool = false
            if !directory.isEmpty,
                !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) || !isDirectory.boolValue
            {
                throw usage("cannot write \(path): \(directory) is not a directory")
            }
        }
    }

    /// The test-control key of an external target, from `--test-control-key` or `--test-control-key-file`.
    private func testControlKey() throws -> String? {
        if let key = self.options.testControlKey { return key }
        guard let file = self.options.testControlKeyFile else { return nil }
        do {
            return String(decoding: try AppSecretFile.read(path: file), as: UTF8.self)
        } catch {
            throw Exit(status: .usage, message: "--test-control-key-file \(file): \(error)")
        }
    }

    private func tokenSource() throws -> any TokenSource {
        let options = self.options
        if let command = options.tokenCommand {
            return CommandTokenSource(command: command)
        }
        if let secret = options.appSecret {
            return SecretTokenSource(secret: Array(secret.utf8))
        }
        if let file = options.appSecretFile {
            do {
                let secret = try AppSecretFile.read(path: file)
                guard secret.count >= 32 else {
                    throw Exit(status: .usage, message: "the app secret in \(file) is shorter than 32 bytes (TOK-1)")
                }
                return SecretTokenSource(secret: secret)
            } catch let exit as Exit {
                throw exit
            } catch {
                throw Exit(status: .usage, message: "\(error)")
            }
        }
        return TokenlessTokenSource()
    }

    /// The command that reruns one case with this invocation's target, credentials (never the secret itself),
    /// scenarios and timeout scale. ``ConformOptions/programName`` is used as given (it may be `swift run herald`).
    func rerunCommandMaker() -> @Sendable (String) -> String {
        let options = self.options
        var words = ["conform"]
        if let target = options.target { words.append(target) }
        if let transport = options.transport { words += ["--transport", transport] }
        if let appID = options.appID { words += ["--app-id", appID] }
        if let appIDOnly = options.appIDOnly { words += ["--app-id-only", appIDOnly] }
        if let file = options.appSecretFile { words += ["--app-secret-file", file] }
        if let command = options.tokenCommand { words += ["--token-command", command] }
        if let file = options.testControlKeyFile { words += ["--test-control-key-file", file] }
        if let command = options.restartCommand { words += ["--restart-command", command] }
        if let scenarios = options.scenarios { words += ["--scenarios", scenarios] }
        if let spec = options.spec { words += ["--spec", spec] }
        if options.timeoutScale != 1 { words += ["--timeout-scale", "\(options.timeoutScale)"] }
        if options.insecure { words.append("--insecure") }
        // Never the secret itself: the command names an environment variable to set.
        var secret = options.appSecret == nil ? "" : " --app-secret \"$HERALD_APP_SECRET\""
        if options.testControlKey != nil { secret += " --test-control-key \"$HERALD_TEST_CONTROL_KEY\"" }
        let prefix = ([options.programName] + words.map(Self.shellQuote)).joined(separator: " ") + secret
        return { id in prefix + " --filter " + Self.shellQuote(id) + " --verbose" }
    }

    /// The word quoted for a POSIX shell when it contains anything but safe characters.
    static func shellQuote(_ word: String) -> String {
        let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@%+,")
        if !word.isEmpty && word.allSatisfy({ safe.contains($0) }) { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// One entry of `--list --json`.
    public struct ListEntry: Codable, Sendable, Hashable {
        /// The case id.
        public var id: String
        /// The title.
        public var title: String
        /// The chapter (scenario file).
        public var chapter: String
        /// `MUST`, `SHOULD` or `MAY`.
        public var level: String
        /// The requirement ids.
        public var requirements: [String]
        /// The capabilities the case needs.
        public var capabilities: [String]
    }

    /// The `--list` output: one line per case (`id  LEVEL  requirements  [capabilities]  title`), or JSON.
    static func renderList(_ cases: [CorpusCase], json: Bool) throws -> String {
        let entries = cases.map {
            ListEntry(
                id: $0.id,
                title: $0.scenario.title,
                chapter: $0.chapter,
                level: $0.scenario.level,
                requirements: $0.scenario.requirements,
                capabilities: $0.scenario.capabilities
            )
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            return String(decoding: try encoder.encode(entries), as: UTF8.self) + "\n"
        }
        let width = entries.map(\.id.count).max() ?? 0
        return entries.map { entry in
            entry.id.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                + entry.level.padding(toLength: 6, withPad: " ", startingAt: 0) + "  "
                + entry.requirements.joined(separator: ",") + "  [" + entry.capabilities.joined(separator: ",")
                + "]  " + entry.title
        }.joined(separator: "\n") + "\n\(entries.count) cases\n"
    }

    // MARK: - Coverage

    /// Runs `herald conform coverage`: prints the coverage table (or JSON) and returns the exit status: 0 when every
    /// MUST is covered or waived and there is no problem, 1 otherwise, 2 when a file cannot be used.
    ///
    /// The requirements the client corpus names (``ClientCorpus/requirementIDs``: `clientScenarios`, else
    /// `client-scenarios` beside `scenarios`, else the embedded one) are the client role's: they are counted in a
    /// report of their own, after the server's (in JSON, as the member `client`).
    public static func coverage(
        scenarios: String?,
        spec: String?,
        clientScenarios: String? = nil,
        json: Bool,
        listAll: Bool = false,
        output: @Sendable (String) -> Void = ConsoleReporter.standardOutput,
        errorOutput: @Sendable (String) -> Void = ConformDriver.standardError
    ) -> ConformExitStatus {
        do {
            let source: CorpusSource
            do {
                source = try CorpusSource.resolve(scenarios: scenarios, spec: spec)
            } catch {
                throw Exit(status: .usage, message: error.description)
            }
            guard let documents = source.specDocuments else {
                throw Exit(status: .usage, message: "no Spec is available; use --spec DIR")
            }
            let index = RequirementIndex(documents: documents)
            guard !index.requirements.isEmpty else {
                throw Exit(status: .usage, message: "the Spec (\(source.specLabel)) has no tagged requirements")
            }
            let clientCorpus: ClientCorpus
            do {
                clientCorpus = try ClientCorpus.load(
                    directory: clientScenarios ?? scenarios.flatMap(CoverageReport.clientDirectory(beside:))
                )
            } catch {
                throw Exit(status: .usage, message: "the client scenarios cannot be used:\n\(error)")
            }
            let clientReport = CoverageReport(index: index, clientCorpus: clientCorpus)
            let report: CoverageReport
            do {
                let corpus = try ScenarioLoader(requirementIDs: nil).load(files: source.scenarioFiles)
                let waivers: WaiverFile
                do {
                    waivers = try source.waivers()
                } catch {
                    throw Exit(status: .usage, message: "\(WaiverFile.fileName) (\(source.scenariosLabel)): \(error)")
                }
                report = CoverageReport(
                    index: index,
                    corpus: corpus,
                    waivers: waivers.waivers,
                    otherRole: clientCorpus.requirementIDs
                )
            } catch let error as ScenarioLoadError {
                throw Exit(
                    status: .usage,
                    message: "the scenarios (\(source.scenariosLabel)) cannot be used:\n\(error)"
                )
            }
            if json {
                // The server's report as before, with the client role's as its member `client`.
                var object = try JSONSerialization.jsonObject(with: try report.renderJSON()) as? [String: Any] ?? [:]
                object["client"] = try JSONSerialization.jsonObject(with: try clientReport.renderJSON())
                let data = try JSONSerialization.data(
                    withJSONObject: object,
                    options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                )
                output(String(decoding: data, as: UTF8.self) + "\n")
            } else {
                output(
                    "Server role (\(source.scenariosLabel) scenarios; requirements addressed to servers):\n"
                        + report.renderText(listUncoveredShouldAndMay: listAll)
                        + "\nClient role (\(clientCorpus.label) client scenarios, herald conform client; "
                        + "requirements addressed to clients):\n"
                        + clientReport.renderText(listUncoveredShouldAndMay: listAll)
                )
            }
            return report.passed && clientReport.passed ? .passed : .failed
        } catch let exit as Exit {
            errorOutput("error: \(exit.message)\n")
            return exit.status
        } catch {
            errorOutput("error: \(error)\n")
            return .usage
        }
    }
}

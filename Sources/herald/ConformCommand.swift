import ArgumentParser
import HeraldConformance

extension Herald {
    /// `herald conform …`: the conformance suite (`run`, the default, and `coverage`).
    struct Conform: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "conform",
            abstract:
                "Run the conformance suite against a Herald server or (client) a client library, or report coverage.",
            version: ConformDriver.versionText,
            subcommands: [Run.self, Coverage.self, Client.self],
            defaultSubcommand: Run.self
        )

        /// Rewrites `conform … --list … --json` so that `--json` is the list's format flag, not `--json FILE`.
        ///
        /// `--json FILE` writes the JSON report of a run; with `--list` nothing runs, so there every `--json` means
        /// "print the list as JSON" and takes no value.
        static func normalize(_ arguments: [String]) -> [String] {
            guard arguments.first == "conform", arguments.dropFirst().first != "client", arguments.contains("--list")
            else {
                return arguments
            }
            let end = arguments.firstIndex(of: "--") ?? arguments.endIndex
            return arguments.enumerated().map { index, argument in
                index < end && argument == "--json" ? "--list-json" : argument
            }
        }
    }
}

extension Herald.Conform {
    /// `herald conform [run] [TARGET] …`.
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Run the conformance cases against TARGET, or against the embedded reference engine.",
            discussion: """
                TARGET is tcp://HOST[:PORT], tls://…, ws://HOST[:PORT][/PATH] or wss://…. Without TARGET the \
                reference engine starts in-process on 127.0.0.1 (port 0, short timers, its own app id and secret) \
                and the cases run against it.

                Tokens for an external TARGET: --app-secret or --app-secret-file mint them (HS256, Spec/15-tokens.md); \
                --token-command runs a shell command per token with HERALD_APP_ID, HERALD_USER and \
                HERALD_TOKEN_KIND (valid, expired, wrong-app, ttl:SECONDS, extra-claims, extra-header, nested-claims:LEVELS) set, which \
                prints the token, or exits 2 when it cannot make that kind (the case is then not applicable). Without \
                any of them the empty token is used (app-ID-only servers) and cases needing other tokens are not \
                applicable.

                App-ID-only mode (Spec/15-tokens.md §15.5): --app-id-only APPID names an app that TARGET serves in \
                app-ID-only mode (herald serve --app-id-only-app APPID); the cases of that mode log in to it, and \
                are not applicable without it. Their real tokens come from the same source, for APPID: signed with \
                the same secret, or made by the token command with HERALD_APP_ID=APPID. The embedded engine serves \
                such an app of its own.

                Expected failures (--expected-failures FILE): one case id or glob per line, then ' # ' or ' -- ' and \
                the mandatory reason; '#' starts a comment line. A listed case that fails (or times out) is \
                expected-fail; one that passes is unexpected-pass and fails the run; an entry that matches no \
                selected case is stale and fails the run.

                Levels: each case has the level of the requirements it checks. By default MUST and SHOULD cases \
                run, and a SHOULD case that fails or times out is a warning (WARN) that does not change the exit \
                status; --strict makes it a failure; --level must runs MUST cases only, --level may adds MAY cases.

                Time: each case's budget follows the target: its own round trips (30 s, multiplied by \
                --timeout-scale), plus every wait on the server's timers as advertised in Welcome (at the server's \
                pace), plus an allowance per crowd member. Against a server with default timers the run takes about \
                10 minutes (the channel-attribute lifetime cases wait on its 300 s timer).

                Infrastructure: when the runner's own client cannot connect, or does not get Welcome or its login \
                answered in time while other cases run, the case is ERROR, not FAIL, and runs once more alone \
                afterwards; the report shows both attempts. Alone, the same symptom is the target's failure.

                Corpus: the scenarios, waivers and requirement texts are built into herald (see --version); \
                --scenarios and --spec run others.

                Exit status: 0 every selected case passed, failed as expected, or (SHOULD/MAY) warned; 1 a case \
                failed, passed unexpectedly, timed out or could not run, or an expected-failure entry is stale; 2 \
                usage error, unusable files, or no case selected; 3 the target is unreachable or did not answer \
                Hello with Welcome.
                """,
            version: ConformDriver.versionText
        )

        @Argument(help: "The server: tcp://, tls://, ws:// or wss:// URL. Omit to test the embedded reference engine.")
        var target: String?

        @Option(help: "The embedded engine's transport: tcp, ws or tls (default tcp). Only without TARGET.")
        var transport: String?

        @Option(help: "The app id of TARGET (default \(ConformDriver.defaultAppID)).")
        var appID: String?

        @Option(
            name: .customLong("app-id-only"),
            help: ArgumentHelp(
                "An app that TARGET serves in app-ID-only mode, for the cases of that mode (see the discussion).",
                valueName: "app-id"
            )
        )
        var appIDOnly: String?

        @Option(help: "The app secret of TARGET, to mint tokens (at least 32 bytes).")
        var appSecret: String?

        @Option(help: "A file holding the app secret of TARGET.")
        var appSecretFile: String?

        @Option(help: "A shell command that prints a token (see the discussion).")
        var tokenCommand: String?

        @Option(help: "The test-control key of TARGET (Spec/18-test-control.md; herald serve --test-control).")
        var testControlKey: String?

        @Option(help: "A file holding the test-control key of TARGET.")
        var testControlKeyFile: String?

        @Option(help: "A shell command that restarts TARGET abruptly, for the crash cases when it has no test control.")
        var restartCommand: String?

        @Flag(help: "List the selected cases (id, level, requirements, capabilities, title) instead of running them.")
        var list = false

        @Flag(name: .customLong("list-json"), help: .hidden)
        var listJSON = false

        @Option(name: .customLong("filter"), help: "Run only cases whose id matches this glob (repeatable).")
        var filters: [String] = []

        @Option(name: .customLong("skip"), help: "Do not run cases whose id matches this glob (repeatable).")
        var skips: [String] = []

        @Option(
            help: ArgumentHelp(
                "The requirement levels to run: must (MUST cases only), should (MUST and SHOULD, the default) or may "
                    + "(every case).",
                valueName: "must|should|may"
            )
        )
        var level: LevelSelection = .should

        @Flag(help: "Fail the run on SHOULD and MAY failures too (without it they are warnings).")
        var strict = false

        @Option(name: .customShort("j"), help: "How many cases run at once (default: 4 per core, at least 4).")
        var parallelism: Int?

        @Option(help: "Multiply every wait and time budget (slow CI machines).")
        var timeoutScale = 1.0

        @Option(help: "The expected-failures file.")
        var expectedFailures: String?

        @Option(name: .customLong("json"), help: "Write the JSON report (with --list: print the list as JSON).")
        var jsonReport: String?

        @Option(name: .customLong("junit"), help: "Write the JUnit XML report.")
        var junitReport: String?

        @Option(name: .customLong("html"), help: "Write the HTML report.")
        var htmlReport: String?

        @Option(help: "A scenario directory to run instead of the corpus built into herald.")
        var scenarios: String?

        @Option(
            help: ArgumentHelp(
                "A Spec directory for requirement texts instead of the built-in one (default with --scenarios: "
                    + "Spec beside its Vectors directory, if there is one)."
            )
        )
        var spec: String?

        @Flag(help: "Do not verify the TLS certificate of TARGET.")
        var insecure = false

        @Flag(help: "Print and keep the transcripts of passing cases too.")
        var verbose = false

        /// The parsed command line as driver options.
        var options: ConformOptions {
            var options = ConformOptions()
            options.target = self.target
            options.transport = self.transport
            options.appID = self.appID
            options.appIDOnly = self.appIDOnly
            options.appSecret = self.appSecret
            options.appSecretFile = self.appSecretFile
            options.tokenCommand = self.tokenCommand
            options.testControlKey = self.testControlKey
            options.testControlKeyFile = self.testControlKeyFile
            options.restartCommand = self.restartCommand
            options.list = self.list
            options.json = self.listJSON
            options.filters = self.filters
            options.skips = self.skips
            options.level = self.level
            options.strict = self.strict
            options.parallelism = self.parallelism
            options.timeoutScale = self.timeoutScale
            options.expectedFailuresFile = self.expectedFailures
            options.jsonReport = self.jsonReport
            options.junitReport = self.junitReport
            options.htmlReport = self.htmlReport
            options.scenarios = self.scenarios
            options.spec = self.spec
            options.insecure = self.insecure
            options.verbose = self.verbose
            options.programName = Self.programName(CommandLine.arguments.first ?? "herald")
            return options
        }

        /// How rerun commands invoke this program: `swift run herald` for a build-tree binary, else as invoked.
        static func programName(_ argument0: String) -> String {
            if argument0.contains("/.build/") || argument0.hasPrefix(".build/") { return "swift run herald" }
            return argument0.contains("/") ? argument0 : "herald"
        }

        func run() async throws {
            let status = await ConformDriver(options: self.options).run()
            if status != .passed {
                throw ExitCode(status.rawValue)
            }
        }
    }

    /// `herald conform coverage [--json]`.
    struct Coverage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "coverage",
            abstract: "Report which Spec requirements the scenario corpus covers.",
            discussion: """
                Compares the requirement index of the Spec with the requirement ids of the corpus's cases and with \
                waivers.json in the scenario directory, for each role: the server's (Vectors/scenarios, herald \
                conform) and the client's (Vectors/client-scenarios, herald conform client; its requirements are \
                those its cases and waivers name). Waivers: ({"schemaVersion": 1, "waivers": [{"requirement": "HS-1", \
                "reason": "…"}]}; a reason is mandatory). Prints, per chapter and level, how many requirements are \
                covered by at least one case, waived, and uncovered, then the uncovered MUSTs and any problem (a \
                waiver of a covered or unknown requirement, a case citing an unknown id).

                Exit status: 0 every MUST is covered or waived and there is no problem; 1 otherwise; 2 unusable \
                files.
                """
        )

        @Flag(help: "Print the report as JSON.")
        var json = false

        @Flag(help: "List uncovered SHOULD and MAY requirements too.")
        var all = false

        @Option(help: "A scenario directory instead of the corpus built into herald.")
        var scenarios: String?

        @Option(help: "A Spec directory instead of the one built into herald.")
        var spec: String?

        @Option(help: "A client scenario directory (default: client-scenarios beside --scenarios, else built in).")
        var clientScenarios: String?

        func run() async throws {
            let status = ConformDriver.coverage(
                scenarios: self.scenarios,
                spec: self.spec,
                clientScenarios: self.clientScenarios,
                json: self.json,
                listAll: self.all
            )
            if status != .passed {
                throw ExitCode(status.rawValue)
            }
        }
    }
}

extension LevelSelection: ExpressibleByArgument {}

extension Herald.Conform {
    /// `herald conform client --adapter COMMAND …`: the runner plays the server and tests a client library.
    struct Client: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "client",
            abstract: "Test client implementations: the runner plays a scripted server, the adapter drives the client.",
            discussion: """
                Each --adapter COMMAND is a program (run with /bin/sh -c, once per case) that links the client \
                library under test and speaks the adapter protocol herald-adapter/1 on its standard input and \
                output (Spec/19-client-conformance.md): the runner sends commands (create, login, sendPeerMessage, \
                joinChannel, …), the adapter replies and reports the client's events. Meanwhile the runner plays \
                the server on loopback (TCP, WebSocket, TLS and secure WebSocket, with a test certificate the \
                adapter is told to trust) and checks every frame the client sends, when it sends it, and how it \
                closes. The cases are Vectors/client-scenarios, built into herald.

                Adapters that come with Herald: `herald client-adapter` (HeraldClient, the Swift client) and \
                Tests/Interop/C/build/herald-c-adapter (the C implementation).

                With several adapters every one runs the selected cases and a matrix (client × case) is printed; \
                --matrix FILE writes it (Markdown, or HTML for a .html name), and report files get the adapter's \
                name before their extension.

                Expected failures: --expected-failures FILE applies to every adapter; NAME=FILE to the adapter \
                named NAME (the name its hello reply gives). Levels, verdicts, reports and exit status are those \
                of herald conform run; exit status 3 means an adapter did not answer hello.
                """
        )

        @Option(help: "The command line of a client's adapter (repeatable).")
        var adapter: [String] = []

        @Flag(help: "List the selected cases instead of running them.")
        var list = false

        @Option(name: .customLong("filter"), help: "Run only cases whose id matches this glob (repeatable).")
        var filters: [String] = []

        @Option(name: .customLong("skip"), help: "Do not run cases whose id matches this glob (repeatable).")
        var skips: [String] = []

        @Option(help: ArgumentHelp("The requirement levels to run.", valueName: "must|should|may"))
        var level: LevelSelection = .should

        @Flag(help: "Fail the run on SHOULD and MAY failures too (without it they are warnings).")
        var strict = false

        @Option(help: ArgumentHelp("An expected-failures file, for every adapter or (NAME=FILE) for one."))
        var expectedFailures: [String] = []

        @Option(name: .customLong("json"), help: "Write the JSON report.")
        var jsonReport: String?

        @Option(name: .customLong("junit"), help: "Write the JUnit XML report.")
        var junitReport: String?

        @Option(name: .customLong("html"), help: "Write the HTML report.")
        var htmlReport: String?

        @Option(help: "Write the client × case matrix (Markdown, or HTML for a .html file).")
        var matrix: String?

        @Option(help: "A client scenario directory to run instead of the corpus built into herald.")
        var scenarios: String?

        @Flag(help: "Print and keep the transcripts of passing cases too.")
        var verbose = false

        func run() async throws {
            var options = ClientConformOptions()
            options.adapters = self.adapter
            options.list = self.list
            options.filters = self.filters
            options.skips = self.skips
            options.level = self.level
            options.strict = self.strict
            for entry in self.expectedFailures {
                if let equals = entry.firstIndex(of: "="), !entry[..<equals].contains("/") {
                    options.expectedFailures[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
                } else {
                    options.expectedFailures[""] = entry
                }
            }
            options.jsonPath = self.jsonReport
            options.junitPath = self.junitReport
            options.htmlPath = self.htmlReport
            options.matrixPath = self.matrix
            options.scenarios = self.scenarios
            options.verbose = self.verbose
            let status = await ClientConformance.run(options)
            if status != .passed {
                throw ExitCode(status.rawValue)
            }
        }
    }
}

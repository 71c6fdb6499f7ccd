import Foundation
import HeraldProcess
import HeraldSpec
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The README's promise that its commands work: every command line of its ```` ```bash ```` blocks that invokes
/// `herald` (`swift run herald …` or `herald …`) runs with the built binary, in a fresh temporary directory, and does
/// what the README says it does, down to the output it shows on the `#` lines under it.
///
/// Each documented line is one test case (`README.md:LINE: command`); a failure says what ran and why it failed.
/// A herald line the checker has no recipe for fails too, so that a new README command cannot go untested.
/// `HERALD_README=PATH` checks another copy of the README (used to show that a wrong expected output fails).
@Suite struct ReadmeCommandTests {
    @Test func readmeShowsHeraldCommandsAndNoUnknownOnes() throws {
        let scan = try ReadmeCommands.scan.get()
        #expect(!scan.commands.isEmpty, "no herald command line in the bash blocks of \(ReadmeCommands.url.path)")
        let unknown = scan.commands.compactMap { command -> String? in
            guard case .failure(let reason) = ReadmeRecipe.make(for: command) else { return nil }
            return "\(command.testDescription)\n    \(reason)"
        }
        #expect(
            unknown.isEmpty,
            """
            README herald command lines this test does not know how to run (give them a recipe in \
            ReadmeRecipe.make):
            \(unknown.joined(separator: "\n"))
            """
        )
    }

    @Test(.timeLimit(.minutes(5)), arguments: ReadmeCommands.arguments)
    func documentedCommandRunsAsShown(_ command: ReadmeCommand) async throws {
        for problem in await ReadmeCommandChecker.check(command) {
            Issue.record(Comment(rawValue: problem))
        }
    }

    // MARK: - The checker itself

    @Test func scannerSeparatesCommandsCommentsAndShownOutput() {
        let scan = ReadmeScan(
            text: """
                # Title
                ```bash
                swift run herald decode 4852020000   # a trailing comment
                # error: truncated-header: 5 bytes left   (exit status 1)
                sha256sum -c x.sha256   # prints "x: OK"
                # not herald's output
                herald --version        # 0.2.0
                swift run herald encode '{"a": "b # c"}' "d e"
                # {"header":{"x":1,
                #  "y":2}}
                swift build --product herald
                HERALD_APP_SECRET=x herald serve
                ```

                ```swift
                swift run herald serve
                ```
                """
        )
        #expect(scan.commands.map(\.line) == [3, 7, 8, 12])
        #expect(scan.skipped.map(\.line) == [5, 11])
        let decode = scan.commands[0]
        #expect(decode.arguments == ["decode", "4852020000"])
        #expect(decode.comment == "a trailing comment")
        #expect(decode.shownOutput == ["error: truncated-header: 5 bytes left"])
        #expect(decode.shownStatus == 1)
        #expect(scan.commands[1].arguments == ["--version"] && scan.commands[1].comment == "0.2.0")
        #expect(scan.commands[1].shownOutput.isEmpty)
        let encode = scan.commands[2]
        #expect(encode.arguments == ["encode", #"{"a": "b # c"}"#, "d e"])
        #expect(encode.shownOutput == [#"{"header":{"x":1,"y":2}}"#] && encode.shownStatus == 0)
        #expect(scan.commands[3].problem != nil, "an environment prefix is not a known way to run herald")
    }

    @Test func aWrongShownOutputFailsTheCommand() async throws {
        let scan = ReadmeScan(
            text: """
                ```bash
                swift run herald encode '{"type":"Ping","requestId":2}'
                # 4852010000030000000200000001
                ```
                """
        )
        let command = try #require(scan.commands.first)
        let problems = await ReadmeCommandChecker.check(command)
        #expect(problems.count == 1, "\(problems)")
        #expect(problems.first?.contains("4852010000030000000200000000") == true, "\(problems)")
        #expect(problems.first?.contains("ran: herald encode") == true, "\(problems)")
    }

    @Test func aHeraldCommandWithoutARecipeFails() async throws {
        let scan = ReadmeScan(
            text: """
                ```bash
                swift run herald frobnicate --now
                swift run herald conform tcp://127.0.0.1:7420 --app-secret …
                swift run herald spec requirements --write
                ```
                """
        )
        #expect(scan.commands.count == 3)
        for command in scan.commands {
            guard case .failure = ReadmeRecipe.make(for: command) else {
                Issue.record("\(command.testDescription) should have no recipe")
                continue
            }
            let problems = await ReadmeCommandChecker.check(command)
            #expect(problems.count == 1 && problems[0].contains("does not know how to run"), "\(problems)")
        }
    }
}

// MARK: - Reading the README

/// README.md (or `$HERALD_README`) and its herald command lines.
enum ReadmeCommands {
    /// The file checked: `$HERALD_README` if set, else the README at the repository root.
    static let url: URL = {
        if let path = ProcessInfo.processInfo.environment["HERALD_README"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return Project.root.appendingPathComponent("README.md")
    }()

    /// The scanned README, or why it could not be read.
    static let scan: Result<ReadmeScan, any Error> = Result {
        ReadmeScan(text: try String(contentsOf: url, encoding: .utf8))
    }

    /// The herald command lines, as test arguments (none if the README cannot be read; a test reports that).
    static let arguments: [ReadmeCommand] = (try? scan.get().commands) ?? []
}

/// A line of a bash block that invokes herald, with what the README shows for it.
struct ReadmeCommand: Sendable, Hashable, CustomTestStringConvertible {
    /// The 1-based line number in the README.
    var line: Int
    /// The command as written, without its trailing comment.
    var text: String
    /// The trailing `# comment`, without the `#`.
    var comment: String?
    /// herald's arguments: the shell words after `swift run herald` or `herald`.
    var arguments: [String]
    /// The output shown on the `#` lines under the command (continuation lines, which start with `#  `, joined).
    var shownOutput: [String] = []
    /// The exit status shown as `(exit status N)` at the end of the shown output; 0 when none is shown.
    var shownStatus: Int32 = 0
    /// Why the line cannot be run as a herald command (shell syntax or a prefix the checker does not interpret).
    var problem: String?

    var testDescription: String { "README.md:\(self.line): \(self.text)" }
}

/// A line of a bash block that does not invoke herald, and is not checked.
struct ReadmeSkippedLine: Sendable, Hashable {
    /// The 1-based line number in the README.
    var line: Int
    /// The line.
    var text: String
}

/// The bash blocks of a README, split into herald command lines (with their shown output) and other lines.
struct ReadmeScan: Sendable {
    /// The herald command lines, in README order.
    var commands: [ReadmeCommand] = []
    /// The other command lines (`swift test`, `sha256sum`, `tar`, `Scripts/…`, …).
    var skipped: [ReadmeSkippedLine] = []

    /// Words that may precede a command on a shell line (`sudo`, `env`, `VAR=value`, …).
    static let prefixWords: Set<String> = ["sudo", "env", "time", "exec", "nice", "nohup", "command"]

    /// Scans `text` (Markdown).
    init(text: String) {
        var inBash = false
        var current: Int?  // index in `commands` of the command the following `#` lines belong to
        for (offset, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = offset + 1
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("```") {
                inBash = !inBash && (line == "```bash" || line == "```sh" || line == "```shell")
                current = nil
                continue
            }
            guard inBash else { continue }
            if line.isEmpty {
                current = nil
            } else if line.hasPrefix("#") {
                if let current { self.commands[current].addShownLine(line) }
            } else {
                current = self.addCommandLine(line, number: number)
            }
        }
    }

    /// Adds a command line; returns its index in ``commands`` if it invokes herald.
    private mutating func addCommandLine(_ line: String, number: Int) -> Int? {
        let parsed = ShellLine(line)
        let commandText = parsed.command
        let words: [String]
        switch parsed.words {
        case .success(let parsedWords):
            words = parsedWords
        case .failure(let syntax):
            // Shell syntax the checker does not interpret: a herald line that uses it cannot be run as written.
            if commandText.split(whereSeparator: \.isWhitespace).contains(where: { Self.namesHerald(String($0)) }) {
                self.commands.append(
                    ReadmeCommand(
                        line: number,
                        text: commandText,
                        comment: parsed.comment,
                        arguments: [],
                        problem: "uses \(syntax), which this test does not interpret"
                    )
                )
                return self.commands.count - 1
            }
            self.skipped.append(ReadmeSkippedLine(line: number, text: line))
            return nil
        }
        var rest = words[...]
        var prefix: [String] = []
        while let first = rest.first, Self.prefixWords.contains(first) || first.contains("=") {
            prefix.append(first)
            rest = rest.dropFirst()
        }
        let arguments: [String]?
        if rest.starts(with: ["swift", "run", "herald"]) {
            arguments = Array(rest.dropFirst(3))
        } else if let first = rest.first, Self.namesHerald(first) {
            arguments = Array(rest.dropFirst())
        } else if rest.starts(with: ["swift", "run"]) && rest.contains("herald") {
            // `swift run -c release herald …` and the like.
            arguments = nil
        } else {
            self.skipped.append(ReadmeSkippedLine(line: number, text: line))
            return nil
        }
        var command = ReadmeCommand(
            line: number,
            text: commandText,
            comment: parsed.comment,
            arguments: arguments ?? []
        )
        if arguments == nil {
            command.problem = "runs herald through `swift run` with options this test does not interpret"
        } else if !prefix.isEmpty {
            command.problem = "runs herald after \(prefix.joined(separator: " ")), which this test does not interpret"
        }
        self.commands.append(command)
        return self.commands.count - 1
    }

    /// Whether a command word is the herald program: `herald` or a path ending in `/herald`.
    static func namesHerald(_ word: String) -> Bool {
        word == "herald" || word.hasSuffix("/herald")
    }
}

extension ReadmeCommand {
    /// Adds a `#` line under the command to its shown output.
    ///
    /// `# text` is a line of output; `#  text` (two spaces) continues the previous line, which the README wraps;
    /// a trailing `(exit status N)` is the exit status shown, not output.
    mutating func addShownLine(_ line: String) {
        var text = String(line.dropFirst())
        if text.hasPrefix(" ") { text.removeFirst() }
        if let match = text.firstMatch(of: /\s+\(exit status (\d+)\)$/), let status = Int32(match.output.1) {
            self.shownStatus = status
            text.removeSubrange(match.range)
        }
        if text.hasPrefix(" "), let last = self.shownOutput.indices.last {
            self.shownOutput[last] += text.drop { $0 == " " }
        } else {
            self.shownOutput.append(text)
        }
    }
}

/// One shell line, split into words as `sh` would for the quoting the README uses (`'…'`, `"…"`, `\`).
struct ShellLine {
    /// The command, without the trailing comment, trimmed.
    var command: String
    /// The comment after an unquoted `#` that starts a word, without the `#`, trimmed.
    var comment: String?
    /// The words, or the shell syntax that this splitter does not interpret (pipes, redirections, expansions …).
    var words: Result<[String], ShellSyntax>

    /// Shell syntax beyond words and quotes.
    struct ShellSyntax: Error, CustomStringConvertible {
        var description: String
    }

    /// Splits `line`.
    init(_ line: String) {
        var words: [String] = []
        var word = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        var unsupported: String?
        var commentStart: String.Index?
        var index = line.startIndex
        while index < line.endIndex {
            let character = line[index]
            defer { index = line.index(after: index) }
            if escaped {
                word.append(character)
                escaped = false
                continue
            }
            switch quote {
            case "'":
                if character == "'" { quote = nil } else { word.append(character) }
            case "\"":
                if character == "\"" {
                    quote = nil
                } else if character == "\\" {
                    let next = line.index(after: index)
                    if next < line.endIndex, "$`\"\\".contains(line[next]) { escaped = true } else { word.append("\\") }
                } else {
                    if character == "$" || character == "`" { unsupported = unsupported ?? "'\(character)'" }
                    word.append(character)
                }
            default:
                if character.isWhitespace {
                    if inWord { words.append(word) }
                    word = ""
                    inWord = false
                } else if character == "#" && !inWord {
                    commentStart = index
                } else if character == "'" || character == "\"" {
                    quote = character
                    inWord = true
                } else if character == "\\" {
                    escaped = true
                    inWord = true
                } else {
                    if "|&;<>()$`*?{}~".contains(character) {
                        unsupported = unsupported ?? "'\(character)'"
                    }
                    word.append(character)
                    inWord = true
                }
            }
            if commentStart != nil { break }
        }
        if inWord && quote == nil { words.append(word) }
        if let commentStart {
            self.command = line[..<commentStart].trimmingCharacters(in: .whitespaces)
            self.comment = line[line.index(after: commentStart)...].trimmingCharacters(in: .whitespaces)
        } else {
            self.command = line.trimmingCharacters(in: .whitespaces)
            self.comment = nil
        }
        if quote != nil {
            self.words = .failure(ShellSyntax(description: "an unbalanced quote"))
        } else if let unsupported {
            self.words = .failure(ShellSyntax(description: "the shell character \(unsupported)"))
        } else {
            self.words = .success(words)
        }
    }
}

// MARK: - How each command is run

/// What the checker does for one README command line.
struct ReadmeRecipe: Sendable {
    /// The kind of command, which decides how it runs and what is checked.
    enum Kind: Sendable, Equatable {
        /// `herald --version`.
        case version
        /// `herald serve …`: starts, prints its listening lines, exits 0 on SIGTERM.
        case serve
        /// `herald serve --help`.
        case serveHelp
        /// `herald token mint …`, after a `serve` generated `herald-data/app-secret`.
        case tokenMint
        /// `herald conform TARGET …` against `herald serve` at its defaults plus `serveArguments`; `loginCase`, a
        /// case that logs in with the line's token source, must pass.
        case conformTarget(serveArguments: [String], loginCase: String)
        /// `herald conform [run] …` against the embedded engine.
        case conformEmbedded
        /// `herald conform --list …`.
        case conformList
        /// `herald conform coverage …`.
        case conformCoverage
        /// `herald conform client --adapter …` (in the package root, where the adapters' paths lead).
        case conformClient
        /// `herald vectors verify …`.
        case vectorsVerify
        /// `herald encode …`.
        case encode
        /// `herald decode …`.
        case decode
        /// `herald spec requirements …` (read-only).
        case specRequirements
    }

    /// The case filter appended to conformance runs: the full suite at default timers takes about 10 minutes, and
    /// a CI step of its own runs it.
    static let conformFilter = "handshake.ping.*"
    /// The client cases a README `conform client` line runs.
    static let clientFilter = "client.session.state.login-*"
    /// A quick case against a TARGET that logs in with a valid token of the run's token source.
    static let loginCase = "session.login.ok.response-fields"
    /// A quick case against a TARGET that logs in to the `--app-id-only` app.
    static let appIDOnlyLoginCase = "tokens.app-id-only.tokenless-login"

    /// What a literal `…` placeholder stands for, by the option it is the value of.
    static let placeholderValues = [
        "--app-id": "herald-dev", "--user": "alice", "--app-secret-file": "herald-data/app-secret",
    ]

    /// The kind of command.
    var kind: Kind
    /// herald's arguments for each run (a line with `[OPTIONAL]` parts runs without and with them).
    var runs: [[String]]
    /// What the checker changed in the documented line, for the report.
    var notes: [String]
    /// Whether the command listens on the default ports 7420 and 7421 (such commands run one at a time).
    var usesDefaultPorts: Bool
    /// Whether the command runs in the package root (it reads `Spec/` or `Vectors/` there) instead of a
    /// temporary directory.
    var runsInPackageRoot: Bool

    /// The recipe for `command`, or why there is none.
    static func make(for command: ReadmeCommand) -> Result<ReadmeRecipe, RecipeError> {
        if let problem = command.problem { return .failure(RecipeError(problem)) }
        var notes: [String] = []
        // `[X]` marks optional words: run without them, and with them (placeholders in them filled in).
        var required: [String] = []
        var full: [String] = []
        var hasOptional = false
        for (index, word) in command.arguments.enumerated() {
            var value = word
            var optional = false
            if word.count > 2, word.hasPrefix("["), word.hasSuffix("]") {
                value = String(word.dropFirst().dropLast())
                optional = true
                hasOptional = true
            }
            if value == "…" || value == "..." {
                let option = index > 0 ? command.arguments[index - 1] : ""
                guard let filled = Self.placeholderValues[option] else {
                    return .failure(RecipeError("has a placeholder '\(value)' after '\(option)' with no known value"))
                }
                notes.append("'\(option) \(value)' run as '\(option) \(filled)'")
                value = filled
            } else if optional, value.allSatisfy({ $0.isUppercase || $0 == "_" }) {
                guard value == "DIR", command.arguments.starts(with: ["vectors", "verify"]) else {
                    return .failure(RecipeError("has a placeholder '\(word)' with no known value"))
                }
                notes.append("'[DIR]' run as 'Vectors' (and without it)")
                value = "Vectors"
            }
            if !optional { required.append(value) }
            full.append(value)
        }
        var runs = hasOptional ? [required, full] : [required]
        let arguments = full
        let kind: Kind
        var usesDefaultPorts = false
        var inPackageRoot = false
        func has(_ flag: String) -> Bool { arguments.contains(flag) }
        func value(of flag: String) -> String? {
            guard let index = arguments.firstIndex(of: flag), index + 1 < arguments.count else { return nil }
            return arguments[index + 1]
        }
        switch arguments.first {
        case "--version" where arguments.count == 1:
            kind = .version
        case "serve" where has("--help"):
            kind = .serveHelp
        case "serve":
            kind = .serve
            let tcpOnFreePort = value(of: "--tcp")?.hasSuffix(":0") ?? false
            let webSocketOnFreePort = value(of: "--ws")?.hasSuffix(":0") ?? false
            usesDefaultPorts = !(tcpOnFreePort && webSocketOnFreePort)
        case "token" where arguments.dropFirst().first == "mint":
            kind = .tokenMint
        case "conform":
            var rest = arguments.dropFirst()
            if rest.first == "coverage" {
                kind = .conformCoverage
                break
            }
            if rest.first == "client" {
                inPackageRoot = true
                if has("--list") {
                    kind = .conformList
                    break
                }
                kind = .conformClient
                runs = runs.map { $0 + ["--filter", Self.clientFilter] }
                notes.append("--filter '\(Self.clientFilter)' appended (the full client suite runs in its own CI step)")
                notes.append("'.build/debug/herald' in an adapter run as the herald under test")
                break
            }
            if rest.first == "run" { rest = rest.dropFirst() }
            if let target = rest.first, target.contains("://") {
                guard target.hasPrefix("tcp://127.0.0.1:7420") || target.hasPrefix("ws://127.0.0.1:7421") else {
                    return .failure(RecipeError("targets \(target), not the default listeners of `herald serve`"))
                }
                let serveArguments = value(of: "--app-id-only").map { ["--app-id-only-app", $0] } ?? []
                // The ping case needs no token: one login case exercises the line's token source too.
                let loginCase = has("--app-id-only") ? Self.appIDOnlyLoginCase : Self.loginCase
                kind = .conformTarget(serveArguments: serveArguments, loginCase: loginCase)
                usesDefaultPorts = true
                notes.append(
                    "against `herald serve\(serveArguments.map { " " + $0 }.joined())` started in the same directory"
                )
                runs = runs.map { $0 + ["--filter", loginCase] }
                notes.append("--filter '\(loginCase)' appended: it logs in with the line's tokens")
            } else if has("--list") {
                kind = .conformList
                break
            } else {
                kind = .conformEmbedded
            }
            runs = runs.map { $0 + ["--filter", Self.conformFilter] }
            notes.append("--filter '\(Self.conformFilter)' appended (the full suite runs in its own CI step)")
        case "vectors" where arguments.dropFirst().first == "verify":
            kind = .vectorsVerify
            inPackageRoot = true
        case "encode":
            kind = .encode
        case "decode":
            kind = .decode
        case "spec" where arguments.dropFirst().first == "requirements":
            if has("--write") {
                return .failure(RecipeError("`spec requirements --write` would rewrite Spec/requirements.json"))
            }
            kind = .specRequirements
            inPackageRoot = true
        default:
            return .failure(RecipeError("no recipe for `herald \(arguments.prefix(2).joined(separator: " "))`"))
        }
        return .success(
            ReadmeRecipe(
                kind: kind,
                runs: runs,
                notes: notes,
                usesDefaultPorts: usesDefaultPorts,
                runsInPackageRoot: inPackageRoot
            )
        )
    }

    /// Why a README command line has no recipe.
    struct RecipeError: Error, CustomStringConvertible {
        var description: String

        init(_ description: String) {
            self.description = description
        }
    }
}

// MARK: - Checking

/// Runs README command lines with the built herald and reports what does not match the README.
enum ReadmeCommandChecker {
    /// Commands that listen on the default ports run one at a time.
    static let defaultPorts = AsyncGate(slots: 1)
    /// At most this many README commands run at once (a busy 2-core machine).
    static let slots = AsyncGate(slots: 3)

    /// How long `herald serve` may take to print its listening lines.
    static let serveTimeout: Duration = .seconds(60)
    /// How long any one run may take.
    static let runTimeout: Duration = .seconds(120)

    /// Runs `command` as its recipe says; returns the problems, each naming the line, what ran and what failed.
    static func check(_ command: ReadmeCommand) async -> [String] {
        let recipe: ReadmeRecipe
        switch ReadmeRecipe.make(for: command) {
        case .success(let made):
            recipe = made
        case .failure(let error):
            return ["\(command.testDescription)\n  this test does not know how to run it: \(error)"]
        }
        guard let executable = HeraldProcess.executable else {
            return ["no herald executable next to the test bundle (\(Bundle.main.bundleURL.path)); build it first"]
        }
        await slots.acquire()
        var portsLock: Int32?
        if recipe.usesDefaultPorts {
            await defaultPorts.acquire()
            portsLock = await DefaultPortsFileLock.acquire(within: .seconds(180))
        }
        var session = CheckSession(command: command, recipe: recipe, executable: executable)
        if recipe.usesDefaultPorts && portsLock == nil {
            session.ran.append("(the lock file \(DefaultPortsFileLock.path) was not free within 180 s; ran anyway)")
        }
        do {
            try await session.run()
        } catch {
            session.fail("could not run: \(error)")
        }
        session.cleanUp()
        DefaultPortsFileLock.release(portsLock)
        if recipe.usesDefaultPorts { await defaultPorts.release() }
        await slots.release()
        return session.problems
    }
}

/// One README command line being checked: its temporary directory, what ran, and the problems found.
private struct CheckSession {
    let command: ReadmeCommand
    let recipe: ReadmeRecipe
    let executable: URL
    /// The temporary directory: `work/` is the command's directory, `logs/` holds the captured output.
    let scratch: URL
    let work: URL
    let logs: URL
    /// What ran so far, for the report.
    var ran: [String] = []
    var problems: [String] = []

    init(command: ReadmeCommand, recipe: ReadmeRecipe, executable: URL) {
        self.command = command
        self.recipe = recipe
        self.executable = executable
        self.scratch = FileManager.default.temporaryDirectory.appendingPathComponent("herald-readme-\(UUID())")
        self.work = self.scratch.appendingPathComponent("work")
        self.logs = self.scratch.appendingPathComponent("logs")
    }

    /// Records a problem with the report header: the README line, notes and what ran.
    mutating func fail(_ what: String, output: HeraldChild.Output? = nil) {
        var text = "\(self.command.testDescription)\n"
        for note in self.recipe.notes { text += "  note: \(note)\n" }
        for line in self.ran { text += "  ran: \(line)\n" }
        text += "  problem: \(what)"
        if let output {
            text += "\n  exit status: \(output.status.map(String.init) ?? "none (still running)")"
            text += "\n  stdout:\n" + Self.excerpt(output.standardOutput)
            text += "\n  stderr:\n" + Self.excerpt(output.standardError)
        }
        self.problems.append(text)
    }

    /// The last lines of `text`, indented.
    static func excerpt(_ text: String) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let kept = lines.suffix(30)
        let head = lines.count > kept.count ? ["    … (\(lines.count - kept.count) lines before)"] : []
        return (head + kept.map { "    " + $0 }).joined(separator: "\n")
    }

    func cleanUp() {
        try? FileManager.default.removeItem(at: self.scratch)
    }

    /// Starts `herald arguments` in the command's directory, and records that it ran.
    mutating func start(_ arguments: [String], role: String = "") throws -> HeraldChild {
        let directory = self.recipe.runsInPackageRoot ? Project.root : self.work
        self.ran.append(
            "herald " + arguments.map(Self.shellQuoted).joined(separator: " ") + " (in \(directory.path))"
                + (role.isEmpty ? "" : " — \(role)")
        )
        return try HeraldChild(
            executable: self.executable,
            arguments: arguments,
            directory: directory,
            logs: self.logs
        )
    }

    /// Runs `herald arguments` to the end (at most ``ReadmeCommandChecker/runTimeout``).
    mutating func runToEnd(_ arguments: [String], role: String = "") async throws -> HeraldChild.Output {
        let child = try self.start(arguments, role: role)
        return await child.finish(within: ReadmeCommandChecker.runTimeout)
    }

    /// `word` quoted for a shell if it needs it.
    static func shellQuoted(_ word: String) -> String {
        let plain = word.allSatisfy { $0.isLetter || $0.isNumber || "-_./:=@,+".contains($0) }
        return plain && !word.isEmpty ? word : "'" + word.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }

    mutating func run() async throws {
        try FileManager.default.createDirectory(at: self.work, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: self.logs, withIntermediateDirectories: true)
        for arguments in self.recipe.runs {
            switch self.recipe.kind {
            case .version: try await self.checkVersion(arguments)
            case .serve: try await self.checkServe(arguments)
            case .serveHelp: try await self.checkServeHelp(arguments)
            case .tokenMint: try await self.checkTokenMint(arguments)
            case .conformTarget(let serveArguments, let loginCase):
                try await self.checkConformTarget(arguments, serve: serveArguments, loginCase: loginCase)
            case .conformEmbedded: try await self.checkConformEmbedded(arguments)
            case .conformList: try await self.checkConformList(arguments)
            case .conformCoverage, .specRequirements: try await self.checkSucceedsWithOutput(arguments)
            case .conformClient: try await self.checkConformClient(arguments)
            case .vectorsVerify: try await self.checkVectorsVerify(arguments)
            case .encode, .decode: try await self.checkShownOutput(arguments)
            }
        }
    }

    // MARK: Recipes

    mutating func checkVersion(_ arguments: [String]) async throws {
        let output = try await self.runToEnd(arguments)
        guard output.status == 0 else { return self.fail("expected exit status 0", output: output) }
        if output.standardOutput != HeraldVersion.tool + "\n" {
            self.fail("expected the tool version \(HeraldVersion.tool)", output: output)
        }
        if let shown = self.command.comment, shown.wholeMatch(of: /\d+\.\d+\.\d+\S*/) != nil,
            output.standardOutput != shown + "\n"
        {
            self.fail("the README shows the version \(shown)", output: output)
        }
    }

    mutating func checkServe(_ arguments: [String]) async throws {
        let shown = self.command.shownOutput.filter { $0.hasPrefix("herald: ") }
        let child = try self.start(arguments)
        guard let output = await self.waitUntilListening(child, lineCount: shown.count) else { return }
        let printed = output.standardOutput.split(separator: "\n").map { Self.withoutPorts(String($0)) }
        if !shown.isEmpty && printed != shown.map(Self.withoutPorts) {
            self.fail(
                "serve printed other lines than the README shows (ports aside):\n"
                    + shown.map { "    README: " + $0 }.joined(separator: "\n") + "\n"
                    + printed.map { "    actual: " + $0 }.joined(separator: "\n"),
                output: output
            )
        }
        await self.stop(child)
    }

    mutating func checkServeHelp(_ arguments: [String]) async throws {
        let output = try await self.runToEnd(arguments)
        guard output.status == 0 else { return self.fail("expected exit status 0", output: output) }
        // Every flag the README's serve lines use, and a few limits, timers and rate limits.
        var flags: Set<String> = ["--tcp", "--ws", "--data", "--heartbeat-interval-ms", "--idle-timeout-ms"]
        for other in ReadmeCommands.arguments where other.arguments.first == "serve" {
            flags.formUnion(other.arguments.filter { $0.hasPrefix("--") && $0 != "--help" })
        }
        let missing = flags.sorted().filter { !output.standardOutput.contains($0) }
        if !missing.isEmpty {
            self.fail("serve --help does not mention \(missing.joined(separator: ", "))", output: output)
        }
    }

    mutating func checkTokenMint(_ arguments: [String]) async throws {
        // A serve in the same directory generates herald-data/app-secret (on free ports: it only has to start).
        let serve = try self.start(
            ["serve", "--tcp", "127.0.0.1:0", "--ws", "127.0.0.1:0"],
            role: "to generate herald-data/app-secret"
        )
        guard await self.waitUntilListening(serve) != nil else { return }
        await self.stop(serve)
        let output = try await self.runToEnd(arguments)
        guard output.status == 0 else { return self.fail("expected exit status 0", output: output) }
        let token = output.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, output.standardOutput.hasSuffix("\n"),
            let header = Self.jsonObject(base64URL: parts[0]), header["alg"] as? String == "HS256",
            let claims = Self.jsonObject(base64URL: parts[1])
        else {
            return self.fail("expected one HS256 JWT on stdout", output: output)
        }
        func value(_ flag: String) -> String? {
            arguments.firstIndex(of: flag).flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil }
        }
        var wrong: [String] = []
        if let appID = value("--app-id"), claims["aud"] as? String != appID { wrong.append("aud is not \(appID)") }
        if let user = value("--user"), claims["sub"] as? String != user { wrong.append("sub is not \(user)") }
        if let ttl = value("--ttl").flatMap(Int.init),
            (claims["exp"] as? Int).map({ $0 - ((claims["iat"] as? Int) ?? 0) }) != ttl
        {
            wrong.append("exp − iat is not \(ttl)")
        }
        if !wrong.isEmpty {
            self.fail("the token's claims \(claims): \(wrong.joined(separator: ", "))", output: output)
        }
    }

    mutating func checkConformTarget(
        _ arguments: [String],
        serve serveArguments: [String],
        loginCase: String
    ) async throws {
        let serve = try self.start(["serve"] + serveArguments, role: "the target, at its default ports")
        guard await self.waitUntilListening(serve) != nil else { return }
        if let index = arguments.firstIndex(of: "--token-command"), index + 1 < arguments.count {
            try self.writeTokenIssuer(named: arguments[index + 1])
        }
        let output = try await self.runToEnd(arguments)
        await self.stop(serve)
        self.expectConformPassed(output)
        if output.status == 0 && !output.standardOutput.contains("PASS \(loginCase) ") {
            self.fail("expected PASS \(loginCase): its login uses the line's token source", output: output)
        }
    }

    mutating func checkConformEmbedded(_ arguments: [String]) async throws {
        if let index = arguments.firstIndex(of: "--expected-failures"), index + 1 < arguments.count {
            let name = arguments[index + 1]
            try Data(Self.expectedFailuresFile.utf8).write(to: self.work.appendingPathComponent(name))
            self.ran.append("wrote \(name): \(Self.expectedFailuresFile.split(separator: "\n").last ?? "")")
            let output = try await self.runToEnd(arguments)
            // The embedded reference engine passes every case, so the listed case passes unexpectedly: the run
            // exits 1 with the case as XPASS, which shows that the file was read, parsed and applied.
            let closing = "0 passed, 0 failed, 0 expected-fail, 1 unexpected-pass, "
            if output.status != 1 || !output.standardOutput.contains("\n" + closing)
                || !output.standardOutput.contains("expected-failures entry: \(Self.expectedFailureReason)")
            {
                self.fail(
                    "expected the listed case as XPASS with the entry's reason, a closing line '\(closing)…' and "
                        + "exit status 1 (a valid entry for a case the reference engine passes)",
                    output: output
                )
            }
            return
        }
        let output = try await self.runToEnd(arguments)
        self.expectConformPassed(output)
        for flag in ["--json", "--junit", "--html"] {
            guard let index = arguments.firstIndex(of: flag), index + 1 < arguments.count else { continue }
            let url = self.work.appendingPathComponent(arguments[index + 1])
            guard let data = FileManager.default.contents(atPath: url.path), !data.isEmpty else {
                self.fail("\(flag) \(arguments[index + 1]): no report written", output: output)
                continue
            }
            if flag == "--json", (try? JSONSerialization.jsonObject(with: data)) == nil {
                self.fail("\(flag) \(arguments[index + 1]) is not JSON", output: output)
            }
        }
    }

    /// Runs the line with its adapters' `.build/debug/herald` replaced by the herald under test; it must pass.
    mutating func checkConformClient(_ arguments: [String]) async throws {
        let herald = self.executable.path
        let rewritten = arguments.map { $0.replacingOccurrences(of: ".build/debug/herald", with: herald) }
        for (index, word) in rewritten.enumerated() where index > 0 && rewritten[index - 1] == "--adapter" {
            let program = String(word.split(separator: " ").first ?? "")
            guard
                FileManager.default.isExecutableFile(atPath: Project.root.appendingPathComponent(program).path)
                    || FileManager.default.isExecutableFile(atPath: program)
            else {
                return self.fail("the adapter \(program) does not exist; build it first (make -C Tests/Interop/C)")
            }
        }
        let output = try await self.runToEnd(rewritten)
        self.expectConformPassed(output)
    }

    mutating func checkConformList(_ arguments: [String]) async throws {
        let output = try await self.runToEnd(arguments)
        guard output.status == 0 else { return self.fail("expected exit status 0", output: output) }
        if arguments.contains("--json") {
            let value = try? JSONSerialization.jsonObject(with: Data(output.standardOutput.utf8))
            let count = (value as? [Any])?.count ?? (value as? [String: Any])?.count ?? 0
            if count == 0 { self.fail("expected a non-empty JSON case list on stdout", output: output) }
        } else if output.standardOutput.isEmpty {
            self.fail("expected the case list on stdout", output: output)
        }
    }

    mutating func checkSucceedsWithOutput(_ arguments: [String]) async throws {
        let output = try await self.runToEnd(arguments)
        if output.status != 0 {
            self.fail("expected exit status 0", output: output)
        } else if output.standardOutput.isEmpty {
            self.fail("expected a report on stdout", output: output)
        }
    }

    mutating func checkVectorsVerify(_ arguments: [String]) async throws {
        let output = try await self.runToEnd(arguments)
        let last = output.standardOutput.split(separator: "\n").last.map(String.init) ?? ""
        if output.status != 0 || last.wholeMatch(of: /[1-9]\d* passed, 0 failed/) == nil {
            self.fail("expected exit status 0 and a closing line 'N passed, 0 failed'", output: output)
        }
    }

    mutating func checkShownOutput(_ arguments: [String]) async throws {
        let output = try await self.runToEnd(arguments)
        if output.status != self.command.shownStatus {
            self.fail("expected exit status \(self.command.shownStatus)", output: output)
        }
        guard !self.command.shownOutput.isEmpty else { return }
        // What a terminal shows: stdout, then stderr.
        let printed = (output.standardOutput + output.standardError).split(separator: "\n").map(String.init)
        if printed != self.command.shownOutput {
            self.fail(
                "the output differs from the README's:\n"
                    + self.command.shownOutput.map { "    README: " + $0 }.joined(separator: "\n") + "\n"
                    + printed.map { "    actual: " + $0 }.joined(separator: "\n"),
                output: output
            )
        }
    }

    // MARK: Helpers

    /// The reason of the entry in ``expectedFailuresFile``.
    static let expectedFailureReason = "example entry: pings are answered late (issue #1)"

    /// An expected-failures file with one valid entry, for the case the appended filter selects.
    static let expectedFailuresFile = """
        # Created by ReadmeCommandTests for `herald conform --expected-failures known-failures.txt`.
        handshake.ping.pong-echoes-client-time # \(expectedFailureReason)
        """

    /// Waits until `child` printed its listening lines (and at least `lineCount` lines); records a problem and stops
    /// the child if it does not, and returns the output so far if it does.
    mutating func waitUntilListening(_ child: HeraldChild, lineCount: Int = 0) async -> HeraldChild.Output? {
        let ready = await child.waitForOutput(within: ReadmeCommandChecker.serveTimeout) { stdout in
            stdout.contains("herald: listening tcp ") && stdout.contains("herald: listening ws ")
                && stdout.count(where: { $0 == "\n" }) >= lineCount
        }
        let output = child.output()
        if ready { return output }
        if output.status == nil {
            _ = await child.stop()
            self.fail(
                "serve did not print its listening lines\(lineCount > 0 ? " and \(lineCount) lines in all" : "") "
                    + "within \(ReadmeCommandChecker.serveTimeout)",
                output: child.output()
            )
        } else if output.standardError.contains("in use") {
            self.fail(
                "serve could not listen: a default port (7420 or 7421) is busy. Stop the process that holds it (a "
                    + "`herald serve` left running?) and rerun",
                output: output
            )
        } else {
            self.fail("serve exited before listening", output: output)
        }
        return nil
    }

    /// Stops a serve with SIGTERM and expects exit status 0.
    mutating func stop(_ child: HeraldChild) async {
        let status = await child.stop()
        if status != 0 {
            self.fail("serve did not exit 0 after SIGTERM", output: child.output())
        }
    }

    /// Expects a conformance run that exited 0 and closed with `N passed, 0 failed` (N > 0).
    mutating func expectConformPassed(_ output: HeraldChild.Output) {
        let closing = output.standardOutput.split(separator: "\n").last(where: {
            $0.firstMatch(of: /^\d+ passed,/) != nil
        })
        guard output.status == 0, let closing, closing.firstMatch(of: /^[1-9]\d* passed, 0 failed\b/) != nil else {
            return self.fail("expected exit status 0 and a closing line 'N passed, 0 failed'", output: output)
        }
    }

    /// Writes the token issuer of `herald conform --token-command`: it mints valid and `ttl:N` tokens with the
    /// built herald and the secret the serve generated, and exits 2 for the kinds it cannot make.
    mutating func writeTokenIssuer(named name: String) throws {
        let url = self.work.appendingPathComponent(name)
        let secret = self.work.appendingPathComponent("herald-data/app-secret").path
        let script = """
            #!/bin/sh
            # A token issuer for `herald conform --token-command` (see `herald conform --help`).
            case "$HERALD_TOKEN_KIND" in
            valid) ttl=3600 ;;
            ttl:*) ttl="${HERALD_TOKEN_KIND#ttl:}" ;;
            *) echo "cannot make a $HERALD_TOKEN_KIND token" >&2; exit 2 ;;
            esac
            exec \(Self.shellQuoted(self.executable.path)) token mint --app-id "$HERALD_APP_ID" \
            --user "$HERALD_USER" --ttl "$ttl" --app-secret-file \(Self.shellQuoted(secret))

            """
        try Data(script.utf8).write(to: url)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
        self.ran.append("wrote \(name): a token issuer (valid and ttl:N tokens with herald token mint, else exit 2)")
    }

    /// `line` with every `HOST:PORT` port replaced by `PORT`.
    static func withoutPorts(_ line: String) -> String {
        line.replacing(/(127\.0\.0\.1|localhost|\[::1\]|0\.0\.0\.0):\d+/) { "\($0.output.1):PORT" }
    }

    /// The JSON object in a base64url JWT part.
    static func jsonObject(base64URL part: Substring) -> [String: Any]? {
        var text = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        text += String(repeating: "=", count: (4 - text.count % 4) % 4)
        guard let data = Data(base64Encoded: text) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }
}

// MARK: - Processes

/// A running `herald` whose output goes to files and whose exit is awaited by polling, never by blocking a thread
/// (tests share the cooperative thread pool, see ``HeraldProcess/run(_:input:)``).
final class HeraldChild: Sendable {
    /// What a child printed so far, and its exit status once it exited.
    struct Output: Sendable {
        var status: Int32?
        var standardOutput: String
        var standardError: String
    }

    /// The exit status, set by the termination handler.
    private final class ExitBox: Sendable {
        let status = Mutex<Int32?>(nil)
    }

    private let process: ChildProcess
    private let exitBox = ExitBox()
    private let outputURL: URL
    private let errorURL: URL

    /// Starts `executable arguments` in `directory`, with stdout and stderr in files under `logs`.
    ///
    /// `HERALD_APP_SECRET` is removed from the environment, so that the README's commands behave as on a fresh
    /// machine (serve generates `herald-data/app-secret`).
    init(executable: URL, arguments: [String], directory: URL, logs: URL) throws {
        let name = UUID().uuidString
        self.outputURL = logs.appendingPathComponent("\(name).out")
        self.errorURL = logs.appendingPathComponent("\(name).err")
        try Data().write(to: self.outputURL)
        try Data().write(to: self.errorURL)
        let process = ChildProcess()
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = directory
        var environment = ProcessInfo.processInfo.environment
        environment["HERALD_APP_SECRET"] = nil
        process.environment = environment
        let stdout = try FileHandle(forWritingTo: self.outputURL)
        let stderr = try FileHandle(forWritingTo: self.errorURL)
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        let box = self.exitBox
        process.terminationHandler = { finished in
            let status = finished.terminationStatus
            box.status.withLock { $0 = status }
        }
        self.process = process
        defer {
            try? stdout.close()
            try? stderr.close()
        }
        try process.run()
    }

    deinit {
        // A child still running when the check ends (a thrown error) is killed; pid 0 would be the process group.
        if self.status == nil, self.process.processIdentifier > 0 {
            kill(self.process.processIdentifier, SIGKILL)
        }
    }

    /// The exit status, once the process exited.
    var status: Int32? { self.exitBox.status.withLock { $0 } }

    /// What the process printed so far.
    func output() -> Output {
        let status = self.status
        return Output(
            status: status,
            standardOutput: String(decoding: (try? Data(contentsOf: self.outputURL)) ?? Data(), as: UTF8.self),
            standardError: String(decoding: (try? Data(contentsOf: self.errorURL)) ?? Data(), as: UTF8.self)
        )
    }

    /// Waits until `ready(stdout)` holds; false if the process exits first or `timeout` passes.
    func waitForOutput(within timeout: Duration, until ready: (String) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let exited = self.status != nil
            if ready(self.output().standardOutput) { return true }
            if exited { return false }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// Waits for the exit at most `timeout`; returns the status, nil on timeout.
    func waitForExit(within timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let status = self.status { return status }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return self.status
    }

    /// Waits for the exit at most `timeout`, then kills the process; returns the output.
    func finish(within timeout: Duration) async -> Output {
        if await self.waitForExit(within: timeout) == nil {
            _ = await self.stop()
            var output = self.output()
            output.standardError += "\n[killed by the test after \(timeout)]"
            return output
        }
        return self.output()
    }

    /// Sends SIGTERM and waits up to 30 s for the exit, then SIGKILL; returns the status after SIGTERM, if any.
    func stop() async -> Int32? {
        if let status = self.status { return status }
        guard self.process.processIdentifier > 0 else { return nil }
        kill(self.process.processIdentifier, SIGTERM)
        if let status = await self.waitForExit(within: .seconds(30)) { return status }
        kill(self.process.processIdentifier, SIGKILL)
        _ = await self.waitForExit(within: .seconds(10))
        return nil
    }
}

/// A lock file that serializes the default-port commands across test processes on one machine (two scratch paths
/// tested at once), taken by polling `flock` so that no thread blocks.
enum DefaultPortsFileLock {
    /// The lock file, in the temporary directory.
    static let path = FileManager.default.temporaryDirectory.appendingPathComponent("herald-default-ports.lock").path

    /// Takes the lock, waiting at most `timeout`; returns the descriptor for ``release(_:)``, or nil if the lock
    /// could not be taken (the command then runs anyway, and a busy port is reported as such).
    static func acquire(within timeout: Duration) async -> Int32? {
        // Close-on-exec: a herald started while the lock is held must not inherit (and keep) it.
        let descriptor = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o666)
        guard descriptor >= 0 else { return nil }
        let deadline = ContinuousClock.now + timeout
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            if ContinuousClock.now >= deadline {
                close(descriptor)
                return nil
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return descriptor
    }

    /// Releases a lock taken by ``acquire(within:)``.
    static func release(_ descriptor: Int32?) {
        guard let descriptor else { return }
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}

/// A counting semaphore for async code: waiters are suspended, never blocked.
actor AsyncGate {
    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    /// A gate that lets `slots` holders in at once.
    init(slots: Int) {
        self.available = slots
    }

    /// Takes a slot, waiting for one if none is free.
    func acquire() async {
        if self.available > 0 {
            self.available -= 1
            return
        }
        await withCheckedContinuation { self.waiters.append($0) }
    }

    /// Gives a slot back (to the longest waiter, if any).
    func release() {
        if self.waiters.isEmpty {
            self.available += 1
        } else {
            self.waiters.removeFirst().resume()
        }
    }
}

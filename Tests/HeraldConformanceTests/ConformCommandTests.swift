import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import HeraldConformance

/// `herald conform` run in-process through ``ConformDriver`` (the command-line layer only maps flags to
/// ``ConformOptions``).
@Suite("herald conform")
struct ConformCommandTests {
    /// Collects output.
    final class Sink: Sendable {
        private let text = Mutex("")
        var contents: String { self.text.withLock { $0 } }
        func write(_ string: String) { self.text.withLock { $0 += string } }
    }

    /// Runs the driver; returns the status, standard output and standard error.
    static func conform(_ options: ConformOptions) async -> (ConformExitStatus, String, String) {
        let output = Sink()
        let errors = Sink()
        let status = await ConformDriver(
            options: options,
            output: { output.write($0) },
            errorOutput: { errors.write($0) },
            isTerminal: false
        ).run()
        return (status, output.contents, errors.contents)
    }

    /// Options on the real corpus.
    static func realCorpus() -> ConformOptions {
        var options = ConformOptions()
        options.scenarios = ReportFixtures.packageRoot.appendingPathComponent("Vectors/scenarios").path
        options.spec = ReportFixtures.packageRoot.appendingPathComponent("Spec").path
        return options
    }

    /// A small corpus: a MUST case that passes and one of `failingLevel` that fails (it expects the wrong Pong).
    static func fixtureCorpus(failingLevel: String = "MUST") throws -> URL {
        let directory = try ReportFixtures.temporaryDirectory()
        let scenario = """
            {
              "suite": "herald-scenarios", "schemaVersion": 1, "protocolVersion": 1,
              "chapter": "04-handshake", "description": "fixture",
              "cases": [
                {
                  "id": "fixture.ping.ok", "title": "Pong echoes the client time", "requirements": ["HS-40"],
                  "level": "MUST", "actors": ["alice"],
                  "steps": [
                    {"connect": {"actor": "alice"}},
                    {"send": {"actor": "alice", "type": "Ping", "payload": {"clientTimeMs": "7"}, "as": "ping"}},
                    {"expect": {"actor": "alice", "response": "ping", "payload": {"clientTimeMs": "7"}}}
                  ]
                },
                {
                  "id": "fixture.ping.wrong", "title": "Expects the wrong client time", "requirements": ["HS-40"],
                  "level": "\(failingLevel)", "actors": ["alice"],
                  "steps": [
                    {"connect": {"actor": "alice"}},
                    {"send": {"actor": "alice", "type": "Ping", "payload": {"clientTimeMs": "7"}, "as": "ping"}},
                    {"expect": {"actor": "alice", "response": "ping", "payload": {"clientTimeMs": "8"}}}
                  ]
                }
              ]
            }
            """
        try Data(scenario.utf8).write(to: directory.appendingPathComponent("04-handshake.json"))
        return directory
    }

    /// A loopback port nobody listens on: bound, then closed.
    static func closedPort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(channel.localAddress?.port)
        try await channel.close()
        return port
    }

    @Test("--filter that matches nothing: exit 2 with a clear message")
    func nothingSelected() async {
        var options = Self.realCorpus()
        options.filters = ["nothing-matches"]
        let (status, output, errors) = await Self.conform(options)
        #expect(status == .usage)
        #expect(status.rawValue == 2)
        #expect(errors.contains("no case selected: --filter nothing-matches matches none of the"))
        #expect(output.isEmpty)
    }

    @Test("--list --json prints id, title, level, requirements and capabilities of every case")
    func listJSON() async throws {
        var options = Self.realCorpus()
        options.list = true
        options.json = true
        let (status, output, _) = await Self.conform(options)
        #expect(status == .passed)
        let entries = try JSONDecoder().decode([ConformDriver.ListEntry].self, from: Data(output.utf8))
        #expect(!entries.isEmpty)
        #expect(Set(entries.map(\.id)).count == entries.count)
        for entry in entries {
            #expect(
                !entry.title.isEmpty && !entry.requirements.isEmpty && ["MUST", "SHOULD", "MAY"].contains(entry.level)
            )
        }
        options.json = false
        let (_, text, _) = await Self.conform(options)
        #expect(text.hasSuffix("\(entries.count) cases\n"))
    }

    @Test("an unreachable target (a closed port): exit 3")
    func unreachable() async throws {
        var options = Self.realCorpus()
        options.target = "tcp://127.0.0.1:\(try await Self.closedPort())"
        let (status, output, errors) = await Self.conform(options)
        #expect(status == .unreachable)
        #expect(status.rawValue == 3)
        #expect(errors.contains("cannot reach tcp://127.0.0.1:"))
        #expect(output.contains("herald-conformance"))
        #expect(output.contains("Herald Spec v1.0"))
        #expect(output.contains("selected of"))
    }

    @Test(
        "usage errors: exit 2",
        arguments: [
            "--json without a file outside --list", "--transport with a TARGET", "--transport wss",
            "credentials for the embedded engine", "two token sources", "a bad URL", "-j 0", "--timeout-scale 0",
            "a missing scenario directory", "a report in a missing directory", "a missing expected-failures file",
            "a short --app-secret",
        ]
    )
    func usageErrors(name: String) async {
        var options = Self.realCorpus()
        switch name {
        case "--json without a file outside --list": options.json = true
        case "--transport with a TARGET":
            options.target = "tcp://127.0.0.1:7420"
            options.transport = "ws"
        case "--transport wss": options.transport = "wss"
        case "credentials for the embedded engine": options.appID = "x"
        case "two token sources":
            options.target = "tcp://127.0.0.1:7420"
            options.tokenCommand = "true"
            options.appSecretFile = "/dev/null"
        case "a bad URL": options.target = "http://example.invalid"
        case "-j 0": options.parallelism = 0
        case "--timeout-scale 0": options.timeoutScale = 0
        case "a missing scenario directory": options.scenarios = "/nonexistent"
        case "a report in a missing directory": options.junitReport = "/nonexistent/x.xml"
        case "a missing expected-failures file": options.expectedFailuresFile = "/nonexistent/xfail.txt"
        case "a short --app-secret":
            options.target = "tcp://127.0.0.1:7420"
            options.appSecret = "short"
        default: Issue.record("unknown case \(name)")
        }
        let (status, _, errors) = await Self.conform(options)
        #expect(status == .usage, "\(name): \(errors)")
        #expect(errors.hasPrefix("error: "), "\(name)")
    }

    @Test("embedded engine: failures exit 1 with the full report; expected failures exit 0; reports are written")
    func embeddedRun() async throws {
        let corpus = try Self.fixtureCorpus()
        let reports = try ReportFixtures.temporaryDirectory()
        defer {
            try? FileManager.default.removeItem(at: corpus)
            try? FileManager.default.removeItem(at: reports)
        }
        var options = ConformOptions()
        options.scenarios = corpus.path
        options.spec = ReportFixtures.packageRoot.appendingPathComponent("Spec").path
        options.jsonReport = reports.appendingPathComponent("result.json").path
        options.junitReport = reports.appendingPathComponent("result.xml").path
        options.htmlReport = reports.appendingPathComponent("result.html").path

        let (failed, output, _) = await Self.conform(options)
        #expect(failed == .failed)
        #expect(output.contains("target: embedded reference engine (tcp://127.0.0.1:"))
        #expect(output.contains("cases: 2 selected of 2"))
        #expect(output.contains("PASS fixture.ping.ok ("))
        #expect(output.contains("FAIL fixture.ping.wrong ("))
        #expect(output.contains("HS-40 (MUST): A server MUST answer every `Ping`"))
        #expect(output.contains("→  Ping"))
        #expect(output.contains("←  Pong"))
        #expect(output.contains("rerun: herald conform --scenarios "))
        #expect(output.contains("--filter fixture.ping.wrong"))
        let lines = output.split(separator: "\n").map(String.init)
        #expect(
            lines.last?.hasPrefix("1 passed, 1 failed, 0 expected-fail, 0 unexpected-pass, 0 not-applicable") == true
        )
        let report = try JSONReport.decode(Data(contentsOf: URL(fileURLWithPath: try #require(options.jsonReport))))
        #expect(report.target == "embedded")
        #expect(report.cases.map(\.verdict) == [.pass, .fail])
        #expect(report.grantedCapabilities.contains("core"))
        let html = try String(contentsOfFile: try #require(options.htmlReport), encoding: .utf8)
        #expect(html.contains("fixture.ping.wrong") && html.contains("Requirement coverage"))
        let junit = try String(contentsOfFile: try #require(options.junitReport), encoding: .utf8)
        #expect(junit.contains(#"<failure type="fail""#))

        let expected = reports.appendingPathComponent("xfail.txt")
        try Data("# known\nfixture.ping.wrong -- we echo another time\n".utf8).write(to: expected)
        options.expectedFailuresFile = expected.path
        let (passed, xfailOutput, _) = await Self.conform(options)
        #expect(passed == .passed)
        #expect(xfailOutput.contains("XFAIL fixture.ping.wrong: we echo another time"))

        try Data("fixture.ping.* # everything\nfixture.gone # stale\n".utf8).write(to: expected)
        let (stale, staleOutput, _) = await Self.conform(options)
        #expect(stale == .failed)
        #expect(staleOutput.contains("XPASS fixture.ping.ok"))
        #expect(staleOutput.contains("fixture.gone"))

        try Data("fixture.ping.wrong\n".utf8).write(to: expected)
        let (usage, _, errors) = await Self.conform(options)
        #expect(usage == .usage)
        #expect(errors.contains("xfail.txt:1:"))
    }

    @Test("coverage subcommand: exit 1 while a MUST is uncovered, 2 for unusable files")
    func coverage() throws {
        let corpus = try Self.fixtureCorpus()
        defer { try? FileManager.default.removeItem(at: corpus) }
        let spec = ReportFixtures.packageRoot.appendingPathComponent("Spec").path
        let output = Sink()
        let status = ConformDriver.coverage(
            scenarios: corpus.path,
            spec: spec,
            json: true,
            output: { output.write($0) },
            errorOutput: { _ in }
        )
        #expect(status == .failed)
        let report = try JSONDecoder().decode(CoverageReport.self, from: Data(output.contents.utf8))
        #expect(report.requirements.first { $0.id == "HS-40" }?.cases == ["fixture.ping.ok", "fixture.ping.wrong"])
        #expect(!report.uncoveredMusts.isEmpty)
        try Data(#"{"schemaVersion":1,"waivers":[{"requirement":"HS-1"}]}"#.utf8)
            .write(to: corpus.appendingPathComponent("waivers.json"))
        let errors = Sink()
        let bad = ConformDriver.coverage(
            scenarios: corpus.path,
            spec: spec,
            json: false,
            output: { _ in },
            errorOutput: { errors.write($0) }
        )
        #expect(bad == .usage)
        #expect(errors.contents.contains("waivers.json"))
    }

    @Test("rerun commands quote for the shell and never contain the secret")
    func rerunCommand() {
        var options = ConformOptions()
        options.target = "tcp://example.test:7420"
        options.appSecret = String(repeating: "s", count: 40)
        options.appID = "my app"
        let make = ConformDriver(options: options).rerunCommandMaker()
        let command = make("channels.join.ok")
        #expect(
            command
                == "herald conform tcp://example.test:7420 --app-id 'my app' --app-secret \"$HERALD_APP_SECRET\" "
                + "--filter channels.join.ok --verbose"
        )
        #expect(!command.contains("ssss"))
        options.programName = "swift run herald"
        options.appSecret = nil
        options.target = nil
        options.appID = nil
        options.scenarios = "my scenarios"
        #expect(
            ConformDriver(options: options).rerunCommandMaker()("a.b")
                == "swift run herald conform --scenarios 'my scenarios' --filter a.b --verbose"
        )
        #expect(ConformDriver.shellQuote("it's") == #"'it'\''s'"#)
    }
}

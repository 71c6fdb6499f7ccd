import Foundation
import HeraldCorpus
import HeraldEngine
import HeraldMessages
import HeraldServer
import HeraldSpec
import NIOCore
import NIOPosix
import Testing

@testable import HeraldConformance

/// What `herald conform` does differently in the field: budgets from the target's timers, the runner's own trouble
/// judged as infrastructure (with a rerun alone), levels, rate classes a server leaves unenforced, and the corpus
/// built into the binary.
@Suite("herald conform in the field")
struct FieldBehaviourTests {
    /// A case decoded from JSON.
    static func item(_ json: String, chapter: String = "04-handshake") throws -> CorpusCase {
        let scenario = try JSONDecoder().decode(ScenarioCase.self, from: Data(json.utf8))
        return CorpusCase(scenario: scenario, chapter: chapter, file: chapter + ".json")
    }

    /// A `Welcome` with the given timers and limits, as the probe renders it.
    static func welcome(timers: [String: Int64], limits: [String: Int64] = [:]) -> JSONValue {
        .object([
            "timers": .object(timers.mapValues { .string(String($0)) }),
            "limits": .object(limits.mapValues { .int($0) }),
        ])
    }

    // MARK: - Budgets

    @Test("the budget adds the waits on the server's advertised timers (unscaled) and crowd members (scaled)")
    func budgetFromTimers() throws {
        let item = try Self.item(
            """
            {"id": "fixture.budget.invitation", "title": "t", "requirements": ["INV-1"], "level": "MUST",
             "actors": ["alice"], "crowds": {"crowd": "${limit:maxMemberEventChannelSize}"},
             "steps": [
               {"waitTimer": {"timer": "invitationExpiryMs", "factor": 0.37, "plusMs": 200}},
               {"repeat": {"times": 2, "steps": [{"waitTimer": {"timer": "heartbeatIntervalMs"}}]}},
               {"expectNone": {"actor": "alice", "forMs": "${timer:memberCountIntervalMs+300}"}},
               {"expect": {"actor": "alice", "type": "Pong", "withinMs": 900}},
               {"forEach": {"crowd": "crowd", "steps": [{"connect": {"actor": "crowd"}}]}}
             ]}
            """
        )
        let welcome = Self.welcome(
            timers: ["invitationExpiryMs": 60_000, "heartbeatIntervalMs": 10_000, "memberCountIntervalMs": 1_000],
            limits: ["maxMemberEventChannelSize": 512]
        )
        let budget = CaseBudget(scenario: item.scenario, welcome: welcome, defaultBaseMs: 30_000, timeoutScale: 2)
        // 60 000 × 0.37 + 200, 2 × 10 000, 1 000 + 300; the literal 900 ms is an ordinary round trip (base).
        #expect(budget.serverTimers == .milliseconds(22_400 + 20_000 + 1_300))
        #expect(budget.base == .seconds(60))
        #expect(budget.crowdMembers == 512)
        #expect(budget.crowds == .milliseconds(512 * CaseBudget.perCrowdMemberMs * 2))
        #expect(budget.timerNames == ["invitationExpiryMs", "heartbeatIntervalMs", "memberCountIntervalMs"])
        #expect(budget.description.contains("of the server's advertised timers (invitationExpiryMs"))
        #expect(budget.description.contains("512 crowd members"))
        // Without a Welcome only the base and the literal slack of the timer wait count.
        let bare = CaseBudget(scenario: item.scenario, welcome: nil, defaultBaseMs: 30_000, timeoutScale: 1)
        #expect(bare.total == .milliseconds(30_200))
    }

    @Test("at the reference server's default timers, every invitation case's budget covers its timer waits")
    func invitationBudgetsAtDefaults() throws {
        // The field bug: four invitation cases waited about one 60 s timer inside a fixed 30 s budget.
        let corpus = try ScenarioLoader(specDirectory: LoaderFixtures.specDirectory)
            .load(directory: LoaderFixtures.scenarioDirectory)
        let timers = EngineConfiguration(apps: []).timers
        let welcome = Self.welcome(timers: [
            "invitationExpiryMs": Int64(timers.invitationExpiryMs),
            "invitationNoResponseMs": Int64(timers.invitationNoResponseMs),
            "invitationAcceptAckMs": Int64(timers.invitationAcceptAckMs),
            "invitationPeerOfflineMs": Int64(timers.invitationPeerOfflineMs),
        ])
        let slow = corpus.cases.filter { $0.chapter == "12-invitations" }.map {
            ($0.id, CaseBudget(scenario: $0.scenario, welcome: welcome, defaultBaseMs: 30_000, timeoutScale: 1))
        }.filter { $0.1.serverTimers >= .seconds(25) }
        #expect(slow.count >= 4, "invitation cases that wait on a default timer: \(slow.map(\.0))")
        for (id, budget) in slow {
            #expect(budget.total >= budget.serverTimers + .seconds(30), "\(id)")
        }
    }

    @Test("the longest timer waits start first; the rest keep corpus order")
    func schedule() throws {
        func item(_ id: String, _ factor: Double?) throws -> CorpusCase {
            let wait = factor.map { #"{"waitTimer": {"timer": "idleTimeoutMs", "factor": \#($0)}}"# }
            return try Self.item(
                """
                {"id": "\(id)", "title": "t", "requirements": ["HS-1"], "level": "MUST", "actors": ["a"],
                 "steps": [\(wait ?? #"{"connect": {"actor": "a"}}"#)]}
                """
            )
        }
        let cases = [try item("a.a", nil), try item("a.b", 0.5), try item("a.c", nil), try item("a.d", 2)]
        let order = Runner.schedule(cases, welcome: Self.welcome(timers: ["idleTimeoutMs": 1000]))
        #expect(order == [3, 1, 0, 2])
    }

    @Test("a deadline moves later by the runner's lag, and only by that")
    func lagAdjustedDeadline() {
        let lag = RunnerLag()
        lag.record(overslept: .milliseconds(5))  // scheduling noise, below the tolerance
        #expect(lag.total == .zero)
        var deadline = LagAdjustedDeadline(.now + .milliseconds(10), lag: lag)
        var expired = deadline.expired()
        #expect(expired)
        let before = deadline.instant
        lag.record(overslept: .milliseconds(700))
        expired = deadline.expired()
        #expect(!expired)
        #expect(deadline.extended == .milliseconds(700))
        #expect(deadline.instant >= before + .milliseconds(700))
        expired = deadline.expired()
        #expect(expired)
        #expect(lag.worst == .milliseconds(700))
        var unmeasured = LagAdjustedDeadline(.now, lag: nil)
        expired = unmeasured.expired()
        #expect(expired)
    }

    // MARK: - Infrastructure errors

    /// A TCP listener that accepts connections and never answers.
    static func withSilentListener<Result: Sendable>(_ body: (Int) async throws -> Result) async throws -> Result {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { $0.eventLoop.makeSucceededVoidFuture() }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(channel.localAddress?.port)
        do {
            let result = try await body(port)
            try await channel.close()
            return result
        } catch {
            try? await channel.close()
            throw error
        }
    }

    @Test("no Welcome while other cases run is an error, rerun alone; alone it is the target's failure")
    func handshakeTimeoutIsInfrastructureThenFailure() async throws {
        try await RunnerFixtures.withServer { listeners in
            // A probe of a real server, then cases against one that never answers.
            var environment = try await RunnerFixtures.environment(try RunnerFixtures.target(listeners, .tcp))
            try await Self.withSilentListener { port in
                environment.connector = try ClientConnector(
                    target: Target(transport: .tcp, host: "127.0.0.1", port: port)
                )
                environment.defaultWaitMs = 300
                let standard = try Self.item(
                    """
                    {"id": "fixture.infra.standard-hello", "title": "t", "requirements": ["HS-1"], "level": "MUST",
                     "actors": ["alice"], "steps": [{"connect": {"actor": "alice"}}]}
                    """
                )
                let custom = try Self.item(
                    """
                    {"id": "fixture.infra.custom-hello", "title": "t", "requirements": ["HS-1"], "level": "MUST",
                     "actors": ["alice"], "steps": [{"connect": {"actor": "alice", "hello": {"versions": [1]}}}]}
                    """
                )
                let first = await CaseExecutor(environment: environment).run(standard)
                #expect(first.verdict == .error)
                #expect(first.message.contains("infrastructure"), "\(first.message)")

                let results = await Runner(environment: environment, concurrency: 2).run([standard, custom])
                // The standard Hello: error while others ran, then judged alone.
                #expect(results[0].verdict == .fail)
                #expect(results[0].message.contains("with no other case running"), "\(results[0].message)")
                #expect(results[0].firstAttempt?.verdict == .error)
                #expect(results[0].firstAttempt?.message.contains("infrastructure") == true)
                // The case's own Hello is the thing under test: a failure at once, no rerun (unless the runner
                // itself stalled while it ran, CaseExecutor.stallThreshold: then it is judged alone too).
                #expect(results[1].verdict == .fail)
                if let first = results[1].firstAttempt {
                    #expect(first.message.contains("the runner itself was stalled"), "\(first.message)")
                }
            }
        }
    }

    @Test("a case that fails while the runner itself stalls is an error, run again alone and judged there")
    func failureDuringARunnerStallIsRerunAlone() async throws {
        try await RunnerFixtures.withServer { listeners in
            var environment = try await RunnerFixtures.environment(try RunnerFixtures.target(listeners, .tcp))
            let lag = RunnerLag()
            environment.lag = lag
            let failing = try Self.item(
                """
                {"id": "fixture.stall.no-pong", "title": "t", "requirements": ["HS-40"], "level": "MUST",
                 "actors": ["alice"], "steps": [{"connect": {"actor": "alice"}},
                 {"expect": {"actor": "alice", "type": "Pong", "withinMs": 500}}]}
                """
            )
            // The runner "stalls" for 300 ms during the first attempt only.
            let stall = Task {
                try? await Task.sleep(for: .milliseconds(100))
                lag.record(overslept: .milliseconds(300))
            }
            let results = await Runner(environment: environment, concurrency: 2).run([failing])
            await stall.value
            #expect(results[0].verdict == .fail)
            #expect(results[0].firstAttempt?.verdict == .error)
            #expect(
                results[0].firstAttempt?.message.contains("the runner itself was stalled") == true,
                "\(results[0].firstAttempt?.message ?? "no first attempt")"
            )
        }
    }

    // MARK: - Rate classes

    @Test("a case that needs a rate class the target leaves unenforced is not applicable (LIM-18)")
    func unenforcedRateClass() async throws {
        var configuration = RunnerFixtures.configuration()
        configuration.engine.rateLimits[.messages] = nil
        try await RunnerFixtures.withServer(configuration) { listeners in
            let environment = try await RunnerFixtures.environment(try RunnerFixtures.target(listeners, .tcp))
            let corpus = try ScenarioLoader(specDirectory: LoaderFixtures.specDirectory)
                .load(directory: LoaderFixtures.scenarioDirectory)
            let selected = Runner.select(
                corpus.cases,
                filter: ["peer.rate.*", "channels.rate.join-same-channel"],
                skip: []
            )
            #expect(selected.count == 5)
            let results = await Runner(environment: environment, concurrency: 4).run(selected)
            for result in results where result.id.hasPrefix("peer.rate.") {
                #expect(result.verdict == .notApplicable, "\(result.id): \(result.message)")
                #expect(result.message.contains("RATE_CLASS_MESSAGES"))
            }
            // A class the target still enforces is tested as before (3 joins of one channel against 2 per 5 s: no
            // timing margin to lose on a busy machine).
            let control = results.first { $0.id == "channels.rate.join-same-channel" }
            #expect(control?.verdict == .pass, "\(control?.message ?? "missing")")
        }
    }

    @Test("the loader rejects an unknown rate class")
    func unknownRateClass() throws {
        let file = """
            {"suite": "herald-scenarios", "schemaVersion": 1, "protocolVersion": 1, "chapter": "14-limits",
             "description": "d", "cases": [
               {"id": "fixture.rate.unknown", "title": "t", "requirements": ["LIM-4"], "level": "MUST",
                "rateClasses": ["RATE_CLASS_MESSAGES", "RATE_CLASS_SHOUTING"], "actors": ["a"],
                "steps": [{"connect": {"actor": "a"}}]}]}
            """
        #expect(ScenarioLoader.rateClassNames.contains("RATE_CLASS_MESSAGES"))
        #expect(ScenarioLoader.rateClassNames.count == 13)
        do {
            _ = try ScenarioLoader().load(files: [("14-limits.json", Data(file.utf8))])
            Issue.record("an unknown rate class was accepted")
        } catch {
            #expect(error.description.contains("RATE_CLASS_SHOUTING"))
            #expect(!error.description.contains("\"RATE_CLASS_MESSAGES\" is not"))
        }
    }

    // MARK: - Levels

    @Test("a failed SHOULD case is a warning that passes the run; --strict fails it; --level must skips it")
    func levels() async throws {
        let corpus = try ConformCommandTests.fixtureCorpus(failingLevel: "SHOULD")
        defer { try? FileManager.default.removeItem(at: corpus) }
        var options = ConformOptions()
        options.scenarios = corpus.path

        let (warned, output, _) = await ConformCommandTests.conform(options)
        #expect(warned == .passed)
        #expect(output.contains("1 passed, 0 failed"))
        #expect(output.contains("1 warning"))

        options.strict = true
        let (strict, strictOutput, _) = await ConformCommandTests.conform(options)
        #expect(strict == .failed)
        #expect(strictOutput.contains("1 passed, 1 failed"))

        options.strict = false
        options.level = .must
        let (must, mustOutput, _) = await ConformCommandTests.conform(options)
        #expect(must == .passed)
        #expect(mustOutput.contains("cases: 1 selected of 2"))
    }

    // MARK: - The corpus built in

    @Test("the embedded corpus is the repository's Vectors/scenarios and Spec, byte for byte")
    func embeddedCorpusMatchesRepository() throws {
        let scenarios = LoaderFixtures.scenarioDirectory
        let onDisk = try FileManager.default.contentsOfDirectory(atPath: scenarios).filter { $0.hasSuffix(".json") }
        #expect(EmbeddedCorpus.scenarios.map(\.name) == onDisk.sorted())
        for (name, text) in EmbeddedCorpus.scenarios {
            let data = try Data(contentsOf: URL(fileURLWithPath: scenarios).appendingPathComponent(name))
            #expect(Data(text.utf8) == data, "\(name)")
        }
        let spec = try SpecDocument.loadChapters(in: URL(fileURLWithPath: LoaderFixtures.specDirectory))
        #expect(Set(EmbeddedCorpus.spec.map(\.name)) == Set(spec.map(\.name)))
        for document in spec {
            #expect(EmbeddedCorpus.spec.first { $0.name == document.name }?.text == document.text, "\(document.name)")
        }
        #expect(CorpusSource.embedded.waiverData != nil)
        #expect(CorpusSource.embedded.requirementIndex?.requirements.count == RequirementIndex.fromRepository)
    }

    @Test("without --scenarios, conform needs no files: it runs from any directory with the corpus built in")
    func runsWithoutFiles() async throws {
        // The driver never looks at the current directory (the field run, Scripts/field-run.sh, runs the binary
        // from a directory outside the repository).
        var options = ConformOptions()
        options.filters = ["handshake.ping.*"]
        let (status, output, errors) = await ConformCommandTests.conform(options)
        #expect(status == .passed, "\(errors)")
        #expect(output.contains("corpus: embedded ("))
        #expect(output.contains("requirement texts: embedded"))
    }

    @Test("--scenarios without a Spec beside it still gets the requirement texts built in")
    func scenariosWithoutSpec() async throws {
        let corpus = try ConformCommandTests.fixtureCorpus(failingLevel: "SHOULD")
        defer { try? FileManager.default.removeItem(at: corpus) }
        var options = ConformOptions()
        options.scenarios = corpus.path
        options.strict = true
        let (_, output, _) = await ConformCommandTests.conform(options)
        #expect(output.contains("HS-40 (MUST): A server MUST answer every `Ping`"))
        #expect(output.contains("requirement texts: embedded"))
    }
}

extension RequirementIndex {
    /// The repository's requirement count, from `Spec/requirements.json`.
    fileprivate static var fromRepository: Int {
        let url = URL(fileURLWithPath: LoaderFixtures.specDirectory).appendingPathComponent(Self.fileName)
        guard let data = try? Data(contentsOf: url),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let count = object["count"] as? Int
        else { return -1 }
        return count
    }
}

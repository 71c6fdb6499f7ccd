import Foundation
import HeraldConformance
import HeraldEngine
import HeraldMutants
import HeraldServer
import Logging
import Testing

// The suite must catch real bugs: each test runs part of the corpus, through the runner API, against a server that
// is deliberately wrong in one way, and checks that the cases covering the broken rule fail with a clear message
// while the cases that do not touch it still pass.
//
// Which cases may fail. A case "exercises" a mutant when its steps use the frames the mutant gets wrong (the static
// rule of each mutant below, read from the scenario steps), or when the mutant's own log shows that it misbehaved on
// a connection of that case (the log names the user logged in there; user ids are run-unique per case). Such cases
// legitimately depend on the broken behaviour, so they may fail. Every other selected case must pass.
//
// Which cases must fail. A case is expected to catch the mutant when it covers one of the requirements the mutant
// violates, its steps exercise the mutated frames, and the mutant did misbehave in it. There must be at least one
// such case (none is a corpus gap), and each must fail with a message that names the requirement (the runner adds
// the case's requirement ids) and shows expected versus actual, mentioning the frame or result the mutant got wrong.

/// One deliberately wrong server and what the corpus must say about it.
struct Mutant: Sendable, CustomStringConvertible {
    /// How the wrong server is made.
    enum Server: Sendable {
        /// A proxy in front of the reference server applies the mutation.
        case proxy(ProxyMutation)
        /// The reference server with ``ExpiryIgnoringVerifier`` as its token verifier.
        case acceptsExpiredTokens
    }

    /// A name for messages.
    var name: String
    /// The server.
    var server: Server
    /// The cases run: scenario file names with globs of case ids.
    var selection: [(file: String, globs: [String])]
    /// The requirements the mutant violates.
    var violated: Set<String>
    /// What a catching case's failure message must mention besides the requirement (the frame or result).
    var evidence: String
    /// The static rule: whether a case's steps use the frames the mutant gets wrong.
    var exercises: @Sendable (ScenarioCase) -> Bool

    var description: String { self.name }

    /// CMSG-11: the server sends the sender its own channel message.
    static let echoToSender = Mutant(
        name: "echoes channel messages to the sender",
        server: .proxy(.echoChannelMessages),
        selection: [("10-channel-messages.json", ["*"])],
        violated: ["CMSG-11"],
        evidence: "ChannelMessage",
        // Rule: the case sends a SendChannelMessageRequest (the echo follows each accepted one).
        exercises: { scenario in
            StepWalk.sends(scenario).contains { $0.type == "SendChannelMessageRequest" }
        }
    )

    /// PEER-25: `ACK_MODE_PEER` answered before the receiver's `DeliveryAck`.
    static let earlyPeerAck = Mutant(
        name: "acks peer messages before the receiver got them",
        server: .proxy(.earlyPeerAck),
        selection: [("06-peer-messages.json", ["*"])],
        violated: ["PEER-25"],
        evidence: "SendPeerMessageResponse",
        // Rule: the case sends a SendPeerMessageRequest in ACK_MODE_PEER, which is also the default (value 0).
        exercises: { scenario in
            StepWalk.sends(scenario).contains { send in
                guard send.type == "SendPeerMessageRequest" else { return false }
                let mode = send.payload?["ackMode"]
                return mode == nil || mode == .string("ACK_MODE_PEER") || mode == .int(0)
            }
        }
    )

    /// TOK-7 step 8, TOK-12, TOK-23: expired tokens accepted at login and renewal.
    static let acceptsExpiredTokens = Mutant(
        name: "accepts expired tokens",
        server: .acceptsExpiredTokens,
        selection: [("15-tokens.json", ["*"])],
        violated: ["TOK-7", "TOK-12", "TOK-23"],
        evidence: "TOKEN_EXPIRED",
        // Rule: the case presents a token minted expired, or replays a token captured earlier in the case (the
        // corpus does that to present a token after its exp).
        exercises: { scenario in
            let logins = StepWalk.all(scenario.steps).compactMap { step -> String? in
                if case .login(let login) = step { return login.token }
                return nil
            }
            if logins.contains(where: { $0 == "expired" || $0.hasPrefix("raw:${capture:") }) { return true }
            return StepWalk.sends(scenario).contains { send in
                let strings = StepWalk.strings(in: send.payload ?? .null)
                let replayed = send.payload?["token"]?.stringValue?.hasPrefix("${capture:") ?? false
                return strings.contains { $0.contains("${token:expired}") } || replayed
            }
        }
    )

    /// CHAN-16, SES-28, SES-22: no `MemberLeft` at all.
    static let noMemberLeft = Mutant(
        name: "never sends MemberLeft",
        server: .proxy(.dropMemberLeft),
        selection: [("09-channels.json", ["*"]), ("05-session.json", ["session.*member-left*"])],
        violated: ["CHAN-16", "SES-28", "SES-22"],
        evidence: "MemberLeft",
        // Rule: the case expects a MemberLeft frame (cases that merely ignore one are unaffected by its absence).
        exercises: { scenario in
            StepWalk.expectedTypes(scenario).contains("MemberLeft")
        }
    )
}

/// What one mutant run found.
struct MutantRun: Sendable {
    /// Every selected case.
    var cases: [CorpusCase]
    /// Their results, in the same order (reruns of flaky cases replaced).
    var results: [CaseResult]
    /// Ids of cases in which the mutant misbehaved.
    var fired: Set<String>
    /// Ids of cases that failed once but passed when run again (reported, not counted).
    var flaky: [String]
    /// Wall time of the run.
    var duration: Duration
}

/// Deliberately wrong servers against the corpus: the suite must notice each of them (run one after the other, so
/// that timing-sensitive cases do not compete for the processors).
@Suite("Mutant servers", .serialized)
struct MutantServerTests {
    @Test("A server that echoes channel messages to their sender fails the CMSG-11 cases, and only those may fail")
    func echoToSender() async throws {
        try await Self.check(.echoToSender)
    }

    @Test("A server that acks peer messages before the receiver's DeliveryAck fails the PEER-25 cases")
    func earlyPeerAck() async throws {
        try await Self.check(.earlyPeerAck)
    }

    @Test("A server that accepts expired tokens fails the token-verification cases")
    func acceptsExpiredTokens() async throws {
        try await Self.check(.acceptsExpiredTokens)
    }

    @Test("A server that never sends MemberLeft fails the CHAN-16 / SES-28 cases")
    func noMemberLeft() async throws {
        try await Self.check(.noMemberLeft)
    }

    // MARK: - Checking a mutant

    /// Runs the mutant's selection and checks the verdicts (see the rules at the top of this file).
    static func check(_ mutant: Mutant) async throws {
        let run = try await Self.run(mutant)
        var catching: [String] = []
        var exercisedFailures: [String] = []
        for (item, result) in zip(run.cases, run.results) {
            let scenario = item.scenario
            let exercised = mutant.exercises(scenario) || run.fired.contains(item.id)
            let covered = mutant.violated.intersection(scenario.requirements)
            if mutant.exercises(scenario) && run.fired.contains(item.id) && !covered.isEmpty {
                catching.append(item.id)
                Self.expectCaught(result, mutant: mutant, covered: covered)
            } else if exercised {
                #expect(
                    result.verdict != .error,
                    "\(item.id) depends on the mutation (\(mutant)) but could not run: \(result.message)"
                )
                if result.verdict != .pass { exercisedFailures.append(item.id) }
            } else {
                // Not applicable (a case for another transport) is never a failure.
                #expect(
                    result.verdict == .pass || result.verdict == .notApplicable,
                    """
                    \(item.id) does not exercise the mutation (\(mutant)) but did not pass (\(result.verdict.rawValue)):
                    \(result.message)
                    """
                )
            }
        }
        #expect(
            !catching.isEmpty,
            """
            corpus gap: no case covering \(mutant.violated.sorted().joined(separator: ", ")) exercised the server \
            that \(mutant) (selected: \(run.cases.count) cases)
            """
        )
        let seconds = Double(run.duration.components.seconds) + Double(run.duration.components.attoseconds) / 1e18
        var summary = "mutant '\(mutant)': \(run.cases.count) cases in \(String(format: "%.2f", seconds)) s; caught by "
        summary += catching.joined(separator: ", ")
        if !exercisedFailures.isEmpty {
            summary += "; also failed (exercised): " + exercisedFailures.joined(separator: ", ")
        }
        let outsideRule = run.cases.filter { run.fired.contains($0.id) && !mutant.exercises($0.scenario) }
        if !outsideRule.isEmpty {
            summary += "; misbehaved outside the static rule in: " + outsideRule.map(\.id).joined(separator: ", ")
        }
        if !run.flaky.isEmpty {
            summary += "; flaky, passed on rerun: " + run.flaky.joined(separator: ", ")
        }
        print(summary)
    }

    /// A catching case must fail, naming the violated requirement and showing expected versus actual.
    private static func expectCaught(_ result: CaseResult, mutant: Mutant, covered: Set<String>) {
        let message = result.message
        #expect(
            result.verdict == .fail,
            """
            \(result.id) should catch the server that \(mutant), but its verdict is \(result.verdict.rawValue): \
            \(message)
            """
        )
        guard result.verdict == .fail else { return }
        #expect(
            covered.contains { message.contains($0) },
            "the failure of \(result.id) does not name \(covered.sorted().joined(separator: ", ")): \(message)"
        )
        #expect(
            message.contains("expected") && (message.contains("got") || message.contains("arrived")),
            "the failure of \(result.id) does not show expected versus actual: \(message)"
        )
        #expect(
            message.contains(mutant.evidence),
            "the failure of \(result.id) does not mention \(mutant.evidence): \(message)"
        )
    }

    // MARK: - Running a mutant

    /// The cases a mutant runs, from its scenario files only (other files may be in the middle of an edit).
    static func cases(_ mutant: Mutant) throws -> [CorpusCase] {
        let directory = URL(fileURLWithPath: LoaderFixtures.scenarioDirectory)
        var files: [(name: String, data: Data)] = []
        for (file, _) in mutant.selection {
            files.append((file, try Data(contentsOf: directory.appendingPathComponent(file))))
        }
        let corpus = try ScenarioLoader(specDirectory: LoaderFixtures.specDirectory).load(files: files)
        return corpus.cases.filter { item in
            mutant.selection.contains { file, globs in
                file == item.file && globs.contains { Runner.glob($0, matches: item.id) }
            }
        }
    }

    /// Starts the wrong server, runs the selection against it, and reruns (once, with fresh ids) cases that do not
    /// exercise the mutation but failed, to tell flaky cases from real regressions.
    static func run(_ mutant: Mutant) async throws -> MutantRun {
        let cases = try Self.cases(mutant)
        let start = ContinuousClock.now
        return try await Self.withServer(mutant.server) { target, log in
            // Generous limits: the test bundle shares 2 cores with CPU-bound suites.
            let connector = try ClientConnector(target: target, connectTimeout: .seconds(30))
            let probe = try await Runner.probe(connector: connector, timeout: .seconds(60))
            let environment = ExecutionEnvironment(
                connector: connector,
                appID: EmbeddedTarget.appID,
                tokens: SecretTokenSource(secret: EmbeddedTarget.appSecret),
                probe: probe,
                appIDOnlyAppID: EmbeddedTarget.appIDOnlyAppID
            )
            var results = await Runner(environment: environment).run(cases)
            let fired = Self.casesHit(by: log, cases: cases, nonce: environment.nonce)
            var flaky: [String] = []
            let suspects = cases.indices.filter { index in
                results[index].verdict.failsRun && !mutant.exercises(cases[index].scenario)
                    && !fired.contains(cases[index].id)
            }
            if !suspects.isEmpty {
                var again = environment
                again.nonce = ExecutionEnvironment.makeNonce()
                let rerun = await Runner(environment: again).run(suspects.map { cases[$0] })
                for (index, result) in zip(suspects, rerun) where result.verdict == .pass {
                    flaky.append(cases[index].id)
                    results[index] = result
                }
            }
            return MutantRun(
                cases: cases,
                results: results,
                fired: fired,
                flaky: flaky,
                duration: ContinuousClock.now - start
            )
        }
    }

    /// The ids of the cases whose users the mutant misbehaved towards.
    static func casesHit(by log: MutationLog, cases: [CorpusCase], nonce: String) -> Set<String> {
        // Run-unique user ids are `<nonce>-<case hash>-<name>`: the prefix identifies the case.
        let prefixes = cases.map { item in
            (item.id, String(Templating.runUniqueID(nonce: nonce, caseID: item.id, name: "_").dropLast()))
        }
        var hit: Set<String> = []
        for entry in log.entries where !entry.userID.isEmpty {
            if let (id, _) = prefixes.first(where: { entry.userID.hasPrefix($0.1) }) {
                hit.insert(id)
            }
        }
        return hit
    }

    /// Runs `body` with the target of a running wrong server and the log of its misbehaviour.
    static func withServer<Result: Sendable>(
        _ server: Mutant.Server,
        _ body: (Target, MutationLog) async throws -> Result
    ) async throws -> Result {
        var configuration = EmbeddedTarget.configuration()
        configuration.webSocket = nil
        let logger = Logger(label: "herald.mutant", factory: { _ in SwiftLogNoOpLogHandler() })
        switch server {
        case .proxy(let mutation):
            return try await HeraldServer.withRunningServer(configuration: configuration, logger: logger) {
                _,
                listeners in
                let upstream = try #require(listeners.first { $0.transport == .tcp })
                return try await MutantProxy.withRunning(
                    upstreamHost: upstream.host,
                    upstreamPort: upstream.port,
                    mutation: mutation
                ) { proxy in
                    try await body(Target(transport: .tcp, host: "127.0.0.1", port: proxy.port), proxy.log)
                }
            }
        case .acceptsExpiredTokens:
            let log = MutationLog()
            let verifier = ExpiryIgnoringVerifier(inner: JWTTokenVerifier(apps: configuration.engine.apps), log: log)
            return try await HeraldServer.withRunningServer(
                configuration: configuration,
                logger: logger,
                verifier: verifier
            ) { _, listeners in
                let listener = try #require(listeners.first { $0.transport == .tcp })
                return try await body(Target(listener: listener), log)
            }
        }
    }
}

// MARK: - Reading steps

/// Walks the steps of a case (into `repeat` bodies).
enum StepWalk {
    /// Every step, depth first.
    static func all(_ steps: [Step]) -> [Step] {
        steps.flatMap { step -> [Step] in
            if case .repeat(let body) = step { return [step] + Self.all(body.steps) }
            if case .forEach(let body) = step { return [step] + Self.all(body.steps) }
            return [step]
        }
    }

    /// Every `send` step.
    static func sends(_ scenario: ScenarioCase) -> [SendStep] {
        Self.all(scenario.steps).compactMap { step in
            if case .send(let send) = step { return send }
            return nil
        }
    }

    /// The frame types the case expects to receive (`expect`, `expectAnyOf`, `expectUnordered`).
    static func expectedTypes(_ scenario: ScenarioCase) -> Set<String> {
        var types: Set<String> = []
        for step in Self.all(scenario.steps) {
            switch step {
            case .expect(let body): types.formUnion([body.type].compactMap { $0 })
            case .expectAnyOf(let step): types.formUnion(step.alternatives.compactMap(\.type))
            case .expectUnordered(let step): types.formUnion(step.frames.compactMap(\.type))
            default: break
            }
        }
        return types
    }

    /// Every string inside a JSON value.
    static func strings(in value: JSONValue) -> [String] {
        switch value {
        case .string(let text): [text]
        case .array(let elements): elements.flatMap { Self.strings(in: $0) }
        case .object(let members): members.values.flatMap { Self.strings(in: $0) }
        case .null, .bool, .int, .double: []
        }
    }
}

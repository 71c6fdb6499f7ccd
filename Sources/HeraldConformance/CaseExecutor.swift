import Foundation
import HeraldServer
import HeraldWire
import NIOCore
import SwiftProtobuf
import Synchronization

/// What the target said in the probe's `Welcome` (see ``Runner/probe(connector:timeout:clientName:)``).
public struct ProbeResult: Sendable, Hashable {
    /// The `Welcome` payload in protobuf JSON, defaults included.
    public var welcome: JSONValue
    /// `Welcome.capabilities`: what the target grants a client that asks for everything.
    public var grantedCapabilities: [String]
    /// `Welcome.serverName`.
    public var serverName: String
    /// `Welcome.version`.
    public var version: Int

    /// Creates a probe result from a rendered `Welcome`.
    public init(welcome: JSONValue) {
        self.welcome = welcome
        self.grantedCapabilities = welcome["capabilities"]?.arrayValue?.compactMap(\.stringValue) ?? []
        self.serverName = welcome["serverName"]?.stringValue ?? ""
        self.version = Int(welcome["version"]?.integerValue ?? 0)
    }
}

/// Everything cases of one run share.
public struct ExecutionEnvironment: Sendable {
    /// Opens connections to the target.
    public var connector: ClientConnector
    /// The app id of the run (`${app}`, `LoginRequest.appId`).
    public var appID: String
    /// The id of an app the target serves in app-ID-only mode (`--app-id-only`, Spec/15-tokens.md §15.5). Cases
    /// with `"app": "app-id-only"` use it instead of ``appID``; without it they are not applicable.
    public var appIDOnlyAppID: String?
    /// Produces tokens.
    public var tokens: any TokenSource
    /// The run's nonce: the prefix of every run-unique id, so runs and cases never share users or channels.
    public var nonce: String
    /// Multiplies every wait (`--timeout-scale`).
    public var timeoutScale: Double
    /// The default wait of expectations, in milliseconds (before scaling).
    public var defaultWaitMs: Int64
    /// The default whole-case budget, in milliseconds (before scaling).
    public var defaultCaseTimeoutMs: Int64
    /// The probe's result: capabilities are checked before a case starts, and its limits and timers serve cases
    /// until their first `Welcome`.
    public var probe: ProbeResult?
    /// Keep transcripts of passing cases too (they are always kept otherwise).
    public var keepPassingTranscripts: Bool
    /// `Hello.clientName` of the standard `Hello`.
    public var clientName: String
    /// Makes the command that reruns one case (given its id).
    public var rerunCommand: @Sendable (String) -> String
    /// What the running cases are doing, for the progress line; `nil` records nothing.
    public var activity: RunActivity?
    /// The runner's own lag, by which waits are extended; `nil` extends nothing.
    public var lag: RunnerLag?
    /// Whether the case runs alone (the rerun of an ``Verdict/error`` case): a connection or handshake that does not
    /// complete in time is then the target's fault (`fail`), not the runner's (`error`).
    public var alone = false
    /// The target's test-control key (`${testControlKey}`, `restartTarget`); `nil` when the run has none.
    public var testControlKey: String?
    /// A shell command that restarts the target abruptly (`--restart-command`), for `restartTarget` in crash mode
    /// when the target does not grant test control.
    public var restartCommand: String?

    /// Creates an environment.
    public init(
        connector: ClientConnector,
        appID: String,
        tokens: any TokenSource,
        nonce: String = ExecutionEnvironment.makeNonce(),
        timeoutScale: Double = 1,
        defaultWaitMs: Int64 = 5000,
        defaultCaseTimeoutMs: Int64 = 30_000,
        probe: ProbeResult? = nil,
        keepPassingTranscripts: Bool = false,
        clientName: String = "herald-conform",
        rerunCommand: (@Sendable (String) -> String)? = nil,
        appIDOnlyAppID: String? = nil
    ) {
        self.connector = connector
        self.appID = appID
        self.appIDOnlyAppID = appIDOnlyAppID
        self.tokens = tokens
        self.nonce = nonce
        self.timeoutScale = timeoutScale
        self.defaultWaitMs = defaultWaitMs
        self.defaultCaseTimeoutMs = defaultCaseTimeoutMs
        self.probe = probe
        self.keepPassingTranscripts = keepPassingTranscripts
        self.clientName = clientName
        let target = connector.target.url
        self.rerunCommand = rerunCommand ?? { id in "swift run herald conform \(target) --filter '\(id)'" }
    }

    /// A random nonce of 6 characters `[a-z0-9]`.
    public static func makeNonce() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return String((0..<6).map { _ in alphabet.randomElement()! })
    }

    /// `milliseconds` multiplied by the timeout scale.
    public func scaled(_ milliseconds: Int64) -> Duration {
        .milliseconds(Int64((Double(max(0, milliseconds)) * self.timeoutScale).rounded()))
    }
}

/// Runs one case against the target and judges it.
public struct CaseExecutor: Sendable {
    /// The run's shared settings.
    public var environment: ExecutionEnvironment

    /// Creates an executor.
    public init(environment: ExecutionEnvironment) {
        self.environment = environment
    }

    /// How long the runner may be stalled (``RunnerLag``) while a case runs before a failure of the case is not
    /// trusted and the case runs again alone: a quarter of a second, well above scheduling noise and below the
    /// shortest window of a timing case.
    public static let stallThreshold = Duration.milliseconds(250)

    /// Runs a case: never throws; infrastructure problems become the verdict `error`.
    public func run(_ item: CorpusCase) async -> CaseResult {
        let scenario = item.scenario
        var caseEnvironment = self.environment
        if scenario.app == .appIDOnly, let app = caseEnvironment.appIDOnlyAppID {
            // The whole case (`${app}`, logins, tokens) uses the app-ID-only app.
            caseEnvironment.appID = app
        }
        let environment = caseEnvironment
        let recorder = TranscriptRecorder()
        let start = ContinuousClock.now
        let lagAtStart = environment.lag?.total ?? .zero
        var outcome: CaseOutcome
        if let reason = self.notApplicableReason(scenario) {
            outcome = .notApplicable(reason)
        } else {
            let registry = ConnectionRegistry()
            let progress = StepProgress(caseID: scenario.id, activity: environment.activity)
            environment.activity?.begin(scenario.id, at: start)
            defer { environment.activity?.end(scenario.id) }
            let budget = CaseBudget(
                scenario: scenario,
                welcome: environment.probe?.welcome,
                defaultBaseMs: environment.defaultCaseTimeoutMs,
                timeoutScale: environment.timeoutScale
            )
            outcome = await withTaskGroup(of: CaseOutcome?.self) { group in
                group.addTask {
                    let run = CaseRun(
                        scenario: scenario,
                        environment: environment,
                        recorder: recorder,
                        registry: registry,
                        progress: progress
                    )
                    return await run.execute()
                }
                group.addTask {
                    var deadline = LagAdjustedDeadline(.now + budget.total, lag: environment.lag)
                    repeat {
                        do {
                            try await Task.sleep(until: deadline.instant)
                        } catch {
                            return nil
                        }
                    } while !deadline.expired()
                    let (index, label) = progress.current
                    let lag =
                        deadline.extended > .zero
                        ? " (+\(CaseBudget.text(deadline.extended)) for which this machine was too busy to run the "
                            + "runner)" : ""
                    return .timeout(
                        "the case did not finish within its budget of \(budget)\(lag); \(label) was running. If the "
                            + "target or this machine is slow, rerun with a larger --timeout-scale (now "
                            + "\(environment.timeoutScale)), which multiplies every wait and budget but the server's "
                            + "own timers",
                        step: index
                    )
                }
                var first: CaseOutcome?
                while first == nil, let next = await group.next() {
                    first = next
                }
                group.cancelAll()
                await registry.closeAll()
                return first ?? .error("the case ended without an outcome", step: nil)
            }
        }
        // A failure seen while the runner itself could not run for a while (its sends late, its clocks behind) is
        // not the target's: like a connection of its own that did not get through, the case runs again alone.
        let stalled = (environment.lag?.total ?? .zero) - lagAtStart
        if case .fail(let message, let step) = outcome, !environment.alone, stalled >= Self.stallThreshold {
            outcome = .error(
                message + "; the runner itself was stalled for \(CaseBudget.text(stalled)) while the case ran "
                    + "(infrastructure, not judged as the target's failure: the case is run again alone)",
                step: step
            )
        }
        let elapsed = ContinuousClock.now - start
        let durationMs = elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
        var result = CaseResult(
            id: scenario.id,
            title: scenario.title,
            chapter: item.chapter,
            level: scenario.level,
            requirements: scenario.requirements,
            verdict: .pass,
            durationMs: durationMs,
            rerunCommand: environment.rerunCommand(scenario.id)
        )
        let requirementLine = "requirements: " + scenario.requirements.joined(separator: ", ")
        switch outcome {
        case .pass:
            break
        case .fail(let message, let step):
            result.verdict = .fail
            result.message = message + "\n" + requirementLine
            result.failedStep = step
        case .notApplicable(let message):
            result.verdict = .notApplicable
            result.message = message
        case .timeout(let message, let step):
            result.verdict = .timeout
            result.message = message + "\n" + requirementLine
            result.failedStep = step
        case .error(let message, let step):
            result.verdict = .error
            result.message = message
            result.failedStep = step
        }
        if result.verdict != .pass || environment.keepPassingTranscripts {
            result.transcript = recorder.entries
        }
        return result
    }

    private func notApplicableReason(_ scenario: ScenarioCase) -> String? {
        let transport = self.environment.connector.target.transport.rawValue
        if let transports = scenario.transports, !transports.contains(transport) {
            return "the case applies to \(transports.joined(separator: ", ")) only; the target uses \(transport)"
        }
        if scenario.app == .appIDOnly && self.environment.appIDOnlyAppID == nil {
            return "the case needs an app in app-ID-only mode (Spec/15-tokens.md §15.5); name one that the target "
                + "serves with --app-id-only APPID"
        }
        if scenario.capabilities.contains(RunnerTestControl.capability) && self.environment.testControlKey == nil {
            return "the case needs test control (Spec/18-test-control.md): give the target's key with "
                + "--test-control-key or --test-control-key-file"
        }
        if let granted = self.environment.probe?.grantedCapabilities {
            let missing = scenario.capabilities.filter { !granted.contains($0) }
            if !missing.isEmpty {
                return "the target does not grant " + missing.joined(separator: ", ")
            }
        }
        if let welcome = self.environment.probe?.welcome, !scenario.rateClasses.isEmpty {
            let enforced = Set(welcome["rateLimits"]?.arrayValue?.compactMap { $0["rateClass"]?.stringValue } ?? [])
            let missing = scenario.rateClasses.filter { !enforced.contains($0) }
            if !missing.isEmpty {
                return "the target does not enforce " + missing.joined(separator: ", ")
                    + " (not in Welcome.rate_limits; a server may leave a rate class unenforced, LIM-18)"
            }
        }
        return nil
    }
}

// MARK: - Outcomes

enum CaseOutcome: Sendable {
    case pass
    case fail(String, step: Int?)
    case notApplicable(String)
    case timeout(String, step: Int?)
    case error(String, step: Int?)
}

/// Why the steps stopped.
private enum StepStop: Error {
    case fail(String)
    case notApplicable(String)
    case error(String)
}

/// The step a case is running, for the timeout message and the run's progress line.
final class StepProgress: Sendable {
    private let state = Mutex<(index: Int?, label: String)>((nil, "starting"))
    private let caseID: String
    private let activity: RunActivity?

    init(caseID: String = "", activity: RunActivity? = nil) {
        self.caseID = caseID
        self.activity = activity
    }

    var current: (index: Int?, label: String) {
        self.state.withLock { $0 }
    }

    func update(_ index: Int?, _ label: String) {
        self.state.withLock { $0 = (index, label) }
        self.activity?.update(self.caseID, label)
    }

    /// Says what the running step waits for (`waiting for the server's 300 s timer …`), keeping the step label.
    func waiting(_ what: String) {
        let label = self.state.withLock { $0.label }
        self.activity?.update(self.caseID, label + ": " + what)
    }
}

/// The connections of one case, closed when it ends.
final class ConnectionRegistry: Sendable {
    private let state = Mutex<(connections: [ConformanceConnection], closed: Bool)>(([], false))

    /// Keeps a connection for ``closeAll()``; one opened after that is closed at once.
    func add(_ connection: ConformanceConnection) async {
        let closed = self.state.withLock { state in
            if !state.closed { state.connections.append(connection) }
            return state.closed
        }
        if closed { await connection.close() }
    }

    func closeAll() async {
        let all = self.state.withLock { state in
            state.closed = true
            defer { state.connections.removeAll() }
            return state.connections
        }
        for connection in all {
            await connection.close()
        }
    }
}

// MARK: - Running a case

/// The mutable state of one running case; confined to the task that runs its steps.
private final class CaseRun {
    struct ActorState: Sendable {
        var connection: ConformanceConnection?
        var pending: [ConnectionEvent] = []
        var nextRequestID: UInt32 = 1
        /// Armed optional expectations (`"optional": true`), in arming order.
        var optionals: [Expectation] = []
    }

    /// One resolved expectation.
    struct Expectation: Sendable {
        var typeName: String
        var requestID: UInt32?
        var requestName: String?
        var payload: JSONValue?
        var mode: MatchMode = .subset
        var requestIDMatcher: JSONValue?
        var flagsMatcher: JSONValue?
        var captureFrame: String?
        var capture: [String: String] = [:]

        var label: String {
            var text = self.typeName
            if let requestName { text += " answering \(requestName)" }
            return text
        }
    }

    let scenario: ScenarioCase
    let environment: ExecutionEnvironment
    let recorder: TranscriptRecorder
    let registry: ConnectionRegistry
    let progress: StepProgress
    var context: TemplateContext
    var actors: [String: ActorState] = [:]
    var capturedFrames: [String: ReceivedFrame] = [:]
    var sawWelcome = false
    var topIndex: Int?
    /// How much the last wait that ended with nothing was extended for the runner's lag.
    var lastExtension: Duration = .zero
    /// `as` name → (actor, request message name).
    var requestTypes: [String: (actor: String, type: String)] = [:]
    /// Crowd name → size, fixed when the crowd is first used.
    var crowdSizes: [String: Int] = [:]

    static let defaultIgnore: Set<String> = ["Pong"]

    init(
        scenario: ScenarioCase,
        environment: ExecutionEnvironment,
        recorder: TranscriptRecorder,
        registry: ConnectionRegistry,
        progress: StepProgress
    ) {
        self.scenario = scenario
        self.environment = environment
        self.recorder = recorder
        self.registry = registry
        self.progress = progress
        self.context = TemplateContext(nonce: environment.nonce, caseID: scenario.id, appID: environment.appID)
        self.context.testControlKey = environment.testControlKey
        if let welcome = environment.probe?.welcome {
            self.context.limits = welcome["limits"]
            self.context.timers = welcome["timers"]
        }
        for actor in scenario.actors {
            self.actors[actor] = ActorState()
        }
    }

    func execute() async -> CaseOutcome {
        do {
            try await self.run(self.scenario.steps, path: "steps", top: true)
            return .pass
        } catch let stop as StepStop {
            switch stop {
            case .fail(let message): return .fail(message, step: self.topIndex)
            case .notApplicable(let message): return .notApplicable(message)
            case .error(let message): return .error(message, step: self.topIndex)
            }
        } catch is CancellationError {
            return .error("cancelled", step: self.topIndex)
        } catch {
            return .error("\(error)", step: self.topIndex)
        }
    }

    private func run(_ steps: [Step], path: String, top: Bool) async throws {
        for (index, step) in steps.enumerated() {
            try Task.checkCancellation()
            if top { self.topIndex = index }
            var label = "\(path)[\(index)] \(step.kind)"
            if let actor = step.actor { label += " (\(actor))" }
            self.progress.update(self.topIndex, label)
            do {
                try await self.run(step, label: label)
            } catch let stop as StepStop {
                throw Self.prefixed(stop, label)
            } catch let error as TemplateError {
                throw StepStop.fail("\(label): \(error.description)")
            }
        }
    }

    private static func prefixed(_ stop: StepStop, _ label: String) -> StepStop {
        switch stop {
        case .fail(let message):
            return message.hasPrefix("steps[") ? stop : .fail("\(label): \(message)")
        case .error(let message):
            return message.hasPrefix("steps[") ? stop : .error("\(label): \(message)")
        case .notApplicable:
            return stop
        }
    }

    private func run(_ step: Step, label: String) async throws {
        switch step {
        case .connect(let body): try await self.connect(body, reconnect: false)
        case .reconnect(let body): try await self.connect(body, reconnect: true)
        case .login(let body): try await self.login(body)
        case .send(let body): try await self.send(body)
        case .sendRaw(let body): try await self.sendRaw(body)
        case .ack(let body): try await self.ack(body)
        case .expect(let body): try await self.expect(body)
        case .expectAnyOf(let body): try await self.expectAnyOf(body)
        case .expectUnordered(let body): try await self.expectUnordered(body)
        case .expectNone(let body): try await self.expectNone(body)
        case .sync(let body): try await self.sync(body.actor)
        case .waitTimer(let body): try await self.waitTimer(body)
        case .webSocketUpgrade(let body): try await self.webSocketUpgrade(body)
        case .restartTarget(let body): try await self.restartTarget(body)
        case .drop(let body): await self.drop(body.actor)
        case .expectClosed(let body): try await self.expectClosed(body)
        case .forEach(let body): try await self.forEach(body, label: label)
        case .repeat(let body):
            let times = try Templating.integer(body.times, in: self.context)
            let outer = self.context.iteration
            defer { self.context.iteration = outer }
            for iteration in 0..<max(0, Int(times)) {
                self.context.iteration = iteration
                try await self.run(body.steps, path: "\(label) iteration \(iteration): steps", top: false)
            }
        }
    }

    // MARK: Helpers

    private func connection(_ actor: String) throws(StepStop) -> ConformanceConnection {
        guard let connection = self.actors[actor]?.connection else {
            throw StepStop.fail("actor \(actor) has no open connection (connect it first)")
        }
        return connection
    }

    private func takeRequestID(_ actor: String) -> UInt32 {
        let id = self.actors[actor]?.nextRequestID ?? 1
        self.actors[actor]?.nextRequestID = id == UInt32.max ? 1 : id + 1
        return id
    }

    private func noteExplicitRequestID(_ actor: String, _ id: UInt32) {
        if let next = self.actors[actor]?.nextRequestID, id >= next, id < UInt32.max {
            self.actors[actor]?.nextRequestID = id + 1
        }
    }

    private func deadline(_ expression: IntExpression?) throws -> ContinuousClock.Instant {
        let milliseconds = try expression.map { try Templating.integer($0, in: self.context) }
        return ContinuousClock.now + self.environment.scaled(milliseconds ?? self.environment.defaultWaitMs)
    }

    private func describe(_ deadline: ContinuousClock.Instant, from start: ContinuousClock.Instant) -> String {
        let duration = deadline - start
        var text = "\(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000) ms"
        if self.lastExtension > .zero {
            text += " (+\(CaseBudget.text(self.lastExtension)) for which this machine was too busy to run the runner)"
        }
        return text
    }

    /// The next event of an actor: buffered ones first. Frames that an armed optional expectation consumes are
    /// skipped.
    ///
    /// The deadline moves later by the runner's own lag (``RunnerLag``) during the wait, so that a busy machine is
    /// not blamed on the server; ``lastExtension`` says by how much, for the failure message.
    private func nextEvent(_ actor: String, until deadline: ContinuousClock.Instant) async -> ConnectionEvent? {
        var adjusted = LagAdjustedDeadline(deadline, lag: self.environment.lag)
        self.lastExtension = .zero
        while true {
            let event: ConnectionEvent?
            if let first = self.actors[actor]?.pending.first {
                self.actors[actor]?.pending.removeFirst()
                event = first
            } else {
                guard let connection = self.actors[actor]?.connection else { return nil }
                event = await connection.nextEvent(until: adjusted.instant)
                if event == nil {
                    if adjusted.expired() {
                        self.lastExtension = adjusted.extended
                        return nil
                    }
                    continue
                }
            }
            guard case .frame(let frame)? = event, self.consumeOptional(actor, frame) else { return event }
        }
    }

    /// Whether an armed optional expectation of the actor matches `frame`: the first one that does is committed
    /// (its captures kept) and disarmed.
    private func consumeOptional(_ actor: String, _ frame: ReceivedFrame) -> Bool {
        guard let armed = self.actors[actor]?.optionals, !armed.isEmpty else { return false }
        for (index, expectation) in armed.enumerated() {
            let result = self.check(frame, expectation)
            if result.isMatch {
                self.actors[actor]?.optionals.remove(at: index)
                self.commit(frame, expectation, result)
                return true
            }
        }
        return false
    }

    /// Ends the optional expectations of an actor: called when one of its expectation steps ends.
    private func disarmOptionals(_ actor: String) {
        self.actors[actor]?.optionals.removeAll()
    }

    /// The next frame that is not ignored; `nil` at the deadline. A close or failure fails the step.
    private func nextFrame(
        _ actor: String,
        until deadline: ContinuousClock.Instant,
        ignore: Set<String>,
        expecting: String
    ) async throws(StepStop) -> ReceivedFrame? {
        while true {
            if self.actors[actor]?.connection == nil && (self.actors[actor]?.pending.isEmpty ?? true) {
                throw StepStop.fail("expected \(expecting), but actor \(actor) has no open connection")
            }
            guard let event = await self.nextEvent(actor, until: deadline) else { return nil }
            switch event {
            case .frame(let frame):
                if ignore.contains(frame.typeName) { continue }
                return frame
            case .failure(let message):
                throw StepStop.fail("expected \(expecting); \(message)")
            case .closed(let code):
                self.actors[actor]?.connection = nil
                let detail = code.map { " (WebSocket status \($0))" } ?? ""
                throw StepStop.fail("expected \(expecting); the server closed the connection\(detail)")
            }
        }
    }

    /// The verdict for a connection, handshake or login of the runner's own client that did not complete in time.
    ///
    /// While other cases run, the runner and the machine share the blame: the case gets `error` (infrastructure)
    /// and the runner runs it again alone. Alone (``ExecutionEnvironment/alone``) nothing else competes, so it is
    /// the target's failure.
    private func late(_ message: String) -> StepStop {
        if self.environment.alone {
            return .fail(message + " (with no other case running)")
        }
        return .error(
            message + "; the runner's own client did not get through while other cases ran (infrastructure, not "
                + "judged as the target's failure: the case is run again alone)"
        )
    }

    private func requireActorConnected(_ actor: String) throws(StepStop) {
        _ = try self.connection(actor)
    }

    private func applyTemplates(_ json: JSONValue, actor: String?) async throws -> JSONValue {
        let tokenTemplates = Templating.tokenTemplates(in: json, context: self.context)
        var context = self.context
        for expression in tokenTemplates where context.tokens[expression] == nil {
            guard let spec = TokenSpec(String(expression.dropFirst("token:".count))) else {
                throw StepStop.fail("unknown token kind in ${\(expression)}")
            }
            context.tokens[expression] = try await self.token(spec, user: actor ?? self.scenario.actors[0])
        }
        return try Templating.resolve(json: json, in: context)
    }

    private func token(_ spec: TokenSpec, user: String) async throws -> String {
        let userID = self.context.userID(user)
        let kind: TokenKind
        var tokenUser = userID
        switch spec {
        case .none: return ""
        case .raw(let text): return try Templating.expand(text, in: self.context)
        case .valid: kind = .valid
        case .expired: kind = .expired
        case .wrongApp: kind = .wrongApp
        case .ttl(let seconds): kind = .ttl(seconds: seconds)
        case .extraClaims: kind = .extraClaims
        case .extraHeader: kind = .extraHeader
        case .nestedClaims(let levels): kind = .nestedClaims(levels: levels)
        case .wrongUser(let other):
            kind = .valid
            tokenUser = self.context.userID(other)
        }
        do {
            return try await self.environment.tokens.token(
                for: TokenRequest(appID: self.environment.appID, userID: tokenUser, kind: kind)
            )
        } catch let unavailable as TokenUnavailable {
            throw StepStop.notApplicable(unavailable.description)
        } catch {
            throw StepStop.error("cannot get a \(spec) token: \(error)")
        }
    }

    // MARK: Sending

    private func sendMessage(
        actor: String,
        typeName: String,
        payload: JSONValue,
        rawPayload: [UInt8]? = nil,
        requestID: UInt32?,
        flags: UInt8 = 0
    ) async throws -> (id: UInt32, info: HeraldOpcodeInfo) {
        guard let info = ProtoJSON.info(forType: typeName) else {
            throw StepStop.fail("\(typeName) is not a Herald v1 message with an opcode")
        }
        let connection = try self.connection(actor)
        let bytes: [UInt8]
        let shown: JSONValue
        if let rawPayload {
            bytes = rawPayload
            shown = .object(["payloadHex": .string(HexText.encode(rawPayload))])
        } else {
            let message: any SwiftProtobuf.Message
            do {
                message = try ProtoJSON.message(from: payload, as: info.messageType)
            } catch {
                throw StepStop.fail(
                    "the payload \(PayloadMatcher.short(payload)) is not a valid \(typeName): \(error)"
                )
            }
            do {
                bytes = try message.serializedBytes()
            } catch {
                throw StepStop.error("cannot serialize \(typeName): \(error)")
            }
            shown = ProtoJSON.render(message).canonical
        }
        let id: UInt32
        if let requestID {
            id = requestID
            self.noteExplicitRequestID(actor, id)
        } else {
            id = info.kind == .event ? 0 : self.takeRequestID(actor)
        }
        let header = HeraldFrameHeader(flags: HeraldFrameFlags(rawValue: flags), opcode: info.opcode, requestID: id)
        let frame = HeraldFrame(header: header, payload: ByteBuffer(bytes: bytes))
        do {
            try await connection.send(frame, payload: shown)
        } catch {
            throw StepStop.fail("cannot send \(typeName): the connection is closed (\(error))")
        }
        return (id, info)
    }

    // MARK: Steps

    private func connect(_ step: ConnectStep, reconnect: Bool) async throws {
        let actor = step.actor
        if reconnect {
            await self.drop(actor)
        } else if self.actors[actor]?.connection != nil {
            throw StepStop.fail("actor \(actor) is already connected (use reconnect)")
        }
        let connection: ConformanceConnection
        do {
            connection = try await self.environment.connector.connect(actor: actor, recorder: self.recorder)
        } catch {
            throw self.late("cannot connect: \(error.description)")
        }
        await self.registry.add(connection)
        self.actors[actor] = ActorState(connection: connection)
        let hello: JSONValue
        var requestsEverything = true
        switch step.hello {
        case .none:
            return
        case .standard:
            hello = .object(["versions": .array([.int(1)]), "clientName": .string(self.environment.clientName)])
        case .custom(let payload):
            hello = try await self.applyTemplates(payload, actor: actor)
            requestsEverything = (hello["capabilities"]?.arrayValue ?? []).isEmpty
        }
        let (helloID, _) = try await self.sendMessage(actor: actor, typeName: "Hello", payload: hello, requestID: nil)
        guard step.expectWelcome ?? true else { return }
        let start = ContinuousClock.now
        let deadline = try self.deadline(step.withinMs)
        guard let frame = try await self.nextFrame(actor, until: deadline, ignore: [], expecting: "Welcome") else {
            let message = "expected Welcome within \(self.describe(deadline, from: start)); nothing arrived"
            // A standard Hello that the probe saw answered: while other cases run, the runner's own client may be
            // what is slow. A case's own Hello is the thing under test.
            throw step.hello == .standard ? self.late(message) : StepStop.fail(message)
        }
        guard frame.typeName == "Welcome", let rendering = frame.rendering else {
            let message = "expected Welcome, got \(frame.summary)"
            // The target timed out a standard Hello (HS-4): the runner's own client stalled between connecting and
            // sending it, which says nothing about the target.
            let timedOut =
                frame.typeName == "Disconnect"
                && frame.rendering?.full["reason"]?.stringValue == "DISCONNECT_REASON_HANDSHAKE_TIMEOUT"
            throw step.hello == .standard && timedOut ? self.late(message) : StepStop.fail(message)
        }
        if frame.frame.requestID != helloID {
            throw StepStop.fail("Welcome has request id \(frame.frame.requestID), not the Hello's \(helloID)")
        }
        let welcome = rendering.full
        self.context.captures["welcome.\(actor)"] = welcome
        if step.heartbeat ?? true, let interval = welcome["timers"]?["heartbeatIntervalMs"]?.integerValue {
            connection.startHeartbeat(intervalMs: Int64(interval))
        }
        if !self.sawWelcome {
            self.sawWelcome = true
            self.context.limits = welcome["limits"]
            self.context.timers = welcome["timers"]
            if let maximum = welcome["limits"]?["maxUserIdBytes"]?.integerValue, maximum > 0 {
                self.context.maximumIDBytes = min(64, Int(maximum))
            }
            if requestsEverything {
                let granted = welcome["capabilities"]?.arrayValue?.compactMap(\.stringValue) ?? []
                // Test control is never granted to a Hello that asks for everything (Spec/18-test-control.md).
                let missing = self.scenario.capabilities.filter {
                    !granted.contains($0) && $0 != RunnerTestControl.capability
                }
                if !missing.isEmpty {
                    throw StepStop.notApplicable("the target does not grant " + missing.joined(separator: ", "))
                }
            }
        }
        if let matcher = step.welcome {
            let expected = try await self.applyTemplates(matcher, actor: actor)
            let result = PayloadMatcher.match(expected, against: welcome, canonical: rendering.canonical)
            guard result.isMatch else {
                throw StepStop.fail("Welcome does not match:\n" + Self.indent(result.explanation))
            }
            self.context.captures.merge(result.captures) { _, new in new }
        }
    }

    private func login(_ step: LoginStep) async throws {
        let actor = step.actor
        defer { self.disarmOptionals(actor) }
        try self.requireActorConnected(actor)
        let user = step.user ?? actor
        let spec = TokenSpec(step.token ?? "valid") ?? .valid
        let token = try await self.token(spec, user: user)
        let appID = try step.appId.map { try Templating.expand($0, in: self.context) } ?? self.environment.appID
        let payload: JSONValue = .object([
            "appId": .string(appID), "userId": .string(self.context.userID(user)), "token": .string(token),
        ])
        let (id, _) = try await self.sendMessage(
            actor: actor,
            typeName: "LoginRequest",
            payload: payload,
            requestID: nil
        )
        let expectedResult = step.expectResult ?? "LOGIN_RESULT_OK"
        let response = Expectation(
            typeName: "LoginResponse",
            requestID: id,
            requestName: "the login",
            payload: .object(["result": .string(expectedResult)])
        )
        let frame = try await self.expectOne(
            actor,
            response,
            withinMs: step.withinMs,
            ignore: Self.defaultIgnore,
            lateIsInfrastructure: true
        )
        self.context.captures["login.\(actor)"] = frame.rendering?.full
        guard expectedResult == "LOGIN_RESULT_OK" else { return }
        let state = Expectation(
            typeName: "ConnectionStateChanged",
            payload: .object([
                "state": .string("CONNECTION_STATE_CONNECTED"),
                "reason": .string("CONNECTION_CHANGE_REASON_LOGIN_SUCCESS"),
            ])
        )
        _ = try await self.expectOne(
            actor,
            state,
            withinMs: step.withinMs,
            ignore: Self.defaultIgnore,
            lateIsInfrastructure: true
        )
    }

    private func send(_ step: SendStep) async throws {
        let payload = try await self.applyTemplates(step.payload ?? .object([:]), actor: step.actor)
        var rawPayload: [UInt8]?
        if let hex = step.payloadHex {
            let text = try Templating.expand(hex, in: self.context)
            guard let bytes = HexText.decode(text) else {
                throw StepStop.fail("\"\(text)\" is not an even number of hexadecimal digits")
            }
            rawPayload = bytes
        }
        var requestID: UInt32?
        if let expression = step.requestId {
            let value = try Templating.integer(expression, in: self.context)
            guard let id = UInt32(exactly: value) else { throw StepStop.fail("request id \(value) is out of range") }
            requestID = id
        }
        var flags: UInt8 = 0
        if let expression = step.flags {
            let value = try Templating.integer(expression, in: self.context)
            guard let byte = UInt8(exactly: value) else { throw StepStop.fail("flags \(value) do not fit in a byte") }
            flags = byte
        }
        let (id, _) = try await self.sendMessage(
            actor: step.actor,
            typeName: step.type,
            payload: payload,
            rawPayload: rawPayload,
            requestID: requestID,
            flags: flags
        )
        if let template = step.as {
            let name = try Templating.expand(template, in: self.context)
            self.context.requestIDs[name] = id
            self.requestTypes[name] = (step.actor, step.type)
        }
    }

    private func sendRaw(_ step: SendRawStep) async throws {
        let connection = try self.connection(step.actor)
        do {
            if let hex = step.hex {
                let text = try Templating.expand(hex, in: self.context)
                guard let bytes = HexText.decode(text) else {
                    throw StepStop.fail("\"\(text)\" is not an even number of hexadecimal digits")
                }
                try await connection.sendRaw(bytes)
            } else if let text = step.text {
                try await connection.sendText(try Templating.expand(text, in: self.context))
            } else if let ping = step.webSocketPing {
                guard connection.transport.isWebSocket else {
                    throw StepStop.fail(
                        "webSocketPing needs a WebSocket transport, not \(connection.transport.rawValue)"
                    )
                }
                let text = try Templating.expand(ping, in: self.context)
                guard let data = HexText.decode(text), data.count <= 125 else {
                    throw StepStop.fail("\"\(text)\" is not hexadecimal of at most 125 bytes")
                }
                try await connection.sendWebSocketPing(data)
            }
        } catch let stop as StepStop {
            throw stop
        } catch let error as TemplateError {
            throw error
        } catch {
            throw StepStop.fail("cannot send: the connection is closed (\(error))")
        }
    }

    private func restartTarget(_ step: RestartTargetStep) async throws {
        let within = try step.withinMs.map { try Templating.integer($0, in: self.context) } ?? 30_000
        do {
            try await RunnerTestControl.restart(
                step.mode,
                environment: self.environment,
                recorder: self.recorder,
                within: self.environment.scaled(within)
            )
        } catch {
            switch error {
            case .notApplicable(let message): throw StepStop.notApplicable(message)
            case .fail(let message): throw StepStop.fail(message)
            case .error(let message): throw StepStop.error(message)
            }
        }
    }

    private func webSocketUpgrade(_ step: WebSocketUpgradeStep) async throws {
        let connector = self.environment.connector
        guard connector.target.transport.isWebSocket else {
            throw StepStop.fail("webSocketUpgrade needs a WebSocket target, not \(connector.target.transport.rawValue)")
        }
        let answer: WebSocketUpgradeAnswer
        do {
            answer = try await connector.webSocketUpgrade(offering: step.subprotocols)
        } catch {
            throw StepStop.fail("the WebSocket opening handshake failed: \(error)")
        }
        let offered = step.subprotocols.isEmpty ? "no subprotocol" : step.subprotocols.joined(separator: ", ")
        self.recorder.recordTransport(
            actor: "-",
            event: "ws-upgrade",
            detail: "offering \(offered): HTTP \(answer.status)"
                + (answer.subprotocol.map { ", selected \($0)" } ?? "")
        )
        guard answer.status == step.expectStatus else {
            throw StepStop.fail(
                "the WebSocket opening handshake offering \(offered) was answered with HTTP status "
                    + "\(answer.status), expected \(step.expectStatus)"
            )
        }
    }

    private func ack(_ step: AckStep) async throws {
        let id: UInt32
        if let name = step.delivery {
            guard let frame = self.capturedFrames[name] else {
                throw StepStop.fail("no frame was captured as \"\(name)\" (use captureFrame on an expect step)")
            }
            id = frame.frame.requestID
        } else if let expression = step.requestId {
            let value = try Templating.integer(expression, in: self.context)
            guard let checked = UInt32(exactly: value) else {
                throw StepStop.fail("delivery id \(value) is out of range")
            }
            id = checked
        } else {
            throw StepStop.fail("ack needs delivery or requestId")
        }
        let result = step.result ?? "DELIVERY_ACK_RESULT_ACCEPTED"
        _ = try await self.sendMessage(
            actor: step.actor,
            typeName: "DeliveryAck",
            payload: .object(["result": .string(result)]),
            requestID: id
        )
    }

    private func resolve(_ body: ExpectBody) async throws -> Expectation {
        var typeName = body.type
        var requestID: UInt32?
        if let template = body.response {
            let name = try Templating.expand(template, in: self.context)
            guard let id = self.context.requestIDs[name], let request = self.requestTypes[name] else {
                throw StepStop.fail("no request was sent with \"as\": \"\(name)\" before this step")
            }
            requestID = id
            if typeName == nil,
                let responseOpcode = ProtoJSON.info(forType: request.type)?.responseOpcode,
                let info = HeraldOpcodeTable.infoIncludingExtensions(for: responseOpcode)
            {
                typeName = info.name
            }
        }
        guard let typeName else { throw StepStop.fail("the expectation names no type") }
        return Expectation(
            typeName: typeName,
            requestID: requestID,
            requestName: try body.response.map { try Templating.expand($0, in: self.context) },
            payload: try await body.payload.asyncMap { try await self.applyTemplates($0, actor: body.actor) },
            mode: body.match ?? .subset,
            requestIDMatcher: try body.requestId.map { try Templating.resolve(json: $0, in: self.context) },
            flagsMatcher: try body.flags.map { try Templating.resolve(json: $0, in: self.context) },
            captureFrame: body.captureFrame,
            capture: body.capture ?? [:]
        )
    }

    /// Checks a frame against an expectation; returns mismatches and the `$capture` values.
    private func check(_ frame: ReceivedFrame, _ expectation: Expectation) -> MatchResult {
        guard frame.typeName == expectation.typeName else {
            return MatchResult(mismatches: ["expected \(expectation.label), got \(frame.summary)"], captures: [:])
        }
        var mismatches: [String] = []
        var captures: [String: JSONValue] = [:]
        if let requestID = expectation.requestID, frame.frame.requestID != requestID {
            mismatches.append(
                "request id: expected \(requestID) (\(expectation.requestName ?? "the request")), "
                    + "got \(frame.frame.requestID)"
            )
        }
        if let matcher = expectation.requestIDMatcher {
            let result = PayloadMatcher.match(matcher, against: .int(Int64(frame.frame.requestID)), path: "requestId")
            mismatches += result.mismatches
            captures.merge(result.captures) { _, new in new }
        }
        if let matcher = expectation.flagsMatcher {
            let result = PayloadMatcher.match(matcher, against: .int(Int64(frame.frame.flags.rawValue)), path: "flags")
            mismatches += result.mismatches
            captures.merge(result.captures) { _, new in new }
        }
        if let expected = expectation.payload {
            if let rendering = frame.rendering {
                let result = PayloadMatcher.match(
                    expected,
                    against: rendering.full,
                    canonical: rendering.canonical,
                    mode: expectation.mode
                )
                mismatches += result.mismatches
                captures.merge(result.captures) { _, new in new }
            } else {
                mismatches.append("payload: does not parse as \(frame.typeName): \(frame.decodeError ?? "?")")
            }
        } else if frame.rendering == nil {
            mismatches.append("payload: does not parse as \(frame.typeName): \(frame.decodeError ?? "?")")
        }
        for name in expectation.capture.keys.sorted() {
            guard let full = frame.rendering?.full else { break }
            do {
                captures[name] = try JSONPath.lookup(expectation.capture[name]!, in: full)
            } catch {
                mismatches.append("capture \(name): payload.\(expectation.capture[name]!): \(error.description)")
            }
        }
        return MatchResult(mismatches: mismatches, captures: captures)
    }

    private func commit(_ frame: ReceivedFrame, _ expectation: Expectation, _ result: MatchResult) {
        self.context.captures.merge(result.captures) { _, new in new }
        if let name = expectation.captureFrame {
            self.capturedFrames[name] = frame
            self.context.captures[name] = .object([
                "type": .string(frame.typeName),
                "requestId": .int(Int64(frame.frame.requestID)),
                "flags": .int(Int64(frame.frame.flags.rawValue)),
                "payload": frame.rendering?.full ?? .null,
            ])
        }
    }

    private static func indent(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n")
    }

    /// Waits for one frame and checks it. With `lateIsInfrastructure` (session set-up: the login's answers), a
    /// frame that does not arrive in time is judged by ``late(_:)``.
    private func expectOne(
        _ actor: String,
        _ expectation: Expectation,
        withinMs: IntExpression?,
        ignore: Set<String>,
        lateIsInfrastructure: Bool = false
    ) async throws -> ReceivedFrame {
        try self.requireActorConnected(actor)
        let start = ContinuousClock.now
        let deadline = try self.deadline(withinMs)
        let skipped = ignore.subtracting([expectation.typeName])
        guard
            let frame = try await self.nextFrame(actor, until: deadline, ignore: skipped, expecting: expectation.label)
        else {
            let message =
                "expected \(expectation.label) within \(self.describe(deadline, from: start)); nothing arrived"
            throw lateIsInfrastructure ? self.late(message) : StepStop.fail(message)
        }
        let result = self.check(frame, expectation)
        guard result.isMatch else {
            if frame.typeName != expectation.typeName {
                throw StepStop.fail(result.explanation)
            }
            throw StepStop.fail(
                "\(expectation.label) does not match:\n" + Self.indent(result.explanation) + "\n  received: "
                    + frame.summary
            )
        }
        self.commit(frame, expectation, result)
        return frame
    }

    private func expect(_ body: ExpectBody) async throws {
        guard let actor = body.actor else { throw StepStop.fail("expect needs an actor") }
        let expectation = try await self.resolve(body)
        if body.optional == true {
            // Armed, not awaited: the actor's following steps let it consume one matching frame.
            try self.requireActorConnected(actor)
            self.actors[actor]?.optionals.append(expectation)
            return
        }
        defer { self.disarmOptionals(actor) }
        _ = try await self.expectOne(
            actor,
            expectation,
            withinMs: body.withinMs,
            ignore: body.ignore.map(Set.init) ?? Self.defaultIgnore
        )
    }

    private func expectAnyOf(_ step: ExpectAnyOfStep) async throws {
        defer { self.disarmOptionals(step.actor) }
        try self.requireActorConnected(step.actor)
        var alternatives: [Expectation] = []
        for body in step.alternatives {
            alternatives.append(try await self.resolve(body))
        }
        let start = ContinuousClock.now
        let deadline = try self.deadline(step.withinMs)
        let ignore = (step.ignore.map(Set.init) ?? Self.defaultIgnore).subtracting(alternatives.map(\.typeName))
        let label = "one of " + alternatives.map(\.label).joined(separator: " | ")
        guard let frame = try await self.nextFrame(step.actor, until: deadline, ignore: ignore, expecting: label) else {
            throw StepStop.fail("expected \(label) within \(self.describe(deadline, from: start)); nothing arrived")
        }
        var reasons: [String] = []
        for (index, alternative) in alternatives.enumerated() {
            let result = self.check(frame, alternative)
            if result.isMatch {
                self.commit(frame, alternative, result)
                return
            }
            reasons.append("alternative \(index) (\(alternative.label)):\n" + Self.indent(result.explanation))
        }
        throw StepStop.fail(
            "expected \(label), got \(frame.summary)\n" + Self.indent(reasons.joined(separator: "\n"))
        )
    }

    private func expectUnordered(_ step: ExpectUnorderedStep) async throws {
        defer { self.disarmOptionals(step.actor) }
        try self.requireActorConnected(step.actor)
        var bodies: [Expectation] = []
        for body in step.frames {
            bodies.append(try await self.resolve(body))
        }
        let start = ContinuousClock.now
        let deadline = try self.deadline(step.withinMs)
        let ignore = (step.ignore.map(Set.init) ?? Self.defaultIgnore).subtracting(bodies.map(\.typeName))
        let label = "\(bodies.count) frames in any order (" + bodies.map(\.label).joined(separator: ", ") + ")"
        var frames: [ReceivedFrame] = []
        var results: [[MatchResult]] = []
        while frames.count < bodies.count {
            guard let frame = try await self.nextFrame(step.actor, until: deadline, ignore: ignore, expecting: label)
            else {
                throw StepStop.fail(
                    "expected \(label) within \(self.describe(deadline, from: start)); only \(frames.count) arrived: "
                        + frames.map(\.summary).joined(separator: "; ")
                )
            }
            let row = bodies.map { self.check(frame, $0) }
            if !row.contains(where: \.isMatch) {
                let reasons = zip(bodies.indices, row).map { index, result in
                    "frame \(index) (\(bodies[index].label)):\n" + Self.indent(result.explanation)
                }
                throw StepStop.fail(
                    "expected \(label); \(frame.summary) matches none of them\n"
                        + Self.indent(reasons.joined(separator: "\n"))
                )
            }
            frames.append(frame)
            results.append(row)
        }
        // Assign frames to bodies one to one.
        var assignment = [Int](repeating: -1, count: frames.count)
        var used = [Bool](repeating: false, count: bodies.count)
        func assign(_ position: Int) -> Bool {
            if position == frames.count { return true }
            for body in bodies.indices where !used[body] && results[position][body].isMatch {
                used[body] = true
                assignment[position] = body
                if assign(position + 1) { return true }
                used[body] = false
            }
            return false
        }
        guard assign(0) else {
            throw StepStop.fail(
                "expected \(label); the frames received cannot be paired with the expectations one to one: "
                    + frames.map(\.summary).joined(separator: "; ")
            )
        }
        for (position, body) in assignment.enumerated() {
            self.commit(frames[position], bodies[body], results[position][body])
        }
    }

    private func expectNone(_ step: ExpectNoneStep) async throws {
        defer { self.disarmOptionals(step.actor) }
        try self.requireActorConnected(step.actor)
        let types = Set(step.types ?? [])
        let window = try step.forMs.map { try Templating.integer($0, in: self.context) } ?? 300
        let deadline = ContinuousClock.now + self.environment.scaled(window)
        func forbidden(_ frame: ReceivedFrame) -> Bool {
            types.isEmpty || types.contains(frame.typeName)
        }
        let what = types.isEmpty ? "no frame" : "no " + types.sorted().joined(separator: " or ")
        var kept: [ConnectionEvent] = []
        for event in self.actors[step.actor]?.pending ?? [] {
            if case .frame(let frame) = event {
                if self.consumeOptional(step.actor, frame) { continue }
                if forbidden(frame) { throw StepStop.fail("expected \(what), got \(frame.summary)") }
            }
            kept.append(event)
        }
        self.actors[step.actor]?.pending = kept
        guard let connection = self.actors[step.actor]?.connection else { return }
        while let event = await connection.nextEvent(until: deadline) {
            if case .frame(let frame) = event, self.consumeOptional(step.actor, frame) { continue }
            if case .frame(let frame) = event, forbidden(frame) {
                throw StepStop.fail("expected \(what) for \(window) ms, got \(frame.summary)")
            }
            self.actors[step.actor]?.pending.append(event)
            if case .closed = event { break }
        }
    }

    private func sync(_ actor: String) async throws {
        let clientTime = Int64(Date().timeIntervalSince1970 * 1000)
        let (id, _) = try await self.sendMessage(
            actor: actor,
            typeName: "Ping",
            payload: .object(["clientTimeMs": .string(String(clientTime))]),
            requestID: nil
        )
        let start = ContinuousClock.now
        let deadline = try self.deadline(nil)
        var kept: [ConnectionEvent] = []
        defer {
            self.actors[actor]?.pending.insert(contentsOf: kept, at: 0)
        }
        while true {
            guard let event = await self.nextEvent(actor, until: deadline) else {
                throw StepStop.fail(
                    "sync: no Pong for the Ping (request id \(id)) within \(self.describe(deadline, from: start))"
                )
            }
            switch event {
            case .frame(let frame) where frame.typeName == "Pong" && frame.frame.requestID == id:
                return
            case .frame:
                kept.append(event)
            case .failure(let message):
                throw StepStop.fail("sync: \(message)")
            case .closed(let code):
                kept.append(event)
                let detail = code.map { " (WebSocket status \($0))" } ?? ""
                throw StepStop.fail("sync: the server closed the connection before answering the Ping\(detail)")
            }
        }
    }

    private func waitTimer(_ step: WaitTimerStep) async throws {
        // The server's timer runs at its own pace: only the slack (`plusMs`) is scaled by --timeout-scale, so a
        // case that checks that something has NOT happened yet stays correct on a slow machine.
        var timerMilliseconds = 0.0
        if let timer = step.timer {
            guard let value = self.context.timers?[timer]?.integerValue else {
                throw StepStop.fail("waitTimer: no Welcome timer \(timer) is known")
            }
            timerMilliseconds = Double(value) * (step.factor ?? 1)
        }
        var slack = Duration.zero
        if let plus = step.plusMs {
            let plusMilliseconds = try Templating.integer(plus, in: self.context)
            // A negative slack shortens the wait (e.g. "just before the timer"); it is not scaled.
            slack = plusMilliseconds >= 0 ? self.environment.scaled(plusMilliseconds) : .milliseconds(plusMilliseconds)
        }
        let total = Duration.milliseconds(Int64(timerMilliseconds.rounded())) + slack
        if total > .zero {
            if let timer = step.timer {
                let whole = self.context.timers?[timer]?.integerValue ?? 0
                self.progress.waiting(
                    "waiting \(CaseBudget.text(total)) on the server's \(CaseBudget.text(.milliseconds(whole))) timer "
                        + timer
                )
            } else {
                self.progress.waiting("waiting \(CaseBudget.text(total))")
            }
            try await Task.sleep(for: total)
        }
    }

    private func drop(_ actor: String) async {
        if let connection = self.actors[actor]?.connection {
            await connection.drop()
        }
        self.actors[actor] = ActorState()
    }

    private func expectClosed(_ step: ExpectClosedStep) async throws {
        let actor = step.actor
        defer { self.disarmOptionals(actor) }
        let ignore = step.ignore.map(Set.init) ?? Self.defaultIgnore
        let start = ContinuousClock.now
        let deadline = try self.deadline(step.withinMs)
        guard self.actors[actor]?.connection != nil || !(self.actors[actor]?.pending.isEmpty ?? true) else {
            throw StepStop.fail("actor \(actor) has no connection")
        }
        while true {
            guard let event = await self.nextEvent(actor, until: deadline) else {
                throw StepStop.fail(
                    "expected the server to close the connection within \(self.describe(deadline, from: start)); "
                        + "it is still open"
                )
            }
            switch event {
            case .frame(let frame):
                if ignore.contains(frame.typeName) { continue }
                throw StepStop.fail("expected the server to close the connection, got \(frame.summary)")
            case .failure(let message):
                throw StepStop.fail("expected the server to close the connection; \(message)")
            case .closed(let code):
                self.actors[actor] = ActorState()
                if let matcher = step.closeCode, self.environment.connector.target.transport.isWebSocket {
                    let expected = try Templating.resolve(json: matcher, in: self.context)
                    let result = PayloadMatcher.match(
                        expected,
                        against: code.map { .int(Int64($0)) },
                        path: "WebSocket close status"
                    )
                    guard result.isMatch else { throw StepStop.fail(result.explanation) }
                }
                return
            }
        }
    }
}

// MARK: - Crowds

extension CaseRun {
    /// What one crowd member's run of the `forEach` steps left behind.
    fileprivate struct MemberOutcome: Sendable {
        var index: Int
        var state: ActorState
        var stop: StepStop?
    }

    /// The size of a crowd, evaluated (against the limits known now) when the crowd is first used.
    private func crowdSize(_ crowd: String) throws -> Int {
        if let size = self.crowdSizes[crowd] { return size }
        guard let expression = self.scenario.crowds?[crowd] else {
            throw StepStop.fail("forEach: the case declares no crowd \"\(crowd)\"")
        }
        let size = try Templating.integer(expression, in: self.context)
        guard size >= 0, size <= Crowd.maximumSize else {
            throw StepStop.fail(
                "crowd \(crowd): size \(expression) is \(size), not between 0 and \(Crowd.maximumSize)"
            )
        }
        self.crowdSizes[crowd] = Int(size)
        return Int(size)
    }

    /// Runs the steps for every member of the crowd, at most `concurrency` members at a time; each member keeps its
    /// connection for later steps. The first member that fails stops the others and fails the step.
    fileprivate func forEach(_ step: ForEachStep, label: String) async throws {
        let crowd = step.crowd
        let size = try self.crowdSize(crowd)
        let concurrency =
            try step.concurrency.map { try Templating.integer($0, in: self.context) }
            ?? ForEachStep.defaultConcurrency
        guard concurrency >= 1 else { throw StepStop.fail("forEach: concurrency \(concurrency) is less than 1") }
        let scenario = self.scenario
        let environment = self.environment
        let recorder = self.recorder
        let registry = self.registry
        let progress = self.progress
        let context = self.context
        let sawWelcome = self.sawWelcome
        let topIndex = self.topIndex
        var states: [Int: ActorState] = [:]
        for index in 0..<size {
            states[index] = self.actors[Crowd.memberName(crowd, index)] ?? ActorState()
        }
        var failure: StepStop?
        await withTaskGroup(of: MemberOutcome.self) { group in
            var next = 0
            func startNext() {
                guard next < size else { return }
                let index = next
                next += 1
                let member = Crowd.memberName(crowd, index)
                let state = states[index] ?? ActorState()
                let steps = Crowd.steps(step.steps, of: crowd, for: member)
                group.addTask {
                    let run = CaseRun(
                        scenario: scenario,
                        environment: environment,
                        recorder: recorder,
                        registry: registry,
                        progress: progress
                    )
                    run.context = context
                    run.context.iteration = index
                    run.actors = [member: state]
                    run.sawWelcome = sawWelcome
                    run.topIndex = topIndex
                    var stop: StepStop?
                    do {
                        try await run.run(steps, path: "\(label) member \(member): steps", top: false)
                    } catch let error as StepStop {
                        stop = error
                    } catch is CancellationError {
                        stop = .error("cancelled")
                    } catch {
                        stop = .error("\(error)")
                    }
                    return MemberOutcome(index: index, state: run.actors[member] ?? ActorState(), stop: stop)
                }
            }
            for _ in 0..<min(Int(concurrency), size) {
                startNext()
            }
            while let outcome = await group.next() {
                states[outcome.index] = outcome.state
                if let stop = outcome.stop, failure == nil {
                    failure = stop
                    group.cancelAll()
                }
                if failure == nil {
                    startNext()
                }
            }
        }
        for (index, state) in states {
            self.actors[Crowd.memberName(crowd, index)] = state
        }
        if let failure {
            throw failure
        }
    }
}

extension Optional {
    fileprivate func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async throws -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}

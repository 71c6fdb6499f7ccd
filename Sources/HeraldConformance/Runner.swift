import Foundation
import HeraldMessages
import HeraldWire
import NIOCore

/// The target could not be reached, or did not complete a handshake (the CLI exits with status 3).
public struct ProbeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public var description: String
    /// The target answered the probe's `Hello` with `Disconnect` `DISCONNECT_REASON_HANDSHAKE_TIMEOUT`: the
    /// runner's own client stalled before sending it.
    public var isHandshakeTimeout = false

    /// Creates an error.
    public init(_ description: String) {
        self.description = description
    }
}

/// Progress of a run, for console reporters.
public enum RunProgress: Sendable {
    /// A case started; `index` is its position among the selected cases (0-based).
    case started(CorpusCase, index: Int, total: Int)
    /// A case finished.
    case finished(CaseResult, index: Int, total: Int)
}

/// Selects cases and runs them against a target, several at a time.
public struct Runner: Sendable {
    /// The default number of cases run at once: four per processor core, at least 4.
    public static var defaultConcurrency: Int {
        max(4, ProcessInfo.processInfo.activeProcessorCount * 4)
    }

    /// The shared settings of every case.
    public var environment: ExecutionEnvironment
    /// How many cases run at once (1 runs them one after the other).
    public var concurrency: Int

    /// Creates a runner.
    public init(environment: ExecutionEnvironment, concurrency: Int = Runner.defaultConcurrency) {
        self.environment = environment
        self.concurrency = max(1, concurrency)
    }

    /// Runs the cases, at most ``concurrency`` at a time, and returns their results in the order given.
    ///
    /// Cases start longest first (by the server-timer part of their ``CaseBudget``), so that the few that wait
    /// minutes on the server's timers overlap with everything else instead of ending the run. Cases with crowds run
    /// one at a time, so that hundreds of crowd connections do not starve the other cases' clients. A case that ends
    /// in ``Verdict/error`` (the runner's own client could not connect or complete its handshake or login in time,
    /// or the case failed while the runner itself was stalled, ``CaseExecutor/stallThreshold``) is run once more
    /// alone after the others; its result keeps the first attempt in
    /// ``CaseResult/firstAttempt``. Cases marked ``ScenarioCase/exclusive`` (they restart the target) run one at a
    /// time after all the others, with no other case in flight.
    ///
    /// - Parameter progress: Called when each case starts and finishes (from any task); a case that is rerun is
    ///   reported finished once, with its final result.
    public func run(
        _ cases: [CorpusCase],
        progress: @escaping @Sendable (RunProgress) -> Void = { _ in }
    ) async -> [CaseResult] {
        // The runner measures its own lag, which decides whether a failure seen while it stalled is trusted.
        guard self.environment.lag != nil else {
            var measured = self.environment
            let lag = RunnerLag()
            measured.lag = lag
            let runner = Runner(environment: measured, concurrency: self.concurrency)
            return await lag.measuring { await runner.run(cases, progress: progress) }
        }
        let executor = CaseExecutor(environment: self.environment)
        let total = cases.count
        // Cases that restart the target run alone after all others (below), so no other case is in flight.
        let order = Self.schedule(cases, welcome: self.environment.probe?.welcome).filter {
            !cases[$0].scenario.exclusive
        }
        let crowdGate = AsyncGate()
        var results = [CaseResult?](repeating: nil, count: total)
        await withTaskGroup(of: (Int, CaseResult).self) { group in
            var next = 0
            func startNext() {
                guard next < order.count else { return }
                let index = order[next]
                let item = cases[index]
                next += 1
                group.addTask {
                    let hasCrowds = !(item.scenario.crowds ?? [:]).isEmpty
                    if hasCrowds { await crowdGate.enter() }
                    progress(.started(item, index: index, total: total))
                    let result = await executor.run(item)
                    if hasCrowds { await crowdGate.leave() }
                    if result.verdict != .error {
                        progress(.finished(result, index: index, total: total))
                    }
                    return (index, result)
                }
            }
            for _ in 0..<min(self.concurrency, total) {
                startNext()
            }
            while let (index, result) = await group.next() {
                results[index] = result
                startNext()
            }
        }
        // Rerun the cases whose own clients did not get through, one at a time, with nothing else running.
        var alone = self.environment
        alone.alone = true
        let soloExecutor = CaseExecutor(environment: alone)
        for index in results.indices where results[index] == nil {
            progress(.started(cases[index], index: index, total: total))
            let result = await soloExecutor.run(cases[index])
            results[index] = result
            progress(.finished(result, index: index, total: total))
        }
        for index in results.indices where !cases[index].scenario.exclusive {
            guard let first = results[index], first.verdict == .error else { continue }
            progress(.started(cases[index], index: index, total: total))
            var result = await soloExecutor.run(cases[index])
            result.firstAttempt = FirstAttempt(
                verdict: first.verdict,
                message: first.message,
                durationMs: first.durationMs
            )
            results[index] = result
            progress(.finished(result, index: index, total: total))
        }
        return results.map { $0! }
    }

    /// The order in which to start the cases: indices into `cases`, the longest server-timer waits first, then in
    /// corpus order.
    static func schedule(_ cases: [CorpusCase], welcome: JSONValue?) -> [Int] {
        let waits = cases.map {
            CaseBudget(scenario: $0.scenario, welcome: welcome, defaultBaseMs: 0, timeoutScale: 1).serverTimers
        }
        return cases.indices.sorted { (waits[$1], $0) < (waits[$0], $1) }
    }

    // MARK: - Selection

    /// The cases whose id matches a `filter` pattern (all when `filter` is empty) and no `skip` pattern, in corpus
    /// order. Patterns are globs: `*` matches any run of characters (dots included), `?` one character.
    public static func select(_ cases: [CorpusCase], filter: [String], skip: [String]) -> [CorpusCase] {
        cases.filter { item in
            (filter.isEmpty || filter.contains { Self.glob($0, matches: item.id) })
                && !skip.contains { Self.glob($0, matches: item.id) }
        }
    }

    /// Whether `text` matches the glob `pattern` (`*` any run of characters, `?` one character).
    public static func glob(_ pattern: String, matches text: String) -> Bool {
        let pattern = Array(pattern)
        let text = Array(text)
        var patternIndex = 0
        var textIndex = 0
        var starPattern = -1
        var starText = 0
        while textIndex < text.count {
            if patternIndex < pattern.count
                && (pattern[patternIndex] == "?" || pattern[patternIndex] == text[textIndex])
            {
                patternIndex += 1
                textIndex += 1
            } else if patternIndex < pattern.count && pattern[patternIndex] == "*" {
                starPattern = patternIndex
                starText = textIndex
                patternIndex += 1
            } else if starPattern >= 0 {
                patternIndex = starPattern + 1
                starText += 1
                textIndex = starText
            } else {
                return false
            }
        }
        while patternIndex < pattern.count && pattern[patternIndex] == "*" {
            patternIndex += 1
        }
        return patternIndex == pattern.count
    }

    // MARK: - Probe

    /// Connects once, sends the standard `Hello` and waits for `Welcome`: checks that the target is reachable and
    /// speaks Herald before any case runs.
    ///
    /// - Throws: ``ProbeError`` when the connection fails or no `Welcome` arrives within `timeout`.
    ///
    /// - Parameters:
    ///   - capabilities: The capabilities the `Hello` asks for; empty (the default) asks for everything the target
    ///     offers (HS-15).
    ///   - lag: The runner's lag monitor: the wait for `Welcome` is extended by the time the runner could not run (a
    ///     busy machine is not an unreachable target).
    public static func probe(
        connector: ClientConnector,
        timeout: Duration = .seconds(10),
        clientName: String = "herald-conform",
        capabilities: [String] = [],
        lag: RunnerLag? = nil
    ) async throws(ProbeError) -> ProbeResult {
        // A target that times out the probe's Hello (HS-4) saw the runner's own client stall between connecting and
        // sending it (a busy machine): the probe tries again, up to three times in all.
        var attempt = 1
        while true {
            do {
                return try await Self.probeOnce(
                    connector: connector,
                    timeout: timeout,
                    clientName: clientName,
                    capabilities: capabilities,
                    lag: lag
                )
            } catch  where error.isHandshakeTimeout && attempt < 3 {
                attempt += 1
            }
        }
    }

    private static func probeOnce(
        connector: ClientConnector,
        timeout: Duration,
        clientName: String,
        capabilities: [String],
        lag: RunnerLag?
    ) async throws(ProbeError) -> ProbeResult {
        let recorder = TranscriptRecorder()
        let connection: ConformanceConnection
        do {
            connection = try await connector.connect(actor: "probe", recorder: recorder)
        } catch {
            throw ProbeError("cannot reach \(connector.target): \(error.description)")
        }
        do {
            var hello = Herald_V1_Hello()
            hello.versions = [1]
            hello.clientName = clientName
            hello.capabilities = capabilities
            try await connection.send(try HeraldFrame(requestID: 1, message: hello))
        } catch {
            await connection.close()
            throw ProbeError("cannot send Hello to \(connector.target): \(error)")
        }
        let result = await Self.awaitWelcome(
            connection,
            target: connector.target,
            until: LagAdjustedDeadline(.now + timeout, lag: lag)
        )
        await connection.close()
        return try result.get()
    }

    private static func awaitWelcome(
        _ connection: ConformanceConnection,
        target: Target,
        until deadline: LagAdjustedDeadline
    ) async -> Result<ProbeResult, ProbeError> {
        var deadline = deadline
        var next = await connection.nextEvent(until: deadline.instant)
        while next == nil && !deadline.expired() {
            next = await connection.nextEvent(until: deadline.instant)
        }
        guard let event = next else {
            return .failure(ProbeError("\(target) did not answer Hello with Welcome in time"))
        }
        switch event {
        case .frame(let frame) where frame.typeName == "Welcome":
            guard let rendering = frame.rendering else {
                return .failure(ProbeError("\(target) sent a Welcome that does not parse: \(frame.decodeError ?? "")"))
            }
            return .success(ProbeResult(welcome: rendering.full))
        case .frame(let frame):
            var error = ProbeError("\(target) answered Hello with \(frame.summary) instead of Welcome")
            error.isHandshakeTimeout =
                frame.typeName == "Disconnect"
                && frame.rendering?.full["reason"]?.stringValue == "DISCONNECT_REASON_HANDSHAKE_TIMEOUT"
            return .failure(error)
        case .failure(let message):
            return .failure(ProbeError("\(target) failed the handshake: \(message)"))
        case .closed(let code):
            let detail = code.map { " (WebSocket status \($0))" } ?? ""
            return .failure(ProbeError("\(target) closed the connection instead of answering Hello\(detail)"))
        }
    }
}

/// An asynchronous mutual-exclusion gate: ``enter()`` waits until no other task is inside, first come first served.
actor AsyncGate {
    private var occupied = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    /// Waits for the gate, then holds it.
    func enter() async {
        if !self.occupied {
            self.occupied = true
            return
        }
        await withCheckedContinuation { self.waiting.append($0) }
    }

    /// Releases the gate to the next waiting task, if any.
    func leave() {
        if self.waiting.isEmpty {
            self.occupied = false
        } else {
            self.waiting.removeFirst().resume()
        }
    }
}

import Foundation
import HeraldMessages
import HeraldWire
import NIOCore

/// The target could not be reached, or did not complete a handshake (the CLI exits with status 3).
public struct ProbeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public var description: String

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
    /// - Parameter progress: Called when each case starts and finishes (from any task).
    public func run(
        _ cases: [CorpusCase],
        progress: @escaping @Sendable (RunProgress) -> Void = { _ in }
    ) async -> [CaseResult] {
        let executor = CaseExecutor(environment: self.environment)
        let total = cases.count
        var results = [CaseResult?](repeating: nil, count: total)
        await withTaskGroup(of: (Int, CaseResult).self) { group in
            var next = 0
            func startNext() {
                guard next < total else { return }
                let index = next
                let item = cases[index]
                next += 1
                group.addTask {
                    progress(.started(item, index: index, total: total))
                    let result = await executor.run(item)
                    progress(.finished(result, index: index, total: total))
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
        return results.map { $0! }
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
    public static func probe(
        connector: ClientConnector,
        timeout: Duration = .seconds(10),
        clientName: String = "herald-conform"
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
            try await connection.send(try HeraldFrame(requestID: 1, message: hello))
        } catch {
            await connection.close()
            throw ProbeError("cannot send Hello to \(connector.target): \(error)")
        }
        let result = await Self.awaitWelcome(connection, target: connector.target, until: .now + timeout)
        await connection.close()
        return try result.get()
    }

    private static func awaitWelcome(
        _ connection: ConformanceConnection,
        target: Target,
        until deadline: ContinuousClock.Instant
    ) async -> Result<ProbeResult, ProbeError> {
        guard let event = await connection.nextEvent(until: deadline) else {
            return .failure(ProbeError("\(target) did not answer Hello with Welcome in time"))
        }
        switch event {
        case .frame(let frame) where frame.typeName == "Welcome":
            guard let rendering = frame.rendering else {
                return .failure(ProbeError("\(target) sent a Welcome that does not parse: \(frame.decodeError ?? "")"))
            }
            return .success(ProbeResult(welcome: rendering.full))
        case .frame(let frame):
            return .failure(ProbeError("\(target) answered Hello with \(frame.summary) instead of Welcome"))
        case .failure(let message):
            return .failure(ProbeError("\(target) failed the handshake: \(message)"))
        case .closed(let code):
            let detail = code.map { " (WebSocket status \($0))" } ?? ""
            return .failure(ProbeError("\(target) closed the connection instead of answering Hello\(detail)"))
        }
    }
}

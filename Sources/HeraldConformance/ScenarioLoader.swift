import Foundation
import HeraldEngine
import HeraldMessages
import HeraldSpec
import HeraldWire
import SwiftProtobuf
import Synchronization

/// A case of the corpus with the file it came from.
public struct CorpusCase: Sendable, Hashable {
    /// The case.
    public var scenario: ScenarioCase
    /// The chapter of its file, e.g. `04-handshake`.
    public var chapter: String
    /// The file name, e.g. `04-handshake.json`.
    public var file: String

    /// Creates a corpus case.
    public init(scenario: ScenarioCase, chapter: String, file: String) {
        self.scenario = scenario
        self.chapter = chapter
        self.file = file
    }

    /// The case id.
    public var id: String {
        self.scenario.id
    }
}

/// Every scenario file of a directory, validated.
public struct ScenarioCorpus: Sendable {
    /// The files by name, in name order.
    public var files: [(name: String, file: ScenarioFile)]
    /// Every case in corpus order: files by name, cases in file order.
    public var cases: [CorpusCase]

    /// Creates a corpus from files already validated.
    public init(files: [(name: String, file: ScenarioFile)]) {
        self.files = files
        self.cases = files.flatMap { entry in
            entry.file.cases.map { CorpusCase(scenario: $0, chapter: entry.file.chapter, file: entry.name) }
        }
    }
}

/// One problem of a scenario file.
public struct ScenarioProblem: Sendable, Hashable, CustomStringConvertible {
    /// The file name.
    public var file: String
    /// The case id, when the problem is inside a case.
    public var caseID: String?
    /// Where inside the case, e.g. `steps[3].expect.payload`.
    public var location: String?
    /// What is wrong.
    public var message: String

    /// Creates a problem.
    public init(file: String, caseID: String? = nil, location: String? = nil, message: String) {
        self.file = file
        self.caseID = caseID
        self.location = location
        self.message = message
    }

    /// `04-handshake.json: case handshake.ping.pong, steps[2].send: message`.
    public var description: String {
        var text = self.file
        if let caseID { text += ": case \(caseID)" }
        if let location { text += (self.caseID == nil ? ": " : ", ") + location }
        return text + ": " + self.message
    }
}

/// Scenario files that cannot be used; every problem found is listed.
public struct ScenarioLoadError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The problems, in file order.
    public var problems: [ScenarioProblem]

    /// Creates an error.
    public init(problems: [ScenarioProblem]) {
        self.problems = problems
    }

    /// One problem per line.
    public var description: String {
        self.problems.map(\.description).joined(separator: "\n")
    }
}

/// Reads and validates scenario files (the format of Vectors/scenarios/README.md).
///
/// Validation: the JSON decodes into the model (unknown keys are errors); case ids are unique across files and match
/// ``casePattern``; requirement ids exist in the Spec's requirement index (when one is available); `level` is
/// `MUST`, `SHOULD` or `MAY`; capability names are Herald v1 capabilities; steps name declared actors; message names
/// exist; payloads parse as their message types; matcher operators and templates are well formed.
public struct ScenarioLoader: Sendable {
    /// The corpus directory relative to the package root.
    public static let defaultDirectory = "Vectors/scenarios"
    /// Files of the scenario directory that are not scenario files.
    public static let ignoredFileNames: Set<String> = ["waivers.json"]
    /// The syntax of case ids.
    public static let casePattern = "^[a-z0-9]+(-[a-z0-9]+)*(\\.[a-z0-9-]+)+$"
    /// The syntax of actor names.
    public static let actorPattern = "^[a-z][a-z0-9_]*$"
    /// The levels a case may have.
    public static let levels = ["MUST", "SHOULD", "MAY"]
    /// The names of the schema's `RateClass` values other than `RATE_CLASS_UNSPECIFIED` (a case's `rateClasses`).
    public static let rateClassNames: Set<String> = Set(
        Herald_V1_RateClass.allCases.compactMap { value in
            var limit = Herald_V1_RateLimit()
            limit.rateClass = value
            return (try? limit.jsonString())?.split(separator: "\"").dropFirst(3).first.map(String.init)
        }.filter { $0.hasPrefix("RATE_CLASS_") && $0 != "RATE_CLASS_UNSPECIFIED" }
    )

    /// The requirement ids that exist; `nil` skips the check (no Spec directory available).
    public var requirementIDs: Set<String>?

    /// Creates a loader that checks requirement ids against `requirementIDs` (or not at all).
    public init(requirementIDs: Set<String>? = nil) {
        self.requirementIDs = requirementIDs
    }

    /// Creates a loader that checks requirement ids against the Spec in `specDirectory`, when that directory
    /// exists and parses; otherwise requirement ids are not checked.
    public init(specDirectory: String?) {
        guard let specDirectory, FileManager.default.fileExists(atPath: specDirectory) else {
            self.requirementIDs = nil
            return
        }
        let index = try? RequirementIndex(specDirectory: URL(fileURLWithPath: specDirectory))
        self.requirementIDs = index.flatMap { $0.requirements.isEmpty ? nil : $0.ids }
    }

    /// Loads every `*.json` file of `directory` (except ``ignoredFileNames``) in name order.
    ///
    /// - Throws: ``ScenarioLoadError`` listing every problem of every file.
    public func load(directory: String = ScenarioLoader.defaultDirectory) throws(ScenarioLoadError) -> ScenarioCorpus {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
                .filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") && !Self.ignoredFileNames.contains($0) }
                .sorted()
        } catch {
            throw ScenarioLoadError(problems: [
                ScenarioProblem(file: directory, message: "cannot read the scenario directory: \(error)")
            ])
        }
        var inputs: [(name: String, data: Data)] = []
        var problems: [ScenarioProblem] = []
        for name in names {
            let path = (directory as NSString).appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: path) else {
                problems.append(ScenarioProblem(file: name, message: "cannot read the file"))
                continue
            }
            inputs.append((name, data))
        }
        do {
            let corpus = try self.load(files: inputs)
            if problems.isEmpty { return corpus }
        } catch {
            problems += error.problems
        }
        throw ScenarioLoadError(problems: problems)
    }

    /// Loads scenario files given as bytes.
    ///
    /// - Throws: ``ScenarioLoadError`` listing every problem of every file, including duplicate case ids.
    ///
    /// The corpora of the last few sets of files are kept for the life of the process (the runner and the tests load
    /// the built-in corpus again and again, and decoding it is long synchronous work).
    public func load(files: [(name: String, data: Data)]) throws(ScenarioLoadError) -> ScenarioCorpus {
        let key = CorpusKey(requirementIDs: self.requirementIDs, names: files.map(\.name), data: files.map(\.data))
        if let cached = Self.corpusCache.withLock({ $0[key] }) {
            return cached
        }
        let corpus = try self.decode(files: files)
        Self.corpusCache.withLock { cache in
            if cache.count >= 8 { cache.removeAll() }
            cache[key] = corpus
        }
        return corpus
    }

    /// What a loaded corpus depends on.
    private struct CorpusKey: Hashable {
        var requirementIDs: Set<String>?
        var names: [String]
        var data: [Data]
    }

    private static let corpusCache = Mutex<[CorpusKey: ScenarioCorpus]>([:])

    private func decode(files: [(name: String, data: Data)]) throws(ScenarioLoadError) -> ScenarioCorpus {
        var problems: [ScenarioProblem] = []
        var loaded: [(name: String, file: ScenarioFile)] = []
        var firstFile: [String: String] = [:]
        for (name, data) in files.sorted(by: { $0.name < $1.name }) {
            do {
                let file = try self.decode(data, fileName: name)
                problems += self.validate(file, fileName: name)
                for scenario in file.cases {
                    if let other = firstFile[scenario.id] {
                        problems.append(
                            ScenarioProblem(
                                file: name,
                                caseID: scenario.id,
                                message: "duplicate case id (also in \(other)); ids are unique across the corpus"
                            )
                        )
                    } else {
                        firstFile[scenario.id] = name
                    }
                }
                loaded.append((name, file))
            } catch {
                problems += error.problems
            }
        }
        guard problems.isEmpty else { throw ScenarioLoadError(problems: problems) }
        return ScenarioCorpus(files: loaded)
    }

    /// Decodes one file (without the semantic checks of ``validate(_:fileName:)``).
    ///
    /// - Throws: ``ScenarioLoadError`` whose problem names the file, the case id and the step.
    public func decode(_ data: Data, fileName: String) throws(ScenarioLoadError) -> ScenarioFile {
        do {
            return try JSONDecoder().decode(ScenarioFile.self, from: data)
        } catch let error as DecodingError {
            throw ScenarioLoadError(problems: [Self.problem(for: error, data: data, fileName: fileName)])
        } catch {
            throw ScenarioLoadError(problems: [ScenarioProblem(file: fileName, message: "\(error)")])
        }
    }

    private static func problem(for error: DecodingError, data: Data, fileName: String) -> ScenarioProblem {
        let path: [any CodingKey]
        let message: String
        switch error {
        case .dataCorrupted(let context):
            path = context.codingPath
            if context.codingPath.isEmpty {
                let underlying = context.underlyingError.map { ": \($0)" } ?? ""
                message = "not valid JSON (\(context.debugDescription))\(underlying)"
            } else {
                message = context.debugDescription
            }
        case .keyNotFound(let key, let context):
            path = context.codingPath
            message = "missing key \"\(key.stringValue)\""
        case .typeMismatch(let type, let context):
            path = context.codingPath
            message = "wrong type (expected \(Self.jsonTypeName(type)))"
        case .valueNotFound(let type, let context):
            path = context.codingPath
            message = "null where \(Self.jsonTypeName(type)) is expected"
        @unknown default:
            return ScenarioProblem(file: fileName, message: "\(error)")
        }
        // Name the case by its id, found in a lenient parse of the file.
        var caseID: String?
        var location: [String] = []
        var index = 0
        if path.count >= 2, path[0].stringValue == "cases", let caseIndex = path[1].intValue {
            let json = try? JSONValue(parsing: data)
            caseID = json?["cases"]?.arrayValue.flatMap {
                caseIndex < $0.count ? $0[caseIndex]["id"]?.stringValue : nil
            }
            if caseID == nil { caseID = "#\(caseIndex)" }
            index = 2
        }
        while index < path.count {
            let key = path[index]
            if let number = key.intValue, !location.isEmpty {
                location[location.count - 1] += "[\(number)]"
            } else {
                location.append(key.stringValue)
            }
            index += 1
        }
        return ScenarioProblem(
            file: fileName,
            caseID: caseID,
            location: location.isEmpty ? nil : location.joined(separator: "."),
            message: message
        )
    }

    private static func jsonTypeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type, is Double.Type: "a number"
        case is Bool.Type: "true or false"
        default:
            String(describing: type).hasPrefix("Array") ? "an array" : "an object"
        }
    }

    // MARK: - Validation

    /// Checks one decoded file.
    ///
    /// - Returns: Every problem found.
    public func validate(_ file: ScenarioFile, fileName: String) -> [ScenarioProblem] {
        var problems: [ScenarioProblem] = []
        if file.suite != ScenarioFile.suiteName {
            problems.append(ScenarioProblem(file: fileName, message: "suite must be \"\(ScenarioFile.suiteName)\""))
        }
        if file.schemaVersion != ScenarioFile.currentSchemaVersion {
            problems.append(
                ScenarioProblem(
                    file: fileName,
                    message: "schemaVersion \(file.schemaVersion) is not supported (this runner reads "
                        + "\(ScenarioFile.currentSchemaVersion))"
                )
            )
        }
        if file.protocolVersion != 1 {
            problems.append(ScenarioProblem(file: fileName, message: "protocolVersion must be 1"))
        }
        var seen: Set<String> = []
        for scenario in file.cases {
            if !seen.insert(scenario.id).inserted {
                problems.append(ScenarioProblem(file: fileName, caseID: scenario.id, message: "duplicate case id"))
            }
            var checker = CaseChecker(scenario: scenario, requirementIDs: self.requirementIDs)
            checker.check()
            problems += checker.problems.map {
                ScenarioProblem(file: fileName, caseID: scenario.id, location: $0.location, message: $0.message)
            }
        }
        return problems
    }
}

/// The semantic checks of one case.
private struct CaseChecker {
    let scenario: ScenarioCase
    let requirementIDs: Set<String>?
    var problems: [(location: String?, message: String)] = []
    /// `as` name → message name of the request.
    var requestTypes: [String: String] = [:]

    /// The v1 capabilities and the extensions the suite knows (`herald.test-control`, Spec/18-test-control.md).
    static let capabilityNames = Set((Capability.allV1 + [.testControl]).map(\.name))
    static let transportNames: Set<String> = ["tcp", "tls", "ws", "wss"]
    static let timerNames = Set(FieldTable.fields(of: Herald_V1_ServerTimers.self).map(\.jsonName))

    init(scenario: ScenarioCase, requirementIDs: Set<String>?) {
        self.scenario = scenario
        self.requirementIDs = requirementIDs
    }

    mutating func problem(_ location: String?, _ message: String) {
        self.problems.append((location, message))
    }

    mutating func check() {
        let scenario = self.scenario
        if scenario.id.range(of: ScenarioLoader.casePattern, options: .regularExpression) == nil {
            self.problem("id", "\"\(scenario.id)\" does not match \(ScenarioLoader.casePattern)")
        }
        if scenario.title.trimmingCharacters(in: .whitespaces).isEmpty {
            self.problem("title", "the title is empty")
        }
        if scenario.requirements.isEmpty {
            self.problem("requirements", "a case checks at least one requirement")
        }
        for requirement in scenario.requirements {
            if let ids = self.requirementIDs, !ids.contains(requirement) {
                self.problem("requirements", "\(requirement) is not a requirement of the Spec")
            }
        }
        if Set(scenario.requirements).count != scenario.requirements.count {
            self.problem("requirements", "a requirement is listed twice")
        }
        if !ScenarioLoader.levels.contains(scenario.level) {
            self.problem("level", "\"\(scenario.level)\" is not one of MUST, SHOULD, MAY")
        }
        for capability in scenario.capabilities where !Self.capabilityNames.contains(capability) {
            self.problem(
                "capabilities",
                "\"\(capability)\" is not a Herald v1 capability or a known extension ("
                    + Self.capabilityNames.sorted().joined(separator: ", ") + ")"
            )
        }
        for rateClass in scenario.rateClasses where !ScenarioLoader.rateClassNames.contains(rateClass) {
            self.problem(
                "rateClasses",
                "\"\(rateClass)\" is not a Herald v1 rate class ("
                    + ScenarioLoader.rateClassNames.sorted().joined(separator: ", ")
                    + ")"
            )
        }
        if scenario.actors.isEmpty {
            self.problem("actors", "a case declares at least one actor")
        }
        for actor in scenario.actors
        where actor.range(of: ScenarioLoader.actorPattern, options: .regularExpression) == nil {
            self.problem("actors", "actor name \"\(actor)\" does not match \(ScenarioLoader.actorPattern)")
        }
        if Set(scenario.actors).count != scenario.actors.count {
            self.problem("actors", "an actor is declared twice")
        }
        for crowd in (scenario.crowds ?? [:]).keys.sorted() {
            if crowd.range(of: ScenarioLoader.actorPattern, options: .regularExpression) == nil {
                self.problem("crowds", "crowd name \"\(crowd)\" does not match \(ScenarioLoader.actorPattern)")
            }
            if scenario.actors.contains(crowd) {
                self.problem("crowds", "\"\(crowd)\" is both an actor and a crowd")
            }
            let size = scenario.crowds![crowd]!
            if case .literal(let value) = size, value < 0 || value > Crowd.maximumSize {
                self.problem("crowds.\(crowd)", "a crowd has 0 to \(Crowd.maximumSize) members")
            }
            self.checkInt(size, at: "crowds.\(crowd)")
        }
        for transport in scenario.transports ?? [] where !Self.transportNames.contains(transport) {
            self.problem("transports", "\"\(transport)\" is not one of tcp, tls, ws, wss")
        }
        if let timeout = scenario.timeoutMs, timeout <= 0 {
            self.problem("timeoutMs", "the budget must be positive")
        }
        if scenario.steps.isEmpty {
            self.problem("steps", "a case has at least one step")
        }
        self.collectRequests(scenario.steps)
        self.check(steps: scenario.steps, path: "steps")
    }

    mutating func collectRequests(_ steps: [Step]) {
        for step in steps {
            switch step {
            case .send(let send):
                if let name = send.as { self.requestTypes[name] = send.type }
            case .repeat(let body):
                self.collectRequests(body.steps)
            case .forEach(let body):
                self.collectRequests(body.steps)
            default:
                break
            }
        }
    }

    /// - Parameter crowd: The crowd of the enclosing `forEach`: inside it, steps act on that crowd's member only.
    mutating func check(steps: [Step], path: String, crowd: String? = nil) {
        for (index, step) in steps.enumerated() {
            let location = "\(path)[\(index)].\(step.kind)"
            if let actor = step.actor {
                if let crowd {
                    if actor != crowd {
                        self.problem(
                            location,
                            "inside forEach over \(crowd), steps act on the member (\"actor\": \"\(crowd)\"), not on "
                                + "\"\(actor)\""
                        )
                    }
                } else if self.scenario.crowds?[actor] != nil {
                    self.problem(location, "crowd \"\(actor)\" acts only inside a forEach step")
                } else if !self.scenario.actors.contains(actor) {
                    self.problem(location, "actor \"\(actor)\" is not declared in actors")
                }
            }
            self.check(step, location, crowd: crowd)
        }
    }

    /// Whether `text` is an HTTP token (RFC 9110 §5.6.2), as a WebSocket subprotocol name must be.
    static func isHTTPToken(_ text: String) -> Bool {
        !text.isEmpty
            && text.utf8.allSatisfy { byte in
                (0x21...0x7E).contains(byte) && !"\"(),/:;<=>?@[\\]{}".utf8.contains(byte)
            }
    }

    mutating func check(_ step: Step, _ location: String, crowd: String?) {
        switch step {
        case .connect(let connect), .reconnect(let connect):
            if case .custom(let hello) = connect.hello {
                self.checkPayload(hello, type: "Hello", at: location + ".hello", matcher: false)
            }
            if let welcome = connect.welcome {
                if connect.expectWelcome == false || connect.hello == .none {
                    self.problem(location + ".welcome", "a Welcome matcher needs a Hello and expectWelcome")
                }
                self.checkPayload(welcome, type: "Welcome", at: location + ".welcome", matcher: true)
            }
            self.checkInt(connect.withinMs, at: location + ".withinMs")
        case .login(let login):
            if let token = login.token {
                if TokenSpec(token) == nil {
                    self.problem(
                        location + ".token",
                        "unknown token kind \"\(token)\" (valid, none, expired, wrong-user:<name>, wrong-app, "
                            + "ttl:<seconds>, extra-claims, extra-header, nested-claims:<levels>, raw:<text>)"
                    )
                } else {
                    self.checkTemplates(token, at: location + ".token")
                }
            }
            if let appID = login.appId { self.checkTemplates(appID, at: location + ".appId") }
            if let result = login.expectResult {
                self.checkEnum(result, field: "result", type: "LoginResponse", at: location + ".expectResult")
            }
            self.checkInt(login.withinMs, at: location + ".withinMs")
        case .send(let send):
            if ProtoJSON.info(forType: send.type) == nil {
                self.problem(location + ".type", "\"\(send.type)\" is not a Herald v1 message with an opcode")
            } else if let payload = send.payload {
                self.checkPayload(payload, type: send.type, at: location + ".payload", matcher: false)
            }
            if let hex = send.payloadHex {
                if send.payload != nil {
                    self.problem(location, "give either payload or payloadHex, not both")
                }
                self.checkTemplates(hex, at: location + ".payloadHex")
                if !hex.contains("${") && HexText.decode(hex) == nil {
                    self.problem(location + ".payloadHex", "not an even number of hexadecimal digits")
                }
            }
            if let name = send.as { self.checkTemplates(name, at: location + ".as") }
            self.checkInt(send.requestId, at: location + ".requestId")
            self.checkInt(send.flags, at: location + ".flags")
        case .sendRaw(let raw):
            switch (raw.hex, raw.text, raw.webSocketPing) {
            case (let hex?, nil, nil):
                self.checkTemplates(hex, at: location + ".hex")
                if !hex.contains("${") && HexText.decode(hex) == nil {
                    self.problem(location + ".hex", "not an even number of hexadecimal digits")
                }
            case (nil, let text?, nil):
                self.checkTemplates(text, at: location + ".text")
            case (nil, nil, let ping?):
                self.checkTemplates(ping, at: location + ".webSocketPing")
                if !ping.contains("${") && HexText.decode(ping).map({ $0.count > 125 }) ?? true {
                    self.problem(
                        location + ".webSocketPing",
                        "not hexadecimal of at most 125 bytes (the largest control frame payload, RFC 6455 §5.5)"
                    )
                }
            default:
                self.problem(location, "give exactly one of hex, text and webSocketPing")
            }
        case .ack(let ack):
            if (ack.delivery == nil) == (ack.requestId == nil) {
                self.problem(location, "give exactly one of delivery and requestId")
            }
            if let result = ack.result {
                self.checkEnum(result, field: "result", type: "DeliveryAck", at: location + ".result")
            }
            self.checkInt(ack.requestId, at: location + ".requestId")
        case .expect(let body):
            if body.actor == nil { self.problem(location, "missing key \"actor\"") }
            self.checkExpect(body, at: location, nested: false)
            if body.optional == true {
                if body.withinMs != nil {
                    self.problem(location + ".withinMs", "an optional expect does not wait; withinMs has no meaning")
                }
                if body.ignore != nil {
                    self.problem(location + ".ignore", "an optional expect skips nothing; ignore has no meaning")
                }
            }
        case .expectAnyOf(let anyOf):
            if anyOf.alternatives.isEmpty { self.problem(location + ".alternatives", "no alternatives") }
            for (index, body) in anyOf.alternatives.enumerated() {
                self.checkExpect(body, at: location + ".alternatives[\(index)]", nested: true)
            }
            self.checkInt(anyOf.withinMs, at: location + ".withinMs")
            self.checkTypes(anyOf.ignore, at: location + ".ignore")
        case .expectUnordered(let unordered):
            if unordered.frames.isEmpty { self.problem(location + ".frames", "no frames") }
            for (index, body) in unordered.frames.enumerated() {
                self.checkExpect(body, at: location + ".frames[\(index)]", nested: true)
            }
            self.checkInt(unordered.withinMs, at: location + ".withinMs")
            self.checkTypes(unordered.ignore, at: location + ".ignore")
        case .expectNone(let none):
            self.checkTypes(none.types, at: location + ".types")
            self.checkInt(none.forMs, at: location + ".forMs")
        case .sync, .drop:
            break
        case .restartTarget(let restart):
            // A restart ends every other case's connections: such a case runs alone (Runner.run).
            if !scenario.exclusive {
                self.problem(location, "restartTarget needs a case with \"exclusive\": true")
            }
            self.checkInt(restart.withinMs, at: location + ".withinMs")
        case .webSocketUpgrade(let upgrade):
            if !(100...599).contains(upgrade.expectStatus) {
                self.problem(location + ".expectStatus", "\(upgrade.expectStatus) is not an HTTP status")
            }
            for (index, name) in upgrade.subprotocols.enumerated() where !Self.isHTTPToken(name) {
                self.problem(location + ".subprotocols[\(index)]", "\"\(name)\" is not an HTTP token (RFC 6455 §4.1)")
            }
            if let transports = scenario.transports, transports.contains(where: { $0 != "ws" && $0 != "wss" }) {
                self.problem(location, "webSocketUpgrade needs a case restricted to \"transports\": [\"ws\", \"wss\"]")
            } else if scenario.transports == nil {
                self.problem(location, "webSocketUpgrade needs a case restricted to \"transports\": [\"ws\", \"wss\"]")
            }
        case .waitTimer(let wait):
            if let timer = wait.timer, !Self.timerNames.contains(timer) {
                self.problem(
                    location + ".timer",
                    "\"\(timer)\" is not a ServerTimers field (\(Self.timerNames.sorted().joined(separator: ", ")))"
                )
            }
            if let factor = wait.factor, factor < 0 { self.problem(location + ".factor", "must not be negative") }
            if wait.timer == nil && wait.plusMs == nil { self.problem(location, "give timer, plusMs or both") }
            self.checkInt(wait.plusMs, at: location + ".plusMs")
        case .expectClosed(let closed):
            self.checkInt(closed.withinMs, at: location + ".withinMs")
            self.checkTypes(closed.ignore, at: location + ".ignore")
            if let code = closed.closeCode { self.checkMatcher(code, at: location + ".closeCode") }
        case .repeat(let body):
            self.checkInt(body.times, at: location + ".times")
            if body.steps.isEmpty { self.problem(location + ".steps", "no steps to repeat") }
            self.check(steps: body.steps, path: location + ".steps", crowd: crowd)
        case .forEach(let body):
            if let crowd {
                self.problem(location, "forEach steps do not nest (this one is inside forEach over \(crowd))")
            }
            if self.scenario.crowds?[body.crowd] == nil {
                let known = (self.scenario.crowds ?? [:]).keys.sorted()
                self.problem(
                    location + ".crowd",
                    "\"\(body.crowd)\" is not a crowd of the case ("
                        + (known.isEmpty ? "the case declares no crowds" : "crowds: " + known.joined(separator: ", "))
                        + ")"
                )
            }
            if case .literal(let value)? = body.concurrency, value < 1 {
                self.problem(location + ".concurrency", "at least 1 member runs at a time")
            }
            self.checkInt(body.concurrency, at: location + ".concurrency")
            if body.steps.isEmpty { self.problem(location + ".steps", "no steps for the members") }
            self.check(steps: body.steps, path: location + ".steps", crowd: body.crowd)
        }
    }

    mutating func checkExpect(_ body: ExpectBody, at location: String, nested: Bool) {
        if nested {
            if body.actor != nil { self.problem(location + ".actor", "give the actor on the enclosing step") }
            if body.withinMs != nil { self.problem(location + ".withinMs", "give withinMs on the enclosing step") }
            if body.ignore != nil { self.problem(location + ".ignore", "give ignore on the enclosing step") }
            if body.optional != nil { self.problem(location + ".optional", "only an expect step can be optional") }
        }
        var type = body.type
        if let type, ProtoJSON.info(forType: type) == nil {
            self.problem(location + ".type", "\"\(type)\" is not a Herald v1 message with an opcode")
            return
        }
        if let response = body.response {
            if let requestType = self.requestTypes[response] {
                let info = ProtoJSON.info(forType: requestType)
                if let responseOpcode = info?.responseOpcode {
                    let responseName = HeraldOpcodeTable.infoIncludingExtensions(for: responseOpcode)?.name
                    if type == nil { type = responseName }
                } else if type == nil {
                    self.problem(location + ".response", "\(requestType) has no response type; give type")
                }
                if let type, ProtoJSON.info(forType: type)?.kind == .event {
                    self.problem(
                        location + ".response",
                        "\(type) is an event (request id 0); check payload.requestId = \"${request:\(response)}\" "
                            + "instead"
                    )
                }
            } else if !response.contains("${") && !self.requestTypes.keys.contains(where: { $0.contains("${") }) {
                self.problem(location + ".response", "no send step has \"as\": \"\(response)\"")
            }
            self.checkTemplates(response, at: location + ".response")
        }
        guard let type else {
            if body.response == nil { self.problem(location, "give type, response or both") }
            return
        }
        if let payload = body.payload {
            self.checkPayload(payload, type: type, at: location + ".payload", matcher: true)
        }
        if let requestID = body.requestId { self.checkMatcher(requestID, at: location + ".requestId") }
        if let flags = body.flags { self.checkMatcher(flags, at: location + ".flags") }
        for (name, path) in body.capture ?? [:] where name.isEmpty || path.isEmpty {
            self.problem(location + ".capture", "a capture needs a name and a path")
        }
        self.checkInt(body.withinMs, at: location + ".withinMs")
        self.checkTypes(body.ignore, at: location + ".ignore")
    }

    mutating func checkPayload(_ payload: JSONValue, type: String, at location: String, matcher: Bool) {
        guard case .object = payload else {
            self.problem(location, "a payload is a JSON object")
            return
        }
        self.checkTemplates(in: payload, at: location)
        if matcher {
            for problem in PayloadMatcher.problems(in: payload, path: location) {
                self.problem(nil, problem)
            }
        } else if Self.containsOperator(payload) {
            self.problem(location, "matcher operators ($…) are only allowed in expectations")
        }
        guard let info = ProtoJSON.info(forType: type) else { return }
        if let problem = ProtoJSON.validationProblem(payload, as: info.messageType) {
            self.problem(location, problem)
        }
    }

    mutating func checkMatcher(_ value: JSONValue, at location: String) {
        self.checkTemplates(in: value, at: location)
        for problem in PayloadMatcher.problems(in: value, path: location) {
            self.problem(nil, problem)
        }
    }

    mutating func checkEnum(_ name: String, field: String, type: String, at location: String) {
        guard let info = ProtoJSON.info(forType: type) else { return }
        if (try? ProtoJSON.message(from: .object([field: .string(name)]), as: info.messageType)) == nil {
            self.problem(location, "\"\(name)\" is not a value of \(type).\(field)")
        }
    }

    mutating func checkTypes(_ types: [String]?, at location: String) {
        for type in types ?? [] where ProtoJSON.info(forType: type) == nil {
            self.problem(location, "\"\(type)\" is not a Herald v1 message with an opcode")
        }
    }

    mutating func checkInt(_ expression: IntExpression?, at location: String) {
        if case .template(let text)? = expression {
            self.checkTemplates(text, at: location)
        }
    }

    mutating func checkTemplates(_ text: String, at location: String) {
        for problem in Templating.problems(in: text) {
            self.problem(location, problem)
        }
    }

    mutating func checkTemplates(in json: JSONValue, at location: String) {
        switch json {
        case .string(let text):
            self.checkTemplates(text, at: location)
        case .array(let elements):
            for (index, element) in elements.enumerated() {
                self.checkTemplates(in: element, at: "\(location)[\(index)]")
            }
        case .object(let members):
            if Templating.isGenerator(members) {
                for problem in Templating.generatorProblems(members) {
                    self.problem(location, problem)
                }
                if let item = members[Templating.generatorKey]?["item"] {
                    self.checkTemplates(in: item, at: location + ".$generate.item")
                }
                return
            }
            for key in members.keys.sorted() {
                self.checkTemplates(in: members[key]!, at: location + "." + key)
            }
        default:
            break
        }
    }

    /// Whether a payload holds a matcher operator; `$generate` objects are not operators (their items are checked).
    static func containsOperator(_ json: JSONValue) -> Bool {
        switch json {
        case .array(let elements): return elements.contains(where: Self.containsOperator)
        case .object(let members):
            if Templating.isGenerator(members) {
                return members[Templating.generatorKey]?["item"].map(Self.containsOperator) ?? false
            }
            return members.keys.contains { $0.hasPrefix("$") } || members.values.contains(where: Self.containsOperator)
        default: return false
        }
    }
}

/// Hexadecimal text of `sendRaw` and of the transcript.
enum HexText {
    /// Lower-case hexadecimal of `bytes`, two digits a byte, no separators.
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// The bytes of `text` (white space ignored), or `nil` when it is not an even number of hex digits.
    static func decode(_ text: String) -> [UInt8]? {
        let digits = text.unicodeScalars.filter { !$0.properties.isWhitespace }
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var high: UInt8?
        for scalar in digits {
            guard let value = UInt8(String(scalar), radix: 16) else { return nil }
            if let current = high {
                bytes.append(current << 4 | value)
                high = nil
            } else {
                high = value
            }
        }
        return bytes
    }
}

import Foundation

// The Codable model of scenario files (Vectors/scenarios/NN-<chapter>.json, schema
// Vectors/schema/scenario.schema.json). Every object rejects keys it does not define, so a typo in a corpus file is
// an error instead of a silently ignored expectation.

// MARK: - JSON values

/// A JSON value: payloads, matchers and captures of scenario files.
///
/// Objects are unordered; ``compactText`` writes their members sorted by key, so renderings are deterministic.
public enum JSONValue: Sendable, Hashable, Codable, CustomStringConvertible {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number without fraction or exponent that fits in 64 bits.
    case int(Int64)
    /// Any other number.
    case double(Double)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object.
    case object([String: JSONValue])

    /// Decodes any JSON value.
    public init(from decoder: any Decoder) throws {
        // Each failed attempt throws, which is costly where thrown errors are traced (Swift Testing captures a
        // backtrace for each), so the kinds are tried from the most frequent in scenarios: strings, then objects.
        // Only the order of Int64 before Double decides anything (an integral number is an int).
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([String: JSONValue].self) {
            self = .object(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .double(try container.decode(Double.self))
        }
    }

    /// Encodes the value as JSON.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// Parses JSON text.
    ///
    /// - Throws: The Foundation decoding error for text that is not JSON.
    public init(parsing text: String) throws {
        try self.init(parsing: Data(text.utf8))
    }

    /// Parses JSON bytes.
    ///
    /// The runner parses every frame it receives this way, so it goes through `JSONSerialization` and converts the
    /// result, instead of `Decodable`, which finds a value's type by trying each in turn and throwing (expensive
    /// where thrown errors are traced, as under Swift Testing). The values are those ``init(from:)`` decodes:
    /// a number that is an integer within `Int64` (also written `1.0` or `1e2`) is ``int(_:)``.
    ///
    /// - Throws: The Foundation error for bytes that are not JSON.
    public init(parsing data: Data) throws {
        self.init(foundation: try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]))
    }

    /// Converts what `JSONSerialization` produced.
    private init(foundation value: Any) {
        switch value {
        case let number as NSNumber:
            if type(of: number) == type(of: NSNumber(value: true)) {
                self = .bool(number.boolValue)
                return
            }
            switch String(cString: number.objCType) {
            case "d", "f":
                let double = number.doubleValue
                if let integer = Int64(exactly: double) {
                    self = .int(integer)
                } else {
                    self = .double(double)
                }
            case "Q":
                if let integer = Int64(exactly: number.uint64Value) {
                    self = .int(integer)
                } else {
                    self = .double(number.doubleValue)
                }
            default:
                self = .int(number.int64Value)
            }
        case let string as String:
            self = .string(string)
        case let array as [Any]:
            self = .array(array.map(JSONValue.init(foundation:)))
        case let object as [String: Any]:
            self = .object(object.mapValues(JSONValue.init(foundation:)))
        default:
            self = .null
        }
    }

    /// Compact JSON text, object members sorted by key.
    public var compactText: String {
        var output = ""
        self.write(to: &output)
        return output
    }

    /// ``compactText``.
    public var description: String {
        self.compactText
    }

    /// The string, if this is a string.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The object's members, if this is an object.
    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    /// The elements, if this is an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// The value as an integer: an integral number, or a string holding a decimal integer (the protobuf JSON form of
    /// 64-bit integers).
    public var integerValue: Int64? {
        switch self {
        case .int(let value): return value
        case .double(let value):
            guard value.rounded() == value, abs(value) < 9.2e18 else { return nil }
            return Int64(value)
        case .string(let text): return Int64(text)
        default: return nil
        }
    }

    /// The value as a number: a number, or a string holding a decimal number.
    public var numberValue: Double? {
        switch self {
        case .int(let value): return Double(value)
        case .double(let value): return value
        case .string(let text): return Double(text)
        default: return nil
        }
    }

    /// The member `key` of an object, or `nil`.
    public subscript(key: String) -> JSONValue? {
        self.objectValue?[key]
    }

    private func write(to output: inout String) {
        switch self {
        case .null: output += "null"
        case .bool(let value): output += value ? "true" : "false"
        case .int(let value): output += String(value)
        case .double(let value):
            if value.isFinite && value.rounded() == value && abs(value) < 1e15 {
                output += String(Int64(value))
            } else {
                output += "\(value)"
            }
        case .string(let value): Self.writeString(value, to: &output)
        case .array(let elements):
            output += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { output += "," }
                element.write(to: &output)
            }
            output += "]"
        case .object(let members):
            output += "{"
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { output += "," }
                Self.writeString(key, to: &output)
                output += ":"
                members[key]!.write(to: &output)
            }
            output += "}"
        }
    }

    private static func writeString(_ text: String, to output: inout String) {
        output += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    output.unicodeScalars.append(scalar)
                }
            }
        }
        output += "\""
    }
}

// MARK: - Files and cases

/// One scenario file: the cases of one Spec chapter.
public struct ScenarioFile: Codable, Sendable, Hashable {
    /// The value of ``suite`` in every scenario file.
    public static let suiteName = "herald-scenarios"
    /// The scenario format version this runner reads.
    public static let currentSchemaVersion = 1

    /// Always ``suiteName``.
    public var suite: String
    /// The scenario format version (``currentSchemaVersion``).
    public var schemaVersion: Int
    /// The Herald protocol version the cases test (1).
    public var protocolVersion: Int
    /// The Spec chapter, e.g. `04-handshake`.
    public var chapter: String
    /// What the file covers.
    public var description: String
    /// The cases, in the order they are run and reported.
    public var cases: [ScenarioCase]

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case suite, schemaVersion, protocolVersion, chapter, description, cases
    }

    /// Creates a file.
    public init(
        suite: String = ScenarioFile.suiteName,
        schemaVersion: Int = ScenarioFile.currentSchemaVersion,
        protocolVersion: Int = 1,
        chapter: String,
        description: String,
        cases: [ScenarioCase]
    ) {
        self.suite = suite
        self.schemaVersion = schemaVersion
        self.protocolVersion = protocolVersion
        self.chapter = chapter
        self.description = description
        self.cases = cases
    }

    /// Decodes a file, rejecting unknown keys.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue), in: "a scenario file")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.suite = try container.decode(String.self, forKey: .suite)
        self.schemaVersion = try container.decode(Int.self, forKey: .schemaVersion)
        self.protocolVersion = try container.decode(Int.self, forKey: .protocolVersion)
        self.chapter = try container.decode(String.self, forKey: .chapter)
        self.description = try container.decode(String.self, forKey: .description)
        self.cases = try container.decode([ScenarioCase].self, forKey: .cases)
    }
}

/// One conformance case.
public struct ScenarioCase: Codable, Sendable, Hashable {
    /// Which app of the target a case logs in to (the case's `app` key).
    public enum App: String, Codable, Sendable, Hashable, CaseIterable {
        /// The run's app (`--app-id`, or the embedded engine's app): the default.
        case main
        /// An app the target serves in app-ID-only mode (`--app-id-only`, Spec/15-tokens.md §15.5); without one,
        /// the case is not applicable.
        case appIDOnly = "app-id-only"
    }

    /// The stable, hierarchical id, e.g. `handshake.welcome.fields`; never reused.
    public var id: String
    /// A one-line summary.
    public var title: String
    /// The Spec requirement ids the case checks (at least one).
    public var requirements: [String]
    /// `MUST`, `SHOULD` or `MAY`: the strongest level among the requirements the case gates.
    public var level: String
    /// Capabilities the case needs; when the target does not grant one, the case is not applicable.
    public var capabilities: [String]
    /// The virtual clients of the case; each gets a run-unique user id.
    public var actors: [String]
    /// The rate classes (`RATE_CLASS_MESSAGES`) the case needs the target to enforce: when the target's `Welcome`
    /// does not advertise one (a server may leave a class unenforced, LIM-18), the case is not applicable.
    public var rateClasses: [String]
    /// The base of the case's budget for ordinary round trips, in milliseconds (scaled by the timeout scale); `nil`
    /// uses the runner's default. Waits on the server's timers and crowds are added to it (``CaseBudget``).
    public var timeoutMs: Int?
    /// The transports (`tcp`, `tls`, `ws`, `wss`) the case applies to; `nil` means all.
    public var transports: [String]?
    /// The app the case uses for `${app}`, logins and tokens.
    public var app: App
    /// Free-form remarks for corpus maintainers.
    public var notes: String?
    /// Whether the case restarts the target (`restartTarget`): the runner runs it alone, after every other case.
    public var exclusive: Bool
    /// Crowds: groups of extra actors that `forEach` steps act on, by name; each size is a number or a template
    /// (`"${limit:maxMemberEventChannelSize+1}"`) evaluated when the crowd is first used.
    public var crowds: [String: IntExpression]?
    /// The steps, run in order.
    public var steps: [Step]

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case id, title, requirements, level, capabilities, rateClasses, actors, crowds, timeoutMs, transports, app
        case notes, steps, exclusive
    }

    /// Creates a case.
    public init(
        id: String,
        title: String,
        requirements: [String],
        level: String,
        capabilities: [String] = [],
        rateClasses: [String] = [],
        actors: [String],
        timeoutMs: Int? = nil,
        transports: [String]? = nil,
        app: App = .main,
        notes: String? = nil,
        crowds: [String: IntExpression]? = nil,
        exclusive: Bool = false,
        steps: [Step]
    ) {
        self.exclusive = exclusive
        self.id = id
        self.title = title
        self.requirements = requirements
        self.level = level
        self.capabilities = capabilities
        self.rateClasses = rateClasses
        self.actors = actors
        self.timeoutMs = timeoutMs
        self.transports = transports
        self.app = app
        self.notes = notes
        self.crowds = crowds
        self.steps = steps
    }

    /// Decodes a case, rejecting unknown keys.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue), in: "a case")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.id = try container.decode(String.self, forKey: .id)
        self.title = try container.decode(String.self, forKey: .title)
        self.requirements = try container.decode([String].self, forKey: .requirements)
        self.level = try container.decode(String.self, forKey: .level)
        self.capabilities = try container.decodeIfPresent([String].self, forKey: .capabilities) ?? []
        self.rateClasses = try container.decodeIfPresent([String].self, forKey: .rateClasses) ?? []
        self.actors = try container.decode([String].self, forKey: .actors)
        self.timeoutMs = try container.decodeIfPresent(Int.self, forKey: .timeoutMs)
        self.transports = try container.decodeIfPresent([String].self, forKey: .transports)
        self.app = try container.decodeIfPresent(App.self, forKey: .app) ?? .main
        self.notes = try container.decodeIfPresent(String.self, forKey: .notes)
        self.crowds = try container.decodeIfPresent([String: IntExpression].self, forKey: .crowds)
        self.steps = try container.decode([Step].self, forKey: .steps)
        self.exclusive = try container.decodeIfPresent(Bool.self, forKey: .exclusive) ?? false
    }
}

// MARK: - Steps

/// One step of a case: a JSON object with exactly one key, which names the step's kind.
public indirect enum Step: Codable, Sendable, Hashable {
    /// `connect`: open a transport and do the handshake.
    case connect(ConnectStep)
    /// `login`: log an actor in and check the result.
    case login(LoginStep)
    /// `send`: send one frame built from a message name and a JSON payload.
    case send(SendStep)
    /// `sendRaw`: write bytes (or a WebSocket text message) as they are.
    case sendRaw(SendRawStep)
    /// `ack`: acknowledge a delivery with `DeliveryAck`.
    case ack(AckStep)
    /// `expect`: the actor's next frame must match.
    case expect(ExpectBody)
    /// `expectAnyOf`: the actor's next frame must match one of the alternatives.
    case expectAnyOf(ExpectAnyOfStep)
    /// `expectUnordered`: the actor's next N frames must match the N bodies in some order.
    case expectUnordered(ExpectUnorderedStep)
    /// `expectNone`: no frame (of the given types) arrives for a while.
    case expectNone(ExpectNoneStep)
    /// `sync`: a `Ping`/`Pong` round trip.
    case sync(ActorStep)
    /// `waitTimer`: wait for a server timer (or a fixed time).
    case waitTimer(WaitTimerStep)
    /// `drop`: close the actor's transport abruptly.
    case drop(ActorStep)
    /// `reconnect`: `drop`, then `connect`.
    case reconnect(ConnectStep)
    /// `expectClosed`: the server closes the actor's transport.
    case expectClosed(ExpectClosedStep)
    /// `repeat`: run steps several times, `${i}` being the iteration.
    case `repeat`(RepeatStep)
    /// `forEach`: run steps for every member of a crowd, several members at a time.
    case forEach(ForEachStep)
    /// A WebSocket opening handshake with chosen subprotocols, checked by its HTTP status.
    case webSocketUpgrade(WebSocketUpgradeStep)
    /// Restart the target (Spec/18-test-control.md), then wait until it accepts connections again.
    case restartTarget(RestartTargetStep)

    /// Every step kind, as written in scenario files.
    public static let kinds = [
        "connect", "login", "send", "sendRaw", "ack", "expect", "expectAnyOf", "expectUnordered", "expectNone", "sync",
        "waitTimer", "drop", "reconnect", "expectClosed", "repeat", "forEach", "restartTarget",
    ]

    /// The step's kind as written in scenario files, e.g. `expectAnyOf`.
    public var kind: String {
        switch self {
        case .connect: "connect"
        case .login: "login"
        case .send: "send"
        case .sendRaw: "sendRaw"
        case .ack: "ack"
        case .expect: "expect"
        case .expectAnyOf: "expectAnyOf"
        case .expectUnordered: "expectUnordered"
        case .expectNone: "expectNone"
        case .sync: "sync"
        case .waitTimer: "waitTimer"
        case .webSocketUpgrade: "webSocketUpgrade"
        case .restartTarget: "restartTarget"
        case .drop: "drop"
        case .reconnect: "reconnect"
        case .expectClosed: "expectClosed"
        case .repeat: "repeat"
        case .forEach: "forEach"
        }
    }

    /// The actor the step acts on, if it names one.
    public var actor: String? {
        switch self {
        case .connect(let step), .reconnect(let step): step.actor
        case .login(let step): step.actor
        case .send(let step): step.actor
        case .sendRaw(let step): step.actor
        case .ack(let step): step.actor
        case .expect(let step): step.actor
        case .expectAnyOf(let step): step.actor
        case .expectUnordered(let step): step.actor
        case .expectNone(let step): step.actor
        case .sync(let step), .drop(let step): step.actor
        case .expectClosed(let step): step.actor
        case .waitTimer, .repeat, .forEach, .webSocketUpgrade, .restartTarget: nil
        }
    }

    /// Decodes a step: an object with exactly one key naming the kind.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyCodingKey.self)
        guard container.allKeys.count == 1, let key = container.allKeys.first else {
            let keys = container.allKeys.map(\.stringValue).sorted()
            throw DecodingError.dataCorrupted(
                DecodingError.Context(
                    codingPath: decoder.codingPath,
                    debugDescription: "a step is an object with exactly one key naming its kind ("
                        + Self.kinds.joined(separator: ", ") + "); found "
                        + (keys.isEmpty ? "no key" : keys.joined(separator: ", "))
                )
            )
        }
        switch key.stringValue {
        case "connect": self = .connect(try container.decode(ConnectStep.self, forKey: key))
        case "login": self = .login(try container.decode(LoginStep.self, forKey: key))
        case "send": self = .send(try container.decode(SendStep.self, forKey: key))
        case "sendRaw": self = .sendRaw(try container.decode(SendRawStep.self, forKey: key))
        case "ack": self = .ack(try container.decode(AckStep.self, forKey: key))
        case "expect": self = .expect(try container.decode(ExpectBody.self, forKey: key))
        case "expectAnyOf": self = .expectAnyOf(try container.decode(ExpectAnyOfStep.self, forKey: key))
        case "expectUnordered": self = .expectUnordered(try container.decode(ExpectUnorderedStep.self, forKey: key))
        case "expectNone": self = .expectNone(try container.decode(ExpectNoneStep.self, forKey: key))
        case "sync": self = .sync(try container.decode(ActorStep.self, forKey: key))
        case "waitTimer": self = .waitTimer(try container.decode(WaitTimerStep.self, forKey: key))
        case "webSocketUpgrade":
            self = .webSocketUpgrade(try container.decode(WebSocketUpgradeStep.self, forKey: key))
        case "restartTarget": self = .restartTarget(try container.decode(RestartTargetStep.self, forKey: key))
        case "drop": self = .drop(try container.decode(ActorStep.self, forKey: key))
        case "reconnect": self = .reconnect(try container.decode(ConnectStep.self, forKey: key))
        case "expectClosed": self = .expectClosed(try container.decode(ExpectClosedStep.self, forKey: key))
        case "repeat": self = .repeat(try container.decode(RepeatStep.self, forKey: key))
        case "forEach": self = .forEach(try container.decode(ForEachStep.self, forKey: key))
        default:
            throw DecodingError.dataCorrupted(
                DecodingError.Context(
                    codingPath: decoder.codingPath + [key],
                    debugDescription: "unknown step kind \"\(key.stringValue)\"; known: "
                        + Self.kinds.joined(separator: ", ")
                )
            )
        }
    }

    /// Encodes the step as an object with one key.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyCodingKey.self)
        let key = AnyCodingKey(self.kind)
        switch self {
        case .connect(let body), .reconnect(let body): try container.encode(body, forKey: key)
        case .login(let body): try container.encode(body, forKey: key)
        case .send(let body): try container.encode(body, forKey: key)
        case .sendRaw(let body): try container.encode(body, forKey: key)
        case .ack(let body): try container.encode(body, forKey: key)
        case .expect(let body): try container.encode(body, forKey: key)
        case .expectAnyOf(let body): try container.encode(body, forKey: key)
        case .expectUnordered(let body): try container.encode(body, forKey: key)
        case .expectNone(let body): try container.encode(body, forKey: key)
        case .sync(let body), .drop(let body): try container.encode(body, forKey: key)
        case .waitTimer(let body): try container.encode(body, forKey: key)
        case .webSocketUpgrade(let body): try container.encode(body, forKey: key)
        case .restartTarget(let body): try container.encode(body, forKey: key)
        case .expectClosed(let body): try container.encode(body, forKey: key)
        case .repeat(let body): try container.encode(body, forKey: key)
        case .forEach(let body): try container.encode(body, forKey: key)
        }
    }
}

/// An integer written either as a JSON number or as a template string such as `"${limit:maxChannelsJoined+1}"`.
public enum IntExpression: Codable, Sendable, Hashable, CustomStringConvertible, ExpressibleByIntegerLiteral {
    /// A number.
    case literal(Int64)
    /// A string that must evaluate to an integer when the step runs.
    case template(String)

    /// Creates a literal.
    public init(integerLiteral value: Int64) {
        self = .literal(value)
    }

    /// Decodes a number or a string.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Int64.self) {
            self = .literal(value)
        } else if let text = try? container.decode(String.self) {
            self = .template(text)
        } else {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(
                    codingPath: decoder.codingPath,
                    debugDescription: "expected an integer or a template string such as \"${timer:idleTimeoutMs}\""
                )
            )
        }
    }

    /// Encodes the number or the string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .literal(let value): try container.encode(value)
        case .template(let text): try container.encode(text)
        }
    }

    /// The number, or the template text.
    public var description: String {
        switch self {
        case .literal(let value): String(value)
        case .template(let text): text
        }
    }
}

/// What a `connect` step sends first.
public enum HelloSpec: Sendable, Hashable {
    /// `Hello` with `{"versions":[1]}` and the runner's client name (the key is absent).
    case standard
    /// Nothing: the transport is opened and no frame is sent (`"hello": null`).
    case none
    /// This `Hello` payload (protobuf JSON, templated).
    case custom(JSONValue)
}

/// `connect` and `reconnect`: open a transport to the target and do the handshake.
public struct ConnectStep: Codable, Sendable, Hashable {
    /// The actor.
    public var actor: String
    /// What to send first.
    public var hello: HelloSpec
    /// Whether to wait for `Welcome` (default `true`; only meaningful when a `Hello` is sent).
    public var expectWelcome: Bool?
    /// A subset matcher the `Welcome` payload must satisfy.
    public var welcome: JSONValue?
    /// How long to wait for `Welcome`, in milliseconds (scaled).
    public var withinMs: IntExpression?
    /// Whether the runner sends heartbeat `Ping`s on this connection after `Welcome` (HS-41; default `true`). Cases
    /// that need a silent client (idle timeout, presence UNREACHABLE) set it to `false`.
    public var heartbeat: Bool?

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case actor, hello, expectWelcome, welcome, withinMs, heartbeat
    }

    /// Creates a step.
    public init(
        actor: String,
        hello: HelloSpec = .standard,
        expectWelcome: Bool? = nil,
        welcome: JSONValue? = nil,
        withinMs: IntExpression? = nil,
        heartbeat: Bool? = nil
    ) {
        self.actor = actor
        self.hello = hello
        self.expectWelcome = expectWelcome
        self.welcome = welcome
        self.withinMs = withinMs
        self.heartbeat = heartbeat
    }

    /// Decodes the step; `"hello": null` means no `Hello`, an absent key the standard one.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue), in: "connect")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.actor = try container.decode(String.self, forKey: .actor)
        if !container.contains(.hello) {
            self.hello = .standard
        } else if try container.decodeNil(forKey: .hello) {
            self.hello = .none
        } else {
            self.hello = .custom(try container.decode(JSONValue.self, forKey: .hello))
        }
        self.expectWelcome = try container.decodeIfPresent(Bool.self, forKey: .expectWelcome)
        self.welcome = try container.decodeIfPresent(JSONValue.self, forKey: .welcome)
        self.withinMs = try container.decodeIfPresent(IntExpression.self, forKey: .withinMs)
        self.heartbeat = try container.decodeIfPresent(Bool.self, forKey: .heartbeat)
    }

    /// Encodes the step.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.actor, forKey: .actor)
        switch self.hello {
        case .standard: break
        case .none: try container.encodeNil(forKey: .hello)
        case .custom(let payload): try container.encode(payload, forKey: .hello)
        }
        try container.encodeIfPresent(self.expectWelcome, forKey: .expectWelcome)
        try container.encodeIfPresent(self.welcome, forKey: .welcome)
        try container.encodeIfPresent(self.withinMs, forKey: .withinMs)
        try container.encodeIfPresent(self.heartbeat, forKey: .heartbeat)
    }
}

/// `login`: `LoginRequest` for the actor, then `LoginResponse` and, on success, `ConnectionStateChanged`.
public struct LoginStep: Codable, Sendable, Hashable {
    /// The actor whose connection sends the request.
    public var actor: String
    /// The actor (or any name) whose run-unique user id logs in; default: ``actor``.
    public var user: String?
    /// The token kind: `valid` (default), `none`, `expired`, `wrong-user:<name>`, `wrong-app`, `ttl:<seconds>`,
    /// `extra-claims`, `extra-header`, `nested-claims:<levels>`, `raw:<text>` (see ``TokenSpec``).
    public var token: String?
    /// The app id sent (templated); default: the run's app id.
    public var appId: String?
    /// The `LoginResult` name expected; default `LOGIN_RESULT_OK` (which also expects `ConnectionStateChanged`).
    public var expectResult: String?
    /// How long to wait for each answer, in milliseconds (scaled).
    public var withinMs: IntExpression?

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case actor, user, token, appId, expectResult, withinMs
    }

    /// Creates a step.
    public init(
        actor: String,
        user: String? = nil,
        token: String? = nil,
        appId: String? = nil,
        expectResult: String? = nil,
        withinMs: IntExpression? = nil
    ) {
        self.actor = actor
        self.user = user
        self.token = token
        self.appId = appId
        self.expectResult = expectResult
        self.withinMs = withinMs
    }

    /// Decodes the step, rejecting unknown keys.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue), in: "login")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.actor = try container.decode(String.self, forKey: .actor)
        self.user = try container.decodeIfPresent(String.self, forKey: .user)
        self.token = try container.decodeIfPresent(String.self, forKey: .token)
        self.appId = try container.decodeIfPresent(String.self, forKey: .appId)
        self.expectResult = try container.decodeIfPresent(String.self, forKey: .expectResult)
        self.withinMs = try container.decodeIfPresent(IntExpression.self, forKey: .withinMs)
    }
}

/// `send`: one frame whose payload is given in protobuf JSON.
public struct SendStep: Codable, Sendable, Hashable {
    /// The actor.
    public var actor: String
    /// The message name without package, e.g. `JoinChannelRequest`; it selects the opcode.
    public var type: String
    /// The payload in the protobuf JSON mapping (templated); default `{}`.
    public var payload: JSONValue?
    /// The payload's bytes in hexadecimal (templated; spaces allowed), written as they are instead of `payload`, so
    /// that a frame with a valid header can carry a malformed payload.
    public var payloadHex: String?
    /// A name for the request (templated, e.g. `join${i}`), used by `expect.response` and `${request:<name>}`.
    public var `as`: String?
    /// The header's request id; default: the actor's next id for requests, responses and notices, 0 for events.
    public var requestId: IntExpression?
    /// The header's flags byte; default 0. Not validated, so invalid flags can be sent on purpose.
    public var flags: IntExpression?

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case actor, type, payload, payloadHex, `as`, requestId, flags
    }

    /// Creates a step.
    public init(
        actor: String,
        type: String,
        payload: JSONValue? = nil,
        as name: String? = nil,
        requestId: IntExpression? = nil,
        flags: IntExpression? = nil
    ) {
        self.actor = actor
        self.type = type
        self.payload = payload
        self.as = name
        self.requestId = requestId
        self.flags = flags
    }

    /// Decodes the step, rejecting unknown keys.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue), in: "send")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.actor = try container.decode(String.self, forKey: .actor)
        self.type = try container.decode(String.self, forKey: .type)
        self.payload = try container.decodeIfPresent(JSONValue.self, forKey: .payload)
        self.payloadHex = try container.decodeIfPresent(String.self, forKey: .payloadHex)
        self.as = try container.decodeIfPresent(String.self, forKey: .as)
        self.requestId = try container.decodeIfPresent(IntExpression.self, forKey: .requestId)
        self.flags = try container.decodeIfPresent(IntExpression.self, forKey: .flags)
    }
}

/// `sendRaw`: bytes written as they are (one binary message over WebSocket), or a WebSocket text message.
public struct SendRawStep: Codable, Sendable, Hashable {
    /// The actor.
    public var actor: String
    /// The bytes in hexadecimal (templated; spaces allowed).
    public var hex: String?
    /// A text message (WebSocket only; over TCP the UTF-8 bytes are written).
    public var text: String?
    /// A WebSocket ping control frame with this application data in hexadecimal (templated; may be empty). Only
    /// over WebSocket: on another transport the step fails, so such cases list `"transports": ["ws", "wss"]`.
    public var webSocketPing: String?

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case actor, hex, text, webSocketPing
    }

    /// Creates a step.
    public init(actor: String, hex: String? = nil, text: String? = nil, webSocketPing: String? = nil) {
        self.actor = actor
        self.hex = hex
        self.text = text
        self.webSocketPing = webSocketPing
    }

    /// Decodes the step, rejecting unknown keys.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue), in: "sendRaw")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.actor = try container.decode(String.self, forKey: .actor)
        self.hex = try container.decodeIfPresent(String.self, forKey: .hex)
        self.text = try container.decodeIfPresent(String.self, forKey: .text)
        self.webSocketPing = try container.decodeIfPresent(String.self, forKey: .webSocketPing)
    }
}

/// `ack`: a `DeliveryAck` for a frame captured with `captureFrame` (or for an explicit delivery id).
public struct AckStep: Codable, Sendable, Hashable {
    /// The actor.
    public var actor: String
    /// The name of a captured frame; its request id is the delivery id.
    public var delivery: String?
    /// An explicit delivery id instead of ``delivery``.
    public var requestId: IntExpression?
    /// The `DeliveryAckResult` name; default `DELIVERY_ACK_RESULT_ACCEPTED`.
    public var result: String?

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case actor, delivery, requestId, result
    }

    /// Creates a step.
    public init(actor: String, delivery: String? = nil, requestId: IntExpression? = nil, result: String? = nil) {
        self.actor = actor
        self.delivery = delivery
        self.requestId = requestId
        self.result = result
    }

    /// Decodes the step, rejecting unknown keys.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue), in: "ack")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.actor = try container.decode(String.self, forKey: .actor)
        self.delivery = try container.decodeIfPresent(String.self, forKey: .delivery)
        self.requestId = try container.decodeIfPresent(IntExpression.self, forKey: .requestId)
        self.result = try container.decodeIfPresent(String.self, forKey: .result)
    }
}

/// How a payload matcher treats fields it does not mention.
public enum MatchMode: String, Codable, Sendable, Hashable {
    /// Fields not mentioned may have any value (default).
    case subset
    /// Fields not mentioned must have their default value (be absent from the canonical protobuf JSON).
    case exact
}

/// `expect` (and each alternative of `expectAnyOf` / frame of `expectUnordered`): what the next frame must be.
public struct ExpectBody: Codable, Sendable, Hashable {
    /// The actor (required for `expect`; not allowed inside `expectAnyOf` and `expectUnordered`).
    public var actor: String?
    /// The message name; may be omitted when ``response`` is given (the request's response type is used).
    public var type: String?
    /// The `as` name (templated) of a request this frame answers: its request id must be that request's.
    public var response: String?
    /// A matcher for the payload (protobuf JSON with operators; templated).
    public var payload: JSONValue?
    /// `subset` (default) or `exact`.
    public var match: MatchMode?
    /// A matcher for the header's request id (a number or an operator object).
    public var requestId: JSONValue?
    /// A matcher for the header's flags byte (1 = `ACK_REQUIRED`).
    public var flags: JSONValue?
    /// Stores the whole frame under this name: `{"type","requestId","flags","payload"}`, for `ack` and templates.
    public var captureFrame: String?
    /// Stores payload fields: capture name → path in the payload (`field.sub[0]`).
    public var capture: [String: String]?
    /// How long to wait, in milliseconds (scaled); default 5000.
    public var withinMs: IntExpression?
    /// Frame types skipped while waiting (unless they are the expected type); default `["Pong"]`.
    public var ignore: [String]?
    /// `true` (only on an `expect` step): the frame may be absent. The step does not wait; it arms the expectation,
    /// which consumes the first matching frame the actor's following steps receive, until the actor's next
    /// expectation step ends.
    public var optional: Bool?

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case actor, type, response, payload, match, requestId, flags, captureFrame, capture, withinMs, ignore, optional
    }

    /// Creates a body.
    public init(
        actor: String? = nil,
        type: String? = nil,
        response: String? = nil,
        payload: JSONValue? = nil,
        match: MatchMode? = nil,
        requestId: JSONValue? = nil,
        flags: JSONValue? = nil,
        captureFrame: String? = nil,
        capture: [String: String]? = nil,
        withinMs: IntExpression? = nil,
        ignore: [String]? = nil,
        optional: Bool? = nil
    ) {
        self.actor = actor
        self.type = type
        self.response = response
        self.payload = payload
        self.match = match
        self.requestId = requestId
        self.flags = flags
        self.captureFrame = captureFrame
        self.capture = capture
        self.withinMs = withinMs
        self.ignore = ignore
        self.optional = optional
    }

    /// Decodes the body, rejecting unknown keys.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue), in: "expect")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.actor = try container.decodeIfPresent(String.self, forKey: .actor)
        self.type = try container.decodeIfPresent(String.self, forKey: .type)
        self.response = try container.decodeIfPresent(String.self, forKey: .response)
        self.payload = try container.decodeIfPresent(JSONValue.self, forKey: .payload)
        self.match = try container.decodeIfPresent(MatchMode.self, forKey: .match)
        self.requestId = try container.decodeIfPresent(JSONValue.self, forKey: .requestId)
        self.flags = try container.decodeIfPresent(JSONValue.self, forKey: .flags)
        self.captureFrame = try container.decodeIfPresent(String.self, forKey: .captureFrame)
        self.capture = try container.decodeIfPresent([String: String].self, forKey: .capture)
        self.withinMs = try container.decodeIfPresent(IntExpression.self, forKey: .withinMs)
        self.ignore = try container.decodeIfPresent([String].self, forKey: .ignore)
        self.optional = try container.decodeIfPresent(Bool.self, forKey: .optional)
    }
}

/// `expectAnyOf`: the actor's next frame matches one of the alternatives (the first that matches wins).
public struct ExpectAnyOfStep: Codable, Sendable, Hashable {
    /// The actor.
    public var actor: String
    /// The alternatives (without `actor`, `withinMs`, `ignore`).
    public var alternatives: [ExpectBody]
    /// How long to wait, in milliseconds (scaled); default 5000.
    public var withinMs: IntExpression?
    /// Frame types skipped while waiting (unless an alternative expects them); default `["Pong"]`.
    public var ignore: [String]?

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case actor, alternatives, withinMs, ignore
    }

    /// Creates a step.
    public init(actor: String, alternatives: [ExpectBody], withinMs: IntExpression? = nil, ignore: [String]? = nil) {
        self.actor = actor
        self.alternatives = alternatives
        self.withinMs = withinMs
        self.ignore = ignore
    }

    /// Decodes the step, rejecting unknown keys.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue), in: "expectAnyOf")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.actor = try container.decode(String.self, forKey: .actor)
        self.alternatives = try container.decode([ExpectBody].self, forKey: .alternatives)
        self.withinMs = try container.decodeIfPresent(IntExpression.self, forKey: .withinMs)
        self.ignore = try container.decodeIfPresent([String].self, forKey: .ignore)
    }
}

/// `expectUnordered`: the actor's next N frames match the N bodies, in any order.
public struct ExpectUnorderedStep: Codable, Sendable, Hashable {
    /// The actor.
    public var actor: String
    /// The frames (without `actor`, `withinMs`, `ignore`).
    public var frames: [ExpectBody]
    /// How long to wait for all of them, in milliseconds (scaled); default 5000.
    public var withinMs: IntExpression?
    /// Frame types skipped while waiting (unless a body expects them); default `["Pong"]`.
    public var ignore: [String]?

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case actor, frames, withinMs, ignore
    }

    /// Creates a step.
    public init(actor: String, frames: [ExpectBody], withinMs: IntExpression? = nil, ignore: [String]? = nil) {
        self.actor = actor
        self.frames = frames
        self.withinMs = withinMs
        self.ignore = ignore
    }

    /// Decodes the step, rejecting unknown keys.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue), in: "expectUnordered")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.actor = try container.decode(String.self, forKey: .actor)
        self.frames = try container.decode([ExpectBody].self, forKey: .frames)
        self.withinMs = try container.decodeIfPresent(IntExpression.self, forKey: .withinMs)
        self.ignore = try container.decodeIfPresent([String].self, forKey: .ignore)
    }
}

/// `expectNone`: no frame of the given types (of any type when empty) arrives within the window.
public struct ExpectNoneStep: Codable, Sendable, Hashable {
    /// The actor.
    public var actor: String
    /// Message names that must not arrive; empty or absent: no frame at all.
    public var types: [String]?
    /// The window in milliseconds (scaled); default 300.
    public var forMs: IntExpression?

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case actor, types, forMs
    }

    /// Creates a step.
    public init(actor: String, types: [String]? = nil, forMs: IntExpression? = nil) {
        self.actor = actor
        self.types = types
        self.forMs = forMs
    }

    /// Decodes the step, rejecting unknown keys.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue), in: "expectNone")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.actor = try container.decode(String.self, forKey: .actor)
        self.types = try container.decodeIfPresent([String].self, forKey: .types)
        self.forMs = try container.decodeIfPresent(IntExpression.self, forKey: .forMs)
    }
}

/// `sync` and `drop`: a step that only names an actor. Written `{"actor": "a"}` or just `"a"`.
public struct ActorStep: Codable, Sendable, Hashable {
    /// The actor.
    public var actor: String

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case actor
    }

    /// Creates a step.
    public init(actor: String) {
        self.actor = actor
    }

    /// Decodes `{"actor": "a"}` or the shorthand `"a"`.
    public init(from decoder: any Decoder) throws {
        if let actor = try? decoder.singleValueContainer().decode(String.self) {
            self.actor = actor
            return
        }
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue), in: "this step")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.actor = try container.decode(String.self, forKey: .actor)
    }
}

/// `waitTimer`: wait `timer × factor + plusMs` milliseconds, scaled.
public struct WaitTimerStep: Codable, Sendable, Hashable {
    /// A `ServerTimers` field of the Welcome in camelCase, e.g. `peerAckTimeoutMs`; absent: 0.
    public var timer: String?
    /// Multiplies the timer; default 1.
    public var factor: Double?
    /// Added after multiplying; default 0.
    public var plusMs: IntExpression?

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case timer, factor, plusMs
    }

    /// Creates a step.
    public init(timer: String? = nil, factor: Double? = nil, plusMs: IntExpression? = nil) {
        self.timer = timer
        self.factor = factor
        self.plusMs = plusMs
    }

    /// Decodes the step, rejecting unknown keys.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue), in: "waitTimer")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.timer = try container.decodeIfPresent(String.self, forKey: .timer)
        self.factor = try container.decodeIfPresent(Double.self, forKey: .factor)
        self.plusMs = try container.decodeIfPresent(IntExpression.self, forKey: .plusMs)
    }
}

/// `webSocketUpgrade`: a WebSocket opening handshake on a new connection of the target (a `ws` or `wss` target),
/// offering exactly ``subprotocols`` in `Sec-WebSocket-Protocol` (no header when empty); the HTTP status of the answer
/// must be ``expectStatus``. The connection is closed afterwards; no actor is involved.
public struct WebSocketUpgradeStep: Codable, Sendable, Hashable {
    /// The subprotocols to offer, in order; empty for none.
    public var subprotocols: [String]
    /// The HTTP status the server must answer, for example 400 (101 for an accepted upgrade).
    public var expectStatus: Int

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case subprotocols, expectStatus
    }

    /// Creates a step.
    public init(subprotocols: [String], expectStatus: Int) {
        self.subprotocols = subprotocols
        self.expectStatus = expectStatus
    }

    /// Decodes the step, rejecting unknown keys.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue), in: "webSocketUpgrade")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.subprotocols = try container.decode([String].self, forKey: .subprotocols)
        self.expectStatus = try container.decode(Int.self, forKey: .expectStatus)
    }
}

/// `restartTarget`: restarts the target (Spec/18-test-control.md) and waits until it accepts connections again.
public struct RestartTargetStep: Codable, Sendable, Hashable {
    /// How the target restarts.
    public enum Mode: String, Codable, Sendable, Hashable, CaseIterable {
        /// `TEST_CONTROL_RESTART_MODE_GRACEFUL`: every connection gets `Disconnect` SERVER_SHUTDOWN (HS-57).
        case graceful
        /// `TEST_CONTROL_RESTART_MODE_CRASH`, or `--restart-command` when the target does not grant test control.
        case crash
    }

    /// The restart mode.
    public var mode: Mode
    /// How long the target may take to accept connections again, in milliseconds (scaled); default 30000.
    public var withinMs: IntExpression?

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case mode, withinMs
    }

    /// Creates a step.
    public init(mode: Mode, withinMs: IntExpression? = nil) {
        self.mode = mode
        self.withinMs = withinMs
    }

    /// Decodes the step, rejecting unknown keys.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue), in: "restartTarget")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.mode = try container.decode(Mode.self, forKey: .mode)
        self.withinMs = try container.decodeIfPresent(IntExpression.self, forKey: .withinMs)
    }
}

/// `expectClosed`: the server closes the transport; frames other than ignored ones must not arrive first.
public struct ExpectClosedStep: Codable, Sendable, Hashable {
    /// The actor.
    public var actor: String
    /// How long to wait, in milliseconds (scaled); default 5000.
    public var withinMs: IntExpression?
    /// Frame types skipped while waiting; default `["Pong"]`.
    public var ignore: [String]?
    /// A matcher for the WebSocket close status code (WebSocket transports only; ignored on TCP and TLS).
    public var closeCode: JSONValue?

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case actor, withinMs, ignore, closeCode
    }

    /// Creates a step.
    public init(actor: String, withinMs: IntExpression? = nil, ignore: [String]? = nil, closeCode: JSONValue? = nil) {
        self.actor = actor
        self.withinMs = withinMs
        self.ignore = ignore
        self.closeCode = closeCode
    }

    /// Decodes the step, rejecting unknown keys.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue), in: "expectClosed")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.actor = try container.decode(String.self, forKey: .actor)
        self.withinMs = try container.decodeIfPresent(IntExpression.self, forKey: .withinMs)
        self.ignore = try container.decodeIfPresent([String].self, forKey: .ignore)
        self.closeCode = try container.decodeIfPresent(JSONValue.self, forKey: .closeCode)
    }
}

/// `repeat`: run ``steps`` ``times`` times; `${i}` is the 0-based iteration of the innermost repeat.
public struct RepeatStep: Codable, Sendable, Hashable {
    /// How many times (a number or a template such as `"${limit:maxChannelsJoined+1}"`).
    public var times: IntExpression
    /// The steps of one iteration.
    public var steps: [Step]

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case times, steps
    }

    /// Creates a step.
    public init(times: IntExpression, steps: [Step]) {
        self.times = times
        self.steps = steps
    }

    /// Decodes the step, rejecting unknown keys.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue), in: "repeat")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.times = try container.decode(IntExpression.self, forKey: .times)
        self.steps = try container.decode([Step].self, forKey: .steps)
    }
}

/// `forEach`: run ``steps`` once for every member of a crowd, at most ``concurrency`` members at a time. In the
/// steps, the crowd's name as `actor` stands for the member, and `${i}` is the member's 0-based index.
public struct ForEachStep: Codable, Sendable, Hashable {
    /// The name of a crowd of the case (``ScenarioCase/crowds``).
    public var crowd: String
    /// How many members run their steps at once (a number or a template); default ``defaultConcurrency``.
    public var concurrency: IntExpression?
    /// The steps each member runs, in order.
    public var steps: [Step]

    /// The default number of members that run their steps at once.
    public static let defaultConcurrency: Int64 = 16

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case crowd, concurrency, steps
    }

    /// Creates a step.
    public init(crowd: String, concurrency: IntExpression? = nil, steps: [Step]) {
        self.crowd = crowd
        self.concurrency = concurrency
        self.steps = steps
    }

    /// Decodes the step, rejecting unknown keys.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue), in: "forEach")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.crowd = try container.decode(String.self, forKey: .crowd)
        self.concurrency = try container.decodeIfPresent(IntExpression.self, forKey: .concurrency)
        self.steps = try container.decode([Step].self, forKey: .steps)
    }
}

// MARK: - Decoding support

/// A coding key for any string.
struct AnyCodingKey: CodingKey, Hashable {
    var stringValue: String
    var intValue: Int?

    init(_ string: String) {
        self.stringValue = string
        self.intValue = nil
    }

    init?(stringValue: String) {
        self.init(stringValue)
    }

    init?(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
}

extension Decoder {
    /// Throws a `dataCorrupted` error naming the first key of the current object that is not in `allowed`.
    func rejectUnknownKeys(_ allowed: [String], in what: String) throws {
        guard let container = try? self.container(keyedBy: AnyCodingKey.self) else { return }
        for key in container.allKeys.sorted(by: { $0.stringValue < $1.stringValue })
        where !allowed.contains(key.stringValue) {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(
                    codingPath: self.codingPath + [key],
                    debugDescription: "unknown key \"\(key.stringValue)\" in \(what); allowed: "
                        + allowed.joined(separator: ", ")
                )
            )
        }
    }
}

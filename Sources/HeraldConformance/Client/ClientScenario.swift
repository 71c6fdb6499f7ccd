import Foundation

// The model of client scenario files (Vectors/client-scenarios/NN-<chapter>.json, described in that directory's
// README.md): cases in which the runner plays the server and drives the client under test through its adapter
// (Spec/19-client-conformance.md). Every object rejects keys it does not define.

/// A problem in a client scenario file.
public struct ClientScenarioError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong, and where.
    public var description: String

    /// Creates an error.
    public init(_ description: String) {
        self.description = description
    }
}

/// One client scenario file: the client cases of one Spec chapter.
public struct ClientScenarioFile: Sendable, Hashable {
    /// The value of `suite` in every client scenario file.
    public static let suiteName = "herald-client-scenarios"
    /// The format version this runner reads.
    public static let currentSchemaVersion = 1

    /// The Spec chapter, e.g. `04-handshake`.
    public var chapter: String
    /// What the file covers.
    public var description: String
    /// The cases, in run order.
    public var cases: [ClientCase]

    /// Parses a file.
    ///
    /// - Throws: ``ClientScenarioError`` naming the file and the offending object.
    public init(data: Data, fileName: String) throws(ClientScenarioError) {
        let json: JSONValue
        do {
            json = try JSONValue(parsing: data)
        } catch {
            throw ClientScenarioError("\(fileName): not JSON: \(error)")
        }
        var reader = try FieldReader(json, "\(fileName)")
        let suite = try reader.string("suite")
        guard suite == Self.suiteName else {
            throw ClientScenarioError("\(fileName): suite is \"\(suite)\", expected \"\(Self.suiteName)\"")
        }
        let version = try reader.int("schemaVersion")
        guard version == Int64(Self.currentSchemaVersion) else {
            throw ClientScenarioError("\(fileName): schemaVersion \(version) is not supported")
        }
        let protocolVersion = try reader.int("protocolVersion")
        guard protocolVersion == 1 else {
            throw ClientScenarioError("\(fileName): protocolVersion \(protocolVersion) is not supported")
        }
        self.chapter = try reader.string("chapter")
        self.description = try reader.string("description")
        let cases = try reader.array("cases")
        try reader.finish()
        self.cases = []
        for (index, value) in cases.enumerated() {
            self.cases.append(try ClientCase(value, chapter: self.chapter, context: "\(fileName): cases[\(index)]"))
        }
    }
}

/// One client conformance case.
public struct ClientCase: Sendable, Hashable {
    /// The transports a case may name.
    public static let transports = ["tcp", "ws", "tls", "wss"]

    /// The stable id, `client.<chapter>.<name>`.
    public var id: String
    /// A one-line summary.
    public var title: String
    /// The chapter of the file the case is in.
    public var chapter: String
    /// The requirement ids the case checks.
    public var requirements: [String]
    /// `MUST`, `SHOULD` or `MAY`.
    public var level: String
    /// The listener whose URL is `${capture:url}`.
    public var transport: String
    /// The case's budget in milliseconds.
    public var timeoutMs: Int
    /// Remarks for corpus maintainers.
    public var notes: String?
    /// The steps.
    public var steps: [ClientStep]

    init(_ json: JSONValue, chapter: String, context: String) throws(ClientScenarioError) {
        var reader = try FieldReader(json, context)
        self.id = try reader.string("id")
        let context = "\(context) (\(self.id))"
        self.title = try reader.string("title")
        self.chapter = chapter
        self.requirements = try reader.strings("requirements")
        guard !self.requirements.isEmpty else { throw ClientScenarioError("\(context): no requirements") }
        self.level = try reader.string("level")
        guard ["MUST", "SHOULD", "MAY"].contains(self.level) else {
            throw ClientScenarioError("\(context): level \"\(self.level)\" is not MUST, SHOULD or MAY")
        }
        self.transport = try reader.optionalString("transport") ?? "tcp"
        guard Self.transports.contains(self.transport) else {
            throw ClientScenarioError("\(context): transport \"\(self.transport)\" is not tcp, ws, tls or wss")
        }
        self.timeoutMs = Int(try reader.optionalInt("timeoutMs") ?? 30_000)
        self.notes = try reader.optionalString("notes")
        let steps = try reader.array("steps")
        try reader.finish()
        self.steps = []
        for (index, step) in steps.enumerated() {
            self.steps.append(try ClientStep(step, context: "\(context): steps[\(index)]"))
        }
        try Self.checkNames(self.steps, context: context)
    }

    /// Checks that every connection a step uses was accepted by an earlier step, and every reply awaited was sent.
    private static func checkNames(_ steps: [ClientStep], context: String) throws(ClientScenarioError) {
        var connections: Set<String> = []
        var commands: Set<String> = []
        for (index, step) in steps.enumerated() {
            switch step {
            case .accept(let accept):
                connections.insert(accept.connection)
            case .adapter(let command):
                commands.insert(command.name)
            case .reply(let reply):
                guard commands.contains(reply.to) else {
                    throw ClientScenarioError(
                        "\(context): steps[\(index)]: no earlier command is named \"\(reply.to)\""
                    )
                }
            default:
                if let connection = step.connection, !connections.contains(connection) {
                    throw ClientScenarioError(
                        "\(context): steps[\(index)]: connection \"\(connection)\" is not accepted by an earlier step"
                    )
                }
            }
        }
    }
}

/// One step of a client case: an object with exactly one key naming its kind.
public enum ClientStep: Sendable, Hashable {
    /// Send a command to the adapter.
    case adapter(AdapterCommandStep)
    /// Wait for the reply to an earlier command.
    case reply(ReplyStep)
    /// Wait for an event of the adapter.
    case event(EventStep)
    /// No event of a name for a while.
    case noEvent(NoEventStep)
    /// Take the next connection the client opens.
    case accept(AcceptStep)
    /// No connection for a while.
    case noConnection(DurationStep)
    /// `Hello`/`Welcome`, then optionally `LoginRequest`/`LoginResponse`.
    case handshake(HandshakeStep)
    /// The connection's next frame must match.
    case expectFrame(ExpectFrameStep)
    /// No frame (of some types) for a while.
    case expectNoFrame(ExpectNoFrameStep)
    /// Send a frame.
    case send(ServerSendStep)
    /// Send bytes as they are.
    case sendRaw(ServerBytesStep)
    /// Send a WebSocket text message.
    case sendText(ServerBytesStep)
    /// Stop or resume answering `Ping`.
    case pong(PongStep)
    /// Drop the frames of some types the client has sent so far (those it may have sent before it learned
    /// something the next steps test).
    case discard(ExpectNoFrameStep)
    /// Close the connection.
    case close(ServerCloseStep)
    /// The client must close the connection.
    case expectClosed(ExpectClientCloseStep)
    /// Wait.
    case delay(DurationStep)

    /// Every step kind, as written in files.
    public static let kinds = [
        "adapter", "reply", "event", "noEvent", "accept", "noConnection", "handshake", "expectFrame", "expectNoFrame",
        "send", "sendRaw", "sendText", "pong", "discard", "close", "expectClosed", "delay",
    ]

    /// The step's kind as written in files.
    public var kind: String {
        switch self {
        case .adapter: "adapter"
        case .reply: "reply"
        case .event: "event"
        case .noEvent: "noEvent"
        case .accept: "accept"
        case .noConnection: "noConnection"
        case .handshake: "handshake"
        case .expectFrame: "expectFrame"
        case .expectNoFrame: "expectNoFrame"
        case .send: "send"
        case .sendRaw: "sendRaw"
        case .sendText: "sendText"
        case .pong: "pong"
        case .discard: "discard"
        case .close: "close"
        case .expectClosed: "expectClosed"
        case .delay: "delay"
        }
    }

    /// The connection the step acts on, if any.
    public var connection: String? {
        switch self {
        case .accept(let step): step.connection
        case .handshake(let step): step.connection
        case .expectFrame(let step): step.connection
        case .expectNoFrame(let step), .discard(let step): step.connection
        case .send(let step): step.connection
        case .sendRaw(let step), .sendText(let step): step.connection
        case .pong(let step): step.connection
        case .close(let step): step.connection
        case .expectClosed(let step): step.connection
        case .adapter, .reply, .event, .noEvent, .noConnection, .delay: nil
        }
    }

    init(_ json: JSONValue, context: String) throws(ClientScenarioError) {
        guard let members = json.objectValue, members.count == 1, let (kind, body) = members.first else {
            throw ClientScenarioError(
                "\(context): a step is an object with exactly one key naming its kind ("
                    + Self.kinds.joined(separator: ", ") + ")"
            )
        }
        let context = "\(context).\(kind)"
        var reader = try FieldReader(body, context)
        switch kind {
        case "adapter":
            let command = try reader.string("cmd")
            self = .adapter(
                AdapterCommandStep(
                    command: command,
                    arguments: try reader.optionalObject("args") ?? [:],
                    name: try reader.optionalString("as") ?? command,
                    await: try reader.optionalBool("await") ?? false,
                    expect: try reader.optional("expect"),
                    withinMs: try reader.optionalInt("withinMs") ?? 5_000
                )
            )
        case "reply":
            self = .reply(
                ReplyStep(
                    to: try reader.string("to"),
                    expect: try reader.optional("expect"),
                    withinMs: try reader.optionalInt("withinMs") ?? 5_000
                )
            )
        case "event":
            self = .event(
                EventStep(
                    name: try reader.string("name"),
                    expect: try reader.optional("expect"),
                    withinMs: try reader.optionalInt("withinMs") ?? 5_000
                )
            )
        case "noEvent":
            self = .noEvent(NoEventStep(name: try reader.string("name"), forMs: try reader.int("forMs")))
        case "accept":
            self = .accept(
                AcceptStep(
                    connection: try reader.string("conn"),
                    expect: try reader.optional("expect"),
                    withinMs: try reader.optionalInt("withinMs") ?? 5_000
                )
            )
        case "noConnection":
            self = .noConnection(DurationStep(milliseconds: try reader.int("forMs")))
        case "handshake":
            self = .handshake(
                HandshakeStep(
                    connection: try reader.string("conn"),
                    welcome: try reader.optionalObject("welcome") ?? [:],
                    login: try reader.optionalObject("login"),
                    withinMs: try reader.optionalInt("withinMs") ?? 5_000
                )
            )
        case "expectFrame":
            let type = try reader.string("type")
            try Self.checkType(type, context: context)
            let mode = try reader.optionalString("mode") ?? "subset"
            guard let matchMode = MatchMode(rawValue: mode) else {
                throw ClientScenarioError("\(context): mode \"\(mode)\" is not subset or exact")
            }
            self = .expectFrame(
                ExpectFrameStep(
                    connection: try reader.string("conn"),
                    type: type,
                    requestID: try reader.optional("requestId"),
                    flags: try reader.optional("flags"),
                    payload: try reader.optional("payload"),
                    mode: matchMode,
                    captureFrame: try reader.optionalString("captureFrame"),
                    withinMs: try reader.optionalInt("withinMs") ?? 5_000
                )
            )
        case "expectNoFrame":
            let types = try reader.optionalStrings("types")
            for type in types ?? [] { try Self.checkType(type, context: context) }
            self = .expectNoFrame(
                ExpectNoFrameStep(connection: try reader.string("conn"), types: types, forMs: try reader.int("forMs"))
            )
        case "send":
            let type = try reader.string("type")
            try Self.checkType(type, context: context)
            self = .send(
                ServerSendStep(
                    connection: try reader.string("conn"),
                    type: type,
                    requestID: try reader.optional("requestId"),
                    respondTo: try reader.optionalString("respondTo"),
                    flags: try reader.optionalStrings("flags") ?? [],
                    payload: try reader.optional("payload") ?? .object([:])
                )
            )
        case "sendRaw":
            let hex = try reader.string("hex")
            guard let bytes = HexText.decode(hex) else {
                throw ClientScenarioError("\(context): hex is not an even number of hexadecimal digits")
            }
            self = .sendRaw(ServerBytesStep(connection: try reader.string("conn"), bytes: bytes))
        case "sendText":
            let text = try reader.string("text")
            self = .sendText(ServerBytesStep(connection: try reader.string("conn"), bytes: Array(text.utf8)))
        case "discard":
            let types = try reader.strings("types")
            for type in types { try Self.checkType(type, context: context) }
            self = .discard(ExpectNoFrameStep(connection: try reader.string("conn"), types: types, forMs: 0))
        case "pong":
            self = .pong(PongStep(connection: try reader.string("conn"), automatic: try reader.bool("auto")))
        case "close":
            self = .close(
                ServerCloseStep(
                    connection: try reader.string("conn"),
                    webSocketCode: try reader.optionalInt("webSocketCode").map { UInt16(clamping: $0) }
                )
            )
        case "expectClosed":
            self = .expectClosed(
                ExpectClientCloseStep(
                    connection: try reader.string("conn"),
                    webSocketCode: try reader.optionalInt("webSocketCode").map { UInt16(clamping: $0) },
                    allowFrames: try reader.optionalStrings("allowFrames") ?? [],
                    withinMs: try reader.optionalInt("withinMs") ?? 5_000
                )
            )
        case "delay":
            self = .delay(DurationStep(milliseconds: try reader.int("ms")))
        default:
            throw ClientScenarioError(
                "\(context): unknown step kind; known: " + Self.kinds.joined(separator: ", ")
            )
        }
        try reader.finish()
    }

    private static func checkType(_ type: String, context: String) throws(ClientScenarioError) {
        guard ProtoJSON.info(forType: type) != nil else {
            throw ClientScenarioError("\(context): \"\(type)\" is not a message of the schema")
        }
    }
}

/// `adapter`: a command to the adapter.
public struct AdapterCommandStep: Sendable, Hashable {
    /// The command (`login`).
    public var command: String
    /// Its arguments (templates allowed).
    public var arguments: [String: JSONValue]
    /// The name a `reply` step uses.
    public var name: String
    /// Whether the step waits for the reply itself.
    public var await: Bool
    /// A matcher on the whole reply.
    public var expect: JSONValue?
    /// How long to wait for the reply, when awaited.
    public var withinMs: Int64
}

/// `reply`: the reply to an earlier command.
public struct ReplyStep: Sendable, Hashable {
    /// The command's name.
    public var to: String
    /// A matcher on the whole reply.
    public var expect: JSONValue?
    /// How long to wait.
    public var withinMs: Int64
}

/// `event`: the adapter's next event of a name.
public struct EventStep: Sendable, Hashable {
    /// The event name.
    public var name: String
    /// A matcher on the whole event object.
    public var expect: JSONValue?
    /// How long to wait.
    public var withinMs: Int64
}

/// `noEvent`: no event of a name for a while.
public struct NoEventStep: Sendable, Hashable {
    /// The event name.
    public var name: String
    /// For how long.
    public var forMs: Int64
}

/// `accept`: the next connection.
public struct AcceptStep: Sendable, Hashable {
    /// The name the case gives it.
    public var connection: String
    /// A matcher on what its transport handshake offered.
    public var expect: JSONValue?
    /// How long to wait.
    public var withinMs: Int64
}

/// A step that is only a duration.
public struct DurationStep: Sendable, Hashable {
    /// Milliseconds.
    public var milliseconds: Int64
}

/// `handshake`: `Hello`/`Welcome`, then optionally the login.
public struct HandshakeStep: Sendable, Hashable {
    /// The connection.
    public var connection: String
    /// Members replacing those of the default `Welcome`.
    public var welcome: [String: JSONValue]
    /// Members replacing those of the default `LoginResponse`; `nil`: no login.
    public var login: [String: JSONValue]?
    /// How long to wait for each client frame.
    public var withinMs: Int64
}

/// `expectFrame`: the connection's next frame.
public struct ExpectFrameStep: Sendable, Hashable {
    /// The connection.
    public var connection: String
    /// The message name.
    public var type: String
    /// A matcher on the header's request id.
    public var requestID: JSONValue?
    /// A matcher on the header's flags byte.
    public var flags: JSONValue?
    /// A matcher on the payload.
    public var payload: JSONValue?
    /// How unmentioned payload fields are treated.
    public var mode: MatchMode
    /// The capture name for the frame.
    public var captureFrame: String?
    /// How long to wait.
    public var withinMs: Int64
}

/// `expectNoFrame`: no frame for a while.
public struct ExpectNoFrameStep: Sendable, Hashable {
    /// The connection.
    public var connection: String
    /// Only these types count; `nil`: every type but `Ping`.
    public var types: [String]?
    /// For how long.
    public var forMs: Int64
}

/// `send`: a frame from the server.
public struct ServerSendStep: Sendable, Hashable {
    /// The connection.
    public var connection: String
    /// The message name.
    public var type: String
    /// The request id (a number or a template).
    public var requestID: JSONValue?
    /// A captured frame whose request id to use.
    public var respondTo: String?
    /// Flag names (`ACK_REQUIRED`).
    public var flags: [String]
    /// The payload, protobuf JSON with templates.
    public var payload: JSONValue
}

/// `sendRaw` and `sendText`: bytes from the server.
public struct ServerBytesStep: Sendable, Hashable {
    /// The connection.
    public var connection: String
    /// The bytes (UTF-8 for text).
    public var bytes: [UInt8]
}

/// `pong`: whether the runner answers `Ping`.
public struct PongStep: Sendable, Hashable {
    /// The connection.
    public var connection: String
    /// Whether to answer.
    public var automatic: Bool
}

/// `close`: the server closes.
public struct ServerCloseStep: Sendable, Hashable {
    /// The connection.
    public var connection: String
    /// The WebSocket close code, or `nil` to close abruptly.
    public var webSocketCode: UInt16?
}

/// `expectClosed`: the client closes.
public struct ExpectClientCloseStep: Sendable, Hashable {
    /// The connection.
    public var connection: String
    /// The close code the client must send over WebSocket.
    public var webSocketCode: UInt16?
    /// Frame types that may arrive before the close.
    public var allowFrames: [String]
    /// How long to wait.
    public var withinMs: Int64
}

// MARK: - Reading JSON objects strictly

/// Reads the members of one JSON object and rejects those nobody read.
struct FieldReader {
    private let members: [String: JSONValue]
    private var used: Set<String> = []
    private let context: String

    init(_ json: JSONValue, _ context: String) throws(ClientScenarioError) {
        guard let members = json.objectValue else { throw ClientScenarioError("\(context): not an object") }
        self.members = members
        self.context = context
    }

    mutating func optional(_ key: String) throws(ClientScenarioError) -> JSONValue? {
        self.used.insert(key)
        return self.members[key]
    }

    mutating func string(_ key: String) throws(ClientScenarioError) -> String {
        guard let value = try self.optionalString(key) else { throw self.missing(key, "a string") }
        return value
    }

    mutating func optionalString(_ key: String) throws(ClientScenarioError) -> String? {
        guard let value = try self.optional(key) else { return nil }
        guard let string = value.stringValue else { throw self.wrong(key, "a string") }
        return string
    }

    mutating func int(_ key: String) throws(ClientScenarioError) -> Int64 {
        guard let value = try self.optionalInt(key) else { throw self.missing(key, "an integer") }
        return value
    }

    mutating func optionalInt(_ key: String) throws(ClientScenarioError) -> Int64? {
        guard let value = try self.optional(key) else { return nil }
        guard case .int(let number) = value else { throw self.wrong(key, "an integer") }
        return number
    }

    mutating func bool(_ key: String) throws(ClientScenarioError) -> Bool {
        guard let value = try self.optionalBool(key) else { throw self.missing(key, "true or false") }
        return value
    }

    mutating func optionalBool(_ key: String) throws(ClientScenarioError) -> Bool? {
        guard let value = try self.optional(key) else { return nil }
        guard case .bool(let flag) = value else { throw self.wrong(key, "true or false") }
        return flag
    }

    mutating func array(_ key: String) throws(ClientScenarioError) -> [JSONValue] {
        guard let value = try self.optional(key) else { throw self.missing(key, "an array") }
        guard let array = value.arrayValue else { throw self.wrong(key, "an array") }
        return array
    }

    mutating func strings(_ key: String) throws(ClientScenarioError) -> [String] {
        guard let value = try self.optionalStrings(key) else { throw self.missing(key, "an array of strings") }
        return value
    }

    mutating func optionalStrings(_ key: String) throws(ClientScenarioError) -> [String]? {
        guard let value = try self.optional(key) else { return nil }
        guard let array = value.arrayValue else { throw self.wrong(key, "an array of strings") }
        var strings: [String] = []
        for element in array {
            guard let string = element.stringValue else { throw self.wrong(key, "an array of strings") }
            strings.append(string)
        }
        return strings
    }

    mutating func optionalObject(_ key: String) throws(ClientScenarioError) -> [String: JSONValue]? {
        guard let value = try self.optional(key) else { return nil }
        guard let object = value.objectValue else { throw self.wrong(key, "an object") }
        return object
    }

    func finish() throws(ClientScenarioError) {
        let unknown = self.members.keys.filter { !self.used.contains($0) }.sorted()
        guard unknown.isEmpty else {
            throw ClientScenarioError(
                "\(self.context): unknown key\(unknown.count == 1 ? "" : "s") " + unknown.joined(separator: ", ")
            )
        }
    }

    private func missing(_ key: String, _ what: String) -> ClientScenarioError {
        ClientScenarioError("\(self.context): \(key) is missing (\(what))")
    }

    private func wrong(_ key: String, _ what: String) -> ClientScenarioError {
        ClientScenarioError("\(self.context): \(key) is not \(what)")
    }
}

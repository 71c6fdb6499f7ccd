import Foundation
import HeraldEngine
import HeraldMessages
import HeraldWire
import NIOCore
import SwiftProtobuf

/// Runs one client case: starts the adapter, plays the server's part of the steps, checks the client's frames and
/// the adapter's replies and events, and stops the adapter.
struct ClientCaseExecutor {
    /// The app id the cases use (`${capture:appId}`).
    static let appID = "client-conformance"
    /// Every capability of Herald v1, granted by the default `Welcome` when `Hello` asks for none (HS-15).
    static let capabilitiesV1 = Capability.allV1.map(\.name)

    let scenario: ClientCase
    let server: ScriptedServer
    let adapterCommand: String
    let rerunCommand: String

    /// Runs the case; a failure seen while the runner itself was stalled for ``CaseExecutor/stallThreshold`` or more
    /// (its waits and sends were late: it says nothing about the client) runs once more, and the second attempt is
    /// the verdict, the first kept in ``CaseResult/firstAttempt``.
    func run() async -> CaseResult {
        let lag = RunnerLag()
        let first = await lag.measuring { await self.runOnce() }
        guard first.verdict == .fail, lag.total >= CaseExecutor.stallThreshold else { return first }
        var result = await self.runOnce()
        result.firstAttempt = FirstAttempt(
            verdict: .error,
            message: first.message + "\nthe runner itself was stalled for \(CaseBudget.text(lag.total)) while the "
                + "case ran (infrastructure, not judged as the client's failure: the case ran once more)",
            durationMs: first.durationMs
        )
        return result
    }

    private func runOnce() async -> CaseResult {
        let recorder = TranscriptRecorder()
        await self.server.begin(recorder: recorder)
        let started = ContinuousClock.now
        var verdict = Verdict.pass
        var message = ""
        var failedStep: Int?
        var errorTail: [String] = []
        do {
            let adapter = try AdapterProcess(command: self.adapterCommand, recorder: recorder)
            var state = ClientCaseState(scenario: self.scenario, server: self.server, adapter: adapter)
            state.setUpCaptures()
            let budget = Duration.milliseconds(self.scenario.timeoutMs)
            let outcome = await withTaskGroup(of: (Verdict, String, Int?)?.self) { group in
                group.addTask { [state] in
                    var state = state
                    return await state.runSteps()
                }
                group.addTask {
                    try? await Task.sleep(for: budget)
                    return Task.isCancelled ? nil : (.timeout, "the case did not finish within \(budget)", nil)
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first ?? (.error, "the case was cancelled", nil)
            }
            (verdict, message, failedStep) = outcome
            // The runner's connections close first, so that a client that logs out when it is shut down (TRN-28)
            // is not left waiting for a LogoutResponse.
            await self.server.closeConnections()
            await adapter.stop()
            errorTail = adapter.errorTail
        } catch {
            verdict = .error
            message = "cannot start the adapter: \(error)"
        }
        await self.server.end()
        if verdict != .pass, !errorTail.isEmpty {
            message +=
                "\nthe adapter's standard error ends with:\n"
                + errorTail.suffix(10).map { "  " + $0 }.joined(
                    separator: "\n"
                )
        }
        let elapsed = ContinuousClock.now - started
        return CaseResult(
            id: self.scenario.id,
            title: self.scenario.title,
            chapter: self.scenario.chapter,
            level: self.scenario.level,
            requirements: self.scenario.requirements,
            verdict: verdict,
            durationMs: elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000,
            message: message,
            failedStep: failedStep,
            transcript: recorder.entries,
            rerunCommand: self.rerunCommand
        )
    }
}

/// Why a step stopped the case.
private struct StepFailure: Error {
    var verdict: Verdict
    var message: String

    static func fail(_ message: String) -> StepFailure { StepFailure(verdict: .fail, message: message) }
    static func error(_ message: String) -> StepFailure { StepFailure(verdict: .error, message: message) }
}

/// The state of one running case.
private struct ClientCaseState: @unchecked Sendable {
    let scenario: ClientCase
    let server: ScriptedServer
    let adapter: AdapterProcess
    var templates = TemplateContext(nonce: "client", caseID: "", appID: ClientCaseExecutor.appID)
    var commands: [String: (id: Int64, command: String)] = [:]
    var replies: [Int64: JSONValue] = [:]
    var events: [(name: String, value: JSONValue)] = []
    var adapterEnded = false
    var connections: [String: ScriptedConnection] = [:]
    var pushedBack: [String: [ScriptedConnectionEvent]] = [:]
    var connectionCount = 0

    init(scenario: ClientCase, server: ScriptedServer, adapter: AdapterProcess) {
        self.scenario = scenario
        self.server = server
        self.adapter = adapter
        self.templates = TemplateContext(nonce: "client", caseID: scenario.id, appID: ClientCaseExecutor.appID)
    }

    mutating func setUpCaptures() {
        let listener = ScriptedServer.Listener(rawValue: self.scenario.transport) ?? .tcp
        let url = self.server.urls[listener] ?? ""
        var captures: [String: JSONValue] = [
            "url": .string(url),
            "trustRootsFile": .string(self.server.trustRootsFile),
            "wrongHostTrustRootsFile": .string(self.server.wrongHostTrustRootsFile),
            "appId": .string(ClientCaseExecutor.appID),
        ]
        for (kind, value) in self.server.urls {
            captures["urls.\(kind.rawValue)"] = .string(value)
        }
        if let port = url.split(separator: ":").last?.split(separator: "/").first, let number = Int64(port) {
            captures["port"] = .int(number)
        }
        self.templates.captures = captures
    }

    mutating func runSteps() async -> (Verdict, String, Int?) {
        do {
            let hello = self.adapter.send("hello", arguments: ["protocol": .string(ClientConformance.adapterProtocol)])
            let reply = try await self.reply(to: hello, what: "hello", within: 10_000)
            guard reply["ok"] == .bool(true),
                reply["result"]?["protocol"]?.stringValue == ClientConformance.adapterProtocol
            else {
                return (
                    .error, "the adapter did not answer hello for \(ClientConformance.adapterProtocol): \(reply)", nil
                )
            }
        } catch let failure as StepFailure {
            return (.error, "the adapter did not start: " + failure.message, nil)
        } catch {
            return (.error, "\(error)", nil)
        }
        for (index, step) in self.scenario.steps.enumerated() {
            if Task.isCancelled { return (.timeout, "cancelled", index) }
            do {
                try await self.run(step)
            } catch let failure as StepFailure {
                return (failure.verdict, "step \(index + 1) (\(step.kind)): \(failure.message)", index)
            } catch {
                return (.error, "step \(index + 1) (\(step.kind)): \(error)", index)
            }
        }
        return (.pass, "", nil)
    }

    // MARK: Steps

    private mutating func run(_ step: ClientStep) async throws {
        switch step {
        case .adapter(let step):
            let arguments = try self.resolve(.object(step.arguments)).objectValue ?? [:]
            let id = self.adapter.send(step.command, arguments: arguments)
            self.commands[step.name] = (id, step.command)
            if step.await {
                let reply = try await self.reply(to: id, what: step.command, within: step.withinMs)
                try self.check(reply, against: step.expect, command: step.command)
            }
        case .reply(let step):
            guard let (id, command) = self.commands[step.to] else {
                throw StepFailure.error("no command named \(step.to)")
            }
            let reply = try await self.reply(to: id, what: command, within: step.withinMs)
            try self.check(reply, against: step.expect, command: command)
        case .event(let step):
            let event = try await self.event(named: step.name, within: step.withinMs)
            if let expect = step.expect {
                try self.match(expect, event, what: "the \(step.name) event")
            }
        case .noEvent(let step):
            try await self.noEvent(named: step.name, for: step.forMs)
        case .accept(let step):
            guard let connection = await self.server.nextConnection(until: .now + .milliseconds(step.withinMs)) else {
                throw StepFailure.fail("the client opened no connection within \(step.withinMs) ms")
            }
            connection.label = step.connection
            self.connections[step.connection] = connection
            if let expect = step.expect {
                try self.match(expect, connection.handshake, what: "the connection's transport handshake")
            }
        case .noConnection(let step):
            try await self.noConnection(for: step.milliseconds)
        case .handshake(let step):
            try await self.handshake(step)
        case .expectFrame(let step):
            try await self.expectFrame(step)
        case .expectNoFrame(let step):
            try await self.expectNoFrame(step)
        case .send(let step):
            try self.send(step)
        case .sendRaw(let step):
            try self.connection(step.connection).writeRaw(step.bytes)
        case .sendText(let step):
            let connection = try self.connection(step.connection)
            guard connection.isWebSocket else { throw StepFailure.error("sendText needs a WebSocket connection") }
            connection.writeText(String(decoding: step.bytes, as: UTF8.self))
        case .discard(let step):
            try self.discard(step)
        case .pong(let step):
            try self.connection(step.connection).autoPong = step.automatic
        case .close(let step):
            try await self.connection(step.connection).close(webSocketCode: step.webSocketCode)
        case .expectClosed(let step):
            try await self.expectClosed(step)
        case .delay(let step):
            try? await Task.sleep(for: .milliseconds(step.milliseconds))
        }
    }

    /// No connection on which the client sends anything: a connection it closes without sending a byte is not one
    /// (a TLS stack may finish the handshake before it checks the host name, as NIOSSL does, and then close).
    private func noConnection(for milliseconds: Int64) async throws {
        let deadline = ContinuousClock.now + .milliseconds(milliseconds)
        var watched: [ScriptedConnection] = []
        while ContinuousClock.now < deadline {
            if let connection = await self.server.nextConnection(until: min(deadline, .now + .milliseconds(50))) {
                watched.append(connection)
            }
            for connection in watched {
                while let event = connection.queue.pollBuffered() {
                    let what: String
                    switch event {
                    case .frame(let frame): what = frame.summary
                    case .text(let text): what = "a text message \(text.prefix(80))"
                    case .failure(let message): what = "bytes that are not a frame (\(message))"
                    case .closed: continue
                    }
                    throw StepFailure.fail(
                        "the client sent \(what) over a connection to the \(connection.listener.rawValue) listener "
                            + "(\(connection.handshakeSummary))"
                    )
                }
            }
        }
    }

    private mutating func handshake(_ step: HandshakeStep) async throws {
        let name = step.connection
        let hello = try await self.nextFrame(name, within: step.withinMs, skipPing: false)
        guard hello.typeName == "Hello" else {
            throw StepFailure.fail("the connection's first frame is \(hello.summary), not Hello (HS-1)")
        }
        self.capture(hello, as: "\(name).hello")
        var welcome: [String: JSONValue] = [
            "version": .int(1),
            "serverName": .string("herald conform client"),
            "capabilities": .array(
                (hello.rendering?.full["capabilities"]?.arrayValue ?? []).isEmpty
                    ? ClientCaseExecutor.capabilitiesV1.map(JSONValue.string)
                    : hello.rendering?.full["capabilities"]?.arrayValue ?? []
            ),
            "serverTimeMs": .string(String(Self.nowMs)),
            "connectionId": .string("connection-\(self.connectionCount + 1)"),
        ]
        self.connectionCount += 1
        for (key, value) in try self.resolve(.object(step.welcome)).objectValue ?? [:] { welcome[key] = value }
        try self.sendFrame(name, type: "Welcome", requestID: hello.frame.requestID, flags: 0, payload: .object(welcome))
        guard let login = step.login else { return }
        let request = try await self.nextFrame(name, within: step.withinMs, skipPing: true)
        guard request.typeName == "LoginRequest" else {
            throw StepFailure.fail("expected LoginRequest after Welcome, got \(request.summary)")
        }
        self.capture(request, as: "\(name).login")
        var response: [String: JSONValue] = [
            "result": .string("LOGIN_RESULT_OK"),
            "sessionId": .string("session-\(self.connectionCount)"),
            "serverTimeMs": .string(String(Self.nowMs)),
        ]
        for (key, value) in try self.resolve(.object(login)).objectValue ?? [:] { response[key] = value }
        try self.sendFrame(
            name,
            type: "LoginResponse",
            requestID: request.frame.requestID,
            flags: 0,
            payload: .object(response)
        )
    }

    private mutating func expectFrame(_ step: ExpectFrameStep) async throws {
        let frame = try await self.nextFrame(step.connection, within: step.withinMs, skipPing: step.type != "Ping")
        guard frame.typeName == step.type else {
            throw StepFailure.fail("expected \(step.type), got \(frame.summary)")
        }
        guard let rendering = frame.rendering else {
            throw StepFailure.fail("the client's \(frame.typeName) does not parse: \(frame.decodeError ?? "?")")
        }
        if let expected = step.requestID {
            try self.match(expected, .int(Int64(frame.frame.requestID)), what: "the request id")
        }
        if let expected = step.flags {
            try self.match(expected, .int(Int64(frame.frame.flags.rawValue)), what: "the flags")
        }
        if let expected = step.payload {
            let resolved = try self.resolve(expected)
            let result = PayloadMatcher.match(
                resolved,
                against: rendering.full,
                canonical: rendering.canonical,
                mode: step.mode
            )
            guard result.isMatch else {
                throw StepFailure.fail("the client's \(frame.summary) does not match: \(result.explanation)")
            }
            self.templates.captures.merge(result.captures) { $1 }
        }
        if let name = step.captureFrame { self.capture(frame, as: name) }
    }

    private mutating func expectNoFrame(_ step: ExpectNoFrameStep) async throws {
        let deadline = ContinuousClock.now + .milliseconds(step.forMs)
        var kept: [ScriptedConnectionEvent] = []
        defer { self.pushedBack[step.connection, default: []].insert(contentsOf: kept, at: 0) }
        while let event = try await self.nextEvent(step.connection, until: deadline) {
            if case .frame(let frame) = event {
                let counts = step.types.map { $0.contains(frame.typeName) } ?? (frame.typeName != "Ping")
                if counts {
                    throw StepFailure.fail("the client sent \(frame.summary) within \(step.forMs) ms")
                }
            }
            kept.append(event)
            if case .closed = event { break }
        }
    }

    private mutating func discard(_ step: ExpectNoFrameStep) throws {
        let connection = try self.connection(step.connection)
        var kept: [ScriptedConnectionEvent] = []
        for event in self.pushedBack[step.connection] ?? [] {
            if case .frame(let frame) = event, step.types?.contains(frame.typeName) == true { continue }
            kept.append(event)
        }
        while let event = connection.queue.pollBuffered() {
            if case .frame(let frame) = event, step.types?.contains(frame.typeName) == true { continue }
            kept.append(event)
        }
        self.pushedBack[step.connection] = kept
    }

    private mutating func expectClosed(_ step: ExpectClientCloseStep) async throws {
        let deadline = ContinuousClock.now + .milliseconds(step.withinMs)
        while true {
            guard let event = try await self.nextEvent(step.connection, until: deadline) else {
                throw StepFailure.fail("the client did not close the connection within \(step.withinMs) ms")
            }
            switch event {
            case .frame(let frame):
                if frame.typeName == "Ping" || step.allowFrames.contains(frame.typeName) { continue }
                throw StepFailure.fail("the client sent \(frame.summary) instead of closing the connection")
            case .text(let text):
                throw StepFailure.fail("the client sent a text message (\(text.prefix(80))) instead of closing")
            case .failure(let message):
                throw StepFailure.fail(message)
            case .closed(let code, let byClient):
                guard byClient else { throw StepFailure.error("the runner closed the connection itself") }
                if let expected = step.webSocketCode, code != expected {
                    throw StepFailure.fail(
                        "the client closed the WebSocket connection with "
                            + (code.map { "status \($0)" } ?? "no close frame (or no status)")
                            + ", expected status \(expected)"
                    )
                }
                return
            }
        }
    }

    private mutating func send(_ step: ServerSendStep) throws {
        var requestID: UInt32 = 0
        if let source = step.respondTo {
            guard let id = self.templates.captures["\(source).requestId"]?.integerValue else {
                throw StepFailure.error("no captured frame named \(source)")
            }
            requestID = UInt32(truncatingIfNeeded: id)
        }
        if let expression = step.requestID {
            guard let id = try self.resolve(expression).integerValue, let value = UInt32(exactly: id) else {
                throw StepFailure.error("requestId \(expression) is not a 32-bit unsigned integer")
            }
            requestID = value
        }
        var flags: UInt8 = 0
        for name in step.flags {
            guard let bit = FrameJSONFlags.bit(named: name) else { throw StepFailure.error("unknown flag \(name)") }
            flags |= bit
        }
        try self.sendFrame(step.connection, type: step.type, requestID: requestID, flags: flags, payload: step.payload)
    }

    private mutating func sendFrame(
        _ name: String,
        type: String,
        requestID: UInt32,
        flags: UInt8,
        payload: JSONValue
    ) throws {
        let connection = try self.connection(name)
        guard let info = ProtoJSON.info(forType: type) else { throw StepFailure.error("unknown message \(type)") }
        let resolved = try self.resolve(payload)
        let message: any SwiftProtobuf.Message
        do {
            message = try ProtoJSON.message(from: resolved, as: info.messageType)
        } catch {
            throw StepFailure.error("the payload \(PayloadMatcher.short(resolved)) is not a valid \(type): \(error)")
        }
        let bytes: [UInt8]
        do {
            bytes = try message.serializedBytes()
        } catch {
            throw StepFailure.error("cannot serialize \(type): \(error)")
        }
        let header = HeraldFrameHeader(
            flags: HeraldFrameFlags(rawValue: flags),
            opcode: info.opcode,
            requestID: requestID
        )
        connection.write(
            HeraldFrame(header: header, payload: ByteBuffer(bytes: bytes)),
            payload: ProtoJSON.render(message).canonical
        )
    }

    // MARK: Connections

    private func connection(_ name: String) throws -> ScriptedConnection {
        guard let connection = self.connections[name] else {
            throw StepFailure.error("connection \(name) has not been accepted")
        }
        return connection
    }

    /// The connection's next event: one pushed back first, then the queue's.
    private mutating func nextEvent(
        _ name: String,
        until deadline: ContinuousClock.Instant
    ) async throws -> ScriptedConnectionEvent? {
        if var kept = self.pushedBack[name], !kept.isEmpty {
            let first = kept.removeFirst()
            self.pushedBack[name] = kept
            return first
        }
        let connection = try self.connection(name)
        guard let event = await connection.queue.next(until: deadline) else { return nil }
        if case .frame(let frame) = event, let kind = frame.frame.opcodeInfo?.kind, kind == .response || kind == .event
        {
            // HS-38 binds every frame of every case.
            throw StepFailure.fail("the client sent \(frame.summary), a frame of kind \(kind) (HS-38)")
        }
        return event
    }

    /// The connection's next frame; `Ping`s are skipped when `skipPing`.
    private mutating func nextFrame(
        _ name: String,
        within milliseconds: Int64,
        skipPing: Bool
    ) async throws
        -> ReceivedFrame
    {
        let deadline = ContinuousClock.now + .milliseconds(milliseconds)
        while true {
            guard let event = try await self.nextEvent(name, until: deadline) else {
                throw StepFailure.fail("no frame from the client within \(milliseconds) ms")
            }
            switch event {
            case .frame(let frame):
                if skipPing, frame.typeName == "Ping" { continue }
                return frame
            case .failure(let message):
                throw StepFailure.fail(message)
            case .text(let text):
                throw StepFailure.fail("the client sent a WebSocket text message: \(text.prefix(80))")
            case .closed(let code, _):
                throw StepFailure.fail(
                    "the connection closed" + (code.map { " (WebSocket status \($0))" } ?? "")
                        + " while a frame was expected"
                )
            }
        }
    }

    private mutating func capture(_ frame: ReceivedFrame, as name: String) {
        self.templates.captures["\(name).requestId"] = .int(Int64(frame.frame.requestID))
        self.templates.captures["\(name).flags"] = .int(Int64(frame.frame.flags.rawValue))
        if let payload = frame.rendering?.full {
            self.templates.captures["\(name).payload"] = payload
            for (key, value) in payload.objectValue ?? [:] {
                self.templates.captures["\(name).payload.\(key)"] = value
            }
        }
    }

    // MARK: The adapter

    /// The reply to command `id`, reading (and keeping) events meanwhile.
    private mutating func reply(to id: Int64, what: String, within milliseconds: Int64) async throws -> JSONValue {
        let deadline = ContinuousClock.now + .milliseconds(milliseconds)
        while self.replies[id] == nil {
            guard try await self.readAdapter(until: deadline) else {
                throw StepFailure.fail("no reply to \(what) within \(milliseconds) ms")
            }
        }
        return self.replies[id]!
    }

    /// Reads one message of the adapter; `false` at the deadline.
    private mutating func readAdapter(until deadline: ContinuousClock.Instant) async throws -> Bool {
        if self.adapterEnded {
            throw StepFailure.fail("the adapter has ended (its standard output closed)")
        }
        guard let message = await self.adapter.messages.next(until: deadline) else { return false }
        self.adapter.consumed()
        switch message {
        case .reply(let id, let value): self.replies[id] = value
        case .event(let name, let value): self.events.append((name, value))
        case .malformed(let text): throw StepFailure.fail("the adapter broke the adapter protocol: \(text)")
        case .ended:
            self.adapterEnded = true
            throw StepFailure.fail("the adapter has ended (its standard output closed)")
        }
        return true
    }

    private mutating func event(named name: String, within milliseconds: Int64) async throws -> JSONValue {
        let deadline = ContinuousClock.now + .milliseconds(milliseconds)
        while true {
            if let index = self.events.firstIndex(where: { $0.name == name }) {
                return self.events.remove(at: index).value
            }
            guard try await self.readAdapter(until: deadline) else {
                throw StepFailure.fail("no \(name) event within \(milliseconds) ms")
            }
        }
    }

    private mutating func noEvent(named name: String, for milliseconds: Int64) async throws {
        let deadline = ContinuousClock.now + .milliseconds(milliseconds)
        while true {
            if let event = self.events.first(where: { $0.name == name }) {
                throw StepFailure.fail("the adapter reported \(event.value.compactText)")
            }
            guard try await self.readAdapter(until: deadline) else { return }
        }
    }

    private mutating func check(_ reply: JSONValue, against expected: JSONValue?, command: String) throws {
        guard let expected else { return }
        do {
            try self.match(expected, reply, what: "the reply to \(command)")
        } catch let failure as StepFailure {
            if reply["error"]?["code"]?.stringValue == "unsupported" {
                throw StepFailure.fail("the client under test does not support \(command) (its adapter says so)")
            }
            throw failure
        }
    }

    // MARK: Matching and templates

    private mutating func match(_ expected: JSONValue, _ actual: JSONValue, what: String) throws {
        let resolved = try self.resolve(expected)
        let result = PayloadMatcher.match(resolved, against: actual, path: "value")
        guard result.isMatch else {
            throw StepFailure.fail("\(what) \(PayloadMatcher.short(actual)) does not match: \(result.explanation)")
        }
        self.templates.captures.merge(result.captures) { $1 }
    }

    private func resolve(_ json: JSONValue) throws -> JSONValue {
        do {
            return try Templating.resolve(json: json, in: self.templates)
        } catch {
            throw StepFailure.error("template: \(error)")
        }
    }

    private static var nowMs: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}

/// The flag names of frame headers.
enum FrameJSONFlags {
    /// The bit of a flag name (`ACK_REQUIRED`), or `nil`.
    static func bit(named name: String) -> UInt8? {
        name == "ACK_REQUIRED" ? HeraldFrameFlags.ackRequired.rawValue : nil
    }
}

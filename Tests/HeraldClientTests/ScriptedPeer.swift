import HeraldClient
import HeraldMessages
import HeraldWire
import NIOCore
import SwiftProtobuf
import Synchronization
import Testing

/// An error of the test harness.
struct HarnessFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A queue that a test awaits (no polling); ``next()`` gives up after a bound so that a broken client fails the
/// test instead of hanging it.
final class AwaitQueue<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        var waiters: [CheckedContinuation<Element?, Never>] = []
        var finished = false
    }

    private let state = Mutex(State())

    func push(_ element: Element) {
        let waiter: CheckedContinuation<Element?, Never>? = self.state.withLock { state in
            if !state.waiters.isEmpty { return state.waiters.removeFirst() }
            state.items.append(element)
            return nil
        }
        waiter?.resume(returning: element)
    }

    func finish() {
        let waiters = self.state.withLock { state in
            state.finished = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: nil) }
    }

    /// Whether nothing is buffered.
    var isEmpty: Bool { self.state.withLock { $0.items.isEmpty } }

    /// The next element; `nil` once finished, or after `timeout` of real time (a safety bound, never a wait the
    /// test relies on; generous, because a CI machine running every suite at once can stall a test for seconds).
    func next(timeout: Duration = .seconds(30)) async -> Element? {
        await withTaskGroup(of: Element?.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let immediate: Element?? = self.state.withLock { state in
                        if !state.items.isEmpty { return .some(state.items.removeFirst()) }
                        if state.finished { return .some(nil) }
                        state.waiters.append(continuation)
                        return nil
                    }
                    if case .some(let value) = immediate { continuation.resume(returning: value) }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            if first == nil {
                // Wake the waiter left behind, if any, so the group can end.
                let waiters = self.state.withLock { state in
                    defer { state.waiters = [] }
                    return state.waiters
                }
                for waiter in waiters { waiter.resume(returning: nil) }
            }
            return first
        }
    }
}

/// A connector whose connections are scripted by the test: it sees every frame the client sends and writes the
/// server's frames itself.
final class ScriptedConnector: ClientConnector {
    let connections = AwaitQueue<ScriptedServer>()
    /// Set to make the next connection attempts fail.
    let refuse = Mutex(false)

    func connect(
        to address: ServerAddress,
        maximumPayloadLength: Int,
        events: @escaping @Sendable (ClientTransportEvent) -> Void
    ) async throws(HeraldClientError) -> any ClientTransport {
        if self.refuse.withLock({ $0 }) { throw HeraldClientError(.connectFailed, "refused by the script") }
        let server = ScriptedServer(events: events, maximumPayloadLength: maximumPayloadLength)
        self.connections.push(server)
        return server
    }

    /// The next connection the client opens.
    func nextConnection() async throws -> ScriptedServer {
        guard let server = await self.connections.next() else { throw HarnessFailure("the client did not connect") }
        return server
    }
}

/// The server side of one scripted connection.
final class ScriptedServer: ClientTransport {
    private let events: @Sendable (ClientTransportEvent) -> Void
    let maximumPayloadLength: Int
    let sent = AwaitQueue<HeraldFrame>()
    private let closedState = Mutex(false)

    init(events: @escaping @Sendable (ClientTransportEvent) -> Void, maximumPayloadLength: Int) {
        self.events = events
        self.maximumPayloadLength = maximumPayloadLength
    }

    // MARK: ClientTransport

    func send(_ frames: [HeraldFrame]) {
        guard !self.isClosed else { return }
        for frame in frames { self.sent.push(frame) }
    }

    func close() {
        let wasClosed = self.closedState.withLock { closed in
            defer { closed = true }
            return closed
        }
        guard !wasClosed else { return }
        self.sent.finish()
        self.events(.closed)
    }

    // MARK: Script

    /// Whether the client closed the connection (or the script dropped it).
    var isClosed: Bool { self.closedState.withLock { $0 } }

    /// The next frame the client sent.
    func nextFrame() async throws -> HeraldFrame {
        guard let frame = await self.sent.next() else { throw HarnessFailure("the client sent nothing more") }
        return frame
    }

    /// The next frame, which must carry an `M`.
    func expect<M: SwiftProtobuf.Message>(_ type: M.Type) async throws -> (frame: HeraldFrame, message: M) {
        let frame = try await self.nextFrame()
        guard let info = HeraldOpcodeTable.info(forMessageType: M.self), frame.opcode == info.opcode else {
            throw HarnessFailure("expected \(M.protoMessageName), the client sent \(frame.opcode)")
        }
        return (frame, try frame.decodeMessage(as: M.self))
    }

    /// Sends `message` as the server, with `requestID` (a response's, or an acknowledgeable event's).
    func send(_ message: some SwiftProtobuf.Message, requestID: UInt32 = 0, flags: HeraldFrameFlags = []) throws {
        self.deliver([try HeraldFrame(requestID: requestID, flags: flags, message: message)])
    }

    /// Hands frames to the client as one read.
    func deliver(_ frames: [HeraldFrame]) {
        self.events(.frames(frames))
    }

    /// Reports a framing failure and the end of the connection, as a transport does.
    func fail(_ why: String) {
        self.events(.failed(why))
        self.close()
    }

    /// Ends the connection from the server's side.
    func drop() {
        self.close()
    }

    /// Answers `Hello` with `welcome` (version 1, every capability by default).
    @discardableResult
    func handshake(_ configure: (inout Herald_V1_Welcome) -> Void = { _ in }) async throws -> Herald_V1_Hello {
        let (frame, hello) = try await self.expect(Herald_V1_Hello.self)
        var welcome = Herald_V1_Welcome()
        welcome.version = 1
        welcome.serverName = "scripted"
        welcome.capabilities = [
            "core", "peer-messages", "offline-messages", "presence", "user-attributes", "channels",
            "channel-messages", "channel-attributes", "invitations", "legacy-signaling",
        ]
        welcome.timers.heartbeatIntervalMs = 5000
        welcome.timers.idleTimeoutMs = 30_000
        configure(&welcome)
        try self.send(welcome, requestID: frame.requestID)
        return hello
    }

    /// Answers the `LoginRequest`.
    @discardableResult
    func acceptLogin(
        sessionID: String = "s1",
        resumeHandle: String = "",
        result: Herald_V1_LoginResult = .ok
    ) async throws -> Herald_V1_LoginRequest {
        let (frame, request) = try await self.expect(Herald_V1_LoginRequest.self)
        var response = Herald_V1_LoginResponse()
        response.result = result
        response.sessionID = result == .ok ? sessionID : ""
        response.resumeHandle = resumeHandle
        try self.send(response, requestID: frame.requestID)
        return request
    }
}

/// A client on a scripted connection, logged in as `alice`.
func scriptedClient(
    _ configure: (inout HeraldClient.Configuration) -> Void = { _ in }
) async throws -> (HeraldClient, ScriptedConnector, ScriptedServer, ManualClientClock) {
    let connector = ScriptedConnector()
    let clock = ManualClientClock()
    var configuration = HeraldClient.Configuration(address: ServerAddress(scheme: .tcp, host: "scripted"), appID: "app")
    configure(&configuration)
    let client = HeraldClient(configuration: configuration, connector: connector, clock: clock)
    let login = Task { try await client.login(userID: "alice", token: "t") }
    let server = try await connector.nextConnection()
    try await server.handshake()
    try await server.acceptLogin()
    try await bounded(login)
    return (client, connector, server, clock)
}

/// Records a client's events so that a test can await them with a bound.
final class EventRecorder: Sendable {
    let queue = AwaitQueue<HeraldClientEvent>()
    private let task: Mutex<Task<Void, Never>?> = Mutex(nil)

    /// Subscribes to `client`'s events from now on.
    init(_ client: HeraldClient) async {
        let stream = await client.events()
        let queue = self.queue
        self.task.withLock {
            $0 = Task {
                for await event in stream { queue.push(event) }
                queue.finish()
            }
        }
    }

    /// The next event that `match` picks, skipping others.
    func next<T>(_ what: String, _ match: (HeraldClientEvent) -> T?) async throws -> T {
        while let event = await self.queue.next() {
            if let value = match(event) { return value }
        }
        throw HarnessFailure("no \(what)")
    }

    deinit { self.task.withLock { $0?.cancel() } }
}

/// The value of `task`, or a failure after 30 s of real time: a broken client fails the test instead of hanging it
/// (the task is left behind).
func bounded<T: Sendable>(_ task: Task<T, any Error>) async throws -> T {
    let queue = AwaitQueue<Result<T, any Error>>()
    Task {
        do { queue.push(.success(try await task.value)) } catch { queue.push(.failure(error)) }
    }
    guard let result = await queue.next() else { throw HarnessFailure("the client did not answer in 30 s") }
    return try result.get()
}

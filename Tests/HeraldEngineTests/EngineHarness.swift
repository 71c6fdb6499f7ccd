import HeraldEngine
import HeraldMessages
import HeraldWire
import NIOCore
import SwiftProtobuf
import Synchronization
import Testing

/// A connection sink that decodes everything the engine writes, with the wire codec, so every test also checks
/// that the engine's output is valid Herald framing.
final class TestSink: EngineConnectionSink {
    private struct State {
        var frames: [HeraldFrame] = []
        var closed = false
        var queued = 0
        var writes = 0
        var requestsHeld = false
        var holdChanges = 0
    }
    private let state = Mutex(State())

    func write(_ bytes: OutboundBytes) {
        let frames = bytes.frames()
        #expect(frames.count == bytes.frameCount, "the bytes hold \(frames.count) frames, not \(bytes.frameCount)")
        let decoded = frames.map { frame -> HeraldFrame in
            do {
                return try HeraldWire.decodeSingleFrame(
                    frame,
                    maximumPayloadLength: 0x00FF_FFFF,
                    acceptedExtensions: HeraldOpcodeTable.extensions
                )
            } catch {
                Issue.record("the engine wrote an invalid frame: \(error)")
                return try! HeraldFrame(opcode: .disconnect, message: Herald_V1_Disconnect())
            }
        }
        self.state.withLock {
            precondition(!$0.closed || decoded.isEmpty, "the engine wrote to a closed sink")
            $0.frames.append(contentsOf: decoded)
            $0.writes += 1
        }
    }

    var queuedFrameCount: Int { self.state.withLock { $0.queued } }

    func close() { self.state.withLock { $0.closed = true } }

    func holdRequests(_ hold: Bool) {
        self.state.withLock {
            #expect($0.requestsHeld != hold, "holdRequests(\(hold)) repeated")
            $0.requestsHeld = hold
            $0.holdChanges += 1
        }
    }

    /// Whether the engine holds this connection's requests back (LIM-35).
    var requestsHeld: Bool { self.state.withLock { $0.requestsHeld } }

    /// Pretends that `count` frames are stuck in the transport (for slow-consumer tests).
    func setQueued(_ count: Int) { self.state.withLock { $0.queued = count } }

    var isClosed: Bool { self.state.withLock { $0.closed } }

    /// Removes and returns every frame received so far.
    func drain() -> [HeraldFrame] {
        self.state.withLock {
            let frames = $0.frames
            $0.frames.removeAll()
            return frames
        }
    }
}

/// The default test app: tokens optional (app-ID-only mode) and a 32-byte secret for tests that mint tokens.
let testAppID = "app"
let testSecret = Array("herald-test-secret-0123456789abcdef".utf8)

/// An engine on a virtual clock, with helpers to drive it like clients would.
final class EngineHarness: Sendable {
    let clock: ManualEngineClock
    let engine: HeraldEngine
    let inbox: any OfflineInbox
    /// The engine's offline store over ``inbox``. Unless the harness was made with `manualStore`, every input the
    /// harness or a client makes runs the store's batches (``settle()``) before returning.
    let store: ManualOfflineStore
    let manualStore: Bool

    init(
        inbox: (any OfflineInbox)? = nil,
        manualStore: Bool = false,
        backlogLimit: Int = 65_536,
        verifier: (any TokenVerifying)? = nil,
        configure: (inout EngineConfiguration) -> Void = { _ in }
    ) throws {
        var configuration = EngineConfiguration(
            apps: [
                AppCredentials(appID: testAppID, secrets: [testSecret], allowsTokenlessLogin: true),
                AppCredentials(appID: "strict", secrets: [testSecret], allowsTokenlessLogin: false),
            ]
        )
        configure(&configuration)
        let clock = ManualEngineClock()
        let inbox = inbox ?? MemoryOfflineInbox()
        self.clock = clock
        self.inbox = inbox
        self.manualStore = manualStore
        self.store = ManualOfflineStore(backend: inbox, backlogLimit: backlogLimit)
        self.engine = try HeraldEngine(
            configuration: configuration,
            clock: clock,
            store: self.store,
            verifier: verifier
        )
    }

    /// Runs the store's batches until none is left, unless the test completes them itself (`manualStore`).
    func settle() async {
        if !self.manualStore { await self.store.settle() }
    }

    /// The virtual time in Unix milliseconds.
    var now: Int64 { self.clock.nowMilliseconds() }

    /// Moves the clock and runs the timers that became due.
    func advance(by milliseconds: Int64) async {
        self.clock.advance(by: milliseconds)
        await self.engine.fireDueTimers()
        await self.settle()
    }

    /// Opens a connection and, unless `hello` is nil, performs the handshake and drains the Welcome.
    func connect(hello: Herald_V1_Hello? = Herald_V1_Hello.with { $0.versions = [1] }) async -> TestClient {
        let sink = TestSink()
        let id = await self.engine.connect(sink: sink, transport: "test")
        let client = TestClient(harness: self, id: id, sink: sink)
        if let hello {
            let welcome = await client.request(hello, expecting: Herald_V1_Welcome.self)
            client.welcome = welcome
        }
        return client
    }

    /// Connects, handshakes and logs in `user` in app-ID-only mode, completes the store's batches; drains the login
    /// frames.
    func login(_ user: String, hello: Herald_V1_Hello = Herald_V1_Hello.with { $0.versions = [1] }) async -> TestClient
    {
        let client = await self.connect(hello: hello)
        let response = await client.request(
            Herald_V1_LoginRequest.with {
                $0.appID = testAppID
                $0.userID = user
            },
            expecting: Herald_V1_LoginResponse.self
        )
        #expect(response.result == .ok, "login of \(user) failed: \(response.result)")
        // The login's read of the cached messages completes here even with `manualStore` (with everything queued
        // before it); tests of the read itself send the LoginRequest themselves.
        await self.store.settle()
        client.user = user
        _ = client.drain()
        return client
    }
}

/// A virtual client of an ``EngineHarness``.
final class TestClient: @unchecked Sendable {
    let harness: EngineHarness
    let id: ConnectionID
    let sink: TestSink
    var nextRequestID: UInt32 = 1
    var welcome = Herald_V1_Welcome()
    var user = ""
    /// Frames drained but not yet consumed by an expectation.
    var inbox: [HeraldFrame] = []

    init(harness: EngineHarness, id: ConnectionID, sink: TestSink) {
        self.harness = harness
        self.id = id
        self.sink = sink
    }

    var engine: HeraldEngine { self.harness.engine }

    /// Sends a request, notice or raw frame built from `message` (the opcode is looked up from its type).
    @discardableResult
    func send<M: SwiftProtobuf.Message>(_ message: M, requestID: UInt32? = nil) async -> UInt32 {
        let id = requestID ?? self.takeRequestID()
        let frame = try! HeraldFrame(requestID: id, message: message)
        await self.engine.receive(frame, on: self.id)
        await self.harness.settle()
        return id
    }

    /// Sends a frame as is.
    func send(frame: HeraldFrame) async {
        await self.engine.receive(frame, on: self.id)
        await self.harness.settle()
    }

    func takeRequestID() -> UInt32 {
        let id = self.nextRequestID
        self.nextRequestID += 1
        return id
    }

    /// Sends a request and returns its response, which must have arrived by the time the engine returns; frames
    /// other than the response are kept for later expectations.
    func request<M: SwiftProtobuf.Message, R: SwiftProtobuf.Message>(
        _ message: M,
        expecting: R.Type,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async -> R {
        let id = await self.send(message)
        self.pull()
        guard let index = self.inbox.firstIndex(where: { $0.requestID == id && $0.opcodeInfo?.kind == .response })
        else {
            Issue.record(
                "no response to request \(id) (\(M.protoMessageName)); got \(self.describe())",
                sourceLocation: sourceLocation
            )
            return R()
        }
        let frame = self.inbox.remove(at: index)
        do {
            return try frame.decodeMessage(as: R.self)
        } catch {
            Issue.record(
                "response \(frame.opcode) is not \(R.protoMessageName): \(error)",
                sourceLocation: sourceLocation
            )
            return R()
        }
    }

    /// Moves newly written frames into ``inbox``.
    func pull() {
        self.inbox.append(contentsOf: self.sink.drain())
    }

    /// Returns and removes every frame received so far.
    func drain() -> [HeraldFrame] {
        self.pull()
        let frames = self.inbox
        self.inbox.removeAll()
        return frames
    }

    /// Removes and returns the first frame of type `M` received so far (failing the test if there is none).
    @discardableResult
    func expect<M: SwiftProtobuf.Message>(
        _ type: M.Type,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> (message: M, frame: HeraldFrame) {
        self.pull()
        guard let info = HeraldOpcodeTable.info(forMessageType: M.self),
            let index = self.inbox.firstIndex(where: { $0.opcode == info.opcode })
        else {
            Issue.record("expected \(M.protoMessageName); got \(self.describe())", sourceLocation: sourceLocation)
            return (M(), try! HeraldFrame(opcode: .disconnect, message: Herald_V1_Disconnect()))
        }
        let frame = self.inbox.remove(at: index)
        return ((try? frame.decodeMessage(as: M.self)) ?? M(), frame)
    }

    /// Removes and returns every frame of type `M` received so far, in order.
    func all<M: SwiftProtobuf.Message>(_ type: M.Type) -> [M] {
        self.pull()
        guard let info = HeraldOpcodeTable.info(forMessageType: M.self) else { return [] }
        let matching = self.inbox.filter { $0.opcode == info.opcode }
        self.inbox.removeAll { $0.opcode == info.opcode }
        return matching.compactMap { try? $0.decodeMessage(as: M.self) }
    }

    /// Fails the test if any frame has arrived that no expectation consumed.
    func expectNothing(sourceLocation: SourceLocation = #_sourceLocation) {
        self.pull()
        if !self.inbox.isEmpty {
            Issue.record("expected no frames; got \(self.describe())", sourceLocation: sourceLocation)
            self.inbox.removeAll()
        }
    }

    /// Acknowledges a delivery.
    func ack(_ frame: HeraldFrame, result: Herald_V1_DeliveryAckResult = .accepted) async {
        await self.send(Herald_V1_DeliveryAck.with { $0.result = result }, requestID: frame.requestID)
    }

    /// Closes the transport abruptly.
    func drop() async {
        await self.engine.transportClosed(self.id)
        await self.harness.settle()
    }

    /// The opcode names of the frames waiting in ``inbox``.
    func describe() -> String {
        "[" + self.inbox.map { "\($0.opcodeInfo?.name ?? "?")#\($0.requestID)" }.joined(separator: ", ") + "]"
    }
}

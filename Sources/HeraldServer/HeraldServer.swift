import HeraldEngine
import HeraldMessages
import HeraldWire
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import ServiceLifecycle
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The Herald server: the ``HeraldEngine`` behind TCP, TLS and WebSocket listeners (Spec/02-transports.md).
///
/// A server is a swift-service-lifecycle `Service`: put it in a `ServiceGroup`, which runs ``run()`` and triggers a
/// graceful shutdown on a signal. Graceful shutdown closes the listeners, sends `Disconnect` with
/// `DISCONNECT_REASON_SERVER_SHUTDOWN` on every connection (HS-57) and returns once every connection has closed.
///
/// To run a server in-process (tests, the conformance runner), call ``start()`` to bind the listeners and learn
/// their ports (port 0 works), run ``run()`` in a task, and end it with ``shutdown()``; or let
/// ``withRunningServer(configuration:logger:eventLoopGroup:clock:verifier:_:)`` do all three.
///
/// The engine runs on the first event loop of the group. Each connection's frames reach it in order, the frames of
/// one socket read as one input stamped with the read's arrival time: directly on the engine's loop, in one task per
/// read from the other loops. The engine's frames go back through one ``LoopOutbox`` per loop, which writes and
/// flushes each connection once per loop tick. While the transport holds many of a connection's frames, its
/// requests wait (up to ``HeraldServerConfiguration/inboundFrameBuffer`` of them, then reading pauses) but its
/// `DeliveryAck`s and `Ping`s still reach the engine at once (Spec/14-limits.md LIM-21 … LIM-23). A timer driver
/// calls ``HeraldEngine/fireDueTimers()`` at the engine's next deadline, at least every
/// ``HeraldServerConfiguration/timerTickMs`` milliseconds.
public final class HeraldServer: Service, Sendable {
    /// The configuration the server was created with.
    public let configuration: HeraldServerConfiguration
    /// The engine behind the listeners; a test-control restart (Spec/18-test-control.md) replaces it.
    public var engine: HeraldEngine {
        self.state.withLock { $0.engine! }
    }

    private let clock: any EngineClock
    private let logger: Logger
    private let group: any EventLoopGroup
    private let verifier: (any TokenVerifying)?
    private let state = Mutex(State())
    /// Restarts requested by the engine's test control, performed by ``run()``.
    private let restartRequests: AsyncStream<TestControlRestartMode>
    private let restartContinuation: AsyncStream<TestControlRestartMode>.Continuation
    /// The event loop the engine runs on: the first of the group, which also serves connections.
    private let engineLoop: any EventLoop
    /// One outbox per event loop of the group.
    private let outboxes: LoopOutboxes
    /// The open connections.
    private let connections = ConnectionTracker()

    private struct State {
        enum Phase {
            case idle
            case starting
            case started
            case running
            case finished
        }

        var phase = Phase.idle
        var engine: HeraldEngine?
        var listeners: [Listener] = []
        var shutdownRequested = false
        var shutdownWaiters: [CheckedContinuation<Void, Never>] = []
        var finishWaiters: [CheckedContinuation<Void, Never>] = []
    }

    /// Creates a server and its engine; nothing is opened until ``start()`` or ``run()``.
    ///
    /// With a ``HeraldServerConfiguration/dataDirectory``, the directory is created if needed and offline
    /// messages are kept in ``HeraldServerConfiguration/offlineInboxFileName`` inside it.
    ///
    /// - Parameters:
    ///   - configuration: Listeners, TLS, engine configuration and data directory; validated here.
    ///   - logger: Where the server and the engine log.
    ///   - eventLoopGroup: The NIO event loops for the listeners and connections.
    ///   - clock: The engine's clock.
    ///   - verifier: The engine's token verification; `nil` uses ``JWTTokenVerifier`` over the configuration's
    ///     apps (tests substitute deliberately wrong verifiers).
    /// - Throws: ``HeraldServerConfigurationError`` for an invalid configuration; errors of the offline store.
    public init(
        configuration: HeraldServerConfiguration,
        logger: Logger = Logger(label: "herald.server"),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        clock: any EngineClock = SystemEngineClock(),
        verifier: (any TokenVerifying)? = nil
    ) throws {
        try configuration.validate()
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.group = eventLoopGroup
        self.verifier = verifier
        self.engineLoop = eventLoopGroup.next()
        self.outboxes = LoopOutboxes(group: eventLoopGroup)
        (self.restartRequests, self.restartContinuation) = AsyncStream.makeStream(
            of: TestControlRestartMode.self,
            bufferingPolicy: .unbounded
        )
        let engine = try self.makeEngine()
        self.state.withLock { $0.engine = engine }
    }

    /// A new engine over the durable storage: the offline inbox in the data directory, or an empty memory inbox.
    private func makeEngine() throws -> HeraldEngine {
        let inbox: any OfflineInbox
        if let directory = self.configuration.dataDirectory {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            inbox = try SQLiteOfflineInbox(path: directory + "/" + HeraldServerConfiguration.offlineInboxFileName)
        } else {
            inbox = MemoryOfflineInbox()
        }
        return try HeraldEngine(
            configuration: self.configuration.engine,
            clock: self.clock,
            inbox: inbox,
            verifier: self.verifier,
            logger: self.logger,
            restartRequests: self.configuration.engine.testControlKey == nil ? nil : self.restartContinuation,
            eventLoop: self.engineLoop
        )
    }

    /// The extension opcodes the listeners' decoders accept: the test-control pair when test control is enabled.
    /// The engine still treats them as unknown on connections that were not granted the capability (EXT-8).
    private var acceptedExtensions: [HeraldOpcodeInfo] {
        self.configuration.engine.testControlKey == nil ? [] : HeraldOpcodeTable.extensions
    }

    // MARK: - Restart (Spec/18-test-control.md)

    /// Restarts the server in place, on the same listeners: a new engine over the same configuration and durable
    /// storage (the offline inbox of the data directory; without one, nothing survives) takes new connections,
    /// then the old engine ends its connections: with `Disconnect` SERVER_SHUTDOWN (HS-57) for
    /// ``TestControlRestartMode/graceful``, without any frame and without ending sessions for
    /// ``TestControlRestartMode/crash``. Does nothing once a shutdown has been requested.
    ///
    /// - Throws: Errors of opening the offline store; the old engine then keeps serving.
    public func restart(_ mode: TestControlRestartMode) async throws {
        guard !self.state.withLock({ $0.shutdownRequested }) else { return }
        let replacement = try self.makeEngine()
        let old = self.state.withLock { state in
            defer { state.engine = replacement }
            return state.engine!
        }
        self.logger.notice("test control: restarting", metadata: ["mode": "\(mode)"])
        switch mode {
        case .graceful: await old.shutdown()
        case .crash: await old.crash()
        }
        // Graceful: what the old engine stored is committed; crash: what it had not committed is lost.
        await old.closeOfflineStore()
    }

    private func serveRestarts() async {
        for await mode in self.restartRequests {
            do {
                try await self.restart(mode)
            } catch {
                self.logger.error("test control: the restart failed", metadata: ["error": "\(error)"])
            }
        }
    }

    // MARK: - Lifecycle

    /// Opens the configured listeners and returns them with the ports actually bound.
    ///
    /// Calling it again returns the same listeners. ``run()`` calls it if it has not been called.
    ///
    /// - Throws: ``HeraldListenerError`` when a listener cannot be opened (an address in use), naming the listener
    ///   and the address; errors of loading the TLS files. Nothing stays open then.
    @discardableResult
    public func start() async throws -> [BoundListener] {
        enum Decision {
            case bind
            case done([BoundListener])
        }
        let decision: Decision = try self.state.withLock { state in
            switch state.phase {
            case .idle:
                state.phase = .starting
                return .bind
            case .started, .running:
                return .done(state.listeners.map(\.bound))
            case .starting:
                throw HeraldServerConfigurationError("the server is already starting")
            case .finished:
                throw HeraldServerConfigurationError("the server has shut down")
            }
        }
        if case .done(let bound) = decision { return bound }
        var listeners: [Listener] = []
        do {
            let configuration = self.configuration
            let tlsContext = try configuration.tls?.makeServerContext(applicationProtocols: [heraldALPN])
            if let address = configuration.tcp {
                let transport: HeraldTransport = tlsContext == nil ? .tcp : .tls
                listeners.append(
                    try await Self.opening(transport, on: address) {
                        try await self.bindStream(address, tls: tlsContext, transport: transport)
                    }
                )
            }
            if let address = configuration.webSocket {
                listeners.append(
                    try await Self.opening(.ws, on: address) {
                        try await self.bindWebSocket(address, tls: nil, transport: .ws)
                    }
                )
            }
            if let address = configuration.secureWebSocket, let tls = configuration.tls {
                let context = try tls.makeServerContext(applicationProtocols: ["http/1.1"])
                listeners.append(
                    try await Self.opening(.wss, on: address) {
                        try await self.bindWebSocket(address, tls: context, transport: .wss)
                    }
                )
            }
        } catch {
            for listener in listeners {
                try? await listener.serverChannel.close()
            }
            self.state.withLock { $0.phase = .idle }
            throw error
        }
        let bound = listeners.map(\.bound)
        self.state.withLock { state in
            state.listeners = listeners
            state.phase = .started
        }
        for listener in bound {
            self.logger.info("listening", metadata: ["transport": "\(listener.transport)", "url": "\(listener.url)"])
        }
        return bound
    }

    /// Serves until a graceful shutdown (from the `ServiceGroup` or ``shutdown()``), then closes the listeners,
    /// disconnects every connection with `DISCONNECT_REASON_SERVER_SHUTDOWN` and returns once all have closed.
    ///
    /// Cancelling the task closes everything at once instead.
    public func run() async throws {
        try await self.start()
        let listeners: [Listener] = try self.state.withLock { state in
            guard state.phase == .started else {
                throw HeraldServerConfigurationError("the server is already running or has shut down")
            }
            state.phase = .running
            return state.listeners
        }
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { outer in
                outer.addTask { await self.driveTimers() }
                outer.addTask { await self.serveRestarts() }
                await withDiscardingTaskGroup { group in
                    for listener in listeners {
                        group.addTask { try? await listener.serverChannel.closeFuture.get() }
                    }
                    group.addTask {
                        await self.waitForShutdownRequest()
                        await self.closeListenersAndDisconnect(listeners)
                    }
                }
                await self.connections.waitUntilAllClosed()
                outer.cancelAll()
            }
        } onGracefulShutdown: {
            self.requestShutdown()
        }
        self.logger.info("stopped")
        let waiters = self.state.withLock { state in
            state.phase = .finished
            defer { state.finishWaiters.removeAll() }
            return state.finishWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Starts a graceful shutdown without waiting for it; does nothing if one has started already.
    public func requestShutdown() {
        let waiters = self.state.withLock { state in
            state.shutdownRequested = true
            defer { state.shutdownWaiters.removeAll() }
            return state.shutdownWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Shuts the server down gracefully and returns once ``run()`` has returned.
    ///
    /// A server that was started but never run closes its listeners and disconnects its connections here.
    public func shutdown() async {
        enum Next {
            case wait
            case closeStarted([Listener])
            case nothing
            case finished
        }
        self.requestShutdown()
        let next: Next = self.state.withLock { state in
            switch state.phase {
            case .running: return .wait
            case .started:
                state.phase = .finished
                return .closeStarted(state.listeners)
            case .idle, .starting:
                state.phase = .finished
                return .nothing
            case .finished:
                return .finished
            }
        }
        switch next {
        case .wait:
            await withCheckedContinuation { continuation in
                let finished = self.state.withLock { state in
                    if state.phase == .finished { return true }
                    state.finishWaiters.append(continuation)
                    return false
                }
                if finished { continuation.resume() }
            }
        case .closeStarted(let listeners):
            await self.closeListenersAndDisconnect(listeners)
        case .nothing:
            await self.engine.shutdown()
            await self.engine.closeOfflineStore()
        case .finished:
            break
        }
    }

    /// Runs a server for the duration of `body`: creates it, starts it, runs it, and shuts it down gracefully when
    /// `body` returns or throws.
    ///
    /// - Parameters:
    ///   - configuration: The server's configuration; listen on port 0 to let the system choose free ports.
    ///   - logger: Where the server logs.
    ///   - eventLoopGroup: The NIO event loops; `nil` (the default) gives the server a loop of its own, shut down
    ///     when it stops, so that the server's engine and connections never wait behind the work of an in-process
    ///     client on shared loops (a conformance runner renders every frame it receives on its loops).
    ///   - clock: The engine's clock.
    ///   - verifier: The engine's token verification; `nil` uses ``JWTTokenVerifier``.
    ///   - body: Gets the server and its bound listeners.
    /// - Returns: What `body` returns.
    public static func withRunningServer<Result: Sendable>(
        configuration: HeraldServerConfiguration,
        logger: Logger = Logger(label: "herald.server"),
        eventLoopGroup: (any EventLoopGroup)? = nil,
        clock: any EngineClock = SystemEngineClock(),
        verifier: (any TokenVerifying)? = nil,
        _ body: (HeraldServer, [BoundListener]) async throws -> Result
    ) async throws -> Result {
        let ownGroup = eventLoopGroup == nil ? MultiThreadedEventLoopGroup(numberOfThreads: 1) : nil
        defer {
            if let ownGroup {
                ownGroup.shutdownGracefully { _ in }
            }
        }
        let server = try HeraldServer(
            configuration: configuration,
            logger: logger,
            eventLoopGroup: eventLoopGroup ?? ownGroup!,
            clock: clock,
            verifier: verifier
        )
        let listeners = try await server.start()
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            let result: Swift.Result<Result, any Error>
            do {
                result = .success(try await body(server, listeners))
            } catch {
                result = .failure(error)
            }
            await server.shutdown()
            try await group.waitForAll()
            return try result.get()
        }
    }

    // MARK: - Shutdown

    private func waitForShutdownRequest() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let requested = self.state.withLock { state in
                    if state.shutdownRequested { return true }
                    state.shutdownWaiters.append(continuation)
                    return false
                }
                if requested { continuation.resume() }
            }
        } onCancel: {
            self.requestShutdown()
        }
    }

    private func closeListenersAndDisconnect(_ listeners: [Listener]) async {
        self.logger.info("shutting down: closing listeners and disconnecting clients")
        for listener in listeners {
            try? await listener.serverChannel.close()
        }
        await self.engine.shutdown()
        // Messages stored for the sessions the shutdown ended are committed before the server stops (PEER-32).
        await self.engine.closeOfflineStore()
    }

    // MARK: - Timers

    /// Calls `fireDueTimers()` at each deadline, sleeping at most `timerTickMs` so that timers scheduled while
    /// it sleeps are not missed.
    private func driveTimers() async {
        let tick = self.configuration.timerTickMs
        while !Task.isCancelled {
            var wait = tick
            if let deadline = await self.engine.nextTimerDeadline() {
                wait = min(max(deadline - self.clock.nowMilliseconds(), 1), tick)
            }
            do {
                try await Task.sleep(for: .milliseconds(wait))
            } catch {
                return
            }
            await self.engine.fireDueTimers()
        }
    }

    // MARK: - Listeners

    private func handshakeTimeout() -> TimeAmount {
        .milliseconds(
            self.configuration.transportHandshakeTimeoutMs ?? self.configuration.engine.timers.handshakeTimeoutMs
        )
    }

    /// Runs `bind` and turns its error into a ``HeraldListenerError`` that names the listener, the address and the
    /// reason in plain words, instead of the system call (`bind(descriptor:ptr:bytes:): … (errno: 98)`).
    private static func opening(
        _ transport: HeraldTransport,
        on address: ListenAddress,
        _ bind: () async throws -> Listener
    ) async throws -> Listener {
        do {
            return try await bind()
        } catch let error as IOError {
            throw HeraldListenerError(
                transport: transport,
                address: address,
                reason: SystemErrorText.listenReason(errorNumber: error.errnoCode),
                errorNumber: error.errnoCode
            )
        } catch let error as SocketAddressError.UnknownHost {
            throw HeraldListenerError(
                transport: transport,
                address: address,
                reason: "the host name '\(error.host)' does not resolve to an address"
            )
        } catch {
            throw HeraldListenerError(transport: transport, address: address, reason: "\(error)")
        }
    }

    private func serverBootstrap() -> ServerBootstrap {
        ServerBootstrap(group: self.group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)  // TRN-6
            .childChannelOption(.recvAllocator, value: Self.receiveAllocator)
    }

    /// How connections size their socket reads: from 512 bytes, growing with the reads up to 64 KiB.
    ///
    /// NIO keeps a connection's last read buffer for its next read, so the first size is memory every idle
    /// connection holds (Issue 13); NIO's default starts at 2048 bytes. 512 bytes hold a `Hello`, a `LoginRequest`
    /// with a usual token and a `Ping` in one read; a larger read doubles the next buffer, as before.
    static let receiveAllocator = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536)

    /// Adds the sink and the ``EngineBridgeHandler`` of a connection whose pipeline is otherwise ready; must run on
    /// the channel's event loop. With a `decoder`, the bridge goes in a ``StreamEngineBridgeHandler`` that decodes
    /// the connection's bytes itself.
    private func attachEngine(
        to channel: any Channel,
        framing: ChannelSink.Framing,
        transport: HeraldTransport,
        waitsForTLS: Bool,
        decoder: HeraldStreamDecoder? = nil
    ) throws {
        let sink = ChannelSink(
            channel: channel,
            framing: framing,
            outbox: self.outboxes.outbox(of: channel.eventLoop),
            maximumQueuedFrames: self.configuration.engine.limits.maxOutboundQueueFrames
        )
        let bridge = EngineBridgeHandler(
            engine: self.engine,
            sink: sink,
            transport: transport,
            waitsForTLS: waitsForTLS,
            capacity: self.configuration.inboundFrameBuffer,
            logger: self.logger
        )
        if let decoder {
            try channel.pipeline.syncOperations.addHandler(StreamEngineBridgeHandler(decoder: decoder, bridge: bridge))
        } else {
            try channel.pipeline.syncOperations.addHandler(bridge)
        }
    }

    private func bindStream(
        _ address: ListenAddress,
        tls: NIOSSLContext?,
        transport: HeraldTransport
    ) async throws -> Listener {
        let maximumPayloadLength = self.configuration.engine.limits.maxPayloadLength
        let timeout = self.handshakeTimeout()
        let acceptedExtensions = self.acceptedExtensions
        let clock = self.clock
        let connections = self.connections
        let server = try await self.serverBootstrap()
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    connections.track(channel)
                    let pipeline = channel.pipeline.syncOperations
                    let decoder = HeraldStreamDecoder(
                        maximumPayloadLength: maximumPayloadLength,
                        acceptedExtensions: acceptedExtensions,
                        clock: clock
                    )
                    guard let tls else {
                        // Plain TCP: one handler decodes and feeds the engine (Issue 13: less memory per connection).
                        try self.attachEngine(
                            to: channel,
                            framing: .stream,
                            transport: transport,
                            waitsForTLS: false,
                            decoder: decoder
                        )
                        return
                    }
                    // The tls:// listener serves only Herald: an ALPN offer without herald/1 is refused (TRN-12).
                    try pipeline.addHandler(ByteToMessageHandler(ALPNOfferCheck(applicationProtocol: heraldALPN)))
                    try pipeline.addHandler(NIOSSLServerHandler(context: tls))
                    try pipeline.addHandler(ByteToMessageHandler(decoder))
                    try pipeline.addHandler(TLSReadyHandler(timeout: timeout))
                    try self.attachEngine(to: channel, framing: .stream, transport: transport, waitsForTLS: true)
                }
            }
            .bind(host: address.host, port: address.port)
            .get()
        let port = server.localAddress?.port ?? address.port
        return Listener(
            bound: BoundListener(transport: transport, host: address.host, port: port),
            serverChannel: server
        )
    }

    private func bindWebSocket(
        _ address: ListenAddress,
        tls: NIOSSLContext?,
        transport: HeraldTransport
    ) async throws -> Listener {
        let path = self.configuration.webSocketPath
        let acceptedExtensions = self.acceptedExtensions
        let maximumPayloadLength = self.configuration.engine.limits.maxPayloadLength
        let timeout = self.handshakeTimeout()
        let clock = self.clock
        let connections = self.connections
        let logger = self.logger
        let server = try await self.serverBootstrap()
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    connections.track(channel)
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    }
                    let record = NIOLoopBound(RequestRecord(), eventLoop: channel.eventLoop)
                    let upgrader = NIOTypedWebSocketServerUpgrader<WebSocketUpgradeResult>(
                        maxFrameSize: HeraldFrameHeader.size + maximumPayloadLength,
                        enableAutomaticErrorHandling: false,
                        shouldUpgrade: { channel, head in
                            guard requestPath(head.uri) == path, offersHeraldSubprotocol(head.headers) else {
                                return channel.eventLoop.makeSucceededFuture(nil)
                            }
                            // TRN-18: select herald.v1.
                            return channel.eventLoop.makeSucceededFuture(
                                HTTPHeaders([("Sec-WebSocket-Protocol", heraldWebSocketSubprotocol)])
                            )
                        },
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(
                                    HeraldWebSocketHandler(
                                        maximumPayloadLength: maximumPayloadLength,
                                        acceptedExtensions: acceptedExtensions,
                                        clock: clock
                                    )
                                )
                                try self.attachEngine(
                                    to: channel,
                                    framing: .webSocket,
                                    transport: transport,
                                    waitsForTLS: false
                                )
                                return .upgraded
                            }
                        }
                    )
                    let upgradeConfiguration = NIOTypedHTTPServerUpgradeConfiguration<WebSocketUpgradeResult>(
                        upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(
                                    WebSocketRefusalHandler(path: path, head: record.value.head)
                                )
                                return .refused
                            }
                        }
                    )
                    let pipeline = channel.pipeline.syncOperations
                    let upgrade = try pipeline.configureUpgradableHTTPServerPipeline(
                        configuration: .init(upgradeConfiguration: upgradeConfiguration)
                    )
                    let upgradeHandler = try pipeline.handler(
                        type: NIOTypedHTTPServerUpgradeHandler<WebSocketUpgradeResult>.self
                    )
                    try pipeline.addHandler(
                        RequestHeadRecorder(record: record.value),
                        position: .before(upgradeHandler)
                    )
                    // The TLS handshake and the HTTP upgrade must end within the handshake timeout; a refused
                    // request is closed by then at the latest.
                    let deadline = channel.eventLoop.scheduleTask(in: timeout) {
                        channel.close(promise: nil)
                    }
                    upgrade.whenComplete { result in
                        switch result {
                        case .success(.upgraded):
                            deadline.cancel()
                        case .success(.refused):
                            logger.debug(
                                "refused an HTTP request that is not a Herald WebSocket",
                                metadata: ["peer": "\(channel.remoteAddress.map { "\($0)" } ?? "unknown")"]
                            )
                        case .failure(let error):
                            logger.debug("WebSocket opening handshake failed", metadata: ["error": "\(error)"])
                            channel.close(promise: nil)
                        }
                    }
                    channel.closeFuture.whenComplete { _ in deadline.cancel() }
                }
            }
            .bind(host: address.host, port: address.port)
            .get()
        let port = server.localAddress?.port ?? address.port
        return Listener(
            bound: BoundListener(transport: transport, host: address.host, port: port, path: path),
            serverChannel: server
        )
    }
}

/// The outcome of a WebSocket listener's HTTP opening handshake.
enum WebSocketUpgradeResult: Sendable {
    /// The connection was upgraded and handed to the engine.
    case upgraded
    /// The request was answered with an HTTP error and the connection closed.
    case refused
}

/// An open listener.
struct Listener: Sendable {
    let bound: BoundListener
    let serverChannel: any Channel
}

import HeraldEngine
import HeraldMessages
import HeraldWire
import Logging
import NIOCore
import Synchronization

/// The engine's identifier of a connection, set and read only on the engine's event loop, and the number of the
/// connection's frames handed to the engine that it has not processed yet.
final class EngineLink: @unchecked Sendable {
    /// `nil` until the engine has seen the connection. Only touched on the engine's loop.
    var id: ConnectionID?
    /// Frames on their way to the engine: added on the connection's loop, taken off on the engine's.
    let inFlight = Atomic<Int>(0)
}

/// Hands one connection's inbound events to the engine, at the end of the pipeline, on the connection's event loop.
///
/// The frames of one socket read go to the engine as one input (``HeraldEngine/receive(_:on:arrivedAtMs:)-(Sequence,_,_)``):
/// called directly when the connection shares the engine's event loop, handed over in one task otherwise. Nothing
/// waits for the engine: the handler never suspends, and the engine writes the answers through the connection's
/// ``ChannelSink``.
///
/// While the transport holds many of the connection's frames, or the engine holds its requests back
/// (``ChannelSink/shouldPauseInput``), reading goes on: `DeliveryAck`s and `Ping`s still go to the engine at once,
/// other frames are held here in order and handed over in small batches as the output drains, and only
/// `capacity` held frames stop the reading (Spec/14-limits.md LIM-21 … LIM-23).
///
/// Reading also pauses while `capacity` frames are on their way to the engine on another loop and not processed
/// yet, so a connection that sends faster than the engine processes waits in its socket (TCP backpressure), not
/// in the engine's task queue.
final class EngineBridgeHandler: ChannelDuplexHandler {
    typealias InboundIn = InboundEvent
    typealias OutboundIn = Any

    /// The most held frames handed to the engine at once while the connection's output drains.
    static let resumeBatch = 64

    private let engine: HeraldEngine
    private let sink: ChannelSink
    private let link = EngineLink()
    private let transport: HeraldTransport
    private let waitsForTLS: Bool
    private let capacity: Int
    private let logger: Logger
    private var context: ChannelHandlerContext?

    private var opened = false
    private var closed = false
    /// The frames of the current read, not yet handed to the engine, and their arrival time.
    private var batch: [HeraldFrame] = []
    private var batchArrivedAtMs: Int64 = 0
    /// Events that wait while the connection's requests are paused, in order.
    private var held = HeldEvents()
    /// A batch of held frames is with the engine; the next goes when it has been processed.
    private var draining = false
    /// Reading is paused because `capacity` frames are held; a read was asked for meanwhile.
    private var readPending = false

    /// Creates the handler of one connection.
    ///
    /// - Parameters:
    ///   - engine: The engine the connection belongs to for its whole life.
    ///   - sink: The connection's sink.
    ///   - transport: The listener's transport.
    ///   - waitsForTLS: Whether the engine must wait for ``InboundEvent/transportReady``.
    ///   - capacity: The most frames held before reading stops.
    ///   - logger: Where the connection logs.
    init(
        engine: HeraldEngine,
        sink: ChannelSink,
        transport: HeraldTransport,
        waitsForTLS: Bool,
        capacity: Int,
        logger: Logger
    ) {
        self.engine = engine
        self.sink = sink
        self.transport = transport
        self.waitsForTLS = waitsForTLS
        self.capacity = max(1, capacity)
        self.logger = logger
    }

    // MARK: - Pipeline events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        self.sink.onResume { loopBound.value.resume() }
        if !self.waitsForTLS && context.channel.isActive {
            self.open(context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        if !self.waitsForTLS {
            self.open(context: context)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.receive(Self.unwrapInboundIn(data), context: context)
    }

    /// Takes one inbound event of the connection: what ``channelRead(context:data:)`` does with it, also called by
    /// ``StreamEngineBridgeHandler`` for the frames it decodes.
    func receive(_ event: InboundEvent, context: ChannelHandlerContext) {
        switch event {
        case .transportReady:
            self.open(context: context)
        case .frame(let frame, let arrivedAtMs):
            guard self.opened, !self.closed, !self.sink.isClosing else { return }
            self.accept(frame, arrivedAtMs: arrivedAtMs, context: context)
        case .frames(let frames, let arrivedAtMs):
            guard self.opened, !self.closed, !self.sink.isClosing else { return }
            if self.batch.isEmpty && self.held.isEmpty && !self.sink.shouldPauseInput {
                // The usual case: nothing waits, so the read's frames are the batch (no copy).
                self.batchArrivedAtMs = arrivedAtMs
                self.batch = frames
                return
            }
            for frame in frames {
                self.accept(frame, arrivedAtMs: arrivedAtMs, context: context)
            }
        case .failure, .violation:
            guard self.opened, !self.closed, !self.sink.isClosing else { return }
            self.submitBatch()
            if self.held.isEmpty {
                self.submit(event)
            } else {
                self.held.append(event)
            }
        }
    }

    /// Adds a frame to the batch for the engine, or holds it while the connection's requests wait (LIM-21,
    /// LIM-35; `DeliveryAck` and `Ping` never wait, LIM-22).
    private func accept(_ frame: HeraldFrame, arrivedAtMs: Int64, context: ChannelHandlerContext) {
        if Self.neverWaits(frame) || (self.held.isEmpty && !self.sink.shouldPauseInput) {
            if !self.batch.isEmpty && arrivedAtMs != self.batchArrivedAtMs {
                self.submitBatch()
            }
            self.batchArrivedAtMs = arrivedAtMs
            self.batch.append(frame)
        } else {
            self.held.append(.frame(frame, arrivedAtMs: arrivedAtMs))
            if self.held.count == 1 {
                // The first held frame: the output may already have drained by the time this read ends.
                context.eventLoop.assumeIsolated().execute { self.resume() }
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.submitBatch()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.submitBatch()
        if self.opened && !self.closed {
            self.closed = true
            // What was held goes to the engine before the close, as it would have had the connection stayed.
            let rest = self.held.removeAll()
            let link = self.link
            let logger = self.logger
            self.onEngine { engine in
                guard let id = link.id else { return }
                for event in rest {
                    Self.deliver(event, to: engine, id: id)
                }
                engine.transportClosed(id)
                logger.info("connection closed", metadata: ["connection": "\(id)"])
            }
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.logger.debug("transport failed", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if self.held.count >= self.capacity || self.link.inFlight.load(ordering: .relaxed) >= self.capacity {
            self.readPending = true
        } else {
            context.read()
        }
    }

    // MARK: - To the engine

    private func open(context: ChannelHandlerContext) {
        guard !self.opened else { return }
        self.opened = true
        let link = self.link
        let sink = self.sink
        let transport = self.transport
        let logger = self.logger
        let peer = context.channel.remoteAddress
        self.onEngine { engine in
            let id = engine.connect(sink: sink, transport: transport.rawValue)
            link.id = id
            logger.info(
                "connection accepted",
                metadata: [
                    "connection": "\(id)", "transport": "\(transport)", "peer": "\(peer.map { "\($0)" } ?? "unknown")",
                ]
            )
        }
    }

    /// Runs `body` on the engine: at once when this connection shares the engine's event loop, in one task on the
    /// engine's loop otherwise. Calls from one connection run in the order they were made.
    private func onEngine(_ body: @escaping @Sendable (isolated HeraldEngine) -> Void) {
        let engine = self.engine
        if engine.eventLoop.inEventLoop {
            engine.assumeIsolated(body)
        } else {
            engine.eventLoop.execute {
                engine.assumeIsolated(body)
            }
        }
    }

    private func submitBatch() {
        guard !self.batch.isEmpty else { return }
        let frames = self.batch
        self.batch = []
        let arrivedAtMs = self.batchArrivedAtMs
        let link = self.link
        let count = frames.count
        let capacity = self.capacity
        link.inFlight.add(count, ordering: .relaxed)
        let loop = NIOLoopBound(self, eventLoop: self.sink.channel.eventLoop)
        let channelLoop = self.sink.channel.eventLoop
        self.onEngine { engine in
            if let id = link.id {
                engine.receive(frames, on: id, arrivedAtMs: arrivedAtMs)
            }
            let after = link.inFlight.subtract(count, ordering: .relaxed).newValue
            if after < capacity && after + count >= capacity {
                // Reading paused for this connection's frames in flight: it may go on.
                channelLoop.execute { loop.value.resumeReading() }
            }
        }
    }

    private func submit(_ event: InboundEvent) {
        let link = self.link
        let sink = self.sink
        if case .violation(let code, let message) = event {
            self.logger.debug("WebSocket violation", metadata: ["code": "\(code)", "reason": "\(message)"])
            sink.terminate(closeCode: code, message: message)
            self.closed = true
        }
        self.onEngine { engine in
            guard let id = link.id else { return }
            Self.deliver(event, to: engine, id: id)
        }
    }

    private static func deliver(_ event: InboundEvent, to engine: isolated HeraldEngine, id: ConnectionID) {
        switch event {
        case .transportReady:
            break
        case .frame(let frame, let arrivedAtMs):
            engine.receive(frame, on: id, arrivedAtMs: arrivedAtMs)
        case .frames(let frames, let arrivedAtMs):
            engine.receive(frames, on: id, arrivedAtMs: arrivedAtMs)
        case .failure(let error, let header):
            engine.receiveFailure(error, header: header, on: id)
        case .violation:
            engine.transportClosed(id)
        }
    }

    /// Hands the next held frames to the engine when the connection's requests may go again (or it is closing,
    /// when they are dropped); runs on the connection's loop after each batch the engine has processed and
    /// whenever the sink reports that the output drained.
    private func resume() {
        guard !self.draining, !self.held.isEmpty, !self.closed else { return }
        if self.sink.isClosing {
            self.held.removeAll()
            self.resumeReading()
            return
        }
        guard !self.sink.shouldPauseInput else { return }
        var events: [InboundEvent] = []
        while events.count < Self.resumeBatch, let next = self.held.first {
            if case .violation = next {
                if !events.isEmpty { break }
                _ = self.held.popFirst()
                self.submit(next)
                self.held.removeAll()
                self.resumeReading()
                return
            }
            events.append(next)
            _ = self.held.popFirst()
        }
        self.draining = true
        let batch = events
        let link = self.link
        let loop = NIOLoopBound(self, eventLoop: self.sink.channel.eventLoop)
        let channelLoop = self.sink.channel.eventLoop
        self.onEngine { engine in
            if let id = link.id {
                for event in batch {
                    Self.deliver(event, to: engine, id: id)
                }
            }
            channelLoop.execute {
                let handler = loop.value
                handler.draining = false
                handler.resume()
            }
        }
        self.resumeReading()
    }

    private func resumeReading() {
        guard self.readPending, self.held.count < self.capacity,
            self.link.inFlight.load(ordering: .relaxed) < self.capacity, let context = self.context
        else { return }
        self.readPending = false
        context.read()
    }

    /// Whether a frame goes to the engine even while the connection's requests wait (LIM-22): a `DeliveryAck`, so
    /// that the client's outstanding deliveries (LIM-17) fall as fast as it acknowledges, and a `Ping`, so that a
    /// connection that is alive is seen to be (HS-42). Neither changes what an earlier request does (HS-35), and a
    /// `Pong` may overtake earlier responses (HS-36).
    static func neverWaits(_ frame: HeraldFrame) -> Bool {
        frame.opcode == .deliveryAck || frame.opcode == .ping
    }
}

/// The events an ``EngineBridgeHandler`` holds, in order: no storage until one is held, none again once all have
/// gone (every connection has a handler and most never hold anything, Issue 13).
struct HeldEvents {
    private var events: CircularBuffer<InboundEvent>?

    /// Nothing held.
    init() {}

    /// Whether nothing is held.
    var isEmpty: Bool { self.events?.isEmpty ?? true }

    /// How many events are held.
    var count: Int { self.events?.count ?? 0 }

    /// The oldest event held.
    var first: InboundEvent? { self.events?.first }

    /// Holds one more event.
    mutating func append(_ event: InboundEvent) {
        if self.events == nil {
            self.events = CircularBuffer(initialCapacity: 4)
        }
        self.events!.append(event)
    }

    /// Removes and returns the oldest event held.
    mutating func popFirst() -> InboundEvent? {
        let event = self.events?.popFirst()
        if self.events?.isEmpty == true {
            self.events = nil
        }
        return event
    }

    /// Removes and returns every event held, oldest first.
    @discardableResult
    mutating func removeAll() -> [InboundEvent] {
        defer { self.events = nil }
        return self.events.map(Array.init) ?? []
    }
}

/// The end of the pipeline of a plain TCP connection: splits the byte stream into frames with
/// ``HeraldStreamDecoder`` and hands them to an ``EngineBridgeHandler``, which it runs in its own place.
///
/// It does what `ByteToMessageHandler(HeraldStreamDecoder(…))` followed by the ``EngineBridgeHandler`` did, with one
/// handler instead of two: decoding until a read's bytes are used up, `decodeLast` until it returns nothing when the
/// input ends (a closed connection or `ChannelEvent.inputClosed`), nothing decoded after that. Every connection has
/// one, so the handler, its context and the decoder's buffers are memory that every idle connection holds
/// (Issue 13); bytes of an incomplete frame are copied out of the read buffer, which NIO then reuses for the next read
/// instead of allocating another one.
final class StreamEngineBridgeHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Any

    private let bridge: EngineBridgeHandler
    private var decoder: HeraldStreamDecoder
    /// The bytes of an incomplete frame, waiting for the next read.
    private var partial: ByteBuffer?
    /// The input ended and `decodeLast` has run: nothing more is decoded.
    private var finished = false

    /// Creates the handler of one connection.
    ///
    /// - Parameters:
    ///   - decoder: The connection's frame decoder.
    ///   - bridge: What the frames go to; not added to the pipeline itself.
    init(decoder: HeraldStreamDecoder, bridge: EngineBridgeHandler) {
        self.decoder = decoder
        self.bridge = bridge
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.bridge.handlerAdded(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.finished = true
        self.partial = nil
        self.bridge.handlerRemoved(context: context)
    }

    func channelActive(context: ChannelHandlerContext) {
        self.bridge.channelActive(context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.finished else { return }
        var buffer = Self.unwrapInboundIn(data)
        if var partial = self.partial {
            self.partial = nil
            partial.writeBuffer(&buffer)
            buffer = partial
        }
        do {
            // The decoder hands on a read's complete frames as one event, then a failure found after them, then
            // nothing.
            while let event = try self.decoder.decode(buffer: &buffer) {
                self.bridge.receive(event, context: context)
            }
        } catch {
            self.fail(error, context: context)
            return
        }
        if buffer.readableBytes > 0 {
            var rest = context.channel.allocator.buffer(capacity: buffer.readableBytes)
            rest.writeBuffer(&buffer)
            self.partial = rest
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.bridge.channelReadComplete(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.decodeLast(context: context)
        self.bridge.channelInactive(context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event as? ChannelEvent == .some(.inputClosed) {
            self.decodeLast(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.bridge.errorCaught(context: context, error: error)
    }

    func read(context: ChannelHandlerContext) {
        self.bridge.read(context: context)
    }

    /// The input ended: what is left becomes `truncated-header` or `truncated-payload` (FRM-14, FRM-15).
    private func decodeLast(context: ChannelHandlerContext) {
        guard !self.finished else { return }
        self.finished = true
        var buffer = self.partial ?? ByteBuffer()
        self.partial = nil
        do {
            // Called once even without bytes left, then until it has nothing more: the frames left, then the
            // truncation failure (as ByteToMessageHandler does).
            while let event = try self.decoder.decodeLast(buffer: &buffer, seenEOF: true) {
                self.bridge.receive(event, context: context)
            }
        } catch {
            self.fail(error, context: context)
        }
    }

    /// The decoder threw (``HeraldStreamDecoder`` reports framing failures as events instead): nothing more is
    /// decoded, and the error goes where ByteToMessageHandler sent it, to the bridge.
    private func fail(_ error: any Error, context: ChannelHandlerContext) {
        self.finished = true
        self.partial = nil
        self.bridge.errorCaught(context: context, error: error)
    }
}

/// The server's open connections, so that a shutdown can wait for them all to close, or close them at once.
final class ConnectionTracker: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Registers a new connection; it is forgotten when it closes.
    func track(_ channel: any Channel) {
        let key = ObjectIdentifier(channel)
        self.state.withLock { $0.channels[key] = channel }
        channel.closeFuture.whenComplete { _ in
            let waiters = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.channels[key] = nil
                guard state.channels.isEmpty else { return [] }
                defer { state.waiters.removeAll() }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    /// Returns once no connection is open; cancelling closes every connection at once.
    func waitUntilAllClosed() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let done = self.state.withLock { state in
                    if state.channels.isEmpty { return true }
                    state.waiters.append(continuation)
                    return false
                }
                if done { continuation.resume() }
            }
        } onCancel: {
            self.closeAll()
        }
    }

    /// Closes every open connection at once.
    func closeAll() {
        let channels = self.state.withLock { Array($0.channels.values) }
        for channel in channels {
            channel.close(promise: nil)
        }
    }
}

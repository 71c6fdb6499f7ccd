import HeraldEngine
import HeraldMessages
import HeraldWire
import Logging
import NIOCore
import NIOWebSocket
import Synchronization

/// The engine's view of one NIO connection: writes frames, counts those not yet written, and closes the transport
/// the way Spec/02-transports.md §2.5 and Spec/14-limits.md §14.5 ask.
///
/// ``write(_:)`` and ``close()`` are called on the engine's executor and only hop to the channel's event loop;
/// they never block. Everything else runs on the event loop.
final class ChannelSink: EngineConnectionSink, Sendable {
    /// How frames are put on the transport.
    enum Framing: Sendable {
        /// TCP or TLS: the frame's parts are written back to back (the shared body is not copied).
        case stream
        /// WebSocket: every frame is one binary message (TRN-20).
        case webSocket
    }

    /// The longest a close may take, from ``close()`` to the transport being closed (LIM-16).
    static let closeDeadline = TimeAmount.milliseconds(5000)
    /// How long the server keeps reading after it has closed its sending direction, or after it has sent a
    /// WebSocket close frame, before it closes completely (TRN-27).
    static let lingerDuration = TimeAmount.milliseconds(2000)

    let channel: any Channel
    let framing: Framing
    /// Above this many queued frames, the connection's own input waits (see ``waitForOutputToDrain()``).
    let pauseThreshold: Int
    /// Input resumes once fewer frames than this are queued.
    let resumeThreshold: Int
    private let queued = Atomic<Int>(0)
    private let closing = Atomic<Bool>(false)
    private let drainWaiters = Mutex<[CheckedContinuation<Void, Never>]>([])
    private let state: NIOLoopBound<LoopState>

    /// State only touched on the channel's event loop.
    private final class LoopState {
        enum Phase {
            case open
            case closing
            case closed
        }

        var phase = Phase.open
        /// Completes when the last frame handed to the channel has been written (or failed).
        var lastWrite: EventLoopFuture<Void>?
        /// The reason of the `Disconnect` written, for the WebSocket close code (TRN-23).
        var disconnectReason: Herald_V1_DisconnectReason?
        var deadline: Scheduled<Void>?
        var linger: Scheduled<Void>?
    }

    /// Creates the sink of `channel`. Must be called on the channel's event loop.
    ///
    /// - Parameters:
    ///   - channel: The connection.
    ///   - framing: How frames are written.
    ///   - maximumQueuedFrames: The engine's `max_outbound_queue_frames`; the connection's own input pauses at a
    ///     quarter of it, so that a client that sends faster than it reads is slowed down, not cut off.
    init(channel: any Channel, framing: Framing, maximumQueuedFrames: Int) {
        self.channel = channel
        self.framing = framing
        self.pauseThreshold = max(1, maximumQueuedFrames / 4)
        self.resumeThreshold = max(1, self.pauseThreshold / 2)
        self.state = NIOLoopBound(LoopState(), eventLoop: channel.eventLoop)
        let state = self.state
        channel.closeFuture.whenComplete { _ in
            let value = state.value
            value.phase = .closed
            value.deadline?.cancel()
            value.linger?.cancel()
        }
    }

    /// Frames handed to the transport and not yet written.
    var queuedFrameCount: Int {
        self.queued.load(ordering: .relaxed)
    }

    /// Whether the connection is being closed: frames still arriving are read and discarded.
    var isClosing: Bool {
        self.closing.load(ordering: .relaxed)
    }

    /// Whether so many frames wait to be written that the connection's input should pause.
    var shouldPauseInput: Bool {
        self.queued.load(ordering: .relaxed) >= self.pauseThreshold && !self.isClosing
    }

    /// Returns once fewer than ``resumeThreshold`` frames are queued, or the connection is closing.
    ///
    /// The task feeding the engine calls this before a frame when ``shouldPauseInput`` is true: responses to a
    /// client's own requests then never pile up to `max_outbound_queue_frames` just because the engine produces
    /// them faster than the event loop writes them; only frames caused by others can make a slow consumer.
    func waitForOutputToDrain() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = self.drainWaiters.withLock { waiters in
                    if self.queued.load(ordering: .relaxed) < self.resumeThreshold || self.isClosing
                        || Task.isCancelled
                    {
                        return true
                    }
                    waiters.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            self.wakeDrainWaiters()
        }
    }

    private func wakeDrainWaiters() {
        let waiters = self.drainWaiters.withLock { waiters in
            defer { waiters.removeAll() }
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private func frameWritten() {
        let remaining = self.queued.subtract(1, ordering: .relaxed).newValue
        if remaining == self.resumeThreshold - 1 {
            self.wakeDrainWaiters()
        }
    }

    func write(_ frames: [OutboundFrame]) {
        guard !frames.isEmpty else { return }
        self.queued.add(frames.count, ordering: .relaxed)
        self.channel.eventLoop.execute {
            self.writeOnLoop(frames)
        }
    }

    func close() {
        self.closing.store(true, ordering: .relaxed)
        self.wakeDrainWaiters()
        self.channel.eventLoop.execute {
            self.closeOnLoop(webSocketCode: nil)
        }
    }

    /// Ends the connection from the transport's side (TRN-21 and WebSocket protocol errors): sends `Disconnect`
    /// with `DISCONNECT_REASON_PROTOCOL_ERROR`, then closes with `closeCode`. The engine's own frames are
    /// discarded from now on.
    func terminate(closeCode: WebSocketErrorCode, message: String) {
        self.closing.store(true, ordering: .relaxed)
        self.wakeDrainWaiters()
        var disconnect = Herald_V1_Disconnect()
        disconnect.reason = .protocolError
        disconnect.message = message
        // Building a Disconnect frame cannot fail: the message type matches the opcode.
        guard let frame = try? HeraldFrame(opcode: .disconnect, message: disconnect) else { return }
        var head = ByteBuffer()
        frame.header.write(to: &head)
        let outbound = OutboundFrame(head: head, body: frame.payload, tail: ByteBuffer())
        self.queued.add(1, ordering: .relaxed)
        self.channel.eventLoop.execute {
            self.writeOnLoop([outbound])
            self.closeOnLoop(webSocketCode: closeCode)
        }
    }

    // MARK: - On the event loop

    private func writeOnLoop(_ frames: [OutboundFrame]) {
        let state = self.state.value
        guard state.phase == .open else {
            // The engine never writes after its Disconnect; frames after a transport-side termination are
            // dropped (HS-55).
            for _ in frames { self.frameWritten() }
            return
        }
        let channel = self.channel
        for frame in frames {
            if let reason = Self.disconnectReason(frame) {
                state.disconnectReason = reason
            }
            let promise = channel.eventLoop.makePromise(of: Void.self)
            promise.futureResult.whenComplete { _ in
                self.frameWritten()
            }
            switch self.framing {
            case .stream:
                let hasBody = frame.body.readableBytes > 0
                let hasTail = frame.tail.readableBytes > 0
                channel.write(frame.head, promise: hasBody || hasTail ? nil : promise)
                if hasBody {
                    channel.write(frame.body, promise: hasTail ? nil : promise)
                }
                if hasTail {
                    channel.write(frame.tail, promise: promise)
                }
            case .webSocket:
                let message = WebSocketFrame(
                    fin: true,
                    opcode: .binary,
                    data: frame.contiguousBytes(allocator: channel.allocator)
                )
                channel.write(message, promise: promise)
            }
            state.lastWrite = promise.futureResult
        }
        channel.flush()
    }

    private func closeOnLoop(webSocketCode: WebSocketErrorCode?) {
        let state = self.state.value
        guard state.phase == .open else { return }
        state.phase = .closing
        let channel = self.channel
        state.deadline = channel.eventLoop.scheduleTask(in: Self.closeDeadline) {
            channel.close(promise: nil)
        }
        let written = state.lastWrite ?? channel.eventLoop.makeSucceededVoidFuture()
        written.whenComplete { _ in
            self.finishClosing(webSocketCode: webSocketCode)
        }
    }

    /// Runs once every frame has been written: closes the sending direction and lingers (TRN-27), or sends the
    /// WebSocket close frame (TRN-21, TRN-23) and waits for the client's.
    private func finishClosing(webSocketCode: WebSocketErrorCode?) {
        let state = self.state.value
        guard state.phase == .closing else { return }
        let channel = self.channel
        switch self.framing {
        case .stream:
            channel.close(mode: .output).hop(to: channel.eventLoop).assumeIsolated().whenComplete { result in
                switch result {
                case .success:
                    self.linger()
                case .failure:
                    channel.close(promise: nil)
                }
            }
        case .webSocket:
            let code =
                webSocketCode
                ?? state.disconnectReason.map { WebSocketErrorCode(codeNumber: 4000 + $0.rawValue) }
                ?? .normalClosure
            var data = channel.allocator.buffer(capacity: 2)
            data.write(webSocketErrorCode: code)
            channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, data: data), promise: nil)
            self.linger()
        }
    }

    private func linger() {
        let state = self.state.value
        guard state.phase == .closing else { return }
        let channel = self.channel
        state.linger = channel.eventLoop.scheduleTask(in: Self.lingerDuration) {
            channel.close(promise: nil)
        }
    }

    /// The reason of a `Disconnect` frame, or `nil` for any other frame.
    private static func disconnectReason(_ frame: OutboundFrame) -> Herald_V1_DisconnectReason? {
        let head = frame.head
        guard let opcode = head.getInteger(at: head.readerIndex + 4, as: UInt16.self),
            opcode == UInt16(Herald_V1_Opcode.disconnect.rawValue)
        else {
            return nil
        }
        var payload = frame.body
        var tail = frame.tail
        payload.writeBuffer(&tail)
        let header = HeraldFrameHeader(opcode: .disconnect, payloadLength: payload.readableBytes)
        return try? HeraldFrame(header: header, payload: payload).decodeMessage(as: Herald_V1_Disconnect.self).reason
    }
}

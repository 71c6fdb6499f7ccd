import HeraldEngine
import HeraldMessages
import HeraldWire
import Logging
import NIOCore
import NIOWebSocket
import Synchronization

/// The engine's view of one NIO connection: writes frames, counts those the transport has not accepted, and closes
/// the transport the way Spec/02-transports.md §2.5 and Spec/14-limits.md §14.5 ask.
///
/// ``write(_:)``, ``close()`` and ``holdRequests(_:)`` are called on the engine's event loop and never block.
/// ``write(_:)`` hands the frames to the ``LoopOutbox`` of the connection's event loop, which writes everything the
/// engine produced for its connections since its last run and then flushes each connection once: one system call
/// per connection and loop tick, however many frames and engine inputs it carries. Everything else runs on the
/// connection's event loop.
///
/// The queue of LIM-12 counts only frames the transport holds: frames handed to the channel and flushed whose bytes
/// the socket has not accepted yet (LIM-20). Frames still on their way from the engine to the event loop do not count,
/// so a busy event loop never makes a client that reads promptly look like a slow consumer. The count is kept on the
/// event loop and published to the engine through one atomic after each flush and each later completed write.
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
    /// Where the frames for this connection wait for its event loop.
    let outbox: LoopOutbox
    /// At this many queued frames, the connection's requests wait (LIM-21).
    let pauseThreshold: Int
    /// Requests resume once fewer frames than this are queued.
    let resumeThreshold: Int
    /// The frames the transport holds, as last published by the event loop (``LoopState/held``).
    private let queued = Atomic<Int>(0)
    private let closing = Atomic<Bool>(false)
    /// The engine holds the connection's requests back (LIM-35, SES-38).
    private let requestsHeld = Atomic<Bool>(false)
    private let state: NIOLoopBound<LoopState>

    /// State only touched on the channel's event loop.
    private final class LoopState {
        enum Phase {
            case open
            case closing
            case closed
        }

        var phase = Phase.open
        /// Frames handed to the channel whose writes have not completed: the authoritative count behind
        /// ``ChannelSink/queuedFrameCount``.
        var held = 0
        /// Frames were written since the last flush.
        var flushPending = false
        /// A flush is running: completions during it are published once, at its end.
        var flushing = false
        /// Completes when the last frame handed to the channel has been written (or failed).
        var lastWrite: EventLoopFuture<Void>?
        /// The reason of the `Disconnect` written, for the WebSocket close code (TRN-23).
        var disconnectReason: Herald_V1_DisconnectReason?
        var deadline: Scheduled<Void>?
        var linger: Scheduled<Void>?
        /// Called when the connection's held requests may go to the engine again (see ``ChannelSink/mayResume``).
        var resume: (() -> Void)?
    }

    /// Creates the sink of `channel`. Must be called on the channel's event loop.
    ///
    /// - Parameters:
    ///   - channel: The connection.
    ///   - framing: How frames are written.
    ///   - outbox: The outbox of the channel's event loop.
    ///   - maximumQueuedFrames: The engine's `max_outbound_queue_frames`; the connection's own requests wait at a
    ///     quarter of it, so that a client that sends faster than it reads is slowed down, not cut off.
    init(channel: any Channel, framing: Framing, outbox: LoopOutbox, maximumQueuedFrames: Int) {
        self.channel = channel
        self.framing = framing
        self.outbox = outbox
        self.pauseThreshold = max(1, maximumQueuedFrames / 4)
        self.resumeThreshold = max(1, self.pauseThreshold / 2)
        self.state = NIOLoopBound(LoopState(), eventLoop: channel.eventLoop)
        let state = self.state
        channel.closeFuture.whenComplete { _ in
            let value = state.value
            value.phase = .closed
            value.deadline?.cancel()
            value.linger?.cancel()
            value.resume = nil
        }
    }

    /// Frames handed to the transport that it has not accepted yet (LIM-12, LIM-20): written and flushed to the
    /// channel, their bytes not yet taken by the socket. Frames on their way from the engine to the event loop do
    /// not count.
    var queuedFrameCount: Int {
        self.queued.load(ordering: .relaxed)
    }

    /// Whether the connection is being closed: frames still arriving are read and discarded.
    var isClosing: Bool {
        self.closing.load(ordering: .relaxed)
    }

    /// Whether the transport holds so many frames, or the engine holds the connection's requests back, that the
    /// connection's requests should wait (LIM-21, LIM-35).
    var shouldPauseInput: Bool {
        (self.queued.load(ordering: .relaxed) >= self.pauseThreshold || self.requestsHeld.load(ordering: .relaxed))
            && !self.isClosing
    }

    /// Whether held requests may go to the engine again: few enough frames queued and the engine not holding the
    /// connection's requests back, or the connection closing.
    var mayResume: Bool {
        (self.queued.load(ordering: .relaxed) < self.resumeThreshold && !self.requestsHeld.load(ordering: .relaxed))
            || self.isClosing
    }

    /// Sets what runs, on the event loop, when held requests may go to the engine again.
    func onResume(_ resume: @escaping () -> Void) {
        self.state.value.resume = resume
    }

    func holdRequests(_ hold: Bool) {
        let previous = self.requestsHeld.exchange(hold, ordering: .relaxed)
        if previous && !hold {
            let state = self.state
            self.channel.eventLoop.execute {
                state.value.resume?()
            }
        }
    }

    /// Runs on the event loop when a write of `count` frames has completed (written or failed).
    private func framesWritten(_ count: Int) {
        let state = self.state.value
        state.held -= count
        if state.held == 0 {
            // Writes complete in order: every write has completed, and an idle connection keeps no future.
            state.lastWrite = nil
        }
        if !state.flushing {
            self.publish(state)
        }
    }

    /// Makes the held count the one the engine sees, and lets held requests go when it fell below the resume
    /// threshold.
    private func publish(_ state: LoopState) {
        let previous = self.queued.exchange(state.held, ordering: .relaxed)
        if previous >= self.resumeThreshold && state.held < self.resumeThreshold
            && !self.requestsHeld.load(ordering: .relaxed)
        {
            state.resume?()
        }
    }

    func write(_ frames: OutboundBytes) {
        guard !frames.isEmpty else { return }
        // Nothing is counted here: the frames count once the transport has been offered them and has not taken
        // them (LIM-20), which only the event loop knows.
        self.outbox.submit(self, frames)
    }

    func close() {
        self.closing.store(true, ordering: .relaxed)
        self.channel.eventLoop.execute {
            self.closeOnLoop(webSocketCode: nil)
        }
    }

    /// Ends the connection from the transport's side (TRN-21 and WebSocket protocol errors): sends `Disconnect`
    /// with `DISCONNECT_REASON_PROTOCOL_ERROR`, then closes with `closeCode`. The engine's own frames are
    /// discarded from now on.
    func terminate(closeCode: WebSocketErrorCode, message: String) {
        self.closing.store(true, ordering: .relaxed)
        var disconnect = Herald_V1_Disconnect()
        disconnect.reason = .protocolError
        disconnect.message = message
        // Building a Disconnect frame cannot fail: the message type matches the opcode.
        guard let frame = try? HeraldFrame(opcode: .disconnect, message: disconnect) else { return }
        var bytes = OutboundBytes()
        bytes.append(frame)
        let outbound = bytes
        self.channel.eventLoop.execute {
            _ = self.writeOnLoop(outbound)
            self.flushOnLoop()
            self.closeOnLoop(webSocketCode: closeCode)
        }
    }

    // MARK: - On the event loop

    /// Writes frames to the channel without flushing them; returns whether the connection needs a flush that was
    /// not already due (the caller flushes it with ``flushOnLoop()``). One promise covers the whole batch: the
    /// channel completes writes in order, and the batch's frames count as held until all of it has been written
    /// (LIM-20 allows a write's frames to count until the whole write is accepted).
    ///
    /// On a stream the frames go out as the buffers ``OutboundBytes`` holds them in: usually one, however many
    /// frames it carries. On a WebSocket every frame is one binary message (TRN-20).
    func writeOnLoop(_ frames: OutboundBytes) -> Bool {
        let state = self.state.value
        guard state.phase == .open, !frames.isEmpty else {
            // The engine never writes after its Disconnect; frames after a transport-side termination are
            // dropped (HS-55).
            return false
        }
        let channel = self.channel
        let count = frames.frameCount
        state.held += count
        let promise = channel.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { _ in
            self.framesWritten(count)
        }
        switch self.framing {
        case .stream:
            var previous: ByteBuffer?
            frames.forEachBuffer { buffer in
                if let previous { channel.write(previous, promise: nil) }
                previous = buffer
            }
            if let previous {
                channel.write(previous, promise: promise)
            } else {
                promise.succeed()
            }
        case .webSocket:
            let messages = frames.frames()
            for (index, frame) in messages.enumerated() {
                if let reason = Self.disconnectReason(frame) {
                    state.disconnectReason = reason
                }
                channel.write(
                    WebSocketFrame(fin: true, opcode: .binary, data: frame),
                    promise: index == messages.count - 1 ? promise : nil
                )
            }
            if messages.isEmpty { promise.succeed() }
        }
        state.lastWrite = promise.futureResult
        defer { state.flushPending = true }
        return !state.flushPending
    }

    /// Flushes what ``writeOnLoop(_:)`` wrote: the socket takes what it can now, those writes complete inside the
    /// flush, and what is left is what the transport holds (LIM-20).
    func flushOnLoop() {
        let state = self.state.value
        state.flushPending = false
        guard state.phase != .closed else { return }
        state.flushing = true
        self.channel.flush()
        state.flushing = false
        self.publish(state)
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

    /// The reason of a `Disconnect` frame (one whole frame), or `nil` for any other frame.
    private static func disconnectReason(_ frame: ByteBuffer) -> Herald_V1_DisconnectReason? {
        guard let opcode = frame.getInteger(at: frame.readerIndex + 4, as: UInt16.self),
            opcode == UInt16(Herald_V1_Opcode.disconnect.rawValue)
        else {
            return nil
        }
        let payload = frame.getSlice(
            at: frame.readerIndex + HeraldFrameHeader.size,
            length: frame.readableBytes - HeraldFrameHeader.size
        )
        guard let payload else { return nil }
        let header = HeraldFrameHeader(opcode: .disconnect, payloadLength: payload.readableBytes)
        return try? HeraldFrame(header: header, payload: payload).decodeMessage(as: Herald_V1_Disconnect.self).reason
    }
}

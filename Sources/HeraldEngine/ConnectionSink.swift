import NIOCore

/// One frame on its way to a client, in up to three parts that are written back to back.
///
/// Fan-out events are serialised once: every receiver gets the same `body` buffer (shared storage, no copy) with
/// its own 14-byte `head` and, for stream events, its own `tail` carrying the `seq` field (Spec/17-extensibility.md
/// §17.7).
public struct OutboundFrame: Sendable {
    /// The frame header (14 bytes).
    public var head: ByteBuffer
    /// The shared part of the payload.
    public var body: ByteBuffer
    /// The per-receiver end of the payload (the encoded `seq` field), or an empty buffer.
    public var tail: ByteBuffer

    /// Creates a frame from its parts.
    public init(head: ByteBuffer, body: ByteBuffer, tail: ByteBuffer) {
        self.head = head
        self.body = body
        self.tail = tail
    }

    /// The number of bytes of the whole frame.
    public var byteCount: Int { self.head.readableBytes + self.body.readableBytes + self.tail.readableBytes }

    /// The whole frame in one buffer (for transports that need contiguous bytes, such as a WebSocket message).
    public func contiguousBytes(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: self.byteCount)
        buffer.writeImmutableBuffer(self.head)
        buffer.writeImmutableBuffer(self.body)
        buffer.writeImmutableBuffer(self.tail)
        return buffer
    }
}

/// Where the engine writes a connection's frames: implemented by each transport, and by tests.
///
/// The engine calls a sink only from its own executor, in order. Implementations must not block.
public protocol EngineConnectionSink: Sendable {
    /// Queues frames for the client, in order, and flushes them.
    func write(_ frames: [OutboundFrame])

    /// The number of frames in the connection's outbound queue (Spec/14-limits.md §14.5): frames offered to the
    /// transport that it has not accepted yet. Frames passed to ``write(_:)`` that the transport has not been offered
    /// yet (the server's own backlog) do not count (LIM-20).
    var queuedFrameCount: Int { get }

    /// Closes the transport after the frames already queued have been written (or after a grace period has passed).
    func close()

    /// Asks the host to stop passing the connection's requests to the engine (`true`), or to pass them again
    /// (`false`): the engine holds a message of this connection for a receiver that is behind with its
    /// acknowledgements (Spec/14-limits.md LIM-35). `DeliveryAck`s and `Ping`s go on being passed (LIM-22); requests
    /// already on their way are processed. Called on the engine's executor; never blocks.
    func holdRequests(_ hold: Bool)
}

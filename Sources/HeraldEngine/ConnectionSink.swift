import HeraldMessages
import HeraldWire
import NIOCore

/// One frame the engine has built for a client, before it is laid out in the connection's ``OutboundBytes``.
///
/// Fan-out events are serialised once: every receiver gets the same `body` buffer with its own header and, for
/// stream events, its own `seq` field, which ends the payload (Spec/17-extensibility.md §17.7).
struct OutboundFrame {
    /// The frame header; its payload length counts `body` and the `seq` field.
    var header: HeraldFrameHeader
    /// The shared part of the payload.
    var body: ByteBuffer
    /// The tag (field number and wire type 0) and value of the receiver's `seq` field, written after `body`; `0`
    /// for a frame without one.
    var seqTag: UInt64 = 0
    var seq: UInt64 = 0
}

/// Frames on their way to one client, encoded back to back: what the engine hands its ``EngineConnectionSink``
/// once per input.
///
/// Small frames are copied into one buffer, so that a connection's frames of one input are one write however many
/// there are; a payload part of ``copyLimit`` bytes or more is not copied but carried as a slice of its own buffer
/// (a fanned-out message is then shared by every receiver). ``forEachBuffer(_:)`` gives the bytes in order, as
/// few buffers as that allows; ``frames()`` gives them frame by frame.
public struct OutboundBytes: Sendable {
    /// The length from which a frame's shared payload part is carried as a slice instead of being copied.
    ///
    /// Copying a short body into the connection's buffer costs less than the buffer, the write and the reference
    /// counting that a separate slice needs; copying a long one would cost more, and the receivers of a fan-out
    /// would no longer share it.
    public static let copyLimit = 1024

    /// Buffers completed before `current`, when a long body interrupted it.
    private var sealed: [ByteBuffer] = []
    /// The buffer frames are appended to.
    private var current = ByteBuffer()
    /// The number of frames.
    public private(set) var frameCount = 0

    /// Creates an empty sequence of frames.
    public init() {}

    /// Whether there is no frame.
    public var isEmpty: Bool { self.frameCount == 0 }

    /// The number of bytes of all the frames.
    public var byteCount: Int {
        self.sealed.reduce(self.current.readableBytes) { $0 + $1.readableBytes }
    }

    /// Calls `body` with the frames' bytes in order: one buffer unless a long payload part is carried as a slice.
    public func forEachBuffer(_ body: (ByteBuffer) throws -> Void) rethrows {
        for buffer in self.sealed {
            try body(buffer)
        }
        if self.current.readableBytes > 0 {
            try body(self.current)
        }
    }

    /// Appends a whole frame (header and payload).
    public mutating func append(_ frame: HeraldFrame) {
        self.append(OutboundFrame(header: frame.header, body: frame.payload))
    }

    /// Appends a frame; its header's payload length must count the body and the `seq` field.
    ///
    /// The header, a short body and the `seq` field are stored straight into the buffer's memory: one capacity
    /// check and one uniqueness check per frame, not one per integer.
    mutating func append(_ frame: OutboundFrame) {
        let bodyLength = frame.body.readableBytes
        let copyBody = bodyLength < Self.copyLimit
        let tailRoom = frame.seqTag == 0 ? 0 : 20
        let room = HeraldFrameHeader.size + (copyBody ? bodyLength : 0) + tailRoom
        if self.current.capacity == 0 {
            // Room for a few small frames at once.
            self.current = ByteBufferAllocator().buffer(capacity: max(room, 512))
        } else if self.current.writableBytes < room {
            self.current.reserveCapacity(minimumWritableBytes: max(room, self.current.capacity))
        }
        let header = frame.header
        if copyBody {
            let written = self.current.withUnsafeMutableWritableBytes { memory in
                var offset = Self.store(header, into: memory)
                if bodyLength > 0 {
                    frame.body.withUnsafeReadableBytes { body in
                        UnsafeMutableRawBufferPointer(rebasing: memory[offset..<(offset + bodyLength)])
                            .copyMemory(from: body)
                    }
                    offset += bodyLength
                }
                if frame.seqTag != 0 {
                    offset = Self.store(varint: frame.seqTag, into: memory, at: offset)
                    offset = Self.store(varint: frame.seq, into: memory, at: offset)
                }
                return offset
            }
            self.current.moveWriterIndex(forwardBy: written)
        } else {
            let written = self.current.withUnsafeMutableWritableBytes { Self.store(header, into: $0) }
            self.current.moveWriterIndex(forwardBy: written)
            self.sealed.append(self.current)
            self.sealed.append(frame.body)
            self.current = ByteBufferAllocator().buffer(capacity: 512)
            if frame.seqTag != 0 {
                let tail = self.current.withUnsafeMutableWritableBytes { memory in
                    let offset = Self.store(varint: frame.seqTag, into: memory, at: 0)
                    return Self.store(varint: frame.seq, into: memory, at: offset)
                }
                self.current.moveWriterIndex(forwardBy: tail)
            }
        }
        self.frameCount += 1
    }

    /// Stores the 14 header bytes at the start of `memory`; returns 14.
    private static func store(_ header: HeraldFrameHeader, into memory: UnsafeMutableRawBufferPointer) -> Int {
        memory.storeBytes(of: HeraldFrameHeader.magic.0, toByteOffset: 0, as: UInt8.self)
        memory.storeBytes(of: HeraldFrameHeader.magic.1, toByteOffset: 1, as: UInt8.self)
        memory.storeBytes(of: header.version, toByteOffset: 2, as: UInt8.self)
        memory.storeBytes(of: header.flags.rawValue, toByteOffset: 3, as: UInt8.self)
        let opcode = UInt16(truncatingIfNeeded: header.opcode.rawValue)
        memory.storeBytes(of: opcode.bigEndian, toByteOffset: 4, as: UInt16.self)
        memory.storeBytes(of: header.requestID.bigEndian, toByteOffset: 6, as: UInt32.self)
        let length = UInt32(truncatingIfNeeded: header.payloadLength)
        memory.storeBytes(of: length.bigEndian, toByteOffset: 10, as: UInt32.self)
        return HeraldFrameHeader.size
    }

    /// Stores `value` as a varint at `offset`; returns the offset after it.
    private static func store(
        varint value: UInt64,
        into memory: UnsafeMutableRawBufferPointer,
        at offset: Int
    ) -> Int {
        var value = value
        var offset = offset
        while value >= 0x80 {
            memory[offset] = UInt8(truncatingIfNeeded: value) | 0x80
            value >>= 7
            offset += 1
        }
        memory[offset] = UInt8(value)
        return offset + 1
    }

    /// The frames one by one, each in one buffer (a slice when the frame lies in one buffer, else a copy): for
    /// transports that send every frame as one message, such as WebSocket (TRN-20), and for tests.
    public func frames() -> [ByteBuffer] {
        var result: [ByteBuffer] = []
        result.reserveCapacity(self.frameCount)
        var buffers: [ByteBuffer] = []
        self.forEachBuffer { buffers.append($0) }
        var index = 0
        /// Takes `count` bytes from the buffers, as a slice when they lie in one buffer.
        func take(_ count: Int) -> ByteBuffer? {
            while index < buffers.count && buffers[index].readableBytes == 0 { index += 1 }
            guard index < buffers.count else { return nil }
            if let slice = buffers[index].readSlice(length: count) { return slice }
            var joined = ByteBufferAllocator().buffer(capacity: count)
            while joined.readableBytes < count, index < buffers.count {
                let part = min(count - joined.readableBytes, buffers[index].readableBytes)
                var piece = buffers[index].readSlice(length: part)!
                joined.writeBuffer(&piece)
                if buffers[index].readableBytes == 0 { index += 1 }
            }
            return joined.readableBytes == count ? joined : nil
        }
        while true {
            while index < buffers.count && buffers[index].readableBytes == 0 { index += 1 }
            guard index < buffers.count else { break }
            let first = buffers[index]
            if first.readableBytes >= HeraldFrameHeader.size,
                let length = first.getInteger(at: first.readerIndex + 10, as: UInt32.self)
            {
                // The usual case: the header is in one buffer, so the frame is taken in one piece.
                guard let frame = take(HeraldFrameHeader.size + Int(length)) else { break }
                result.append(frame)
            } else {
                guard var frame = take(HeraldFrameHeader.size),
                    let length = frame.getInteger(at: frame.readerIndex + 10, as: UInt32.self)
                else { break }
                if length > 0 {
                    guard var payload = take(Int(length)) else { break }
                    frame.writeBuffer(&payload)
                }
                result.append(frame)
            }
        }
        return result
    }

    /// The number of bytes of `value` as a varint (1 to 10).
    static func varintSize(_ value: UInt64) -> Int {
        value == 0 ? 1 : (64 - value.leadingZeroBitCount + 6) / 7
    }
}

/// Where the engine writes a connection's frames: implemented by each transport, and by tests.
///
/// The engine calls a sink only from its own executor, in order. Implementations must not block. Sinks are objects
/// (one reference per connection in the engine, not an existential box).
public protocol EngineConnectionSink: AnyObject, Sendable {
    /// Queues frames for the client, in order, and flushes them.
    func write(_ frames: OutboundBytes)

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

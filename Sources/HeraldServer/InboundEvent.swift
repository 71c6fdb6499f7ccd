import HeraldEngine
import HeraldWire
import NIOCore
import NIOWebSocket

/// What a connection's pipeline hands to the task that feeds the engine, in arrival order.
enum InboundEvent: Sendable {
    /// The transport is ready (the TLS handshake finished): the engine may see the connection now.
    case transportReady
    /// A complete frame with a valid header; its payload is parsed by the engine. `arrivedAtMs` is the engine
    /// clock's time when the socket read that completed it was decoded (read once per read, not per frame): the
    /// time the engine counts rate limits at (LIM-24).
    case frame(HeraldFrame, arrivedAtMs: Int64)
    /// Every complete frame a socket read of a TCP or TLS stream brought, in order, with the read's arrival time
    /// (as ``frame(_:arrivedAtMs:)``): one event per read, not one per frame.
    case frames([HeraldFrame], arrivedAtMs: Int64)
    /// A framing failure; nothing after it is delivered. `header` is the opcode and request id read from the
    /// offending header, when 14 bytes of it were there.
    case failure(WireError, header: (opcode: UInt16, requestID: UInt32)?)
    /// A WebSocket rule was broken (a text message, TRN-21, or a WebSocket protocol error): the transport sends
    /// `Disconnect` itself and closes with `closeCode`.
    case violation(closeCode: WebSocketErrorCode, message: String)
}

/// Reads the opcode and request id of a header at the start of `buffer`, without validating anything.
func rawHeaderFields(_ buffer: ByteBuffer) -> (opcode: UInt16, requestID: UInt32)? {
    guard buffer.readableBytes >= HeraldFrameHeader.size,
        let opcode = buffer.getInteger(at: buffer.readerIndex + 4, as: UInt16.self),
        let requestID = buffer.getInteger(at: buffer.readerIndex + 6, as: UInt32.self)
    else {
        return nil
    }
    return (opcode, requestID)
}

/// Splits a TCP or TLS byte stream into ``InboundEvent``s with ``HeraldFrameDecoder``.
///
/// Each call hands on every complete frame in the buffer as one ``InboundEvent/frames(_:arrivedAtMs:)`` event: a
/// read of many frames passes through the pipeline once, not once per frame. A framing failure becomes one
/// ``InboundEvent/failure(_:header:)`` event carrying the offending header's opcode and request id, after the
/// frames before it; every byte after it is discarded (HS-63: nothing after a header failure is processed). At end
/// of stream, leftover bytes become `truncated-header` or `truncated-payload` (FRM-14, FRM-15).
///
/// Every frame is stamped with its arrival time: the clock is read once per call that completes a frame, and a call
/// takes every complete frame of the bytes read so far, so the frames of one socket read share one reading.
struct HeraldStreamDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = InboundEvent

    private var decoder: HeraldFrameDecoder
    private var failed = false
    /// A failure found after frames that were handed on first; it is the next event.
    private var pendingFailure: InboundEvent?
    private let clock: any EngineClock

    init(maximumPayloadLength: Int, acceptedExtensions: [HeraldOpcodeInfo] = [], clock: any EngineClock) {
        self.decoder = HeraldFrameDecoder(
            maximumPayloadLength: maximumPayloadLength,
            acceptedExtensions: acceptedExtensions
        )
        self.clock = clock
    }

    mutating func decode(buffer: inout ByteBuffer) throws -> InboundEvent? {
        try self.decodeAll(buffer: &buffer, seenEOF: nil)
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> InboundEvent? {
        try self.decodeAll(buffer: &buffer, seenEOF: seenEOF)
    }

    /// Every complete frame of `buffer` as one event, or the failure that stopped decoding; at end of stream
    /// (`seenEOF` not `nil`), leftover bytes are a failure.
    private mutating func decodeAll(buffer: inout ByteBuffer, seenEOF: Bool?) throws -> InboundEvent? {
        if let failure = self.pendingFailure {
            self.pendingFailure = nil
            return failure
        }
        guard !self.failed else {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return nil
        }
        var frames: [HeraldFrame] = []
        do {
            while true {
                let frame: HeraldFrame?
                if let seenEOF {
                    frame = try self.decoder.decodeLast(buffer: &buffer, seenEOF: seenEOF)
                } else {
                    frame = try self.decoder.decode(buffer: &buffer)
                }
                guard let frame else { break }
                frames.append(frame)
            }
        } catch {
            let failure = self.fail(error, buffer: &buffer)
            guard !frames.isEmpty else { return failure }
            self.pendingFailure = failure
        }
        guard !frames.isEmpty else { return nil }
        return .frames(frames, arrivedAtMs: self.clock.nowMilliseconds())
    }

    private mutating func fail(_ error: WireError, buffer: inout ByteBuffer) -> InboundEvent {
        self.failed = true
        let header = rawHeaderFields(buffer)
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .failure(error, header: header)
    }
}

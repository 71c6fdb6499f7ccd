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
/// A framing failure becomes one ``InboundEvent/failure(_:header:)`` event carrying the offending header's opcode
/// and request id; every byte after it is discarded (HS-63: nothing after a header failure is processed). At end of
/// stream, leftover bytes become `truncated-header` or `truncated-payload` (FRM-14, FRM-15).
///
/// Every frame is stamped with its arrival time: the clock is read at the first frame completed by a socket read and
/// that reading serves every frame the same read completes (the decoder is called until the read's bytes are used
/// up, so a frame that leaves the buffer empty, or a call that finds only part of a frame, ends the read).
struct HeraldStreamDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = InboundEvent

    private var decoder: HeraldFrameDecoder
    private var failed = false
    private let clock: any EngineClock
    /// The arrival time of the frames of the read being decoded, once its first frame is complete.
    private var readStamp: Int64?

    init(maximumPayloadLength: Int, acceptedExtensions: [HeraldOpcodeInfo] = [], clock: any EngineClock) {
        self.decoder = HeraldFrameDecoder(
            maximumPayloadLength: maximumPayloadLength,
            acceptedExtensions: acceptedExtensions
        )
        self.clock = clock
    }

    mutating func decode(buffer: inout ByteBuffer) throws -> InboundEvent? {
        guard !self.failed else {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return nil
        }
        do {
            return self.stamped(try self.decoder.decode(buffer: &buffer), rest: buffer)
        } catch {
            return self.fail(error, buffer: &buffer)
        }
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> InboundEvent? {
        guard !self.failed else {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return nil
        }
        do {
            return self.stamped(try self.decoder.decodeLast(buffer: &buffer, seenEOF: seenEOF), rest: buffer)
        } catch {
            return self.fail(error, buffer: &buffer)
        }
    }

    /// The event of a decoded frame with the current read's arrival time; forgets that time when the read's bytes
    /// are used up.
    private mutating func stamped(_ frame: HeraldFrame?, rest: ByteBuffer) -> InboundEvent? {
        guard let frame else {
            self.readStamp = nil
            return nil
        }
        let stamp = self.readStamp ?? self.clock.nowMilliseconds()
        self.readStamp = rest.readableBytes == 0 ? nil : stamp
        return .frame(frame, arrivedAtMs: stamp)
    }

    private mutating func fail(_ error: WireError, buffer: inout ByteBuffer) -> InboundEvent {
        self.failed = true
        let header = rawHeaderFields(buffer)
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .failure(error, header: header)
    }
}

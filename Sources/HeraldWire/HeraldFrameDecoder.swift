import NIOCore

/// Splits a byte stream into ``HeraldFrame`` values (Spec/03-framing.md).
///
/// The decoder validates each header as soon as its 14 bytes are available, in the order of FRM-10, and
/// rejects a payload length above ``maximumPayloadLength`` before buffering any payload byte (FRM-9). It never
/// consumes bytes of an incomplete frame, and payloads are slices of the inbound buffer. Payloads are not
/// decoded here: call ``HeraldFrame/decodeMessage()``.
///
/// Use it in a channel pipeline as `ByteToMessageHandler(HeraldFrameDecoder(), maximumBufferSize: …)`,
/// outside one through `NIOSingleStepByteToMessageProcessor`, or synchronously through ``HeraldFrameReader``.
///
/// At end of stream (``decodeLast(buffer:seenEOF:)``), leftover bytes are reported as
/// ``WireError/Code/truncatedHeader`` (fewer than 14) or ``WireError/Code/truncatedPayload`` (FRM-14, FRM-15).
public struct HeraldFrameDecoder: NIOSingleStepByteToMessageDecoder, Sendable {
    /// The decoder produces frames.
    public typealias InboundOut = HeraldFrame

    /// The largest payload accepted; larger declared lengths fail with ``WireError/Code/frameTooLarge``.
    ///
    /// Must stay in `0...HeraldFrameHeader.absoluteMaximumPayloadLength`.
    public var maximumPayloadLength: Int {
        didSet {
            precondition(
                (0...HeraldFrameHeader.absoluteMaximumPayloadLength).contains(self.maximumPayloadLength),
                "maximumPayloadLength must be in 0...\(HeraldFrameHeader.absoluteMaximumPayloadLength)"
            )
        }
    }

    /// Extension opcodes (entries of ``HeraldOpcodeTable/extensions``) the decoder accepts besides the v1 opcodes;
    /// empty by default, so that every extension opcode is `unknown-opcode` (FRM-5). A receiver lists here only
    /// the opcodes of capabilities it may grant, and still refuses them on connections where it did not (EXT-8).
    public var acceptedExtensions: [HeraldOpcodeInfo] = []

    /// The largest number of bytes one frame occupies: the header plus ``maximumPayloadLength``.
    ///
    /// A good `maximumBufferSize` for `ByteToMessageHandler` is a small multiple of this value.
    public var maximumFrameLength: Int {
        HeraldFrameHeader.size + self.maximumPayloadLength
    }

    /// Creates a decoder.
    ///
    /// - Parameter maximumPayloadLength: The receiver's maximum payload length, between 0 and
    ///   ``HeraldFrameHeader/absoluteMaximumPayloadLength``. Defaults to 65536, the amount every implementation
    ///   must accept (FRM-20).
    /// - Precondition: `maximumPayloadLength` is in `0...HeraldFrameHeader.absoluteMaximumPayloadLength`.
    public init(maximumPayloadLength: Int = HeraldFrameHeader.defaultMaximumPayloadLength) {
        precondition(
            (0...HeraldFrameHeader.absoluteMaximumPayloadLength).contains(maximumPayloadLength),
            "maximumPayloadLength must be in 0...\(HeraldFrameHeader.absoluteMaximumPayloadLength)"
        )
        self.maximumPayloadLength = maximumPayloadLength
    }

    /// Creates a decoder that also accepts the extension opcodes of `acceptedExtensions`.
    ///
    /// - Parameters:
    ///   - maximumPayloadLength: As for ``init(maximumPayloadLength:)``.
    ///   - acceptedExtensions: Extension opcodes accepted besides the v1 opcodes.
    public init(maximumPayloadLength: Int, acceptedExtensions: [HeraldOpcodeInfo]) {
        self.init(maximumPayloadLength: maximumPayloadLength)
        self.acceptedExtensions = acceptedExtensions
    }

    /// Decodes the next frame if it is complete.
    ///
    /// - Parameter buffer: The accumulated inbound bytes. Consumed only when a whole frame is returned.
    /// - Returns: The next frame, or `nil` if more bytes are needed.
    /// - Throws: ``WireError`` with a header error code as soon as the 14 header bytes are available.
    public mutating func decode(buffer: inout ByteBuffer) throws(WireError) -> HeraldFrame? {
        guard
            let header = try HeraldFrameHeader.peek(
                from: buffer,
                maximumPayloadLength: self.maximumPayloadLength,
                acceptedExtensions: self.acceptedExtensions
            )
        else {
            return nil
        }
        guard buffer.readableBytes - HeraldFrameHeader.size >= header.payloadLength else {
            return nil
        }
        buffer.moveReaderIndex(forwardBy: HeraldFrameHeader.size)
        // Cannot fail: the length was checked above.
        let payload = buffer.readSlice(length: header.payloadLength)!
        return HeraldFrame(header: header, payload: payload)
    }

    /// Decodes the next frame at end of stream, reporting leftover bytes.
    ///
    /// - Parameters:
    ///   - buffer: The remaining inbound bytes.
    ///   - seenEOF: Whether the input was closed (unused: leftover bytes are an error either way).
    /// - Returns: The next frame, or `nil` if no bytes are left.
    /// - Throws: ``WireError`` with a header error code, ``WireError/Code/truncatedHeader`` or
    ///   ``WireError/Code/truncatedPayload``.
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws(WireError) -> HeraldFrame? {
        if let frame = try self.decode(buffer: &buffer) {
            return frame
        }
        guard buffer.readableBytes > 0 else {
            return nil
        }
        throw Self.endOfStreamError(leftover: buffer)
    }

    /// The error for bytes left at end of stream that do not form a complete frame.
    static func endOfStreamError(leftover buffer: ByteBuffer) -> WireError {
        if buffer.readableBytes < HeraldFrameHeader.size {
            return WireError(
                .truncatedHeader,
                "\(buffer.readableBytes) bytes left at end of stream, fewer than a 14-byte header"
            )
        }
        let declared = buffer.getInteger(at: buffer.readerIndex + 10, as: UInt32.self) ?? 0
        return WireError(
            .truncatedPayload,
            "payload of \(declared) bytes incomplete at end of stream: "
                + "\(buffer.readableBytes - HeraldFrameHeader.size) bytes received"
        )
    }
}

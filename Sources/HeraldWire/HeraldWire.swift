import NIOCore

/// One-shot helpers for whole byte strings and WebSocket messages (Spec/02-transports.md, Spec/03-framing.md).
public enum HeraldWire {
    /// Decodes a complete byte stream into frames, stopping at the first error.
    ///
    /// Header errors and end-of-stream errors (``WireError/Code/truncatedHeader``,
    /// ``WireError/Code/truncatedPayload``) are reported; payloads are not decoded (use
    /// ``HeraldFrame/decodeMessage()``).
    ///
    /// - Parameters:
    ///   - bytes: The whole stream, for example the bytes of a TCP connection.
    ///   - maximumPayloadLength: The receiver's maximum payload length.
    /// - Returns: The frames decoded before the first error (FRM-16), and that error or `nil`.
    public static func decodeFrames(
        _ bytes: [UInt8],
        maximumPayloadLength: Int = HeraldFrameHeader.defaultMaximumPayloadLength
    ) -> (frames: [HeraldFrame], error: WireError?) {
        Self.decodeFrames(ByteBuffer(bytes: bytes), maximumPayloadLength: maximumPayloadLength)
    }

    /// Decodes a complete byte stream into frames, stopping at the first error.
    ///
    /// - Parameters:
    ///   - bytes: The whole stream.
    ///   - maximumPayloadLength: The receiver's maximum payload length.
    /// - Returns: The frames decoded before the first error (FRM-16), and that error or `nil`.
    public static func decodeFrames(
        _ bytes: ByteBuffer,
        maximumPayloadLength: Int = HeraldFrameHeader.defaultMaximumPayloadLength
    ) -> (frames: [HeraldFrame], error: WireError?) {
        var decoder = HeraldFrameDecoder(maximumPayloadLength: maximumPayloadLength)
        var buffer = bytes
        var frames: [HeraldFrame] = []
        do {
            while let frame = try decoder.decodeLast(buffer: &buffer, seenEOF: true) {
                frames.append(frame)
            }
        } catch {
            return (frames, error)
        }
        return (frames, nil)
    }

    /// Decodes one WebSocket binary message, which must carry exactly one frame (FRM-21).
    ///
    /// - Parameters:
    ///   - message: The message bytes.
    ///   - maximumPayloadLength: The receiver's maximum payload length.
    /// - Returns: The frame. Its payload is not decoded.
    /// - Throws: ``WireError`` with a header error code, ``WireError/Code/truncatedHeader`` or
    ///   ``WireError/Code/truncatedPayload`` for a short message, or ``WireError/Code/trailingBytes`` when bytes
    ///   follow the frame.
    public static func decodeSingleFrame(
        _ message: ByteBuffer,
        maximumPayloadLength: Int = HeraldFrameHeader.defaultMaximumPayloadLength
    ) throws(WireError) -> HeraldFrame {
        try Self.decodeSingleFrame(message, maximumPayloadLength: maximumPayloadLength, acceptedExtensions: [])
    }

    /// Decodes one WebSocket binary message as ``decodeSingleFrame(_:maximumPayloadLength:)-(ByteBuffer,_)`` does,
    /// accepting the extension opcodes of `acceptedExtensions` as well (``HeraldFrameDecoder/acceptedExtensions``).
    ///
    /// - Parameters:
    ///   - message: The message bytes.
    ///   - maximumPayloadLength: The receiver's maximum payload length.
    ///   - acceptedExtensions: Extension opcodes accepted besides the v1 opcodes.
    /// - Returns: The frame. Its payload is not decoded.
    /// - Throws: ``WireError`` as the other form does.
    public static func decodeSingleFrame(
        _ message: ByteBuffer,
        maximumPayloadLength: Int,
        acceptedExtensions: [HeraldOpcodeInfo]
    ) throws(WireError) -> HeraldFrame {
        var decoder = HeraldFrameDecoder(
            maximumPayloadLength: maximumPayloadLength,
            acceptedExtensions: acceptedExtensions
        )
        var buffer = message
        guard let frame = try decoder.decodeLast(buffer: &buffer, seenEOF: true) else {
            throw WireError(.truncatedHeader, "empty message")
        }
        guard buffer.readableBytes == 0 else {
            throw WireError(
                .trailingBytes,
                "\(buffer.readableBytes) bytes after the frame; a WebSocket message carries exactly one frame"
            )
        }
        return frame
    }

    /// Decodes one WebSocket binary message, which must carry exactly one frame (FRM-21).
    ///
    /// - Parameters:
    ///   - message: The message bytes.
    ///   - maximumPayloadLength: The receiver's maximum payload length.
    /// - Returns: The frame. Its payload is not decoded.
    /// - Throws: ``WireError`` as ``decodeSingleFrame(_:maximumPayloadLength:)-(ByteBuffer,_)`` does.
    public static func decodeSingleFrame(
        _ message: [UInt8],
        maximumPayloadLength: Int = HeraldFrameHeader.defaultMaximumPayloadLength
    ) throws(WireError) -> HeraldFrame {
        try Self.decodeSingleFrame(ByteBuffer(bytes: message), maximumPayloadLength: maximumPayloadLength)
    }
}

import NIOCore

/// Encodes ``HeraldFrame`` values for a channel pipeline: `MessageToByteHandler(HeraldFrameEncoder())`.
///
/// The encoder applies the same header checks as ``HeraldFrameDecoder`` against the peer's maximum payload
/// length, so it never emits a frame the receiver must reject (FRM-19).
public struct HeraldFrameEncoder: MessageToByteEncoder, Sendable {
    /// The encoder consumes frames.
    public typealias OutboundIn = HeraldFrame

    /// The receiver's maximum payload length; larger frames fail with ``WireError/Code/frameTooLarge``.
    public var maximumPayloadLength: Int

    /// Creates an encoder.
    ///
    /// - Parameter maximumPayloadLength: The receiving peer's maximum payload length (65536 unless the peer
    ///   announced another limit in the handshake).
    public init(maximumPayloadLength: Int = HeraldFrameHeader.defaultMaximumPayloadLength) {
        self.maximumPayloadLength = maximumPayloadLength
    }

    /// Validates `data` and appends its bytes to `out`.
    ///
    /// - Parameters:
    ///   - data: The frame.
    ///   - out: The outbound buffer.
    /// - Throws: ``WireError`` as ``HeraldFrame/encode(into:maximumPayloadLength:)`` does.
    public func encode(data: HeraldFrame, out: inout ByteBuffer) throws {
        try data.encode(into: &out, maximumPayloadLength: self.maximumPayloadLength)
    }
}

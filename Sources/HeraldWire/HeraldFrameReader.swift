import NIOCore

/// A synchronous, incremental frame reader for code that does not use a NIO channel pipeline.
///
/// Feed bytes as they arrive with ``append(_:)-(ByteBuffer)``; each call returns the frames completed by
/// those bytes. Call ``finish()`` at end of stream to detect a truncated frame. The reader holds at most one
/// incomplete frame (header plus ``maximumPayloadLength`` bytes) besides the bytes of the current call.
///
/// When a call decodes some frames and then hits an error, it returns those frames (FRM-16) and the error
/// is thrown by the next call to ``append(_:)-(ByteBuffer)`` or ``finish()``. After an error the reader
/// stays failed and throws the same error on every call.
public struct HeraldFrameReader: Sendable {
    private var decoder: HeraldFrameDecoder
    private var buffer: ByteBuffer
    private var error: WireError?

    /// Creates a reader.
    ///
    /// - Parameter maximumPayloadLength: The receiver's maximum payload length (see
    ///   ``HeraldFrameDecoder/init(maximumPayloadLength:)``).
    public init(maximumPayloadLength: Int = HeraldFrameHeader.defaultMaximumPayloadLength) {
        self.decoder = HeraldFrameDecoder(maximumPayloadLength: maximumPayloadLength)
        self.buffer = ByteBuffer()
    }

    /// The receiver's maximum payload length.
    public var maximumPayloadLength: Int {
        self.decoder.maximumPayloadLength
    }

    /// The number of bytes received but not yet returned as part of a frame.
    public var bufferedByteCount: Int {
        self.buffer.readableBytes
    }

    /// The error the reader failed with, if any.
    public var failure: WireError? {
        self.error
    }

    /// Appends bytes and returns the frames they complete.
    ///
    /// - Parameter bytes: The next bytes of the stream.
    /// - Returns: The frames completed by these bytes, in stream order.
    /// - Throws: ``WireError`` with a header error code (or an error left over from the previous call).
    public mutating func append(_ bytes: ByteBuffer) throws(WireError) -> [HeraldFrame] {
        if let error = self.error {
            throw error
        }
        var bytes = bytes
        self.buffer.writeBuffer(&bytes)
        return try self.drain()
    }

    /// Appends bytes and returns the frames they complete.
    ///
    /// - Parameter bytes: The next bytes of the stream.
    /// - Returns: The frames completed by these bytes, in stream order.
    /// - Throws: ``WireError`` with a header error code (or an error left over from the previous call).
    public mutating func append(_ bytes: some Sequence<UInt8>) throws(WireError) -> [HeraldFrame] {
        if let error = self.error {
            throw error
        }
        self.buffer.writeBytes(bytes)
        return try self.drain()
    }

    /// Signals end of stream.
    ///
    /// - Throws: ``WireError`` with ``WireError/Code/truncatedHeader`` or ``WireError/Code/truncatedPayload`` if
    ///   bytes of an incomplete frame are left, or the error the reader has failed with.
    public mutating func finish() throws(WireError) {
        if let error = self.error {
            throw error
        }
        guard self.buffer.readableBytes == 0 else {
            let error = HeraldFrameDecoder.endOfStreamError(leftover: self.buffer)
            self.error = error
            throw error
        }
    }

    private mutating func drain() throws(WireError) -> [HeraldFrame] {
        var frames: [HeraldFrame] = []
        do {
            while let frame = try self.decoder.decode(buffer: &self.buffer) {
                frames.append(frame)
            }
        } catch {
            self.error = error
            if frames.isEmpty {
                throw error
            }
            return frames
        }
        self.buffer.discardReadBytes()
        return frames
    }
}

import HeraldEngine
import HeraldMessages
import HeraldWire
import NIOCore
import Testing

/// How ``OutboundBytes`` lays frames out: short ones copied into one buffer, long payloads carried as slices, and
/// every frame recovered whole by ``OutboundBytes/frames()``.
@Suite struct OutboundBytesTests {
    private func frame(_ text: String, requestID: UInt32) throws -> HeraldFrame {
        var message = Herald_V1_Disconnect()
        message.message = text
        return try HeraldFrame(opcode: .disconnect, requestID: requestID, message: message)
    }

    /// ``OutboundBytes/frames()`` gives back exactly `frames`, each decodable on its own.
    private func expectFrames(of bytes: OutboundBytes, are frames: [HeraldFrame]) throws {
        let split = bytes.frames()
        #expect(split.count == frames.count)
        for (buffer, frame) in zip(split, frames) {
            #expect(try HeraldWire.decodeSingleFrame(buffer, maximumPayloadLength: 1 << 20) == frame)
        }
    }

    @Test func shortFramesShareOneBuffer() throws {
        var bytes = OutboundBytes()
        #expect(bytes.isEmpty)
        let frames = try (1...5).map { try self.frame("frame \($0)", requestID: 0) }
        for frame in frames { bytes.append(frame) }
        var buffers = 0
        bytes.forEachBuffer { _ in buffers += 1 }
        #expect(buffers == 1)
        #expect(bytes.frameCount == 5)
        #expect(bytes.byteCount == frames.reduce(0) { $0 + HeraldFrameHeader.size + $1.payload.readableBytes })
        try self.expectFrames(of: bytes, are: frames)
    }

    @Test func longPayloadsAreNotCopied() throws {
        let long = String(repeating: "x", count: OutboundBytes.copyLimit + 10)
        let frames = [
            try self.frame("before", requestID: 0), try self.frame(long, requestID: 0),
            try self.frame(long, requestID: 0), try self.frame("after", requestID: 0),
        ]
        var bytes = OutboundBytes()
        for frame in frames { bytes.append(frame) }
        var buffers: [ByteBuffer] = []
        bytes.forEachBuffer { buffers.append($0) }
        // header of the long frame ends the first buffer; each long payload is its own buffer (the second long
        // frame's header sits between them); the last frame follows in the buffer after the second payload.
        #expect(buffers.count == 5)
        #expect(buffers[1] == frames[1].payload)
        let shared = buffers[1].withUnsafeReadableBytes { $0.baseAddress }
        let original = frames[1].payload.withUnsafeReadableBytes { $0.baseAddress }
        #expect(shared == original, "the long payload was copied")
        try self.expectFrames(of: bytes, are: frames)
        #expect(bytes.byteCount == buffers.reduce(0) { $0 + $1.readableBytes })
    }
}

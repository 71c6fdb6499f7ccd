import HeraldMessages
import HeraldWire
import NIOCore
import NIOEmbedded
import NIOTestUtils
import SwiftProtobuf
import Testing

@Suite struct StreamDecodingTests {
    /// A few frames of different shapes: empty payload, event with ACK_REQUIRED, event without, a larger payload.
    static let frames: [HeraldFrame] = {
        var hello = Herald_V1_Hello()
        hello.versions = [1]
        hello.clientName = "herald-tests/1.0"
        hello.capabilities = ["core", "peer-messages"]
        var login = Herald_V1_LoginRequest()
        login.appID = "app"
        login.userID = "alice"
        login.token = String(repeating: "t", count: 300)
        var peer = Herald_V1_PeerMessage()
        peer.fromUserID = "bob"
        peer.message.type = .text
        peer.message.text = "héllo 🙂"
        peer.seq = 1
        var state = Herald_V1_ConnectionStateChanged()
        state.state = .connected
        return [
            .make(.hello, requestID: 1, message: hello),
            .make(.ping, requestID: 2, message: Herald_V1_Ping()),
            .make(.loginRequest, requestID: 3, message: login),
            .make(.peerMessage, requestID: 0xFFFF_FFFF, flags: .ackRequired, message: peer),
            .make(.connectionStateChanged, message: state),
            .make(.logoutRequest, requestID: 4, message: Herald_V1_LogoutRequest()),
        ]
    }()

    static var streamBytes: [UInt8] {
        Self.frames.flatMap { try! $0.encodedBytes() }
    }

    static func readAll(_ bytes: [UInt8], chunks: [Range<Int>]) throws -> [HeraldFrame] {
        var reader = HeraldFrameReader()
        var frames: [HeraldFrame] = []
        for range in chunks {
            frames += try reader.append(bytes[range])
        }
        try reader.finish()
        return frames
    }

    @Test func framesDoNotDependOnTheChunkSize() throws {
        let bytes = Self.streamBytes
        #expect(bytes.count > 400)
        for size in 1...bytes.count {
            let chunks = stride(from: 0, to: bytes.count, by: size).map { $0..<min($0 + size, bytes.count) }
            #expect(try Self.readAll(bytes, chunks: chunks) == Self.frames, "chunk size \(size)")
        }
    }

    @Test func framesDoNotDependOnASingleSplitPoint() throws {
        let bytes = Self.streamBytes
        for split in 0...bytes.count {
            #expect(try Self.readAll(bytes, chunks: [0..<split, split..<bytes.count]) == Self.frames, "split \(split)")
        }
    }

    @Test func framesDoNotDependOnTheChunkSizeThroughTheNIOProcessor() throws {
        let bytes = Self.streamBytes
        for size in [1, 2, 3, 7, 13, 14, 15, 64, bytes.count] {
            let processor = NIOSingleStepByteToMessageProcessor(HeraldFrameDecoder())
            var frames: [HeraldFrame] = []
            for start in stride(from: 0, to: bytes.count, by: size) {
                try processor.process(buffer: ByteBuffer(bytes: bytes[start..<min(start + size, bytes.count)])) {
                    frames.append($0)
                }
            }
            try processor.finishProcessing(seenEOF: true) { frames.append($0) }
            #expect(frames == Self.frames, "chunk size \(size)")
        }
    }

    @Test func decoderPassesNIOsByteToMessageDecoderVerifier() throws {
        let pairs = Self.frames.map { frame in (ByteBuffer(bytes: try! frame.encodedBytes()), [frame]) }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { HeraldFrameDecoder() }
    }

    @Test func decoderNeverConsumesAnIncompleteFrame() throws {
        let bytes = try Self.frames[2].encodedBytes()
        var decoder = HeraldFrameDecoder()
        for count in 0..<bytes.count {
            var buffer = ByteBuffer(bytes: bytes.prefix(count))
            #expect(try decoder.decode(buffer: &buffer) == nil)
            #expect(buffer.readerIndex == 0)
            #expect(buffer.readableBytes == count)
        }
        var buffer = ByteBuffer(bytes: bytes + [0x48])
        #expect(try decoder.decode(buffer: &buffer) == Self.frames[2])
        #expect(buffer.readableBytes == 1)
    }

    @Test func payloadsAreSlicesOfTheInboundBuffer() throws {
        let original = ByteBuffer(bytes: Self.streamBytes)
        var buffer = original
        var decoder = HeraldFrameDecoder()
        let first = try #require(try decoder.decode(buffer: &buffer))
        let start = original.withUnsafeReadableBytes { Int(bitPattern: $0.baseAddress) }
        let payloadStart = first.payload.withUnsafeReadableBytes { Int(bitPattern: $0.baseAddress) }
        #expect(payloadStart == start + HeraldFrameHeader.size, "the payload shares the inbound storage")
    }
}

@Suite struct PipelineTests {
    @Test func framesTravelThroughAnEmbeddedPipeline() throws {
        let decoder = HeraldFrameDecoder()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([
            ByteToMessageHandler(decoder, maximumBufferSize: 4 * decoder.maximumFrameLength),
            MessageToByteHandler(HeraldFrameEncoder()),
        ])
        for frame in StreamDecodingTests.frames {
            try channel.writeOutbound(frame)
        }
        var wire = ByteBuffer()
        while var chunk = try channel.readOutbound(as: ByteBuffer.self) {
            wire.writeBuffer(&chunk)
        }
        #expect(Array(wire.readableBytesView) == StreamDecodingTests.streamBytes)

        // Feed the bytes back in awkward pieces.
        while wire.readableBytes > 0 {
            try channel.writeInbound(wire.readSlice(length: min(5, wire.readableBytes))!)
        }
        var received: [HeraldFrame] = []
        while let frame = try channel.readInbound(as: HeraldFrame.self) {
            received.append(frame)
        }
        #expect(received == StreamDecodingTests.frames)
        #expect(try channel.finish().isClean)
    }

    @Test func leftoverBytesAtCloseAreReportedByFinish() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(HeraldFrameDecoder()))
        let bytes = StreamDecodingTests.streamBytes
        let complete = try StreamDecodingTests.frames.prefix(2).map { try $0.encodedBytes().count }.reduce(0, +)
        // Two whole frames, then the header and 20 payload bytes of the third (LoginRequest, > 300 bytes).
        try channel.writeInbound(ByteBuffer(bytes: bytes.prefix(complete + HeraldFrameHeader.size + 20)))
        #expect(try channel.readInbound(as: HeraldFrame.self) == StreamDecodingTests.frames[0])
        #expect(try channel.readInbound(as: HeraldFrame.self) == StreamDecodingTests.frames[1])
        #expect(try channel.readInbound(as: HeraldFrame.self) == nil)
        #expect(throws: WireError(.truncatedPayload)) { try channel.finish() }
    }

    @Test func framesBeforeAnErrorAreDeliveredByThePipeline() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(HeraldFrameDecoder()))
        let good = StreamDecodingTests.frames.prefix(2)
        let bytes = good.flatMap { try! $0.encodedBytes() } + Bytes.header(magic: (0x52, 0x48))
        #expect(throws: WireError(.badMagic)) { try channel.writeInbound(ByteBuffer(bytes: bytes)) }
        #expect(try channel.readInbound(as: HeraldFrame.self) == good.first)
        #expect(try channel.readInbound(as: HeraldFrame.self) == good.last)
        #expect(try channel.readInbound(as: HeraldFrame.self) == nil)
        // The handler dropped the rest after the error, so nothing is left over.
        #expect(try channel.finish().isClean)
    }

    @Test func encoderRefusesFramesTheReceiverMustReject() throws {
        let channel = EmbeddedChannel(handler: MessageToByteHandler(HeraldFrameEncoder(maximumPayloadLength: 16)))
        var login = Herald_V1_LoginRequest()
        login.token = String(repeating: "x", count: 32)
        let big = HeraldFrame.make(.loginRequest, message: login)
        #expect(throws: WireError(.frameTooLarge)) { try channel.writeOutbound(big) }
        // MessageToByteHandler also fires the error down the pipeline, where EmbeddedChannel stores it.
        #expect(throws: WireError(.frameTooLarge)) { try channel.throwIfErrorCaught() }
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        #expect(try channel.finish().isClean)
    }
}

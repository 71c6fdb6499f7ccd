import HeraldMessages
import HeraldWire
import NIOCore
import NIOEmbedded
import Testing

@Suite struct MaliciousInputTests {
    @Test func hugeDeclaredLengthIsRejectedAfterExactlyFourteenBytes() throws {
        // A valid header announcing 16 MiB − 1, followed by (what would be) the payload.
        let header = Bytes.header(length: 0x00FF_FFFF)
        var reader = HeraldFrameReader(maximumPayloadLength: 65_536)
        for byte in header.dropLast() {
            #expect(try reader.append([byte]).isEmpty)
        }
        #expect(reader.bufferedByteCount == 13)
        #expect(throws: WireError(.frameTooLarge)) { try reader.append([header.last!]) }
        #expect(reader.bufferedByteCount <= HeraldFrameHeader.size)
        // The reader stays failed; further bytes are not buffered.
        #expect(throws: WireError(.frameTooLarge)) { try reader.append([UInt8](repeating: 0, count: 1000)) }
        #expect(reader.bufferedByteCount <= HeraldFrameHeader.size)
        #expect(throws: WireError(.frameTooLarge)) { try reader.finish() }
    }

    @Test func hugeDeclaredLengthIsRejectedByThePipelineWithoutWaitingForThePayload() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(HeraldFrameDecoder(maximumPayloadLength: 65_536)))
        let header = Bytes.header(length: 0x00FF_FFFF)
        try channel.writeInbound(ByteBuffer(bytes: header.prefix(13)))
        #expect(throws: WireError(.frameTooLarge)) { try channel.writeInbound(ByteBuffer(bytes: header.suffix(1))) }
        #expect(try channel.finish().isClean)
    }

    @Test func allOnesLengthIsOutOfRange() throws {
        var decoder = HeraldFrameDecoder(maximumPayloadLength: HeraldFrameHeader.absoluteMaximumPayloadLength)
        var buffer = ByteBuffer(bytes: Bytes.header(length: 0xFFFF_FFFF))
        #expect(throws: WireError(.lengthOutOfRange)) { try decoder.decode(buffer: &buffer) }
        #expect(HeraldWire.decodeFrames(Bytes.header(length: 0xFFFF_FFFF)).error == WireError(.lengthOutOfRange))
        #expect(HeraldWire.decodeFrames(Bytes.header(length: 0x8000_0000)).error == WireError(.lengthOutOfRange))
    }

    @Test func dripFeedNeverBuffersMoreThanOneFrame() throws {
        let maximum = 64
        var stream: [UInt8] = []
        var expected: [HeraldFrame] = []
        for length in [0, 3, 63, 64, 10, 64] {
            var login = Herald_V1_LoginRequest()
            login.token = String(repeating: "x", count: max(0, length - 2))
            let frame = HeraldFrame.make(.loginRequest, message: login)
            #expect(frame.payload.readableBytes == length)
            stream += try frame.encodedBytes(maximumPayloadLength: maximum)
            expected.append(frame)
        }
        stream += Bytes.header(length: UInt32(maximum + 1)) + [UInt8](repeating: 0x41, count: 1000)

        var reader = HeraldFrameReader(maximumPayloadLength: maximum)
        var received: [HeraldFrame] = []
        var failure: WireError?
        for byte in stream {
            do {
                received += try reader.append([byte])
            } catch {
                failure = error
                break
            }
            #expect(reader.bufferedByteCount <= HeraldFrameHeader.size + maximum)
        }
        #expect(received == expected)
        #expect(failure == WireError(.frameTooLarge))
        #expect(reader.bufferedByteCount <= HeraldFrameHeader.size + maximum)
    }

    @Test func deeplyNestedPayloadInAStreamIsMalformedAndEarlierFramesSurvive() throws {
        let good = try HeraldFrame.make(.ping, requestID: 1, message: Herald_V1_Ping()).encodedBytes()
        var nested: [UInt8] = []
        for _ in 0..<10_000 {
            nested += Bytes.tag(7, 3)
        }
        for _ in 0..<10_000 {
            nested += Bytes.tag(7, 4)
        }
        let bad = Bytes.frame(opcode: 0x0101, requestID: 2, payload: nested)
        let result = firstFailure(good + good + bad + good)
        #expect(result.frames.count == 2)
        #expect(result.error == WireError(.malformedPayload))
    }

    @Test func framesBeforeAnErrorAreReturnedAndTheErrorFollows() throws {
        let good = try HeraldFrame.make(.ping, requestID: 1, message: Herald_V1_Ping()).encodedBytes()
        var reader = HeraldFrameReader()
        let frames = try reader.append(good + good + Bytes.header(version: 2) + good)
        #expect(frames.count == 2)
        #expect(reader.failure == WireError(.unsupportedVersion))
        #expect(throws: WireError(.unsupportedVersion)) { try reader.append(good) }
        #expect(throws: WireError(.unsupportedVersion)) { try reader.finish() }

        let result = HeraldWire.decodeFrames(good + Bytes.header(flags: 0x04) + good)
        #expect(result.frames.count == 1)
        #expect(result.error == WireError(.reservedFlags))
    }

    @Test func errorAsTheVeryFirstFrameIsThrownAtOnce() {
        var reader = HeraldFrameReader()
        #expect(throws: WireError(.badMagic)) { try reader.append(Array("GET / HTTP/1.1\r\n".utf8)) }
    }

    @Test func randomGarbageNeverCrashesTheDecoder() {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<2_000 {
            var bytes = Bytes.header(
                flags: UInt8.random(in: 0...1, using: &rng),
                opcode: HeraldOpcodeTable.all.randomElement(using: &rng)!.wireValue,
                requestID: UInt32.random(in: 0...2, using: &rng),
                length: UInt32.random(in: 0...64, using: &rng)
            )
            bytes += (0..<Int.random(in: 0...80, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if Bool.random(using: &rng) {
                bytes[Int.random(in: 0..<14, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            let result = firstFailure(bytes, maximumPayloadLength: 64)
            if let error = result.error {
                #expect(WireError.Code.allCodes.contains(error.code))
            }
        }
    }
}

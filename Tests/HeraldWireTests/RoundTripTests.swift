import HeraldMessages
import HeraldWire
import NIOCore
import SwiftProtobuf
import Testing

@Suite struct RoundTripTests {
    /// Encodes `frame`, decodes it as a stream and as a WebSocket message, decodes its payload, and checks
    /// that everything matches and re-encodes to the same bytes.
    static func checkRoundTrip(
        _ frame: HeraldFrame,
        message: any SwiftProtobuf.Message,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let bytes = try frame.encodedBytes(maximumPayloadLength: HeraldFrameHeader.absoluteMaximumPayloadLength)
        let decoded = HeraldWire.decodeFrames(
            bytes,
            maximumPayloadLength: HeraldFrameHeader.absoluteMaximumPayloadLength
        )
        #expect(decoded.error == nil, sourceLocation: sourceLocation)
        #expect(decoded.frames == [frame], sourceLocation: sourceLocation)
        let single = try HeraldWire.decodeSingleFrame(
            bytes,
            maximumPayloadLength: HeraldFrameHeader.absoluteMaximumPayloadLength
        )
        #expect(single == frame, sourceLocation: sourceLocation)

        let decodedMessage = try single.decodeMessage()
        #expect(decodedMessage.isEqualTo(message: message), sourceLocation: sourceLocation)
        #expect(type(of: decodedMessage) == type(of: message), sourceLocation: sourceLocation)

        let again = try HeraldFrame(
            opcode: single.opcode,
            requestID: single.requestID,
            flags: single.flags,
            message: decodedMessage
        )
        #expect(
            try again.encodedBytes(maximumPayloadLength: HeraldFrameHeader.absoluteMaximumPayloadLength) == bytes,
            sourceLocation: sourceLocation
        )
    }

    /// Messages that can only hold their default value: the only field is an enum with a single value
    /// (`PeerSubscriptionOption` has just `ONLINE_STATUS = 0`).
    static let defaultOnly: Set<String> = ["QueryPeersBySubscriptionOptionRequest"]

    @Test(arguments: HeraldOpcodeTable.all.map(\.opcode))
    func everyOpcodeRoundTripsWithAPopulatedMessage(_ opcode: Herald_V1_Opcode) throws {
        let info = try #require(HeraldOpcodeTable.info(for: opcode))
        var generator = ValueGenerator(seed: UInt64(opcode.rawValue), populated: true)
        let message = MessageFactory.make(info.messageType, using: &generator)
        let defaultBytes: [UInt8] = try info.messageType.init().serializedBytes()
        #expect(defaultBytes.isEmpty)

        let flagChoices: [HeraldFrameFlags] = info.kind == .event ? [[], .ackRequired] : [[]]
        for flags in flagChoices {
            let requestID = generator.requestID(for: info, flags: flags)
            let frame = try HeraldFrame(opcode: opcode, requestID: requestID, flags: flags, message: message)
            #expect(frame.header.payloadLength == frame.payload.readableBytes)
            #expect(frame.header.version == 1)
            if !Self.defaultOnly.contains(info.name) {
                #expect(frame.payload.readableBytes > 0, "populated \(info.name) has a payload")
            }
            try Self.checkRoundTrip(frame, message: message)

            let inferred = try HeraldFrame(requestID: requestID, flags: flags, message: message)
            #expect(inferred == frame)
        }
    }

    @Test func populatedMessagesDifferFromTheDefault() throws {
        for info in HeraldOpcodeTable.all {
            var generator = ValueGenerator(seed: 42, populated: true)
            let message = MessageFactory.make(info.messageType, using: &generator)
            if !Self.defaultOnly.contains(info.name) {
                #expect(!message.isEqualTo(message: info.messageType.init()), "\(info.name)")
            }
        }
    }

    @Test func randomFramesRoundTripIndividuallyAndAsAStream() throws {
        var rng = SplitMix64(seed: 0x4845_5241_4C44)  // "HERALD"
        var frames: [HeraldFrame] = []
        var messages: [any SwiftProtobuf.Message] = []
        var stream = ByteBuffer()
        for index in 0..<3_000 {
            let info = HeraldOpcodeTable.all.randomElement(using: &rng)!
            var generator = ValueGenerator(seed: rng.next(), populated: false)
            var message = MessageFactory.make(info.messageType, using: &generator)
            if index % 5 == 0 {
                // Unknown fields (numbers far above the schema's) must survive too.
                let unknown =
                    Bytes.tag(1000 + Int(rng.next() % 1000), 0) + Bytes.varint(rng.next())
                    + Bytes.lengthDelimited(5000, Array(generator.string().utf8))
                try message.merge(serializedBytes: unknown)
            }
            let flags: HeraldFrameFlags = info.kind == .event && Bool.random(using: &rng) ? .ackRequired : []
            let requestID = generator.requestID(for: info, flags: flags)
            let frame = try HeraldFrame(opcode: info.opcode, requestID: requestID, flags: flags, message: message)
            try Self.checkRoundTrip(frame, message: message)
            try frame.encode(into: &stream)
            frames.append(frame)
            messages.append(message)
        }

        // The same frames read back from one stream delivered in random chunks.
        var reader = HeraldFrameReader()
        var received: [HeraldFrame] = []
        while stream.readableBytes > 0 {
            let size = min(stream.readableBytes, Int.random(in: 1...512, using: &rng))
            received += try reader.append(stream.readSlice(length: size)!)
        }
        try reader.finish()
        #expect(received == frames)
        for (frame, message) in zip(received, messages) {
            #expect(try frame.decodeMessage().isEqualTo(message: message))
        }
    }

    @Test func encodingIsCanonical() throws {
        // Field-number order, defaults omitted, repeated scalars packed.
        var hello = Herald_V1_Hello()
        hello.maxPayloadLength = 65_536
        hello.versions = [1, 2]
        hello.clientName = ""
        let frame = try HeraldFrame(opcode: .hello, requestID: 1, message: hello)
        let expected: [UInt8] = [0x0A, 0x02, 0x01, 0x02, 0x20, 0x80, 0x80, 0x04]
        #expect(Array(frame.payload.readableBytesView) == expected)
        let header: [UInt8] = [0x48, 0x52, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x08]
        #expect(try frame.encodedBytes() == header + expected)
    }
}

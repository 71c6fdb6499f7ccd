import HeraldMessages
import HeraldWire
import NIOCore
import SwiftProtobuf
import Testing

@Suite struct FrameConstructionTests {
    @Test func messageInitializerChecksTheMessageType() {
        #expect(throws: WireError(.malformedPayload)) {
            try HeraldFrame(opcode: .loginRequest, requestID: 1, message: Herald_V1_LoginResponse())
        }
        #expect(throws: WireError(.unknownOpcode)) {
            try HeraldFrame(opcode: .unspecified, requestID: 1, message: Herald_V1_LoginRequest())
        }
        #expect(throws: WireError(.unknownOpcode)) {
            try HeraldFrame(opcode: .UNRECOGNIZED(0xF001), requestID: 1, message: Herald_V1_LoginRequest())
        }
        // A message type no opcode carries.
        #expect(throws: WireError(.unknownOpcode)) { try HeraldFrame(requestID: 1, message: Herald_V1_MessageBody()) }
        #expect(throws: WireError(.malformedPayload)) {
            try HeraldFrame(opcode: .loginRequest, requestID: 1, message: Herald_V1_MessageBody())
        }
    }

    @Test func messageInitializerChecksFlagsAndRequestIDs() throws {
        let ping = Herald_V1_Ping()
        let event = Herald_V1_TokenExpired()
        #expect(throws: WireError(.reservedFlags)) {
            try HeraldFrame(opcode: .ping, requestID: 1, flags: HeraldFrameFlags(rawValue: 0x02), message: ping)
        }
        #expect(throws: WireError(.invalidFlags)) {
            try HeraldFrame(opcode: .ping, requestID: 1, flags: .ackRequired, message: ping)
        }
        #expect(throws: WireError(.invalidRequestID)) { try HeraldFrame(opcode: .ping, message: ping) }
        #expect(throws: WireError(.invalidRequestID)) {
            try HeraldFrame(opcode: .tokenExpired, requestID: 1, message: event)
        }
        #expect(throws: WireError(.invalidRequestID)) {
            try HeraldFrame(opcode: .tokenExpired, flags: .ackRequired, message: event)
        }
        let acked = try HeraldFrame(opcode: .tokenExpired, requestID: 9, flags: .ackRequired, message: event)
        #expect(acked.flags == .ackRequired)
        #expect(acked.requestID == 9)
        let plain = try HeraldFrame(opcode: .tokenExpired, message: event)
        #expect(plain.requestID == 0)
        #expect(
            try HeraldFrame(opcode: .deliveryAck, requestID: 9, message: Herald_V1_DeliveryAck()).opcodeInfo?.kind
                == .notice
        )
    }

    @Test func payloadAboveTheProtocolCapCannotBeFramed() {
        var login = Herald_V1_LoginRequest()
        login.token = String(repeating: "x", count: HeraldFrameHeader.absoluteMaximumPayloadLength)
        #expect(throws: WireError(.lengthOutOfRange)) {
            try HeraldFrame(opcode: .loginRequest, requestID: 1, message: login)
        }
    }

    @Test func encodingAboveTheReceiversMaximumIsFrameTooLargeAndWritesNothing() throws {
        var login = Herald_V1_LoginRequest()
        login.token = String(repeating: "x", count: 65_536)
        let frame = try HeraldFrame(opcode: .loginRequest, requestID: 1, message: login)
        #expect(frame.payload.readableBytes > 65_536)
        var buffer = ByteBuffer(bytes: [1, 2, 3])
        #expect(throws: WireError(.frameTooLarge)) { try frame.encode(into: &buffer) }
        #expect(Array(buffer.readableBytesView) == [1, 2, 3])
        #expect(throws: WireError(.frameTooLarge)) { try frame.encodedBytes(maximumPayloadLength: 65_536) }
        #expect(try frame.encodedBytes(maximumPayloadLength: 70_000).count == 14 + frame.payload.readableBytes)
        var encoded = ByteBuffer()
        #expect(throws: WireError(.frameTooLarge)) {
            try HeraldFrameEncoder().encode(data: frame, out: &encoded)
        }
        try HeraldFrameEncoder(maximumPayloadLength: 70_000).encode(data: frame, out: &encoded)
        #expect(encoded.readableBytes == 14 + frame.payload.readableBytes)
    }

    @Test func encoderAppliesEveryHeaderCheckToHandBuiltFrames() {
        let payload = ByteBuffer(bytes: [0x0A, 0x01, 0x61])
        let rows: [(HeraldFrameHeader, WireError.Code)] = [
            (HeraldFrameHeader(version: 2, opcode: .loginRequest, requestID: 1), .unsupportedVersion),
            (HeraldFrameHeader(flags: .init(rawValue: 0x81), opcode: .peerMessage, requestID: 1), .reservedFlags),
            (HeraldFrameHeader(opcode: .unspecified, requestID: 1), .unknownOpcode),
            (HeraldFrameHeader(opcode: .UNRECOGNIZED(0x1_0101), requestID: 1), .unknownOpcode),
            (HeraldFrameHeader(flags: .ackRequired, opcode: .loginRequest, requestID: 1), .invalidFlags),
            (HeraldFrameHeader(opcode: .loginRequest, requestID: 0), .invalidRequestID),
        ]
        for (header, code) in rows {
            let frame = HeraldFrame(header: header, payload: payload)
            #expect(throws: WireError(code)) { try frame.encodedBytes() }
        }
        #expect(throws: WireError(.frameTooLarge)) {
            try HeraldFrame(header: HeraldFrameHeader(opcode: .loginRequest, requestID: 1), payload: payload)
                .encodedBytes(maximumPayloadLength: 2)
        }
    }

    @Test func headerPayloadLengthFollowsThePayload() {
        var frame = HeraldFrame(
            header: HeraldFrameHeader(opcode: .loginRequest, requestID: 1, payloadLength: 999),
            payload: ByteBuffer(bytes: [0x0A, 0x00])
        )
        #expect(frame.header.payloadLength == 2)
        frame.payload = ByteBuffer(bytes: [0x0A, 0x01, 0x61])
        #expect(frame.header.payloadLength == 3)
        frame.header.payloadLength = 100
        #expect(frame.header.payloadLength == 3)
        frame.header.requestID = 5
        #expect(frame.requestID == 5)
    }

    @Test func headerPeekReadsWithoutConsuming() throws {
        let bytes = Bytes.header(flags: 1, opcode: 0x0210, requestID: 77, length: 5)
        let buffer = ByteBuffer(bytes: bytes)
        let header = try #require(try HeraldFrameHeader.peek(from: buffer))
        #expect(header == HeraldFrameHeader(flags: .ackRequired, opcode: .peerMessage, requestID: 77, payloadLength: 5))
        #expect(buffer.readableBytes == 14)
        var written = ByteBuffer()
        header.write(to: &written)
        #expect(Array(written.readableBytesView) == bytes)
        #expect(try HeraldFrameHeader.peek(from: ByteBuffer(bytes: bytes.prefix(13))) == nil)
    }

    @Test func flagsExposeTheirBits() {
        #expect(HeraldFrameFlags.ackRequired.rawValue == 0x01)
        #expect(HeraldFrameFlags.reserved.rawValue == 0xFE)
        #expect(!HeraldFrameFlags.ackRequired.hasReservedBits)
        #expect(HeraldFrameFlags(rawValue: 0x03).hasReservedBits)
        #expect(HeraldFrameHeader.magic == (0x48, 0x52))
        #expect(HeraldFrameHeader.size == 14)
        #expect(HeraldFrameHeader.currentVersion == 1)
        #expect(HeraldFrameHeader.absoluteMaximumPayloadLength == 16_777_215)
        #expect(HeraldFrameHeader.defaultMaximumPayloadLength == 65_536)
    }

    @Test func limitsCanChangeAfterTheHandshake() throws {
        var decoder = HeraldFrameDecoder()
        decoder.maximumPayloadLength = 16
        var buffer = ByteBuffer(bytes: Bytes.header(length: 17))
        #expect(throws: WireError(.frameTooLarge)) { try decoder.decode(buffer: &buffer) }
        var encoder = HeraldFrameEncoder()
        encoder.maximumPayloadLength = 2
        var out = ByteBuffer()
        let frame = HeraldFrame.make(.loginRequest, message: Herald_V1_LoginRequest.with { $0.appID = "abc" })
        #expect(throws: WireError(.frameTooLarge)) { try encoder.encode(data: frame, out: &out) }
        #expect(out.readableBytes == 0)
    }

    @Test func decoderRejectsANegativeMaximum() async {
        await #expect(processExitsWith: .failure) {
            _ = HeraldFrameDecoder(maximumPayloadLength: -1)
        }
    }
}

@Suite struct WebSocketMessageTests {
    static let frame = HeraldFrame.make(
        .loginRequest,
        requestID: 3,
        message: Herald_V1_LoginRequest.with { $0.appID = "a" }
    )
    static let bytes = try! Self.frame.encodedBytes()

    @Test func aMessageWithExactlyOneFrameDecodes() throws {
        #expect(try HeraldWire.decodeSingleFrame(Self.bytes) == Self.frame)
        #expect(try HeraldWire.decodeSingleFrame(ByteBuffer(bytes: Self.bytes)) == Self.frame)
    }

    @Test func shortMessagesAreTruncated() {
        #expect(throws: WireError(.truncatedHeader)) { try HeraldWire.decodeSingleFrame([]) }
        #expect(throws: WireError(.truncatedHeader)) { try HeraldWire.decodeSingleFrame(Array(Self.bytes.prefix(13))) }
        #expect(throws: WireError(.truncatedPayload)) { try HeraldWire.decodeSingleFrame(Array(Self.bytes.prefix(14))) }
        #expect(throws: WireError(.truncatedPayload)) { try HeraldWire.decodeSingleFrame(Array(Self.bytes.dropLast())) }
    }

    @Test func bytesAfterTheFrameAreTrailingBytes() {
        #expect(throws: WireError(.trailingBytes)) { try HeraldWire.decodeSingleFrame(Self.bytes + [0]) }
        #expect(throws: WireError(.trailingBytes)) { try HeraldWire.decodeSingleFrame(Self.bytes + Self.bytes) }
    }

    @Test func headerErrorsComeBeforeLengthChecksOfTheMessage() {
        var bad = Self.bytes
        bad[0] = 0x00
        #expect(throws: WireError(.badMagic)) { try HeraldWire.decodeSingleFrame(bad + [1, 2, 3]) }
        #expect(throws: WireError(.frameTooLarge)) {
            try HeraldWire.decodeSingleFrame(Self.bytes, maximumPayloadLength: 1)
        }
    }
}

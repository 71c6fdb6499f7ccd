import HeraldMessages
import HeraldWire
import NIOCore
import SwiftProtobuf
import Testing

@Suite struct PayloadDecodingTests {
    static func frame(_ opcode: Herald_V1_Opcode, _ payload: [UInt8]) -> HeraldFrame {
        let info = HeraldOpcodeTable.info(for: opcode)!
        let requestID: UInt32 = info.kind == .event ? 0 : 1
        return HeraldFrame(
            header: HeraldFrameHeader(opcode: opcode, requestID: requestID),
            payload: ByteBuffer(bytes: payload)
        )
    }

    static func decode(_ opcode: Herald_V1_Opcode, _ payload: [UInt8]) throws(WireError) -> any SwiftProtobuf.Message {
        try Self.frame(opcode, payload).decodeMessage()
    }

    static func expectMalformed(
        _ opcode: Herald_V1_Opcode,
        _ payload: [UInt8],
        _ comment: Comment,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(throws: WireError(.malformedPayload), comment, sourceLocation: sourceLocation) {
            try Self.decode(opcode, payload)
        }
    }

    // MARK: Wire types

    @Test func swiftProtobufAloneKeepsAKnownFieldWithTheWrongWireTypeAsUnknown() throws {
        // app_id (field 1, string) sent as a varint. SwiftProtobuf, like the C++ runtime, does not throw.
        let message = try Herald_V1_LoginRequest(serializedBytes: [0x08, 0x01] as [UInt8])
        #expect(message.appID == "")
        #expect(Array(message.unknownFields.data) == [0x08, 0x01])
    }

    @Test func knownFieldWithTheWrongWireTypeIsMalformed() {
        Self.expectMalformed(.loginRequest, [0x08, 0x01], "string field 1 as varint")
        Self.expectMalformed(.loginRequest, Bytes.tag(15, 5) + [0, 0, 0, 0], "string field 15 as fixed32")
        Self.expectMalformed(.loginRequest, Bytes.tag(2, 1) + [UInt8](repeating: 0, count: 8), "string as fixed64")
        Self.expectMalformed(.loginResponse, Bytes.lengthDelimited(1, [0x01]), "enum field 1 as length-delimited")
        Self.expectMalformed(.hello, Bytes.tag(4, 5) + [1, 0, 0, 0], "uint32 field 4 as fixed32")
        Self.expectMalformed(.sendPeerMessageRequest, [0x10, 0x01], "message field 2 as varint")
        Self.expectMalformed(.sendPeerMessageRequest, [0x18] + Bytes.varint(300) + [0x1A, 0x00], "bool as bytes")
        // A known field number opening a group (proto3 has no groups).
        Self.expectMalformed(.loginRequest, Bytes.tag(1, 3) + Bytes.tag(1, 4), "string field 1 as a group")
    }

    @Test func wrongWireTypeInsideANestedMessageIsMalformed() {
        // SendPeerMessageRequest.message (2) = MessageBody { text (2) sent as varint }.
        let body: [UInt8] = [0x10, 0x05]
        Self.expectMalformed(.sendPeerMessageRequest, Bytes.lengthDelimited(2, body), "nested text as varint")
        // GetChannelAttributesResponse.attributes (3): repeated ChannelAttribute with last_updated_ms (4, int64) as a string.
        let attribute = Bytes.lengthDelimited(1, Array("k".utf8)) + Bytes.lengthDelimited(4, [0x31])
        let response = Bytes.lengthDelimited(3, attribute)
        #expect(HeraldOpcodeTable.info(for: .getChannelAttributesResponse) != nil)
        let good = Bytes.lengthDelimited(3, Bytes.lengthDelimited(1, Array("k".utf8)) + [0x20, 0x05])
        let decoded = try? Self.decode(.getChannelAttributesResponse, good)
        #expect(decoded != nil, "the well-typed variant decodes")
        Self.expectMalformed(.getChannelAttributesResponse, response, "nested int64 as string")
    }

    @Test func repeatedScalarsAreAcceptedPackedAndUnpacked() throws {
        let packed = try #require(try Self.decode(.hello, [0x0A, 0x02, 0x01, 0x02]) as? Herald_V1_Hello)
        let unpacked = try #require(try Self.decode(.hello, [0x08, 0x01, 0x08, 0x02]) as? Herald_V1_Hello)
        #expect(packed.versions == [1, 2])
        #expect(unpacked == packed)
        #expect(unpacked.unknownFields.data.isEmpty)
    }

    // MARK: Truncation and garbage

    @Test func truncatedVarintsAndLengthsAreMalformed() {
        Self.expectMalformed(.loginResponse, [0x08], "tag without its varint")
        Self.expectMalformed(.loginResponse, [0x08, 0x80], "varint with continuation bit at the end")
        Self.expectMalformed(.loginResponse, [0x08] + [UInt8](repeating: 0xFF, count: 10) + [0x01], "11-byte varint")
        Self.expectMalformed(.loginRequest, [0x0A, 0x05, 0x61], "length 5 with 1 byte")
        Self.expectMalformed(.loginRequest, [0x0A], "length missing")
        Self.expectMalformed(.loginRequest, [0x0A] + [UInt8](repeating: 0xFF, count: 9) + [0x01], "huge length")
        Self.expectMalformed(.loginRequest, [0x80], "truncated tag")
        Self.expectMalformed(.loginRequest, Bytes.tag(100, 1) + [0, 0, 0], "truncated unknown fixed64")
        Self.expectMalformed(.loginRequest, Bytes.tag(100, 5) + [0], "truncated unknown fixed32")
        Self.expectMalformed(.loginRequest, Bytes.tag(100, 2) + [0x03, 0x61], "truncated unknown bytes")
    }

    @Test func invalidTagsAndGroupGarbageAreMalformed() {
        Self.expectMalformed(.loginRequest, Bytes.tag(5, 4), "end-group without start")
        Self.expectMalformed(.loginRequest, Bytes.tag(100, 3) + Bytes.tag(101, 4), "mismatched end-group")
        Self.expectMalformed(.loginRequest, Bytes.tag(100, 3), "unterminated group")
        Self.expectMalformed(.loginRequest, Bytes.tag(100, 6), "wire type 6")
        Self.expectMalformed(.loginRequest, Bytes.tag(100, 7), "wire type 7")
        Self.expectMalformed(.loginRequest, [0x00, 0x00], "field number 0")
        Self.expectMalformed(.loginRequest, Bytes.varint(UInt64(1 << 29) << 3), "field number 2^29")
    }

    @Test func invalidUTF8InAStringFieldIsMalformed() {
        let invalid: [[UInt8]] = [
            [0xC3, 0x28], [0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82],
        ]
        for bytes in invalid {
            Self.expectMalformed(.loginRequest, Bytes.lengthDelimited(2, bytes), "user_id \(bytes)")
            Self.expectMalformed(.hello, Bytes.lengthDelimited(3, bytes), "repeated capabilities \(bytes)")
            let body = Bytes.lengthDelimited(2, bytes)
            Self.expectMalformed(.peerMessage, Bytes.lengthDelimited(2, body), "nested MessageBody.text \(bytes)")
        }
    }

    @Test func invalidUTF8IsFineInBytesFieldsAndUnknownFields() throws {
        let raw = Bytes.lengthDelimited(3, [0xFF, 0xC3, 0x28])
        let message = try #require(
            try Self.decode(.peerMessage, Bytes.lengthDelimited(2, raw)) as? Herald_V1_PeerMessage
        )
        #expect(Array(message.message.raw) == [0xFF, 0xC3, 0x28])
        _ = try Self.decode(.loginRequest, Bytes.lengthDelimited(99, [0xFF]))
    }

    // MARK: Depth

    static func nestedGroups(_ depth: Int, fieldNumber: Int = 100) -> [UInt8] {
        let open = Bytes.tag(fieldNumber, 3)
        let close = Bytes.tag(fieldNumber, 4)
        return Array([[UInt8]](repeating: open, count: depth).joined())
            + Array([[UInt8]](repeating: close, count: depth).joined())
    }

    @Test func tenThousandNestedGroupsAreMalformedWithoutCrashing() throws {
        let payload = Self.nestedGroups(10_000)
        #expect(payload.count == 40_000)
        let error = #expect(throws: WireError.self) { try Self.decode(.loginRequest, payload) }
        #expect(error?.code == .malformedPayload)
        #expect((error?.cause as? BinaryDecodingError) == .messageDepthLimit)
        let unterminated = Array([[UInt8]](repeating: Bytes.tag(100, 3), count: 10_000).joined())
        Self.expectMalformed(.loginRequest, unterminated, "10 000 unterminated groups")
    }

    @Test func groupNestingLimitIsOneHundred() throws {
        // FRM-29: the top-level message is level 0, so 100 nested unknown groups are the most accepted.
        for depth in [1, 99, 100] {
            let accepted = try Self.decode(.loginRequest, Self.nestedGroups(depth))
            #expect(accepted.unknownFields.data.count == Self.nestedGroups(depth).count)
        }
        Self.expectMalformed(.loginRequest, Self.nestedGroups(101), "101 nested groups")
        Self.expectMalformed(.loginRequest, Self.nestedGroups(102), "102 nested groups")
    }

    @Test func knownSubMessagesAndGroupsShareTheNestingLimit() throws {
        // MessageBody (field 2 of SendPeerMessageRequest) is level 1, so 99 groups inside it reach level 100.
        func request(groupsInBody depth: Int) -> [UInt8] {
            let body = Bytes.tag(1, 0) + [0x01] + Bytes.lengthDelimited(2, Array("hi".utf8)) + Self.nestedGroups(depth)
            return Bytes.lengthDelimited(1, Array("bob".utf8)) + Bytes.lengthDelimited(2, body)
        }
        _ = try Self.decode(.sendPeerMessageRequest, request(groupsInBody: 99))
        Self.expectMalformed(.sendPeerMessageRequest, request(groupsInBody: 100), "100 groups in a MessageBody")
    }

    @Test func nestedLengthDelimitedUnknownFieldsStayOpaque() throws {
        // 10 000 levels of `field 100 { field 100 { … } }`: an unknown length-delimited field is never parsed,
        // so its contents cannot nest; the payload is accepted and kept byte for byte.
        var payload: [UInt8] = []
        for _ in 0..<10_000 {
            payload = Bytes.lengthDelimited(100, payload)
        }
        let message = try Self.decode(.loginRequest, payload)
        #expect(Array(message.unknownFields.data) == payload)
    }

    // MARK: Unknown fields and defaults

    @Test func unknownFieldsAreAcceptedAndReEmittedAfterKnownOnes() throws {
        let known = Bytes.lengthDelimited(1, Array("app".utf8)) + Bytes.lengthDelimited(2, Array("bob".utf8))
        let unknown =
            Bytes.tag(100, 0) + Bytes.varint(5) + Bytes.lengthDelimited(101, Array("xyz".utf8))
            + Bytes.tag(102, 5) + [1, 2, 3, 4] + Bytes.tag(103, 1) + [UInt8](repeating: 9, count: 8)
            + Bytes.tag(104, 3) + Bytes.tag(1, 0) + [7] + Bytes.tag(104, 4)
        let message = try #require(try Self.decode(.loginRequest, known + unknown) as? Herald_V1_LoginRequest)
        #expect(message.appID == "app")
        #expect(message.userID == "bob")
        #expect(Array(message.unknownFields.data) == unknown)
        let reencoded = try HeraldFrame(opcode: .loginRequest, requestID: 1, message: message)
        #expect(Array(reencoded.payload.readableBytesView) == known + unknown)

        // Unknown fields first: still accepted; the canonical re-encoding puts them after the known fields.
        let reordered = try Self.decode(.loginRequest, unknown + known)
        let canonical = try HeraldFrame(opcode: .loginRequest, requestID: 1, message: reordered)
        #expect(Array(canonical.payload.readableBytesView) == known + unknown)
    }

    @Test func unknownEnumValuesArePreserved() throws {
        let payload: [UInt8] = [0x08] + Bytes.varint(999)
        let message = try #require(try Self.decode(.loginResponse, payload) as? Herald_V1_LoginResponse)
        #expect(message.result.rawValue == 999)
        let frame = try HeraldFrame(opcode: .loginResponse, requestID: 1, message: message)
        #expect(Array(frame.payload.readableBytesView) == payload)
    }

    @Test func emptyPayloadIsTheDefaultMessageForEveryOpcode() throws {
        for info in HeraldOpcodeTable.all {
            let message = try Self.decode(info.opcode, [])
            #expect(message.isEqualTo(message: info.messageType.init()), "\(info.name)")
            #expect(type(of: message) == info.messageType)
        }
    }

    @Test func explicitlyEncodedDefaultsAreAccepted() throws {
        let message = try Self.decode(.loginRequest, [0x0A, 0x00, 0x12, 0x00])
        #expect(message.isEqualTo(message: Herald_V1_LoginRequest()))
    }

    @Test func typedDecodingChecksTheType() throws {
        let frame = Self.frame(.loginRequest, Bytes.lengthDelimited(1, Array("a".utf8)))
        #expect(try frame.decodeMessage(as: Herald_V1_LoginRequest.self).appID == "a")
        #expect(throws: WireError(.malformedPayload)) { try frame.decodeMessage(as: Herald_V1_LoginResponse.self) }
        let unknown = HeraldFrame(
            header: HeraldFrameHeader(opcode: .UNRECOGNIZED(0x0F00), requestID: 1),
            payload: ByteBuffer()
        )
        #expect(throws: WireError(.unknownOpcode)) { try unknown.decodeMessage() }
    }

    @Test func payloadErrorsKeepTheSwiftProtobufCause() {
        let error = #expect(throws: WireError.self) { try Self.decode(.loginRequest, [0x0A, 0x02, 0xC3, 0x28]) }
        #expect((error?.cause as? BinaryDecodingError) == .invalidUTF8)
        let truncated = #expect(throws: WireError.self) { try Self.decode(.loginRequest, [0x0A, 0x05]) }
        #expect((truncated?.cause as? BinaryDecodingError) == .truncated)
    }
}

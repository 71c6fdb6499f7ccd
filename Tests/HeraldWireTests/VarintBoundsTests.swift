import HeraldMessages
import HeraldWire
import NIOCore
import SwiftProtobuf
import Testing

/// FRM-27 and FRM-28: a 10-byte varint whose tenth byte is above 0x01, and a tag or length prefix longer than 5
/// bytes, are malformed wherever they occur; padding within those bounds is valid (FRM-24).
@Suite struct VarintBoundsTests {
    /// Nine continuation bytes of `low` and then `tenth`: a 10-byte varint.
    static func tenByteVarint(low: UInt8 = 0xFF, tenth: UInt8) -> [UInt8] {
        Array(repeating: low | 0x80, count: 9) + [tenth]
    }

    @Test(
        "tenth byte 0x02...0x7F is rejected in a top-level varint field",
        arguments: [0x02, 0x03, 0x40, 0x7F] as [UInt8]
    )
    func topLevelOverflow(tenth: UInt8) {
        PayloadDecodingTests.expectMalformed(.ping, [0x08] + Self.tenByteVarint(tenth: tenth), "client_time_ms")
    }

    @Test func swiftProtobufAloneTruncatesTheOverflow() throws {
        // The reason for the check: the stock runtime reads nine ff bytes and 7f as -1.
        let message = try Herald_V1_Ping(serializedBytes: [0x08] + Self.tenByteVarint(tenth: 0x7F))
        #expect(message.clientTimeMs == -1)
    }

    @Test func tenthByteZeroOrOneIsValid() throws {
        let minusOne = try PayloadDecodingTests.frame(.ping, [0x08] + Self.tenByteVarint(tenth: 0x01))
            .decodeMessage(as: Herald_V1_Ping.self)
        #expect(minusOne.clientTimeMs == -1)
        let padded = try PayloadDecodingTests.frame(.ping, [0x08, 0x87] + Array(repeating: 0x80, count: 8) + [0x00])
            .decodeMessage(as: Herald_V1_Ping.self)
        #expect(padded.clientTimeMs == 7)
    }

    @Test func overflowInsideTheSecondElementOfARepeatedMessageField() {
        // QueryPeersOnlineStatusResponse.statuses (field 2): the second PeerOnlineStatus's state (field 2) overflows.
        let first: [UInt8] = [0x0A, 0x01, 0x61, 0x10, 0x01]
        let second: [UInt8] = [0x0A, 0x01, 0x62, 0x10] + Self.tenByteVarint(low: 0x80, tenth: 0x02)
        let payload: [UInt8] = [0x12, UInt8(first.count)] + first + [0x12, UInt8(second.count)] + second
        PayloadDecodingTests.expectMalformed(.queryPeersOnlineStatusResponse, payload, "statuses[1].state")
        // The same two elements without the overflow decode.
        let fine: [UInt8] = [0x0A, 0x01, 0x62, 0x10, 0x02]
        let valid: [UInt8] = [0x12, UInt8(first.count)] + first + [0x12, UInt8(fine.count)] + fine
        #expect(throws: Never.self) { try PayloadDecodingTests.decode(.queryPeersOnlineStatusResponse, valid) }
    }

    @Test func overflowInAPackedField() {
        PayloadDecodingTests.expectMalformed(.hello, [0x0A, 0x0B, 0x01] + Self.tenByteVarint(tenth: 0x03), "versions")
    }

    @Test func overflowInALengthPrefix() {
        // Truncated to 64 bits, the prefix would read 3 and app_id "abc".
        let prefix: [UInt8] = [0x83] + Array(repeating: 0x80, count: 8) + [0x02]
        PayloadDecodingTests.expectMalformed(.loginRequest, [0x0A] + prefix + Array("abc".utf8), "app_id length")
    }

    /// The length prefix 3 padded to `count` bytes.
    static func paddedThree(_ count: Int) -> [UInt8] {
        [0x83] + Array(repeating: 0x80, count: count - 2) + [0x00]
    }

    @Test("length prefixes of 6 to 10 bytes are malformed (FRM-28)", arguments: 6...10)
    func longLengthPrefix(count: Int) throws {
        let payload: [UInt8] = [0x0A] + Self.paddedThree(count) + Array("abc".utf8)
        // SwiftProtobuf alone reads it.
        #expect(try Herald_V1_LoginRequest(serializedBytes: payload).appID == "abc")
        PayloadDecodingTests.expectMalformed(.loginRequest, payload, "\(count)-byte length prefix")
    }

    @Test("tags and length prefixes of up to 5 bytes are valid (FRM-24)", arguments: 2...5)
    func paddedTagAndLengthPrefix(count: Int) throws {
        let tag: [UInt8] = [0x8A] + Array(repeating: 0x80, count: count - 2) + [0x00]
        let payload: [UInt8] = tag + Self.paddedThree(count) + Array("abc".utf8)
        let message = try PayloadDecodingTests.frame(.loginRequest, payload).decodeMessage(
            as: Herald_V1_LoginRequest.self
        )
        #expect(message.appID == "abc")
    }

    @Test func longLengthPrefixInsideANestedMessageAndAnUnknownGroup() {
        let body: [UInt8] = [0x12] + Self.paddedThree(6) + Array("abc".utf8)
        PayloadDecodingTests.expectMalformed(
            .sendPeerMessageRequest,
            [0x12, UInt8(body.count)] + body,
            "MessageBody.text length prefix"
        )
        let group: [UInt8] = [0xA3, 0x06, 0x12] + Self.paddedThree(6) + Array("abc".utf8) + [0xA4, 0x06]
        PayloadDecodingTests.expectMalformed(.loginRequest, group, "length prefix inside an unknown group")
    }

    @Test func sixByteTagIsMalformed() {
        let tag: [UInt8] = [0x8A, 0x80, 0x80, 0x80, 0x80, 0x00]
        PayloadDecodingTests.expectMalformed(.loginRequest, tag + [0x03] + Array("abc".utf8), "6-byte tag")
    }

    @Test func overflowInAnUnknownVarintAndInsideAnUnknownGroup() {
        PayloadDecodingTests.expectMalformed(
            .loginRequest,
            [0x0A, 0x01, 0x61, 0xC0, 0x3E] + Self.tenByteVarint(tenth: 0x7F),
            "unknown field 1000"
        )
        // Group 100 { group 101 { field 1 = overflow } }.
        let payload: [UInt8] =
            [0xA3, 0x06, 0xAB, 0x06, 0x08] + Self.tenByteVarint(tenth: 0x02) + [0xAC, 0x06, 0xA4, 0x06]
        PayloadDecodingTests.expectMalformed(.loginRequest, payload, "inside nested unknown groups")
    }

    @Test func bytesThatLookLikeAnOverflowInsideStringsAndUnknownLengthDelimitedFieldsAreNotVarints() throws {
        // Text with many multi-byte characters has long runs of bytes >= 0x80; they are string contents.
        let text = String(repeating: "你好", count: 20)
        var message = Herald_V1_LoginRequest()
        message.appID = text
        let known: [UInt8] = try message.serializedBytes()
        // An unknown length-delimited field (1001) holding ff×9 7f: opaque bytes, not examined.
        let opaque: [UInt8] = [0xCA, 0x3E, 0x0A] + Self.tenByteVarint(tenth: 0x7F)
        let decoded = try PayloadDecodingTests.frame(.loginRequest, known + opaque)
            .decodeMessage(as: Herald_V1_LoginRequest.self)
        #expect(decoded.appID == text)
        #expect(Array(decoded.unknownFields.data) == opaque)
    }

    @Test func decodingWithoutUnknownFieldsDropsThemAtEveryDepthAndKeepsTheChecks() throws {
        var body = Herald_V1_MessageBody()
        body.type = .text
        body.text = "hi"
        let group: [UInt8] = [0xA3, 0x06, 0x08, 0x07, 0xA4, 0x06]
        let bodyBytes: [UInt8] = try body.serializedBytes() + group
        let payload: [UInt8] = [0x0A, 0x03] + Array("bob".utf8) + [0x12, UInt8(bodyBytes.count)] + bodyBytes
        let frame = PayloadDecodingTests.frame(.sendPeerMessageRequest, payload)

        let kept = try frame.decodeMessage(discardingUnknownFields: false) as! Herald_V1_SendPeerMessageRequest
        #expect(Array(kept.message.unknownFields.data) == group)
        let dropped = try frame.decodeMessage(discardingUnknownFields: true) as! Herald_V1_SendPeerMessageRequest
        #expect(dropped.message.unknownFields.data.isEmpty)
        #expect(dropped.message == body)

        // A known field with the wrong wire type is still malformed when unknown fields are dropped.
        let mismatch = PayloadDecodingTests.frame(.loginRequest, [0x08, 0x01])
        #expect(throws: WireError(.malformedPayload)) { try mismatch.decodeMessage(discardingUnknownFields: true) }
    }
}

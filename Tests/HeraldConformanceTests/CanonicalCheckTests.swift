import HeraldConformance
import HeraldMessages
import HeraldWire
import NIOCore
import SwiftProtobuf
import Testing

/// The runner's FRM-18 check on every frame it receives.
@Suite struct CanonicalCheckTests {
    static func received(_ opcode: Herald_V1_Opcode, _ payload: [UInt8], requestID: UInt32 = 7) -> ReceivedFrame {
        let frame = HeraldFrame(
            header: HeraldFrameHeader(opcode: opcode, requestID: requestID),
            payload: ByteBuffer(bytes: payload)
        )
        return ReceivedFrame(frame: frame, atMs: 0)
    }

    @Test func aCanonicalPayloadPasses() throws {
        var pong = Herald_V1_Pong()
        pong.clientTimeMs = 300
        pong.serverTimeMs = 1_700_000_000_000
        let bytes: [UInt8] = try pong.serializedBytes()
        #expect(Self.received(.pong, bytes).nonCanonical == nil)
        #expect(Self.received(.pong, []).nonCanonical == nil)
    }

    @Test(
        "non-canonical payloads are reported",
        arguments: [
            [0x08, 0xAC, 0x82, 0x00],  // client_time_ms 300 with a padded varint
            [0x10, 0x01, 0x08, 0x01],  // fields out of order
            [0x08, 0x00],  // a field written at its default value
            [0x08, 0x01, 0x08, 0x02],  // a non-repeated field twice
        ] as [[UInt8]]
    )
    func nonCanonical(payload: [UInt8]) {
        let frame = Self.received(.pong, payload)
        #expect(frame.decodeError == nil)
        #expect(frame.nonCanonical?.contains("is not its canonical encoding") == true, "\(payload)")
    }

    @Test func payloadsWithUnknownFieldsAreNotJudged() {
        // Field 1000 before field 1: a newer schema's field, whose canonical place this runner cannot know.
        #expect(Self.received(.pong, [0xC0, 0x3E, 0x01, 0x08, 0x01]).nonCanonical == nil)
    }

    @Test func undecodablePayloadsAreLeftToTheDecodeError() {
        let frame = Self.received(.pong, [0x08])
        #expect(frame.decodeError != nil)
        #expect(frame.nonCanonical == nil)
    }
}

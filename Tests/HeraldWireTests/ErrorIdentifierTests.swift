import HeraldMessages
import HeraldWire
import NIOCore
import Testing

/// Runs an input the way a vector runner does: decode frames (stream or single message), then each payload in
/// order; the first failure wins.
func firstFailure(
    _ bytes: [UInt8],
    message: Bool = false,
    maximumPayloadLength: Int = 65_536
) -> (frames: [HeraldFrame], error: WireError?) {
    var frames: [HeraldFrame]
    var error: WireError?
    if message {
        do {
            frames = [try HeraldWire.decodeSingleFrame(bytes, maximumPayloadLength: maximumPayloadLength)]
        } catch let caught {
            frames = []
            error = caught
        }
    } else {
        (frames, error) = HeraldWire.decodeFrames(bytes, maximumPayloadLength: maximumPayloadLength)
    }
    for (index, frame) in frames.enumerated() {
        do {
            _ = try frame.decodeMessage()
        } catch let caught {
            return (Array(frames[..<index]), caught)
        }
    }
    return (frames, error)
}

@Suite struct ErrorIdentifierTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var identifier: String
        var bytes: [UInt8]
        var message = false
        var maximumPayloadLength = 65_536
        var testDescription: String { self.identifier }
    }

    static let login: [UInt8] = Bytes.lengthDelimited(1, Array("app".utf8))

    static let cases: [Case] = [
        Case(identifier: "truncated-header", bytes: Bytes.frame(payload: login) + [0x48, 0x52, 0x01]),
        Case(identifier: "truncated-payload", bytes: Array(Bytes.frame(payload: login).dropLast())),
        Case(identifier: "trailing-bytes", bytes: Bytes.frame(payload: login) + [0x00], message: true),
        Case(identifier: "bad-magic", bytes: Bytes.header(magic: (0x48, 0x53))),
        Case(identifier: "unsupported-version", bytes: Bytes.header(version: 2)),
        Case(identifier: "reserved-flags", bytes: Bytes.header(flags: 0x80)),
        Case(identifier: "unknown-opcode", bytes: Bytes.header(opcode: 0x0107)),
        Case(identifier: "invalid-flags", bytes: Bytes.header(flags: 0x01)),
        Case(identifier: "invalid-request-id", bytes: Bytes.header(requestID: 0)),
        Case(identifier: "length-out-of-range", bytes: Bytes.header(length: 0x0100_0000)),
        Case(identifier: "frame-too-large", bytes: Bytes.header(length: 17), maximumPayloadLength: 16),
        Case(identifier: "malformed-payload", bytes: Bytes.frame(payload: [0x0A, 0x05, 0x61])),
    ]

    @Test(arguments: Self.cases)
    func everyIdentifierIsProducedByAHandBuiltInput(_ testCase: Case) {
        let result = firstFailure(
            testCase.bytes,
            message: testCase.message,
            maximumPayloadLength: testCase.maximumPayloadLength
        )
        #expect(result.error?.code.description == testCase.identifier)
    }

    @Test func casesCoverAllTwelveIdentifiers() {
        #expect(Set(Self.cases.map(\.identifier)) == Set(WireError.Code.allCodes.map(\.description)))
    }

    /// Builds a header failing exactly the checks in `failing` (numbered 1–8 as in FRM-10).
    static func header(failing: Set<Int>) -> [UInt8] {
        Bytes.header(
            magic: failing.contains(1) ? (0x00, 0x52) : (0x48, 0x52),
            version: failing.contains(2) ? 0 : 1,
            flags: (failing.contains(3) ? 0x40 : 0) | (failing.contains(5) ? 0x01 : 0),
            opcode: failing.contains(4) ? 0x0F00 : 0x0101,
            requestID: failing.contains(6) ? 0 : 9,
            length: failing.contains(7) ? 0xFFFF_FFFF : (failing.contains(8) ? 65_537 : 0)
        )
    }

    static let checkOrder: [WireError.Code] = [
        .badMagic, .unsupportedVersion, .reservedFlags, .unknownOpcode, .invalidFlags, .invalidRequestID,
        .lengthOutOfRange, .frameTooLarge,
    ]

    @Test func theFirstFailingHeaderCheckNamesTheErrorForEveryCombination() {
        for mask in 1..<256 {
            let failing = Set((1...8).filter { mask & (1 << ($0 - 1)) != 0 })
            let expected = Self.checkOrder[failing.min()! - 1]
            let result = HeraldWire.decodeFrames(Self.header(failing: failing))
            #expect(result.error?.code == expected, "failing checks \(failing.sorted())")
            #expect(result.frames.isEmpty)
        }
        #expect(HeraldWire.decodeFrames(Self.header(failing: [])).error == nil)
    }

    @Test func headerIsJudgedOnlyOnceAllFourteenBytesArrived() throws {
        let bad = Bytes.header(magic: (0x00, 0x00), version: 9, flags: 0xFF, opcode: 0, requestID: 0, length: .max)
        for count in 1..<HeraldFrameHeader.size {
            var decoder = HeraldFrameDecoder()
            var buffer = ByteBuffer(bytes: bad.prefix(count))
            #expect(try decoder.decode(buffer: &buffer) == nil)
            #expect(buffer.readableBytes == count)
            #expect(throws: WireError(.truncatedHeader)) { try decoder.decodeLast(buffer: &buffer, seenEOF: true) }
        }
        var decoder = HeraldFrameDecoder()
        var buffer = ByteBuffer(bytes: bad)
        #expect(throws: WireError(.badMagic)) { try decoder.decode(buffer: &buffer) }
    }

    @Test func requestIDRulesFollowTheOpcodeKind() {
        // (opcode, flags, request id, expected error)
        let rows: [(UInt16, UInt8, UInt32, WireError.Code?)] = [
            (0x0101, 0, 0, .invalidRequestID),  // request needs an id
            (0x0101, 0, 1, nil),
            (0x0102, 0, 0, .invalidRequestID),  // response needs an id
            (0x0102, 0, 0xFFFF_FFFF, nil),
            (0x0080, 0, 0, .invalidRequestID),  // notice (DeliveryAck) needs an id
            (0x0080, 0, 5, nil),
            (0x0210, 0, 0, nil),  // event without ACK_REQUIRED: id 0
            (0x0210, 0, 3, .invalidRequestID),
            (0x0210, 1, 3, nil),  // event with ACK_REQUIRED: non-zero id
            (0x0210, 1, 0, .invalidRequestID),
            (0x0102, 1, 3, .invalidFlags),  // ACK_REQUIRED on a response
            (0x0080, 1, 3, .invalidFlags),  // ACK_REQUIRED on a notice
            (0x0003, 1, 0, .invalidFlags),  // flags are checked before the request id
        ]
        for (opcode, flags, requestID, expected) in rows {
            let bytes = Bytes.header(flags: flags, opcode: opcode, requestID: requestID)
            let result = HeraldWire.decodeFrames(bytes)
            #expect(result.error?.code == expected, "opcode \(opcode) flags \(flags) id \(requestID)")
            #expect(result.frames.count == (expected == nil ? 1 : 0))
        }
    }

    @Test func lengthLimitsAreInclusive() {
        #expect(
            HeraldWire.decodeFrames(
                Bytes.header(length: 16) + [UInt8](repeating: 0, count: 16),
                maximumPayloadLength: 16
            ).error == nil
        )
        #expect(
            HeraldWire.decodeFrames(Bytes.header(length: 17), maximumPayloadLength: 16).error
                == WireError(.frameTooLarge)
        )
        #expect(
            HeraldWire.decodeFrames(Bytes.header(length: 0x00FF_FFFF), maximumPayloadLength: 0x00FF_FFFF).error
                == WireError(.truncatedPayload)
        )
        #expect(
            HeraldWire.decodeFrames(Bytes.header(length: 0x0100_0000), maximumPayloadLength: 0x00FF_FFFF).error
                == WireError(.lengthOutOfRange)
        )
        #expect(
            HeraldWire.decodeFrames(Bytes.header(length: 1), maximumPayloadLength: 0).error == WireError(.frameTooLarge)
        )
        #expect(HeraldWire.decodeFrames(Bytes.header(length: 0), maximumPayloadLength: 0).error == nil)
    }

    @Test func endOfStreamDistinguishesHeaderAndPayload() {
        let frame = Bytes.frame(payload: Self.login)
        for cut in 1..<frame.count {
            let result = HeraldWire.decodeFrames(frame + Array(frame.prefix(cut)))
            #expect(result.frames.count == 1)
            #expect(result.error?.code == (cut < 14 ? .truncatedHeader : .truncatedPayload), "cut \(cut)")
        }
        let two = HeraldWire.decodeFrames(frame + frame)
        #expect(two.error == nil)
        #expect(two.frames.count == 2)
    }
}

import HeraldMessages
import HeraldWire
import NIOCore
import SwiftProtobuf

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny seeded generator, so property tests are reproducible.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Draws field values for ``MessageFactory``: every field set and non-default (`populated`), or random.
struct ValueGenerator {
    var rng: SplitMix64
    var populated: Bool

    init(seed: UInt64, populated: Bool) {
        self.rng = SplitMix64(seed: seed)
        self.populated = populated
    }

    private static let alphabet: [String] = [
        "a", "b", "z", "A", "Q", "0", "9", " ", "-", "_", "!", "~", "é", "ß", "中", "文", "🙂", "\u{0}", "\n",
    ]

    mutating func count() -> Int {
        self.populated ? Int.random(in: 1...3, using: &self.rng) : Int.random(in: 0...3, using: &self.rng)
    }

    mutating func includeMessage() -> Bool {
        self.populated || Bool.random(using: &self.rng)
    }

    mutating func string() -> String {
        let length =
            self.populated ? Int.random(in: 1...12, using: &self.rng) : Int.random(in: 0...12, using: &self.rng)
        var result = ""
        for _ in 0..<length {
            result += Self.alphabet.randomElement(using: &self.rng)!
        }
        return result
    }

    mutating func bytes() -> Data {
        let length =
            self.populated ? Int.random(in: 1...16, using: &self.rng) : Int.random(in: 0...16, using: &self.rng)
        return Data((0..<length).map { _ in UInt8.random(in: 0...255, using: &self.rng) })
    }

    mutating func bool() -> Bool {
        self.populated || Bool.random(using: &self.rng)
    }

    mutating func uint32() -> UInt32 {
        self.interesting([0, 1, 127, 128, 300, UInt32.max]) { UInt32.random(in: 1...UInt32.max, using: &$0) }
    }

    mutating func uint64() -> UInt64 {
        self.interesting([0, 1, 1 << 35, UInt64.max]) { UInt64.random(in: 1...UInt64.max, using: &$0) }
    }

    mutating func int64() -> Int64 {
        self.interesting([0, 1, -1, Int64.min, Int64.max, 1_700_000_000_000]) {
            Int64.random(in: Int64.min...Int64.max, using: &$0)
        }
    }

    mutating func int32() -> Int32 {
        self.interesting([0, 1, -1, Int32.min, Int32.max]) { Int32.random(in: Int32.min...Int32.max, using: &$0) }
    }

    mutating func strings() -> [String] {
        (0..<self.count()).map { _ in self.string() }
    }

    mutating func bytess() -> [Data] {
        (0..<self.count()).map { _ in self.bytes() }
    }

    mutating func uint32s() -> [UInt32] {
        (0..<self.count()).map { _ in self.uint32() }
    }

    mutating func uint64s() -> [UInt64] {
        (0..<self.count()).map { _ in self.uint64() }
    }

    mutating func int64s() -> [Int64] {
        (0..<self.count()).map { _ in self.int64() }
    }

    mutating func enumValue<E: SwiftProtobuf.Enum & CaseIterable>(_ type: E.Type) -> E {
        let cases = Array(E.allCases)
        if self.populated, cases.count > 1 {
            return cases.dropFirst().randomElement(using: &self.rng)!
        }
        return cases.randomElement(using: &self.rng)!
    }

    mutating func enumValues<E: SwiftProtobuf.Enum & CaseIterable>(_ type: E.Type) -> [E] {
        (0..<self.count()).map { _ in self.enumValue(E.self) }
    }

    mutating func repeated<M>(_ make: (inout ValueGenerator) -> M) -> [M] {
        (0..<self.count()).map { _ in make(&self) }
    }

    mutating func requestID(for info: HeraldOpcodeInfo, flags: HeraldFrameFlags) -> UInt32 {
        if info.kind == .event, !flags.contains(.ackRequired) {
            return 0
        }
        return self.interesting([1, 2, UInt32.max]) { UInt32.random(in: 1...UInt32.max, using: &$0) }
    }

    private mutating func interesting<T: FixedWidthInteger>(
        _ special: [T],
        _ random: (inout SplitMix64) -> T
    ) -> T {
        if Int.random(in: 0..<4, using: &self.rng) == 0 {
            let choice = special.randomElement(using: &self.rng)!
            if !(self.populated && choice == 0) {
                return choice
            }
        }
        return random(&self.rng)
    }
}

/// A hand-written message with one `Herald_V1_Opcode` field, used to read SwiftProtobuf's enum value names
/// through the text format (the only public way to reach `_protobuf_nameMap` names).
struct OpcodeNameProbe: SwiftProtobuf.Message, SwiftProtobuf._MessageImplementationBase,
    SwiftProtobuf._ProtoNameProviding
{
    static let protoMessageName = "heraldwiretests.OpcodeNameProbe"
    static let _protobuf_nameMap = SwiftProtobuf._NameMap(bytecode: "\0\u{1}opcode\0")

    var opcode: Herald_V1_Opcode = .unspecified
    var unknownFields = SwiftProtobuf.UnknownStorage()

    init() {}

    init(opcode: Herald_V1_Opcode) {
        self.opcode = opcode
    }

    mutating func decodeMessage<D: SwiftProtobuf.Decoder>(decoder: inout D) throws {
        while let fieldNumber = try decoder.nextFieldNumber() {
            if fieldNumber == 1 {
                try decoder.decodeSingularEnumField(value: &self.opcode)
            }
        }
    }

    func traverse<V: SwiftProtobuf.Visitor>(visitor: inout V) throws {
        if self.opcode != .unspecified {
            try visitor.visitSingularEnumField(value: self.opcode, fieldNumber: 1)
        }
        try self.unknownFields.traverse(visitor: &visitor)
    }

    static func == (lhs: OpcodeNameProbe, rhs: OpcodeNameProbe) -> Bool {
        lhs.opcode == rhs.opcode && lhs.unknownFields == rhs.unknownFields
    }

    /// The proto enum value name of `opcode`, for example `"OPCODE_LOGIN_REQUEST"`.
    static func protoName(of opcode: Herald_V1_Opcode) -> String? {
        let text = OpcodeNameProbe(opcode: opcode).textFormatString()
        guard let colon = text.firstIndex(of: ":") else {
            return nil
        }
        return String(text[text.index(after: colon)...].filter { !$0.isWhitespace })
    }
}

/// Byte-level helpers for building hand-made inputs.
enum Bytes {
    /// A 14-byte header with the given raw fields.
    static func header(
        magic: (UInt8, UInt8) = (0x48, 0x52),
        version: UInt8 = 1,
        flags: UInt8 = 0,
        opcode: UInt16 = 0x0101,
        requestID: UInt32 = 1,
        length: UInt32 = 0
    ) -> [UInt8] {
        var bytes: [UInt8] = [magic.0, magic.1, version, flags]
        bytes += [UInt8(opcode >> 8), UInt8(opcode & 0xFF)]
        bytes += withUnsafeBytes(of: requestID.bigEndian, Array.init)
        bytes += withUnsafeBytes(of: length.bigEndian, Array.init)
        return bytes
    }

    /// A whole frame: header (length = payload count) plus payload.
    static func frame(
        flags: UInt8 = 0,
        opcode: UInt16 = 0x0101,
        requestID: UInt32 = 1,
        payload: [UInt8] = []
    ) -> [UInt8] {
        self.header(flags: flags, opcode: opcode, requestID: requestID, length: UInt32(payload.count)) + payload
    }

    /// A protobuf varint.
    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var bytes: [UInt8] = []
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
        return bytes
    }

    /// A protobuf tag.
    static func tag(_ fieldNumber: Int, _ wireType: UInt64) -> [UInt8] {
        self.varint(UInt64(fieldNumber) << 3 | wireType)
    }

    /// A length-delimited protobuf field.
    static func lengthDelimited(_ fieldNumber: Int, _ body: [UInt8]) -> [UInt8] {
        self.tag(fieldNumber, 2) + self.varint(UInt64(body.count)) + body
    }
}

extension HeraldFrame {
    /// A frame of `opcode` with a valid request id and `message` (test convenience; traps on invalid input).
    static func make(
        _ opcode: Herald_V1_Opcode,
        requestID: UInt32? = nil,
        flags: HeraldFrameFlags = [],
        message: some SwiftProtobuf.Message
    ) -> HeraldFrame {
        let info = HeraldOpcodeTable.info(for: opcode)!
        let id = requestID ?? ((info.kind == .event && !flags.contains(.ackRequired)) ? 0 : 7)
        return try! HeraldFrame(opcode: opcode, requestID: id, flags: flags, message: message)
    }
}

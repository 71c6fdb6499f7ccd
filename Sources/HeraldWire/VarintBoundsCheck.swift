import SwiftProtobuf

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The varint bounds of FRM-27 and FRM-28: a 10-byte varint whose tenth byte is above `0x01` holds more than 64
/// bits, and a tag or length prefix longer than 5 bytes is too long; either makes the payload malformed.
///
/// SwiftProtobuf drops the bits beyond the 64th without a word and reads length prefixes of up to 10 bytes, so this
/// check walks the payload bytes itself. It runs after SwiftProtobuf accepted the payload and after the wire-type
/// check, so the structure is known to be sound; the decoded message tells the walk which length-delimited fields
/// are sub-messages and which are packed varints. The contents of unknown length-delimited fields are opaque and are
/// not examined.
enum VarintBoundsCheck {
    /// A varint that breaks FRM-27 or FRM-28.
    struct Violation: Error, Hashable, Sendable, CustomStringConvertible {
        /// What is wrong with the varint.
        enum Kind: Hashable, Sendable {
            /// A 10-byte varint whose tenth byte is above `0x01` (FRM-27).
            case overflow
            /// A tag longer than 5 bytes (FRM-28).
            case longTag
            /// A length prefix longer than 5 bytes (FRM-28).
            case longLengthPrefix
        }

        /// What is wrong.
        var kind: Kind
        /// The offset of the varint's first byte in the bytes walked (the payload, or a sub-message of it).
        var offset: Int

        var description: String {
            switch self.kind {
            case .overflow:
                "a 10-byte varint at offset \(self.offset) has a tenth byte above 01, so it does not fit in 64 bits "
                    + "(FRM-27)"
            case .longTag:
                "the tag at offset \(self.offset) is longer than 5 bytes (FRM-28)"
            case .longLengthPrefix:
                "the length prefix at offset \(self.offset) is longer than 5 bytes (FRM-28)"
            }
        }
    }

    /// The longest tag or length prefix (FRM-28).
    static let maximumTagOrLengthBytes = 5

    /// Whether `bytes` can hold a varint longer than 5 bytes at all: that needs five bytes in a row with the
    /// continuation bit set. Payloads of ASCII text and small numbers fail this test, so the walk is skipped for them.
    static func mayHoldLongVarint(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var run = 0
        for byte in bytes {
            if byte & 0x80 == 0 {
                run = 0
            } else {
                run += 1
                if run == Self.maximumTagOrLengthBytes {
                    return true
                }
            }
        }
        return false
    }

    /// Walks the encoding of `message` in `bytes` and throws at the first varint that breaks FRM-27 or FRM-28.
    static func check(_ bytes: UnsafeRawBufferPointer, of message: any SwiftProtobuf.Message) throws(Violation) {
        var shapes = FieldShapes()
        // The visitor itself never throws; a failure here would only mean fewer fields are known to be nested.
        try? message.traverse(visitor: &shapes)
        var reader = Reader(bytes: bytes)
        var occurrences: [Int: Int] = [:]
        while !reader.atEnd {
            let tag = try reader.tag()
            let fieldNumber = Int(truncatingIfNeeded: tag >> 3)
            switch tag & 7 {
            case 2:
                guard let contents = reader.take(try reader.lengthPrefix()) else { return }
                if let values = shapes.messages[fieldNumber], !values.isEmpty {
                    // The n-th occurrence of a repeated field is its n-th element; the occurrences of a singular
                    // field were merged into one value, which declares every nested field any of them had.
                    let index = occurrences[fieldNumber, default: 0]
                    occurrences[fieldNumber] = index + 1
                    try self.check(contents, of: values[min(index, values.count - 1)])
                } else if shapes.packedVarints.contains(fieldNumber) {
                    var elements = Reader(bytes: contents)
                    while !elements.atEnd {
                        _ = try elements.varint()
                    }
                }
            case 3:
                try reader.skipGroup(fieldNumber: fieldNumber)
            default:
                guard try reader.skipScalar(wireType: tag & 7) else { return }
            }
        }
    }

    /// The nested message values and packed varint fields of one decoded message, by field number.
    private struct FieldShapes: StructureVisitor {
        var messages: [Int: [any SwiftProtobuf.Message]] = [:]
        var packedVarints: Set<Int> = []

        mutating func visitSingularMessageField<M: SwiftProtobuf.Message>(value: M, fieldNumber: Int) throws {
            self.messages[fieldNumber, default: []].append(value)
        }

        mutating func visitPackedInt32Field(value: [Int32], fieldNumber: Int) throws {
            self.packedVarints.insert(fieldNumber)
        }

        mutating func visitPackedInt64Field(value: [Int64], fieldNumber: Int) throws {
            self.packedVarints.insert(fieldNumber)
        }

        mutating func visitPackedUInt32Field(value: [UInt32], fieldNumber: Int) throws {
            self.packedVarints.insert(fieldNumber)
        }

        mutating func visitPackedUInt64Field(value: [UInt64], fieldNumber: Int) throws {
            self.packedVarints.insert(fieldNumber)
        }

        mutating func visitPackedSInt32Field(value: [Int32], fieldNumber: Int) throws {
            self.packedVarints.insert(fieldNumber)
        }

        mutating func visitPackedSInt64Field(value: [Int64], fieldNumber: Int) throws {
            self.packedVarints.insert(fieldNumber)
        }

        mutating func visitPackedBoolField(value: [Bool], fieldNumber: Int) throws {
            self.packedVarints.insert(fieldNumber)
        }

        mutating func visitPackedEnumField<E: SwiftProtobuf.Enum>(value: [E], fieldNumber: Int) throws {
            self.packedVarints.insert(fieldNumber)
        }
    }

    /// Reads varints and skips fields of bytes that SwiftProtobuf has already parsed. Running out of bytes ends
    /// the walk quietly: the structure was checked before.
    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var index = 0

        var atEnd: Bool { self.index >= self.bytes.count }

        /// Reads one varint value; throws if it is 10 bytes long with a tenth byte above `0x01` (FRM-27).
        mutating func varint() throws(Violation) -> UInt64 {
            try self.read(limit: 10, tooLong: .overflow)
        }

        /// Reads a tag; throws if it is longer than 5 bytes (FRM-28).
        mutating func tag() throws(Violation) -> UInt64 {
            try self.read(limit: VarintBoundsCheck.maximumTagOrLengthBytes, tooLong: .longTag)
        }

        /// Reads a length prefix; throws if it is longer than 5 bytes (FRM-28).
        mutating func lengthPrefix() throws(Violation) -> UInt64 {
            try self.read(limit: VarintBoundsCheck.maximumTagOrLengthBytes, tooLong: .longLengthPrefix)
        }

        private mutating func read(limit: Int, tooLong: Violation.Kind) throws(Violation) -> UInt64 {
            let start = self.index
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while self.index < self.bytes.count {
                let byte = self.bytes[self.index]
                if self.index - start == limit {
                    throw Violation(kind: tooLong, offset: start)
                }
                self.index += 1
                if shift == 63, byte > 0x01 {
                    throw Violation(kind: .overflow, offset: start)
                }
                value |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 {
                    return value
                }
                shift += 7
            }
            self.index = self.bytes.count
            return value
        }

        /// The next `count` bytes, or `nil` if fewer remain.
        mutating func take(_ count: UInt64) -> UnsafeRawBufferPointer? {
            guard count <= UInt64(self.bytes.count - self.index) else {
                self.index = self.bytes.count
                return nil
            }
            let end = self.index + Int(count)
            defer { self.index = end }
            return UnsafeRawBufferPointer(rebasing: self.bytes[self.index..<end])
        }

        /// Skips a varint (checking it), fixed64 or fixed32 value; `false` for any other wire type.
        mutating func skipScalar(wireType: UInt64) throws(Violation) -> Bool {
            switch wireType {
            case 0:
                _ = try self.varint()
                return true
            case 1:
                return self.take(8) != nil
            case 5:
                return self.take(4) != nil
            default:
                return false
            }
        }

        /// Skips an unknown group up to its end-group tag, checking every varint inside it (nested groups
        /// included, iteratively).
        mutating func skipGroup(fieldNumber: Int) throws(Violation) {
            var open = [fieldNumber]
            while !open.isEmpty, !self.atEnd {
                let tag = try self.tag()
                let number = Int(truncatingIfNeeded: tag >> 3)
                switch tag & 7 {
                case 2:
                    guard self.take(try self.lengthPrefix()) != nil else { return }
                case 3:
                    open.append(number)
                case 4:
                    open.removeLast()
                default:
                    guard try self.skipScalar(wireType: tag & 7) else { return }
                }
            }
        }
    }
}

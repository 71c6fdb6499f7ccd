import NIOCore
import SwiftProtobuf

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Payload decoding with the Herald rules of FRM-11 to FRM-13.
enum PayloadDecoding {
    /// The nesting limit of FRM-11 and FRM-29: sub-messages and groups (known or unknown) nested more than this many
    /// levels below the top-level message are malformed.
    static let nestingLimit = 100

    /// The decoding options: nesting limit 100, unknown fields kept (FRM-12).
    static var options: BinaryDecodingOptions {
        var options = BinaryDecodingOptions()
        // SwiftProtobuf counts the top-level message as one level; FRM-29 counts it as level 0.
        options.messageDepthLimit = Self.nestingLimit + 1
        options.discardUnknownFields = false
        return options
    }

    /// Decodes `payload` as `type` and rejects known fields carried with the wrong wire type.
    static func decodeTyped<M: SwiftProtobuf.Message>(
        _ type: M.Type,
        from payload: ByteBuffer
    ) throws(WireError) -> M {
        let message: M
        do {
            message = try M(serializedBytes: payload.readableBytesSpan, options: Self.options)
        } catch {
            throw WireError(
                .malformedPayload,
                "payload is not a valid \(M.protoMessageName): \(error)",
                cause: error
            )
        }
        do {
            var checker = WireTypeChecker(messageType: M.self)
            try message.traverse(visitor: &checker)
        } catch let mismatch as WireTypeMismatch {
            throw WireError(
                .malformedPayload,
                "field \(mismatch.fieldNumber) of \(mismatch.messageName) has the wrong wire type \(mismatch.wireType)",
                cause: mismatch
            )
        } catch {
            throw WireError(.malformedPayload, "payload of \(M.protoMessageName) failed validation", cause: error)
        }
        let violation = payload.withUnsafeReadableBytes { bytes -> VarintBoundsCheck.Violation? in
            guard VarintBoundsCheck.mayHoldLongVarint(bytes) else { return nil }
            do throws(VarintBoundsCheck.Violation) {
                try VarintBoundsCheck.check(bytes, of: message)
                return nil
            } catch {
                return error
            }
        }
        if let violation {
            throw WireError(.malformedPayload, "payload of \(M.protoMessageName): \(violation)", cause: violation)
        }
        return message
    }

    /// Decodes `payload` as `type` with every rule of ``decodeTyped(_:from:)``, then returns it without its
    /// unknown fields (at any depth), as a receiver that drops them (FRM-12 allows it) would hold it.
    static func decodeDiscardingUnknownFields(
        _ type: any SwiftProtobuf.Message.Type,
        from payload: ByteBuffer
    ) throws(WireError) -> any SwiftProtobuf.Message {
        // The checks need the unknown fields (a known field with the wrong wire type lands there), so the payload
        // is validated as usual first and parsed again without them.
        _ = try self.decodeTyped(type, from: payload)
        var options = Self.options
        options.discardUnknownFields = true
        do {
            return try type.init(serializedBytes: payload.readableBytesSpan, options: options)
        } catch {
            throw WireError(
                .malformedPayload,
                "payload is not a valid \(type.protoMessageName): \(error)",
                cause: error
            )
        }
    }

    /// Decodes `payload` as the existential `type`.
    static func decode(
        _ type: any SwiftProtobuf.Message.Type,
        from payload: ByteBuffer
    ) throws(WireError) -> any SwiftProtobuf.Message {
        try self.decodeTyped(type, from: payload)
    }
}

/// A known field of a message was carried with a wire type its declared type does not use.
///
/// SwiftProtobuf keeps such a field as an unknown field (like the C++ runtime); Herald treats it as
/// malformed (FRM-11), so the codec looks for these fields after decoding.
struct WireTypeMismatch: Error, Hashable, Sendable, CustomStringConvertible {
    /// The fully qualified name of the message that declares the field.
    var messageName: String
    /// The field number.
    var fieldNumber: Int
    /// The wire type found on the wire (0–5).
    var wireType: Int

    var description: String {
        "field \(self.fieldNumber) of \(self.messageName) was sent with wire type \(self.wireType)"
    }
}

/// Walks a decoded message tree and checks every message's unknown fields: an unknown field whose number
/// is a known field of that message means a wire-type mismatch.
private struct WireTypeChecker: StructureVisitor {
    var messageType: any SwiftProtobuf.Message.Type

    init(messageType: any SwiftProtobuf.Message.Type) {
        self.messageType = messageType
    }

    mutating func visitUnknown(bytes: Data) throws {
        var fieldNumbers: Set<Int> = []
        var mismatch: WireTypeMismatch?
        bytes.withUnsafeBytes { raw in
            var scanner = UnknownFieldScanner(bytes: raw)
            while let (fieldNumber, wireType) = scanner.nextTopLevelField() {
                guard fieldNumbers.insert(fieldNumber).inserted else {
                    continue
                }
                if KnownFieldProbe.isKnownField(fieldNumber, of: self.messageType) {
                    mismatch = WireTypeMismatch(
                        messageName: self.messageType.protoMessageName,
                        fieldNumber: fieldNumber,
                        wireType: wireType
                    )
                    return
                }
            }
        }
        if let mismatch {
            throw mismatch
        }
    }

    mutating func visitSingularMessageField<M: SwiftProtobuf.Message>(value: M, fieldNumber: Int) throws {
        var nested = WireTypeChecker(messageType: M.self)
        try value.traverse(visitor: &nested)
    }
}

/// Finds out whether a field number is declared by a message type, using only public SwiftProtobuf API.
///
/// The probe is one payload carrying the field with each non-group wire type (varint 0, fixed64 0, empty
/// length-delimited, fixed32 0). A declared field consumes at least one of them; an undeclared one leaves
/// all four bytes sequences in the unknown fields.
private enum KnownFieldProbe {
    static func isKnownField(_ fieldNumber: Int, of type: any SwiftProtobuf.Message.Type) -> Bool {
        var probe: [UInt8] = []
        let probes: [(wireType: UInt64, body: [UInt8])] = [
            (0, [0]),  // varint 0
            (1, [0, 0, 0, 0, 0, 0, 0, 0]),  // fixed64 0
            (2, [0]),  // empty length-delimited
            (5, [0, 0, 0, 0]),  // fixed32 0
        ]
        for (wireType, body) in probes {
            appendVarint(UInt64(fieldNumber) << 3 | wireType, to: &probe)
            probe.append(contentsOf: body)
        }
        do {
            let message = try type.init(serializedBytes: probe, options: PayloadDecoding.options)
            return message.unknownFields.data.count != probe.count
        } catch {
            // Decoding a zero value only fails when the field is declared with a type that cannot take it.
            return true
        }
    }

    private static func appendVarint(_ value: UInt64, to bytes: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }
}

/// Reads the top-level field tags of already validated unknown-field bytes, skipping field contents
/// (including whole groups, iteratively).
private struct UnknownFieldScanner {
    private let bytes: UnsafeRawBufferPointer
    private var index = 0

    init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// Returns the next top-level field number and wire type, or `nil` at the end (or on bytes it cannot read,
    /// which SwiftProtobuf has already rejected).
    mutating func nextTopLevelField() -> (Int, Int)? {
        guard let tag = self.readVarint() else {
            return nil
        }
        let fieldNumber = Int(truncatingIfNeeded: tag >> 3)
        let wireType = Int(tag & 7)
        guard self.skipValue(fieldNumber: fieldNumber, wireType: wireType) else {
            return nil
        }
        return (fieldNumber, wireType)
    }

    private mutating func skipValue(fieldNumber: Int, wireType: Int) -> Bool {
        var openGroups: [Int] = []
        var currentWireType = wireType
        var currentFieldNumber = fieldNumber
        while true {
            switch currentWireType {
            case 0:
                guard self.readVarint() != nil else { return false }
            case 1:
                guard self.skip(8) else { return false }
            case 2:
                guard let length = self.readVarint(), length <= UInt64(self.bytes.count - self.index),
                    self.skip(Int(length))
                else { return false }
            case 3:
                openGroups.append(currentFieldNumber)
            case 4:
                guard let open = openGroups.popLast(), open == currentFieldNumber else { return false }
            case 5:
                guard self.skip(4) else { return false }
            default:
                return false
            }
            if openGroups.isEmpty {
                return true
            }
            guard let tag = self.readVarint() else {
                return false
            }
            currentFieldNumber = Int(truncatingIfNeeded: tag >> 3)
            currentWireType = Int(tag & 7)
        }
    }

    private mutating func skip(_ count: Int) -> Bool {
        guard count <= self.bytes.count - self.index else {
            return false
        }
        self.index += count
        return true
    }

    private mutating func readVarint() -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while self.index < self.bytes.count, shift < 64 {
            let byte = self.bytes[self.index]
            self.index += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                return result
            }
            shift += 7
        }
        return nil
    }
}

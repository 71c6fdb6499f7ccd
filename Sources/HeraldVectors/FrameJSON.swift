import Foundation
import HeraldMessages
import HeraldWire
import NIOCore
import SwiftProtobuf

/// An error turning JSON into frames (`herald encode`).
public struct FrameJSONError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The wire error identifier when a framing rule was broken (for example `invalid-request-id`), else `nil`.
    public var identifier: String?
    /// What is wrong.
    public var message: String

    /// Creates an error.
    public init(identifier: String? = nil, _ message: String) {
        self.identifier = identifier
        self.message = message
    }

    /// Creates an error from a wire error, keeping its identifier.
    public init(_ error: WireError, context: String = "") {
        self.identifier = error.code.description
        self.message = context + error.message
    }

    /// `identifier: message`, or just the message.
    public var description: String {
        self.identifier.map { "\($0): \(self.message)" } ?? self.message
    }
}

/// The JSON form of frames used by `herald decode` and `herald encode`.
///
/// A frame is `{"header":{"version":1,"flags":0,"flagNames":[],"opcode":257,"opcodeName":"OPCODE_LOGIN_REQUEST",
/// "type":"herald.v1.LoginRequest","requestId":1,"payloadLength":30},"payload":{…}}` with the payload in the
/// protobuf JSON mapping. Unknown payload fields have no JSON form and are not shown.
public enum FrameJSON {
    /// The names of the flag bits, by bit value.
    public static let flagNames: [(bit: UInt8, name: String)] = [(0x01, "ACK_REQUIRED")]

    /// The names of the flags set in `flags`; reserved bits are named `0xNN`.
    public static func names(of flags: HeraldFrameFlags) -> [String] {
        var names: [String] = []
        for bit in 0..<8 {
            let mask = UInt8(1) << UInt8(bit)
            guard flags.rawValue & mask != 0 else { continue }
            names.append(self.flagNames.first { $0.bit == mask }?.name ?? "0x" + Hex.encode([mask]))
        }
        return names
    }

    /// The header object of `frame` as compact JSON text, members in the documented order.
    ///
    /// `JSONSerialization` cannot keep member order, so the object is assembled here from its values' JSON text.
    public static func header(of frame: HeraldFrame) -> String {
        let header = frame.header
        let info = frame.opcodeInfo
        let members: [(String, Any)] = [
            ("version", header.version),
            ("flags", header.flags.rawValue),
            ("flagNames", self.names(of: header.flags)),
            ("opcode", header.opcode.rawValue),
            ("opcodeName", info?.opcodeName ?? NSNull()),
            ("type", info?.fullMessageName ?? NSNull()),
            ("requestId", header.requestID),
            ("payloadLength", header.payloadLength),
        ]
        return "{" + members.map { JSONText.compact($0.0) + ":" + JSONText.compact($0.1) }.joined(separator: ",") + "}"
    }

    /// One line of compact JSON for a decoded frame: `{"header":{…},"payload":{…}}`.
    ///
    /// - Throws: A SwiftProtobuf JSON encoding error (only for values JSON cannot carry).
    public static func render(_ frame: HeraldFrame, message: any SwiftProtobuf.Message) throws -> String {
        "{\"header\":" + self.header(of: frame) + ",\"payload\":" + (try message.jsonString()) + "}"
    }

    /// The keys a frame object may have.
    static let allowedKeys: Set<String> = [
        "header", "version", "flags", "flagNames", "opcode", "opcodeName", "type", "requestId", "payloadLength",
        "payloadHex", "payload",
    ]

    /// The frames described by `input` (a `JSONSerialization` value, see ``JSONText``): one frame object or an
    /// array of them.
    ///
    /// - Throws: ``FrameJSONError`` for the first object that cannot be encoded.
    public static func frames(
        from input: Any,
        maximumPayloadLength: Int = HeraldFrameHeader.defaultMaximumPayloadLength
    ) throws(FrameJSONError) -> [HeraldFrame] {
        if let values = input as? [Any] {
            var frames: [HeraldFrame] = []
            for (index, value) in values.enumerated() {
                do {
                    frames.append(try self.frame(from: value, maximumPayloadLength: maximumPayloadLength))
                } catch {
                    throw FrameJSONError(identifier: error.identifier, "element \(index): \(error.message)")
                }
            }
            return frames
        }
        return [try self.frame(from: input, maximumPayloadLength: maximumPayloadLength)]
    }

    /// The frame described by one object (a `JSONSerialization` value, see ``JSONText``).
    ///
    /// Header fields may sit at the top level or in a `header` object. The opcode comes from `opcode` (number or
    /// `OPCODE_…` name), `opcodeName` or `type` (`herald.v1.LoginRequest` or `LoginRequest`); when several are
    /// given they must agree. `requestId` is required except for events (default 0). Flags come from `flags`
    /// (number) or `flagNames`. The payload comes from `payload` (protobuf JSON) and/or `payloadHex` (raw bytes,
    /// which may carry unknown fields); when both are given they must describe the same message. `version` and
    /// `payloadLength`, if given, must match what is encoded. Several problems are reported in key order.
    ///
    /// - Throws: ``FrameJSONError``; framing-rule violations carry the wire error identifier.
    public static func frame(
        from value: Any,
        maximumPayloadLength: Int = HeraldFrameHeader.defaultMaximumPayloadLength
    ) throws(FrameJSONError) -> HeraldFrame {
        guard let object = value as? [String: Any] else {
            throw FrameJSONError("expected a frame object, got \(JSONText.typeName(value))")
        }
        for key in object.keys.sorted() where !self.allowedKeys.contains(key) {
            throw FrameJSONError("unknown field \"\(key)\"")
        }
        var fields = object
        if let header = object["header"] {
            guard let headerFields = header as? [String: Any] else {
                throw FrameJSONError("\"header\" must be an object")
            }
            let headerKeys = headerFields.keys.sorted()
            for key in headerKeys where !self.allowedKeys.contains(key) || key == "header" {
                throw FrameJSONError("unknown header field \"\(key)\"")
            }
            for key in headerKeys where object[key] != nil {
                throw FrameJSONError("\"\(key)\" is given both in \"header\" and at the top level")
            }
            fields["header"] = nil
            fields.merge(headerFields) { _, header in header }
        }
        let info = try self.opcodeInfo(from: fields)
        if let version = fields["version"] {
            guard JSONText.integer(version) == Int64(HeraldFrameHeader.currentVersion) else {
                throw FrameJSONError(
                    identifier: WireError.Code.unsupportedVersion.description,
                    "version \(JSONText.quoted(version)) cannot be encoded; only version 1 exists"
                )
            }
        }
        let flags = try self.flags(from: fields)
        let requestID = try self.requestID(from: fields, info: info)
        let payload = try self.payload(from: fields, info: info)
        let header = HeraldFrameHeader(
            flags: flags,
            opcode: info.opcode,
            requestID: requestID,
            payloadLength: payload.count
        )
        let frame = HeraldFrame(header: header, payload: ByteBuffer(bytes: payload))
        do {
            _ = try frame.encodedBytes(maximumPayloadLength: maximumPayloadLength)
        } catch {
            throw FrameJSONError(error)
        }
        if let length = fields["payloadLength"], JSONText.integer(length) != Int64(payload.count) {
            throw FrameJSONError(
                "payloadLength is \(JSONText.quoted(length)) but the payload encodes to \(payload.count) bytes"
            )
        }
        return frame
    }

    /// Looks up the opcode from `opcode`, `opcodeName` and `type`, which must agree.
    static func opcodeInfo(from fields: [String: Any]) throws(FrameJSONError) -> HeraldOpcodeInfo {
        var candidates: [(String, HeraldOpcodeInfo)] = []
        if let opcode = fields["opcode"] {
            if let number = JSONText.integer(opcode) {
                guard let wire = UInt16(exactly: number), let info = HeraldOpcodeTable.info(forWireValue: wire) else {
                    throw FrameJSONError(
                        identifier: WireError.Code.unknownOpcode.description,
                        "opcode \(number) is not in the v1 opcode table"
                    )
                }
                candidates.append(("opcode", info))
            } else if let name = opcode as? String {
                candidates.append(("opcode", try self.opcodeInfo(named: name)))
            } else {
                throw FrameJSONError("\"opcode\" must be a number or an OPCODE_… name")
            }
        }
        if let opcodeName = fields["opcodeName"] {
            guard let name = opcodeName as? String else { throw FrameJSONError("\"opcodeName\" must be a string") }
            candidates.append(("opcodeName", try self.opcodeInfo(named: name)))
        }
        if let type = fields["type"] {
            guard let name = type as? String else { throw FrameJSONError("\"type\" must be a string") }
            let fullName = name.hasPrefix("herald.v1.") ? name : "herald.v1." + name
            guard let info = HeraldOpcodeTable.info(forMessageName: fullName) else {
                throw FrameJSONError("unknown type \"\(name)\": no v1 opcode carries \(fullName)")
            }
            candidates.append(("type", info))
        }
        guard let first = candidates.first else {
            throw FrameJSONError("the frame needs \"opcode\", \"opcodeName\" or \"type\"")
        }
        for (field, info) in candidates.dropFirst() where info.opcode != first.1.opcode {
            throw FrameJSONError(
                "\"\(first.0)\" names \(first.1.name) but \"\(field)\" names \(info.name)"
            )
        }
        return first.1
    }

    private static func opcodeInfo(named name: String) throws(FrameJSONError) -> HeraldOpcodeInfo {
        guard let info = HeraldOpcodeTable.info(forOpcodeName: name) else {
            throw FrameJSONError(
                identifier: WireError.Code.unknownOpcode.description,
                "\(name) is not a v1 opcode name"
            )
        }
        return info
    }

    static func flags(from fields: [String: Any]) throws(FrameJSONError) -> HeraldFrameFlags {
        var result: HeraldFrameFlags?
        if let flags = fields["flags"] {
            guard let number = JSONText.integer(flags), let byte = UInt8(exactly: number) else {
                throw FrameJSONError("\"flags\" must be a number from 0 to 255")
            }
            result = HeraldFrameFlags(rawValue: byte)
        }
        if let names = fields["flagNames"] {
            guard let values = names as? [Any] else {
                throw FrameJSONError("\"flagNames\" must be an array of strings")
            }
            var byte: UInt8 = 0
            for value in values {
                guard let name = value as? String, let bit = self.flagNames.first(where: { $0.name == name }) else {
                    let known = self.flagNames.map(\.name).joined(separator: ", ")
                    throw FrameJSONError("unknown flag name \(JSONText.quoted(value)) (known: \(known))")
                }
                byte |= bit.bit
            }
            if let numeric = result, numeric.rawValue & 0x01 != byte {
                throw FrameJSONError("\"flags\" (\(numeric.rawValue)) and \"flagNames\" disagree")
            }
            result = HeraldFrameFlags(rawValue: (result?.rawValue ?? 0) | byte)
        }
        return result ?? []
    }

    static func requestID(from fields: [String: Any], info: HeraldOpcodeInfo) throws(FrameJSONError) -> UInt32 {
        guard let value = fields["requestId"] else {
            guard info.kind == .event else {
                throw FrameJSONError("\"requestId\" is required for \(info.name), a \(info.kind.rawValue)")
            }
            return 0
        }
        guard let number = JSONText.integer(value), let requestID = UInt32(exactly: number) else {
            throw FrameJSONError("\"requestId\" must be a number from 0 to 4294967295")
        }
        return requestID
    }

    static func payload(from fields: [String: Any], info: HeraldOpcodeInfo) throws(FrameJSONError) -> [UInt8] {
        var fromJSON: (any SwiftProtobuf.Message)?
        if let payload = fields["payload"] {
            do {
                fromJSON = try info.messageType.init(jsonUTF8Bytes: JSONText.compactData(payload))
            } catch {
                throw FrameJSONError("payload is not valid JSON for \(info.fullMessageName): \(error)")
            }
        }
        guard let hex = fields["payloadHex"] else {
            let message = fromJSON ?? info.messageType.init()
            do {
                return try message.serializedBytes()
            } catch {
                throw FrameJSONError(
                    identifier: WireError.Code.malformedPayload.description,
                    "cannot serialize \(info.fullMessageName): \(error)"
                )
            }
        }
        guard let text = hex as? String else { throw FrameJSONError("\"payloadHex\" must be a string") }
        let bytes: [UInt8]
        do {
            bytes = try Hex.decode(text)
        } catch {
            throw FrameJSONError("payloadHex: \(error)")
        }
        let frame = HeraldFrame(
            header: HeraldFrameHeader(opcode: info.opcode, requestID: 1, payloadLength: bytes.count),
            payload: ByteBuffer(bytes: bytes)
        )
        let decoded: any SwiftProtobuf.Message
        do {
            decoded = try frame.decodeMessage()
        } catch {
            throw FrameJSONError(error, context: "payloadHex: ")
        }
        if let fromJSON, !PayloadComparison.equal(fromJSON, decoded) {
            throw FrameJSONError("\"payload\" and \"payloadHex\" describe different \(info.fullMessageName) messages")
        }
        return bytes
    }
}

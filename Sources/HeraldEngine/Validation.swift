import HeraldMessages
import SwiftProtobuf

/// Syntax rules shared by several operations.
enum Validation {
    /// The characters allowed in user ids and channel ids (Spec/05-session.md "User id syntax", CHAN-1).
    private static let identifierBytes: [Bool] = {
        var table = [Bool](repeating: false, count: 128)
        for byte in UInt8(ascii: "a")...UInt8(ascii: "z") { table[Int(byte)] = true }
        for byte in UInt8(ascii: "A")...UInt8(ascii: "Z") { table[Int(byte)] = true }
        for byte in UInt8(ascii: "0")...UInt8(ascii: "9") { table[Int(byte)] = true }
        for character in " !#$%&()+-:;<=.>?@[]^_{}|~," { table[Int(character.asciiValue!)] = true }
        return table
    }()

    /// Whether `value` is 1…`maxBytes` bytes of the identifier character set and not `null`.
    static func isValidIdentifier(_ value: String, maxBytes: Int) -> Bool {
        let utf8 = value.utf8
        guard !utf8.isEmpty, utf8.count <= maxBytes, value != "null" else { return false }
        for byte in utf8 where byte >= 128 || !Self.identifierBytes[Int(byte)] {
            return false
        }
        return true
    }

    /// Whether `key` is a valid attribute key: 1…`maxBytes` bytes, no ASCII control character and no space
    /// (Spec/08-user-attributes.md).
    static func isValidAttributeKey(_ key: String, maxBytes: Int) -> Bool {
        let utf8 = key.utf8
        guard !utf8.isEmpty, utf8.count <= maxBytes else { return false }
        for byte in utf8 where byte <= 0x20 || byte == 0x7F {
            return false
        }
        return true
    }

    /// The size of a message's content as Spec/14-limits.md counts it: text bytes for TEXT, raw plus
    /// description bytes for RAW.
    static func contentBytes(of body: Herald_V1_MessageBody) -> Int {
        switch body.type {
        case .raw: return body.raw.count + body.text.utf8.count
        default: return body.text.utf8.count
        }
    }
}

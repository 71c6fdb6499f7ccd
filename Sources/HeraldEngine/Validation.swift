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

/// The user id syntax of Spec/05-session.md §5.2, for tools that produce user ids (`herald token mint`): the same
/// check the engine applies to `LoginRequest.user_id` (SES-3, check 3).
public enum UserIDSyntax {
    /// The rule, quoted from Spec/05-session.md §5.2 ("User id syntax") with the default length limit.
    public static let rule = """
        a valid user id is 1 to max_user_id_bytes bytes (64 by default) in which every character is one of: the \
        ASCII letters a-z and A-Z, the digits 0-9, the space, and ! # $ % & ( ) + - : ; < = . > ? @ [ ] ^ _ { } | ~ , \
        and which is not exactly the string "null" (Spec/05-session.md §5.2)
        """

    /// Whether `userID` is a valid user id when the server's `max_user_id_bytes` is `maxBytes`.
    public static func isValid(_ userID: String, maxBytes: Int = EngineLimits().maxUserIDBytes) -> Bool {
        Validation.isValidIdentifier(userID, maxBytes: maxBytes)
    }

    /// What is wrong with `userID`, in plain words, or `nil` when it is valid: the first offending character, the
    /// length, or the reserved value `null`.
    public static func problem(with userID: String, maxBytes: Int = EngineLimits().maxUserIDBytes) -> String? {
        if Self.isValid(userID, maxBytes: maxBytes) { return nil }
        let length = userID.utf8.count
        if length == 0 { return "it is empty" }
        if userID == "null" { return "it is the reserved string \"null\"" }
        let allowed = { (character: Character) in Validation.isValidIdentifier(String(character), maxBytes: 4) }
        if let character = userID.first(where: { !allowed($0) }) {
            let scalars = character.unicodeScalars
            let codes = scalars.map { "U+" + String($0.value, radix: 16, uppercase: true) }.joined(separator: " ")
            let shown: String
            if scalars.allSatisfy({ $0.value < 0x20 || $0.value == 0x7F }) {
                shown = codes
            } else if character.isASCII {
                shown = "'\(character)'"
            } else {
                shown = "'\(character)' (\(codes))"
            }
            return "the character \(shown) is not allowed"
        }
        return "it is \(length) bytes, longer than \(maxBytes)"
    }
}

/// Hexadecimal text ↔ bytes, as used by vector files and the `herald` CLI.
public enum Hex {
    /// A hex string that cannot be decoded.
    public struct ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        /// What is wrong.
        public var message: String

        /// Creates an error.
        public init(_ message: String) {
            self.message = message
        }

        /// The message.
        public var description: String { self.message }
    }

    /// Lowercase hex of `bytes`, two digits per byte, no separators.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var output: [UInt8] = []
        for byte in bytes {
            output.append(digits[Int(byte >> 4)])
            output.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Decodes strict hex: an even number of digits `0-9a-fA-F`, nothing else (vector files).
    ///
    /// - Throws: ``ParseError`` for an odd length or a non-hex character.
    public static func decode(_ text: String) throws(ParseError) -> [UInt8] {
        try self.decodeDigits(Array(text.utf8))
    }

    /// Decodes user input: ASCII whitespace anywhere is ignored, and one leading `0x`/`0X` is allowed.
    ///
    /// - Throws: ``ParseError`` for an odd number of digits or a non-hex character.
    public static func decodeLenient(_ text: String) throws(ParseError) -> [UInt8] {
        var digits = Array(text.utf8).filter { ![0x20, 0x09, 0x0A, 0x0D, 0x0B, 0x0C].contains($0) }
        if digits.count >= 2, digits[0] == UInt8(ascii: "0"), digits[1] | 0x20 == UInt8(ascii: "x") {
            digits.removeFirst(2)
        }
        return try self.decodeDigits(digits)
    }

    private static func decodeDigits(_ digits: [UInt8]) throws(ParseError) -> [UInt8] {
        guard digits.count % 2 == 0 else {
            throw ParseError("odd number of hex digits (\(digits.count))")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = self.value(of: digits[index]), let low = self.value(of: digits[index + 1]) else {
                let bad = self.value(of: digits[index]) == nil ? digits[index] : digits[index + 1]
                throw ParseError("invalid hex character '\(Character(Unicode.Scalar(bad)))'")
            }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func value(of digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

import Foundation

/// A JSON value, exact enough to carry protobuf JSON payloads between files, the CLI and SwiftProtobuf.
///
/// Numbers keep their literal text, so nothing is lost to floating point. Objects keep their members in document
/// order; equality compares members as a set (JSON object semantics).
public enum JSONValue: Hashable, Sendable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number, as its JSON literal text (for example `"1"`, `"-2.5e3"`).
    case number(String)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object; members in document order, keys unique.
    case object([Member])

    /// One object member.
    public struct Member: Hashable, Sendable {
        /// The member name.
        public var key: String
        /// The member value.
        public var value: JSONValue

        /// Creates a member.
        public init(_ key: String, _ value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    /// Object equality ignores member order.
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let left), .bool(let right)): left == right
        case (.number(let left), .number(let right)): left == right
        case (.string(let left), .string(let right)): left == right
        case (.array(let left), .array(let right)): left == right
        case (.object(let left), .object(let right)):
            left.count == right.count
                && Dictionary(uniqueKeysWithValues: left.map { ($0.key, $0.value) })
                    == Dictionary(uniqueKeysWithValues: right.map { ($0.key, $0.value) })
        default: false
        }
    }

    /// Hashes consistently with ``==`` (object members in key order).
    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let value): hasher.combine(value)
        case .number(let value): hasher.combine(value)
        case .string(let value): hasher.combine(value)
        case .array(let values): hasher.combine(values)
        case .object(let members):
            for member in members.sorted(by: { $0.key < $1.key }) {
                hasher.combine(member.key)
                hasher.combine(member.value)
            }
        }
    }

    /// The value of member `key` if this is an object that has it.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    /// The member names if this is an object.
    public var keys: [String]? {
        guard case .object(let members) = self else { return nil }
        return members.map(\.key)
    }

    /// The string if this is a string.
    public var stringValue: String? {
        guard case .string(let value) = self else { return nil }
        return value
    }

    /// The integer value if this is a number literal without fraction or exponent that fits `Int64`.
    public var integerValue: Int64? {
        guard case .number(let text) = self else { return nil }
        return Int64(text)
    }

    /// A short name of the value's type, for messages (`object`, `string`, …).
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

// MARK: - Serialization

extension JSONValue {
    /// The compact JSON text (no insignificant whitespace), members in stored order.
    public var serialized: String {
        var output = ""
        self.write(to: &output)
        return output
    }

    /// The compact JSON text as UTF-8 bytes.
    public var serializedBytes: [UInt8] {
        Array(self.serialized.utf8)
    }

    private func write(to output: inout String) {
        switch self {
        case .null: output += "null"
        case .bool(let value): output += value ? "true" : "false"
        case .number(let text): output += text
        case .string(let value): Self.writeString(value, to: &output)
        case .array(let values):
            output += "["
            for (index, value) in values.enumerated() {
                if index > 0 { output += "," }
                value.write(to: &output)
            }
            output += "]"
        case .object(let members):
            output += "{"
            for (index, member) in members.enumerated() {
                if index > 0 { output += "," }
                Self.writeString(member.key, to: &output)
                output += ":"
                member.value.write(to: &output)
            }
            output += "}"
        }
    }

    /// Writes `value` as a JSON string literal (only `"`, `\` and control characters are escaped).
    static func writeString(_ value: String, to output: inout String) {
        output += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case "\u{08}": output += "\\b"
            case "\u{0C}": output += "\\f"
            default:
                if scalar.value < 0x20 {
                    let digits = String(scalar.value, radix: 16)
                    output += "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
                } else {
                    output.unicodeScalars.append(scalar)
                }
            }
        }
        output += "\""
    }

    /// Re-indents compact or pretty JSON text with two spaces per level, keeping member order and literals.
    ///
    /// - Parameter json: Valid JSON text.
    /// - Returns: The text with one member or element per line; empty `{}` and `[]` stay on one line.
    public static func prettyPrinted(_ json: String) -> String {
        var output = ""
        var depth = 0
        var inString = false
        var escaped = false
        var pendingOpen: Character?
        func newline() {
            output += "\n" + String(repeating: "  ", count: depth)
        }
        for character in json {
            if inString {
                output.append(character)
                if escaped {
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == "\"" {
                    inString = false
                }
                continue
            }
            if character == " " || character == "\n" || character == "\t" || character == "\r" { continue }
            if let open = pendingOpen {
                pendingOpen = nil
                if (open == "{" && character == "}") || (open == "[" && character == "]") {
                    output.append(character)
                    continue
                }
                depth += 1
                newline()
            }
            switch character {
            case "{", "[":
                output.append(character)
                pendingOpen = character
            case "}", "]":
                depth -= 1
                newline()
                output.append(character)
            case ",":
                output.append(character)
                newline()
            case ":":
                output += ": "
            case "\"":
                output.append(character)
                inString = true
            default:
                output.append(character)
            }
        }
        return output
    }
}

// MARK: - Parsing

/// A JSON syntax error with its byte offset.
public struct JSONParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The byte offset in the input where the problem was found.
    public var offset: Int
    /// What is wrong.
    public var message: String

    /// Creates an error.
    public init(offset: Int, message: String) {
        self.offset = offset
        self.message = message
    }

    /// `message at byte N`.
    public var description: String { "\(self.message) at byte \(self.offset)" }
}

extension JSONValue {
    /// Parses exactly one JSON value (surrounding whitespace allowed).
    ///
    /// - Throws: ``JSONParseError`` for invalid JSON, duplicate keys or trailing data.
    public init(parsing text: some Collection<UInt8>) throws(JSONParseError) {
        var parser = JSONParser(bytes: Array(text))
        let values = try parser.parseSequence()
        guard values.count == 1 else {
            throw JSONParseError(
                offset: 0,
                message: values.isEmpty ? "no JSON value" : "expected one JSON value, found \(values.count)"
            )
        }
        self = values[0]
    }

    /// Parses zero or more JSON values separated by whitespace (covers a single value and JSON Lines).
    ///
    /// - Throws: ``JSONParseError`` for invalid JSON or duplicate keys.
    public static func parseSequence(_ text: some Collection<UInt8>) throws(JSONParseError) -> [JSONValue] {
        var parser = JSONParser(bytes: Array(text))
        return try parser.parseSequence()
    }
}

/// A strict RFC 8259 parser; rejects duplicate object keys and nesting deeper than 512.
private struct JSONParser {
    let bytes: [UInt8]
    var index = 0
    var depth = 0

    init(bytes: [UInt8]) {
        self.bytes = bytes
        // Skip a UTF-8 byte order mark.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { self.index = 3 }
    }

    mutating func parseSequence() throws(JSONParseError) -> [JSONValue] {
        var values: [JSONValue] = []
        self.skipWhitespace()
        while self.index < self.bytes.count {
            values.append(try self.parseValue())
            self.skipWhitespace()
        }
        return values
    }

    func error(_ message: String) -> JSONParseError {
        JSONParseError(offset: self.index, message: message)
    }

    mutating func skipWhitespace() {
        while self.index < self.bytes.count,
            [0x20, 0x09, 0x0A, 0x0D].contains(self.bytes[self.index])
        {
            self.index += 1
        }
    }

    mutating func parseValue() throws(JSONParseError) -> JSONValue {
        self.skipWhitespace()
        guard self.index < self.bytes.count else { throw self.error("unexpected end of input") }
        switch self.bytes[self.index] {
        case UInt8(ascii: "{"): return try self.parseObject()
        case UInt8(ascii: "["): return try self.parseArray()
        case UInt8(ascii: "\""): return .string(try self.parseString())
        case UInt8(ascii: "t"): return try self.parseLiteral("true", .bool(true))
        case UInt8(ascii: "f"): return try self.parseLiteral("false", .bool(false))
        case UInt8(ascii: "n"): return try self.parseLiteral("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try self.parseNumber()
        default:
            throw self.error("unexpected character '\(Character(Unicode.Scalar(self.bytes[self.index])))'")
        }
    }

    mutating func parseLiteral(_ literal: String, _ value: JSONValue) throws(JSONParseError) -> JSONValue {
        let expected = Array(literal.utf8)
        guard self.bytes[self.index...].starts(with: expected) else { throw self.error("invalid literal") }
        self.index += expected.count
        return value
    }

    mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = self.index
        func digits(_ parser: inout JSONParser) -> Int {
            let before = parser.index
            while parser.index < parser.bytes.count,
                (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(parser.bytes[parser.index])
            {
                parser.index += 1
            }
            return parser.index - before
        }
        if self.bytes[self.index] == UInt8(ascii: "-") { self.index += 1 }
        guard self.index < self.bytes.count else { throw self.error("invalid number") }
        if self.bytes[self.index] == UInt8(ascii: "0") {
            self.index += 1
        } else if digits(&self) == 0 {
            throw self.error("invalid number")
        }
        if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: ".") {
            self.index += 1
            guard digits(&self) > 0 else { throw self.error("invalid number: digits expected after '.'") }
        }
        if self.index < self.bytes.count, self.bytes[self.index] | 0x20 == UInt8(ascii: "e") {
            self.index += 1
            if self.index < self.bytes.count,
                self.bytes[self.index] == UInt8(ascii: "+") || self.bytes[self.index] == UInt8(ascii: "-")
            {
                self.index += 1
            }
            guard digits(&self) > 0 else { throw self.error("invalid number: digits expected in exponent") }
        }
        return .number(String(decoding: self.bytes[start..<self.index], as: UTF8.self))
    }

    mutating func parseString() throws(JSONParseError) -> String {
        self.index += 1  // opening quote
        var scalars = String.UnicodeScalarView()
        var runStart = self.index
        func flushRun(
            _ parser: JSONParser,
            upTo end: Int,
            into scalars: inout String.UnicodeScalarView
        )
            throws(JSONParseError)
        {
            guard runStart < end else { return }
            guard let run = String(validating: parser.bytes[runStart..<end], as: UTF8.self) else {
                throw JSONParseError(offset: runStart, message: "invalid UTF-8 in string")
            }
            scalars.append(contentsOf: run.unicodeScalars)
        }
        while true {
            guard self.index < self.bytes.count else { throw self.error("unterminated string") }
            let byte = self.bytes[self.index]
            if byte == UInt8(ascii: "\"") {
                try flushRun(self, upTo: self.index, into: &scalars)
                self.index += 1
                return String(scalars)
            }
            if byte < 0x20 { throw self.error("control character in string") }
            if byte != UInt8(ascii: "\\") {
                self.index += 1
                continue
            }
            try flushRun(self, upTo: self.index, into: &scalars)
            self.index += 1
            guard self.index < self.bytes.count else { throw self.error("unterminated escape") }
            let escape = self.bytes[self.index]
            self.index += 1
            switch escape {
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "/"): scalars.append("/")
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                let unit = try self.parseHex4()
                if (0xD800...0xDBFF).contains(unit) {
                    guard self.bytes[self.index...].starts(with: Array("\\u".utf8)) else {
                        throw self.error("unpaired surrogate in string")
                    }
                    self.index += 2
                    let low = try self.parseHex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw self.error("unpaired surrogate in string") }
                    let value = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    scalars.append(Unicode.Scalar(value)!)
                } else {
                    guard let scalar = Unicode.Scalar(unit) else { throw self.error("unpaired surrogate in string") }
                    scalars.append(scalar)
                }
            default:
                throw self.error("invalid escape in string")
            }
            runStart = self.index
        }
    }

    mutating func parseHex4() throws(JSONParseError) -> UInt32 {
        guard self.index + 4 <= self.bytes.count,
            let value = UInt32(String(decoding: self.bytes[self.index..<self.index + 4], as: UTF8.self), radix: 16)
        else {
            throw self.error("invalid \\u escape")
        }
        self.index += 4
        return value
    }

    mutating func enter() throws(JSONParseError) {
        self.depth += 1
        guard self.depth <= 512 else { throw self.error("nesting deeper than 512") }
    }

    mutating func parseArray() throws(JSONParseError) -> JSONValue {
        try self.enter()
        defer { self.depth -= 1 }
        self.index += 1
        var values: [JSONValue] = []
        self.skipWhitespace()
        if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "]") {
            self.index += 1
            return .array(values)
        }
        while true {
            values.append(try self.parseValue())
            self.skipWhitespace()
            guard self.index < self.bytes.count else { throw self.error("unterminated array") }
            let byte = self.bytes[self.index]
            self.index += 1
            if byte == UInt8(ascii: "]") { return .array(values) }
            guard byte == UInt8(ascii: ",") else {
                self.index -= 1
                throw self.error("expected ',' or ']' in array")
            }
        }
    }

    mutating func parseObject() throws(JSONParseError) -> JSONValue {
        try self.enter()
        defer { self.depth -= 1 }
        self.index += 1
        var members: [JSONValue.Member] = []
        var seen: Set<String> = []
        self.skipWhitespace()
        if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "}") {
            self.index += 1
            return .object(members)
        }
        while true {
            self.skipWhitespace()
            guard self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "\"") else {
                throw self.error("expected a member name")
            }
            let keyOffset = self.index
            let key = try self.parseString()
            guard seen.insert(key).inserted else {
                throw JSONParseError(offset: keyOffset, message: "duplicate member \"\(key)\"")
            }
            self.skipWhitespace()
            guard self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: ":") else {
                throw self.error("expected ':' after member name")
            }
            self.index += 1
            members.append(JSONValue.Member(key, try self.parseValue()))
            self.skipWhitespace()
            guard self.index < self.bytes.count else { throw self.error("unterminated object") }
            let byte = self.bytes[self.index]
            self.index += 1
            if byte == UInt8(ascii: "}") { return .object(members) }
            guard byte == UInt8(ascii: ",") else {
                self.index -= 1
                throw self.error("expected ',' or '}' in object")
            }
        }
    }
}

// MARK: - Codable

extension JSONValue: Codable {
    /// Decodes any JSON value (object member order follows the decoder's key order).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .number(String(value))
        } else if let value = try? container.decode(UInt64.self) {
            self = .number(String(value))
        } else if let value = try? container.decode(Double.self) {
            self = .number(String(value))
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let values = try? container.decode([JSONValue].self) {
            self = .array(values)
        } else {
            let object = try container.decode([String: JSONValue].self)
            self = .object(object.keys.sorted().map { Member($0, object[$0]!) })
        }
    }

    /// Encodes the value; numbers are written from their literal text.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let text):
            if let value = Int64(text) {
                try container.encode(value)
            } else if let value = UInt64(text) {
                try container.encode(value)
            } else {
                try container.encode(Double(text) ?? 0)
            }
        case .string(let value): try container.encode(value)
        case .array(let values): try container.encode(values)
        case .object(let members):
            try container.encode(Dictionary(uniqueKeysWithValues: members.map { ($0.key, $0.value) }))
        }
    }
}

import Foundation

/// A JSON syntax error found while reading `herald encode` input.
public struct JSONSyntaxError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The 1-based line on which the value that does not parse starts.
    public var line: Int
    /// What Foundation reports.
    public var message: String

    /// Creates an error.
    public init(line: Int, message: String) {
        self.line = line
        self.message = message
    }

    /// `message (value starting on line N)`.
    public var description: String { "\(self.message) (value starting on line \(self.line))" }
}

/// JSON handling on top of Foundation's `JSONSerialization`.
///
/// Values are what `JSONSerialization` produces: `[String: Any]`, `[Any]`, `String`, `NSNumber` (booleans are
/// `NSNumber`s too, told apart by ``isBoolean(_:)``) and `NSNull`. Duplicate object keys cannot be detected.
public enum JSONText {
    /// The values in `text`: one JSON value (any layout), or several values each starting on a new line (JSON
    /// Lines, or pretty-printed values one after another). Whitespace-only text has no values.
    ///
    /// - Throws: ``JSONSyntaxError`` for the first value that does not parse.
    public static func values(in text: some Collection<UInt8>) throws(JSONSyntaxError) -> [Any] {
        let data = Data(text)
        if let value = try? self.parse(data) { return [value] }
        // Not one value: gather lines until they parse. No proper prefix of a value ends where a line ends and
        // parses (strings cannot hold raw newlines), so this splits values only between them.
        var values: [Any] = []
        var pending = Data()
        var pendingLine = 1
        for (index, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            if self.isBlank(pending) { pendingLine = index + 1 }
            pending += line
            pending.append(UInt8(ascii: "\n"))
            if self.isBlank(pending) { continue }
            if let value = try? self.parse(pending) {
                values.append(value)
                pending = Data()
            }
        }
        if !self.isBlank(pending) {
            do {
                _ = try self.parse(pending)
            } catch {
                throw JSONSyntaxError(line: pendingLine, message: self.describe(error))
            }
        }
        return values
    }

    /// The compact JSON text of `value` (keys sorted, `/` not escaped).
    public static func compact(_ value: Any) -> String {
        String(decoding: self.compactData(value), as: UTF8.self)
    }

    /// The compact JSON text of `value` as UTF-8 (keys sorted, `/` not escaped); `null` if `value` is not JSON.
    static func compactData(_ value: Any) -> Data {
        let options: JSONSerialization.WritingOptions = [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes]
        guard JSONSerialization.isValidJSONObject([value]),
            let data = try? JSONSerialization.data(withJSONObject: value, options: options)
        else {
            return Data("null".utf8)
        }
        return data
    }

    /// `value` for messages: its compact JSON text, except that non-integer numbers keep a fraction (`1.0`).
    static func quoted(_ value: Any) -> String {
        if let number = value as? NSNumber, !self.isBoolean(value), self.integer(value) == nil,
            String(cString: number.objCType) != "Q"
        {
            return String(number.doubleValue)
        }
        return self.compact(value)
    }

    /// Whether `value` is a JSON `true` or `false` (not a number that also converts to `Bool`).
    static func isBoolean(_ value: Any) -> Bool {
        guard let number = value as? NSNumber else { return false }
        return type(of: number) == type(of: NSNumber(value: true))
    }

    /// The value of a JSON number written without fraction or exponent that fits `Int64`.
    static func integer(_ value: Any) -> Int64? {
        guard let number = value as? NSNumber, !self.isBoolean(value), !(number is NSDecimalNumber) else { return nil }
        switch String(cString: number.objCType) {
        case "d", "f": return nil
        case "Q": return Int64(exactly: number.uint64Value)
        default: return number.int64Value
        }
    }

    /// A short name of the value's type, for messages (`object`, `string`, …).
    static func typeName(_ value: Any) -> String {
        switch value {
        case is [String: Any]: "object"
        case is [Any]: "array"
        case is String: "string"
        case is NSNull: "null"
        case _ where self.isBoolean(value): "boolean"
        default: "number"
        }
    }

    /// Re-indents compact JSON text with two spaces per level, keeping member order and literals.
    ///
    /// `JSONSerialization`'s pretty printing cannot be used: it writes `"key" : value`, spreads empty containers
    /// over lines and cannot keep the header's member order.
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

    /// Parses one JSON value of any kind.
    static func parse(_ data: Data) throws -> Any {
        try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
    }

    /// Foundation's own description of a parse error (`Invalid value around character 5.`).
    static func describe(_ error: any Error) -> String {
        (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? error.localizedDescription
    }

    private static func isBlank(_ data: Data) -> Bool {
        data.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
    }
}

/// Any JSON value decoded or encoded through `Codable`, as `JSONSerialization` values (``JSONText``).
///
/// `JSONDecoder` cannot hand out a subtree as text, so the vector files' protobuf JSON payloads are decoded into
/// this and then written with `JSONSerialization`.
struct JSONTree: Codable {
    /// The value.
    var value: Any

    /// Wraps a value.
    init(_ value: Any) {
        self.value = value
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Decodes any JSON value; numbers become `Int64`, `UInt64` or `Double`, whichever fits first.
    init(from decoder: any Decoder) throws {
        if let container = try? decoder.container(keyedBy: Key.self) {
            var object: [String: Any] = [:]
            for key in container.allKeys {
                object[key.stringValue] = try container.decode(JSONTree.self, forKey: key).value
            }
            self.value = object
        } else if var container = try? decoder.unkeyedContainer() {
            var array: [Any] = []
            while !container.isAtEnd { array.append(try container.decode(JSONTree.self).value) }
            self.value = array
        } else {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self.value = NSNull()
            } else if let value = try? container.decode(Bool.self) {
                self.value = value
            } else if let value = try? container.decode(Int64.self) {
                self.value = value
            } else if let value = try? container.decode(UInt64.self) {
                self.value = value
            } else if let value = try? container.decode(Double.self) {
                self.value = value
            } else {
                self.value = try container.decode(String.self)
            }
        }
    }

    /// Encodes the value (object members in key order).
    func encode(to encoder: any Encoder) throws {
        switch self.value {
        case let object as [String: Any]:
            var container = encoder.container(keyedBy: Key.self)
            for key in object.keys.sorted() {
                try container.encode(JSONTree(object[key]!), forKey: Key(stringValue: key))
            }
        case let array as [Any]:
            var container = encoder.unkeyedContainer()
            for element in array { try container.encode(JSONTree(element)) }
        case let string as String:
            var container = encoder.singleValueContainer()
            try container.encode(string)
        case let number as NSNumber:
            var container = encoder.singleValueContainer()
            if JSONText.isBoolean(number) {
                try container.encode(number.boolValue)
            } else if let integer = JSONText.integer(number) {
                try container.encode(integer)
            } else if String(cString: number.objCType) == "Q" {
                try container.encode(number.uint64Value)
            } else {
                try container.encode(number.doubleValue)
            }
        default:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        }
    }
}

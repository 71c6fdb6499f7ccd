import Foundation
import HeraldWire
import SwiftProtobuf
import Synchronization

// MARK: - Protobuf JSON

/// Protobuf messages as the matcher sees them: the protobuf JSON mapping (camelCase names, enums by name, 64-bit
/// integers as strings), with every scalar and repeated field present, defaults included.
///
/// SwiftProtobuf omits fields that hold their default value; ``render(_:)`` adds them back (`"result":
/// "JOIN_CHANNEL_RESULT_OK"`, `"userIds": []`, `"count": 0`, `"serverTimeMs": "0"`), so a scenario can expect a
/// default value like any other. Unset message fields stay absent (`$absent` tests them).
public enum ProtoJSON {
    /// One message rendered twice.
    public struct Rendering: Sendable, Hashable {
        /// Every scalar and repeated field present (what matchers compare against).
        public var full: JSONValue
        /// SwiftProtobuf's canonical output: fields with default values omitted (what `exact` matching uses to find
        /// fields the expectation does not mention).
        public var canonical: JSONValue
    }

    /// Renders a message.
    public static func render(_ message: any SwiftProtobuf.Message) -> Rendering {
        let canonical: JSONValue
        do {
            canonical = try JSONValue(parsing: try message.jsonString())
        } catch {
            let note = "cannot render \(type(of: message).protoMessageName) as JSON: \(error)"
            return Rendering(full: .object(["$error": .string(note)]), canonical: .object([:]))
        }
        return Rendering(full: Self.fillDefaults(canonical, type: type(of: message)), canonical: canonical)
    }

    /// Builds a message of `type` from protobuf JSON.
    ///
    /// - Throws: SwiftProtobuf's `JSONDecodingError` (unknown field, wrong value type…).
    public static func message(
        from json: JSONValue,
        as type: any SwiftProtobuf.Message.Type
    ) throws -> any SwiftProtobuf.Message {
        try Self.decode(type, json.compactText)
    }

    /// Checks that a scenario payload (which may hold templates and matcher operators) parses as `type`: templates
    /// that make up a whole string and operator objects are checked only for their field names.
    ///
    /// - Returns: `nil` when it parses, else why not.
    public static func validationProblem(_ json: JSONValue, as type: any SwiftProtobuf.Message.Type) -> String? {
        do {
            _ = try Self.decode(type, Self.stripForValidation(json).compactText)
            return nil
        } catch {
            return "the payload does not parse as \(type.protoMessageName): \(error)"
        }
    }

    /// The opcode table entry for a message name without package (`JoinChannelRequest`); the extension opcodes
    /// of ``HeraldOpcodeTable/extensions`` (`TestControlRequest`) are found too.
    public static func info(forType name: String) -> HeraldOpcodeInfo? {
        HeraldOpcodeTable.infoIncludingExtensions(forMessageName: "herald.v1." + name)
    }

    private static func decode<M: SwiftProtobuf.Message>(_ type: M.Type, _ text: String) throws -> M {
        try M(jsonString: text)
    }

    private static func stripForValidation(_ json: JSONValue) -> JSONValue {
        switch json {
        case .string(let text):
            if let parts = try? Templating.parse(text), parts.count == 1, case .template = parts[0] {
                return .null
            }
            return json
        case .array(let elements):
            // A template element stands for a value of the element type; leave it out rather than validate a null.
            return .array(elements.map(Self.stripForValidation).filter { if case .null = $0 { false } else { true } })
        case .object(let members):
            if Templating.isGenerator(members) {
                // One example element stands for the generated ones.
                return .array(
                    [members[Templating.generatorKey]?["item"]].compactMap { $0 }.map(Self.stripForValidation)
                        .filter { if case .null = $0 { false } else { true } }
                )
            }
            if PayloadMatcher.isOperatorObject(members) {
                if let operand = members["$unordered"] ?? members["$contains"] {
                    let stripped = Self.stripForValidation(operand)
                    return stripped.arrayValue != nil ? stripped : .null
                }
                if let element = members["$each"] {
                    return .array(
                        [Self.stripForValidation(element)].filter { if case .null = $0 { false } else { true } }
                    )
                }
                return .null
            }
            return .object(members.mapValues(Self.stripForValidation))
        default:
            return json
        }
    }

    // MARK: Defaults

    static func fillDefaults(_ value: JSONValue, type: any SwiftProtobuf.Message.Type) -> JSONValue {
        guard case .object(var members) = value else { return value }
        for field in FieldTable.fields(of: type) {
            let present = members[field.jsonName]
            switch field.kind {
            case .scalar(let defaultValue):
                if present == nil { members[field.jsonName] = defaultValue }
            case .repeated:
                if present == nil { members[field.jsonName] = .array([]) }
            case .repeatedMessage(let elementType):
                if case .array(let elements)? = present {
                    members[field.jsonName] = .array(elements.map { Self.fillDefaults($0, type: elementType) })
                } else if present == nil {
                    members[field.jsonName] = .array([])
                }
            case .message(let fieldType):
                if let present {
                    members[field.jsonName] = Self.fillDefaults(present, type: fieldType)
                }
            case .map:
                if present == nil { members[field.jsonName] = .object([:]) }
            case .unknown:
                break
            }
        }
        return .object(members)
    }
}

/// What a field of a message type is, found by probing SwiftProtobuf (it has no public descriptors).
enum FieldKind: Sendable {
    case scalar(JSONValue)
    case message(any SwiftProtobuf.Message.Type)
    case repeated
    case repeatedMessage(any SwiftProtobuf.Message.Type)
    case map
    case unknown
}

/// One field of a message type.
struct FieldInfo: Sendable {
    var jsonName: String
    var kind: FieldKind
}

/// The fields of message types, probed once per type and cached.
enum FieldTable {
    private static let cache = Mutex<[String: [FieldInfo]]>([:])

    static func fields(of type: any SwiftProtobuf.Message.Type) -> [FieldInfo] {
        let key = type.protoMessageName
        if let cached = Self.cache.withLock({ $0[key] }) { return cached }
        let fields = Self.protoNames(of: type).map { name in
            let jsonName = Self.jsonName(name)
            return FieldInfo(jsonName: jsonName, kind: Self.probe(type, field: jsonName))
        }
        Self.cache.withLock { $0[key] = fields }
        return fields
    }

    private static func protoNames(of type: any SwiftProtobuf.Message.Type) -> [String] {
        guard let named = type as? any (SwiftProtobuf.Message & SwiftProtobuf._ProtoNameProviding).Type else {
            return []
        }
        return Self.allNames(named)
    }

    private static func allNames<M: SwiftProtobuf.Message & SwiftProtobuf._ProtoNameProviding>(
        _ type: M.Type
    ) -> [String] {
        Google_Protobuf_FieldMask(allFieldsOf: type).paths
    }

    /// The protobuf JSON name of a field: snake_case to lowerCamelCase.
    static func jsonName(_ protoName: String) -> String {
        var result = ""
        var capitalizeNext = false
        for character in protoName {
            if character == "_" {
                capitalizeNext = true
            } else if capitalizeNext {
                result += character.uppercased()
                capitalizeNext = false
            } else {
                result.append(character)
            }
        }
        return result
    }

    private static func decode<M: SwiftProtobuf.Message>(_ type: M.Type, _ text: String) throws -> M {
        try M(jsonString: text)
    }

    /// Decodes `{"<field>": <literal>}` and reports what the traversal of the result visits; `nil` when the literal
    /// does not decode.
    private static func attempt(
        _ type: any SwiftProtobuf.Message.Type,
        _ field: String,
        _ literal: String
    ) -> ProbeVisitor? {
        guard let message = try? Self.decode(type, "{\"\(field)\":\(literal)}") else { return nil }
        var visitor = ProbeVisitor()
        try? message.traverse(visitor: &visitor)
        return visitor
    }

    private static func probe(_ type: any SwiftProtobuf.Message.Type, field: String) -> FieldKind {
        if let visitor = Self.attempt(type, field, "[{}]"), case .repeatedMessage? = visitor.kind {
            return visitor.kind!
        }
        if Self.attempt(type, field, "[]") != nil {
            return .repeated
        }
        if let visitor = Self.attempt(type, field, "{}") {
            return visitor.kind ?? .map
        }
        if Self.attempt(type, field, "true") != nil {
            return .scalar(.bool(false))
        }
        if let visitor = Self.attempt(type, field, "1") {
            if let candidates = visitor.enumZeroCandidates {
                for candidate in candidates {
                    if let check = Self.attempt(type, field, "\"\(candidate)\""), check.kind == nil,
                        check.enumZeroCandidates == nil
                    {
                        return .scalar(.string(candidate))
                    }
                }
                return .scalar(.int(0))
            }
            return visitor.kind ?? .scalar(.int(0))
        }
        if Self.attempt(type, field, "\"AA==\"") != nil {
            return .scalar(.string(""))
        }
        return .unknown
    }
}

/// Records the kind of the one field a probe message sets.
private struct ProbeVisitor: SwiftProtobuf.Visitor {
    var kind: FieldKind?
    var enumZeroCandidates: [String]?

    private static func upperSnake(_ text: String) -> String {
        var result = ""
        var previous: Character?
        for character in text {
            if character.isUppercase, let previous, previous.isLowercase || previous.isNumber {
                result.append("_")
            }
            result += character.uppercased()
            previous = character
        }
        return result
    }

    mutating func visitSingularDoubleField(value: Double, fieldNumber: Int) throws {
        self.kind = .scalar(.int(0))
    }

    mutating func visitSingularInt32Field(value: Int32, fieldNumber: Int) throws {
        self.kind = .scalar(.int(0))
    }

    mutating func visitSingularUInt32Field(value: UInt32, fieldNumber: Int) throws {
        self.kind = .scalar(.int(0))
    }

    mutating func visitSingularSInt32Field(value: Int32, fieldNumber: Int) throws {
        self.kind = .scalar(.int(0))
    }

    mutating func visitSingularFixed32Field(value: UInt32, fieldNumber: Int) throws {
        self.kind = .scalar(.int(0))
    }

    mutating func visitSingularSFixed32Field(value: Int32, fieldNumber: Int) throws {
        self.kind = .scalar(.int(0))
    }

    mutating func visitSingularInt64Field(value: Int64, fieldNumber: Int) throws {
        self.kind = .scalar(.string("0"))
    }

    mutating func visitSingularUInt64Field(value: UInt64, fieldNumber: Int) throws {
        self.kind = .scalar(.string("0"))
    }

    mutating func visitSingularBoolField(value: Bool, fieldNumber: Int) throws {
        self.kind = .scalar(.bool(false))
    }

    mutating func visitSingularStringField(value: String, fieldNumber: Int) throws {
        self.kind = .scalar(.string(""))
    }

    mutating func visitSingularBytesField(value: Data, fieldNumber: Int) throws {
        self.kind = .scalar(.string(""))
    }

    mutating func visitSingularEnumField<E: SwiftProtobuf.Enum>(value: E, fieldNumber: Int) throws {
        let typeName = String(describing: E.self)
        let shortName = typeName.split(separator: ".").last.map(String.init) ?? typeName
        let enumName = shortName.split(separator: "_").last.map(String.init) ?? shortName
        let zero = Self.upperSnake(String(describing: E()))
        self.enumZeroCandidates = [Self.upperSnake(enumName) + "_" + zero, zero]
        self.kind = .scalar(.int(0))
    }

    mutating func visitSingularMessageField<M: SwiftProtobuf.Message>(value: M, fieldNumber: Int) throws {
        self.kind = .message(M.self)
    }

    mutating func visitRepeatedMessageField<M: SwiftProtobuf.Message>(value: [M], fieldNumber: Int) throws {
        self.kind = .repeatedMessage(M.self)
    }

    mutating func visitMapField<KeyType, ValueType: MapValueType>(
        fieldType: _ProtobufMap<KeyType, ValueType>.Type,
        value: _ProtobufMap<KeyType, ValueType>.BaseType,
        fieldNumber: Int
    ) throws {
        self.kind = .map
    }

    mutating func visitMapField<KeyType, ValueType>(
        fieldType: _ProtobufEnumMap<KeyType, ValueType>.Type,
        value: _ProtobufEnumMap<KeyType, ValueType>.BaseType,
        fieldNumber: Int
    ) throws where ValueType.RawValue == Int {
        self.kind = .map
    }

    mutating func visitMapField<KeyType, ValueType>(
        fieldType: _ProtobufMessageMap<KeyType, ValueType>.Type,
        value: _ProtobufMessageMap<KeyType, ValueType>.BaseType,
        fieldNumber: Int
    ) throws {
        self.kind = .map
    }

    mutating func visitUnknown(bytes: Data) throws {}
}

// MARK: - Matching

/// The outcome of matching an expectation against a value.
public struct MatchResult: Sendable, Hashable {
    /// One line per mismatch, each starting with the path: `payload.userIds[2]: expected "x", got "y"`.
    public var mismatches: [String]
    /// Values stored by `$capture` (only meaningful when the match succeeded).
    public var captures: [String: JSONValue]

    /// Whether everything matched.
    public var isMatch: Bool {
        self.mismatches.isEmpty
    }

    /// The mismatches, one per line.
    public var explanation: String {
        self.mismatches.joined(separator: "\n")
    }
}

/// Compares received values (protobuf JSON, see ``ProtoJSON``) with scenario expectations.
///
/// An expectation is literal JSON, in which an object whose keys all start with `$` is an operator object:
///
/// | Operator | Holds when the received value… |
/// |---|---|
/// | `{"$regex": "^s-"}` | is a string (or number) containing a match of the regular expression |
/// | `{"$any": true}` | is present (`false`: is absent) |
/// | `{"$absent": true}` | is absent (`false`: is present) |
/// | `{"$oneOf": [v1, v2]}` | matches one of the expectations |
/// | `{"$unordered": [e1, e2]}` | is an array whose elements match the expectations in some order (same length) |
/// | `{"$contains": [e1, e2]}` | is an array with distinct elements matching each expectation (more allowed) |
/// | `{"$gte": n}`, `{"$lte": n}` | is a number (or decimal string) ≥ n, ≤ n |
/// | `{"$capture": "name"}` | is present; it is stored under `name` |
/// | `{"$each": m}` | is a non-empty array whose every element matches `m` |
/// | `{"$ne": v}` | is present and not equal to the value `v` (numbers equal decimal strings, as for literals) |
/// | `{"$length": m}` | is an array whose number of elements matches `m` (a number or an operator object) |
/// | `{"$distinct": true}` | is an array whose elements are pairwise different (`"path"`: whose values at `path` are) |
///
/// Several operators in one object must all hold. Objects match member by member (`subset`: members not mentioned
/// are not checked; `exact`: members not mentioned must have their default value); arrays match element by
/// element, in order, with equal length. Numbers equal decimal strings of the same value (64-bit integers are
/// strings in protobuf JSON).
public enum PayloadMatcher {
    /// The operator names.
    public static let operators: Set<String> = [
        "$regex", "$any", "$absent", "$oneOf", "$unordered", "$contains", "$gte", "$lte", "$capture", "$each", "$ne",
        "$length", "$distinct",
    ]

    /// How many failing elements a `$each` mismatch lists before it summarises the rest.
    static let eachReportLimit = 5

    /// Matches a received value.
    ///
    /// - Parameters:
    ///   - expected: The expectation (templates already evaluated).
    ///   - actual: The received value (``ProtoJSON/Rendering/full``), or `nil` when absent.
    ///   - canonical: The canonical rendering, needed by `exact` mode.
    ///   - mode: `subset` or `exact`.
    ///   - path: The name of the value in messages, e.g. `payload`.
    public static func match(
        _ expected: JSONValue,
        against actual: JSONValue?,
        canonical: JSONValue? = nil,
        mode: MatchMode = .subset,
        path: String = "payload"
    ) -> MatchResult {
        var matcher = Matcher(mode: mode)
        _ = matcher.match(expected, actual, canonical, path)
        return MatchResult(mismatches: matcher.mismatches, captures: matcher.captures)
    }

    /// Matches a received message.
    public static func match(
        _ expected: JSONValue,
        against message: any SwiftProtobuf.Message,
        mode: MatchMode = .subset
    ) -> MatchResult {
        let rendering = ProtoJSON.render(message)
        return Self.match(expected, against: rendering.full, canonical: rendering.canonical, mode: mode)
    }

    /// Whether an object is an operator object (every key starts with `$`).
    public static func isOperatorObject(_ members: [String: JSONValue]) -> Bool {
        !members.isEmpty && members.keys.allSatisfy { $0.hasPrefix("$") }
    }

    /// Checks the operators of an expectation without matching: unknown operators, operand types, regular
    /// expressions, objects mixing operators and fields.
    ///
    /// - Returns: One message per problem.
    public static func problems(in expected: JSONValue, path: String = "payload") -> [String] {
        var problems: [String] = []
        Self.check(expected, path, &problems)
        return problems
    }

    private static func check(_ value: JSONValue, _ path: String, _ problems: inout [String]) {
        switch value {
        case .array(let elements):
            for (index, element) in elements.enumerated() {
                Self.check(element, "\(path)[\(index)]", &problems)
            }
        case .object(let members):
            if Templating.isGenerator(members) {
                // `{"$generate": …}` becomes an array before matching; its item is a matcher for each element.
                if let item = members[Templating.generatorKey]?["item"] {
                    Self.check(item, path + "[*]", &problems)
                }
                return
            }
            let operatorKeys = members.keys.filter { $0.hasPrefix("$") }
            if operatorKeys.isEmpty {
                for key in members.keys.sorted() {
                    Self.check(members[key]!, path + "." + key, &problems)
                }
                return
            }
            if operatorKeys.count != members.count {
                problems.append(
                    "\(path): an object mixes operators (\(operatorKeys.sorted().joined(separator: ", "))) and fields"
                )
                return
            }
            for key in operatorKeys.sorted() {
                let operand = members[key]!
                switch key {
                case "$regex":
                    if let pattern = operand.stringValue {
                        if Templating.problems(in: pattern).isEmpty, !pattern.contains("${"),
                            (try? NSRegularExpression(pattern: pattern)) == nil
                        {
                            problems.append("\(path): invalid regular expression \(operand.compactText)")
                        }
                    } else {
                        problems.append("\(path): $regex takes a string")
                    }
                case "$any", "$absent":
                    if case .bool = operand {} else { problems.append("\(path): \(key) takes true or false") }
                case "$oneOf", "$unordered", "$contains":
                    if let elements = operand.arrayValue {
                        for (index, element) in elements.enumerated() {
                            Self.check(element, "\(path).\(key)[\(index)]", &problems)
                        }
                    } else if let generator = operand.objectValue, Templating.isGenerator(generator) {
                        Self.check(operand, "\(path).\(key)", &problems)
                    } else {
                        problems.append("\(path): \(key) takes an array")
                    }
                case "$each", "$length":
                    Self.check(operand, "\(path).\(key)", &problems)
                case "$ne":
                    if Self.containsOperatorObject(operand) {
                        problems.append("\(path): $ne takes a value, not a matcher")
                    }
                case "$distinct":
                    switch operand {
                    case .bool(true): break
                    case .string(let field) where !field.isEmpty: break
                    default: problems.append("\(path): $distinct takes true or a field path")
                    }
                case "$gte", "$lte":
                    if operand.numberValue == nil && !(operand.stringValue?.contains("${") ?? false) {
                        problems.append("\(path): \(key) takes a number")
                    }
                case "$capture":
                    if (operand.stringValue ?? "").isEmpty { problems.append("\(path): $capture takes a name") }
                default:
                    problems.append(
                        "\(path): unknown operator \(key); known: " + Self.operators.sorted().joined(separator: ", ")
                    )
                }
            }
        default:
            break
        }
    }

    private static func containsOperatorObject(_ value: JSONValue) -> Bool {
        switch value {
        case .array(let elements): return elements.contains(where: Self.containsOperatorObject)
        case .object(let members):
            return Self.isOperatorObject(members) || members.values.contains(where: Self.containsOperatorObject)
        default: return false
        }
    }

    /// Equality of received values as `$ne` and `$distinct` see it: scalars as ``scalarsEqual(_:_:)``, arrays
    /// element by element, objects member by member.
    static func valuesEqual(_ left: JSONValue, _ right: JSONValue) -> Bool {
        switch (left, right) {
        case (.array(let leftElements), .array(let rightElements)):
            return leftElements.count == rightElements.count
                && zip(leftElements, rightElements).allSatisfy { Self.valuesEqual($0, $1) }
        case (.object(let leftMembers), .object(let rightMembers)):
            return leftMembers.count == rightMembers.count
                && leftMembers.allSatisfy { key, value in
                    rightMembers[key].map { Self.valuesEqual(value, $0) } ?? false
                }
        case (.array, _), (_, .array), (.object, _), (_, .object):
            return false
        default:
            return Self.scalarsEqual(left, right)
        }
    }

    /// A JSON value shortened for messages.
    static func short(_ value: JSONValue?) -> String {
        guard let value else { return "nothing" }
        let text = value.compactText
        return text.count > 160 ? String(text.prefix(157)) + "…" : text
    }

    /// Equality of scalars, numbers equal to decimal strings of the same value.
    static func scalarsEqual(_ expected: JSONValue, _ actual: JSONValue) -> Bool {
        if expected == actual { return true }
        switch (expected, actual) {
        case (.int, .int), (.string, .string):
            return false
        case (.int, .double), (.double, .int), (.double, .double):
            return expected.numberValue == actual.numberValue
        case (.int(let number), .string(let text)), (.string(let text), .int(let number)):
            return Int64(text) == number
        case (.double(let number), .string(let text)), (.string(let text), .double(let number)):
            return Double(text) == number
        default:
            return false
        }
    }
}

/// The state of one match: mismatches found and values captured.
private struct Matcher {
    let mode: MatchMode
    var mismatches: [String] = []
    var captures: [String: JSONValue] = [:]

    init(mode: MatchMode) {
        self.mode = mode
    }

    /// A side-effect-free attempt: returns the sub-matcher so the caller can keep its captures.
    private func trial(_ expected: JSONValue, _ actual: JSONValue?, _ canonical: JSONValue?, _ path: String) -> Matcher
    {
        var sub = Matcher(mode: self.mode)
        _ = sub.match(expected, actual, canonical, path)
        return sub
    }

    private mutating func fail(_ message: String) -> Bool {
        self.mismatches.append(message)
        return false
    }

    mutating func match(_ expected: JSONValue, _ actual: JSONValue?, _ canonical: JSONValue?, _ path: String) -> Bool {
        if case .object(let members) = expected, PayloadMatcher.isOperatorObject(members) {
            return self.matchOperators(members, actual, canonical, path)
        }
        guard let actual else {
            return self.fail("\(path): missing (expected \(PayloadMatcher.short(expected)))")
        }
        switch expected {
        case .object(let members):
            guard case .object(let actualMembers) = actual else {
                return self.fail("\(path): expected an object, got \(PayloadMatcher.short(actual))")
            }
            var matched = true
            for key in members.keys.sorted() {
                let ok = self.match(members[key]!, actualMembers[key], canonical?[key], path + "." + key)
                matched = matched && ok
            }
            if self.mode == .exact {
                let canonicalMembers = canonical?.objectValue ?? [:]
                for key in canonicalMembers.keys.sorted() where members[key] == nil {
                    matched = self.fail(
                        "\(path).\(key): not expected (exact match), got \(PayloadMatcher.short(canonicalMembers[key]))"
                    )
                }
            }
            return matched
        case .array(let elements):
            guard case .array(let actualElements) = actual else {
                return self.fail("\(path): expected an array, got \(PayloadMatcher.short(actual))")
            }
            guard elements.count == actualElements.count else {
                return self.fail(
                    "\(path): expected \(elements.count) element\(elements.count == 1 ? "" : "s"), got "
                        + "\(actualElements.count): \(PayloadMatcher.short(actual))"
                )
            }
            let canonicalElements = canonical?.arrayValue
            var matched = true
            for index in elements.indices {
                let canonicalElement = canonicalElements.flatMap { index < $0.count ? $0[index] : nil }
                let ok = self.match(elements[index], actualElements[index], canonicalElement, "\(path)[\(index)]")
                matched = matched && ok
            }
            return matched
        default:
            if PayloadMatcher.scalarsEqual(expected, actual) { return true }
            return self.fail("\(path): expected \(PayloadMatcher.short(expected)), got \(PayloadMatcher.short(actual))")
        }
    }

    private mutating func matchOperators(
        _ operators: [String: JSONValue],
        _ actual: JSONValue?,
        _ canonical: JSONValue?,
        _ path: String
    ) -> Bool {
        var matched = true
        for key in operators.keys.sorted() {
            let ok = self.matchOperator(key, operators[key]!, actual, canonical, path)
            matched = matched && ok
        }
        return matched
    }

    private mutating func matchOperator(
        _ name: String,
        _ operand: JSONValue,
        _ actual: JSONValue?,
        _ canonical: JSONValue?,
        _ path: String
    ) -> Bool {
        switch name {
        case "$any", "$absent":
            guard case .bool(let flag) = operand else { return self.fail("\(path): \(name) takes true or false") }
            let wantPresent = (name == "$any") == flag
            if wantPresent && actual == nil { return self.fail("\(path): missing (expected a value)") }
            if !wantPresent, let actual {
                return self.fail("\(path): expected no value, got \(PayloadMatcher.short(actual))")
            }
            return true
        case "$capture":
            guard let actual else { return self.fail("\(path): missing (nothing to capture)") }
            guard let variable = operand.stringValue else { return self.fail("\(path): $capture takes a name") }
            self.captures[variable] = actual
            return true
        default:
            break
        }
        guard let actual else {
            return self.fail("\(path): missing (expected \(PayloadMatcher.short(.object([name: operand]))))")
        }
        switch name {
        case "$regex":
            guard let pattern = operand.stringValue, let regex = try? NSRegularExpression(pattern: pattern) else {
                return self.fail("\(path): invalid regular expression \(operand.compactText)")
            }
            let text: String
            switch actual {
            case .string(let value): text = value
            case .int, .double, .bool: text = actual.compactText
            default:
                return self.fail(
                    "\(path): expected a string matching /\(pattern)/, got \(PayloadMatcher.short(actual))"
                )
            }
            let range = NSRange(text.startIndex..<text.endIndex, in: text)
            if regex.firstMatch(in: text, range: range) != nil { return true }
            return self.fail("\(path): expected a match of /\(pattern)/, got \(PayloadMatcher.short(actual))")
        case "$gte", "$lte":
            guard let bound = operand.numberValue else { return self.fail("\(path): \(name) takes a number") }
            guard let value = actual.numberValue else {
                return self.fail("\(path): expected a number, got \(PayloadMatcher.short(actual))")
            }
            if name == "$gte" ? value >= bound : value <= bound { return true }
            let relation = name == "$gte" ? "≥" : "≤"
            return self.fail(
                "\(path): expected \(relation) \(operand.compactText), got \(PayloadMatcher.short(actual))"
            )
        case "$oneOf":
            guard let alternatives = operand.arrayValue else { return self.fail("\(path): $oneOf takes an array") }
            for alternative in alternatives {
                let sub = self.trial(alternative, actual, canonical, path)
                if sub.mismatches.isEmpty {
                    self.captures.merge(sub.captures) { _, new in new }
                    return true
                }
            }
            return self.fail(
                "\(path): expected one of \(PayloadMatcher.short(operand)), got \(PayloadMatcher.short(actual))"
            )
        case "$each":
            return self.matchEach(operand, actual, canonical, path)
        case "$ne":
            if PayloadMatcher.valuesEqual(operand, actual) {
                return self.fail(
                    "\(path): expected a value other than \(PayloadMatcher.short(operand)), got "
                        + PayloadMatcher.short(actual)
                )
            }
            return true
        case "$length":
            guard let elements = actual.arrayValue else {
                return self.fail("\(path): expected an array, got \(PayloadMatcher.short(actual))")
            }
            return self.match(operand, .int(Int64(elements.count)), nil, "\(path).$length")
        case "$distinct":
            return self.matchDistinct(operand, actual, path)
        case "$unordered", "$contains":
            guard let expectedElements = operand.arrayValue else { return self.fail("\(path): \(name) takes an array") }
            guard let actualElements = actual.arrayValue else {
                return self.fail("\(path): expected an array, got \(PayloadMatcher.short(actual))")
            }
            if name == "$unordered" && expectedElements.count != actualElements.count {
                return self.fail(
                    "\(path): expected \(expectedElements.count) elements in any order, got "
                        + "\(actualElements.count): \(PayloadMatcher.short(actual))"
                )
            }
            return self.matchMultiset(name, expectedElements, actualElements, canonical?.arrayValue, path)
        default:
            return self.fail("\(path): unknown operator \(name)")
        }
    }

    /// `$each`: a non-empty array whose every element matches; the first failing elements are reported in full.
    private mutating func matchEach(
        _ element: JSONValue,
        _ actual: JSONValue,
        _ canonical: JSONValue?,
        _ path: String
    ) -> Bool {
        guard let elements = actual.arrayValue else {
            return self.fail("\(path): expected an array, got \(PayloadMatcher.short(actual))")
        }
        guard !elements.isEmpty else {
            return self.fail(
                "\(path): expected a non-empty array whose every element matches \(PayloadMatcher.short(element)), "
                    + "got []"
            )
        }
        let canonicalElements = canonical?.arrayValue
        var failing: [Int] = []
        for index in elements.indices {
            let canonicalElement = canonicalElements.flatMap { index < $0.count ? $0[index] : nil }
            let sub = self.trial(element, elements[index], canonicalElement, "\(path)[\(index)]")
            if sub.mismatches.isEmpty {
                self.captures.merge(sub.captures) { _, new in new }
            } else {
                if failing.count < PayloadMatcher.eachReportLimit {
                    self.mismatches += sub.mismatches
                }
                failing.append(index)
            }
        }
        if failing.count > PayloadMatcher.eachReportLimit {
            let others = failing.dropFirst(PayloadMatcher.eachReportLimit)
            let listed = others.prefix(20).map(String.init).joined(separator: ", ")
            self.mismatches.append(
                "\(path): \(others.count) more of the \(elements.count) elements do not match either (indices "
                    + listed + (others.count > 20 ? ", …)" : ")")
            )
        }
        return failing.isEmpty
    }

    /// `$distinct`: no two elements (or no two values at a field path of the elements) are equal.
    private mutating func matchDistinct(_ operand: JSONValue, _ actual: JSONValue, _ path: String) -> Bool {
        guard let elements = actual.arrayValue else {
            return self.fail("\(path): expected an array, got \(PayloadMatcher.short(actual))")
        }
        var keys: [JSONValue] = []
        keys.reserveCapacity(elements.count)
        let field: String?
        switch operand {
        case .bool(true):
            field = nil
            keys = elements
        case .string(let text) where !text.isEmpty:
            field = text
            for (index, element) in elements.enumerated() {
                do {
                    keys.append(try JSONPath.lookup(text, in: element))
                } catch {
                    return self.fail("\(path)[\(index)]: \(error.description) ($distinct compares \(text))")
                }
            }
        default:
            return self.fail("\(path): $distinct takes true or a field path")
        }
        for later in keys.indices {
            for earlier in 0..<later where PayloadMatcher.valuesEqual(keys[earlier], keys[later]) {
                let what = field.map { "have the same \($0)" } ?? "are equal"
                return self.fail(
                    "\(path): elements \(earlier) and \(later) \(what) (expected distinct): "
                        + PayloadMatcher.short(keys[later])
                )
            }
        }
        return true
    }

    /// Finds distinct actual elements for every expected element (backtracking over the compatibility matrix).
    private mutating func matchMultiset(
        _ name: String,
        _ expected: [JSONValue],
        _ actual: [JSONValue],
        _ canonical: [JSONValue]?,
        _ path: String
    ) -> Bool {
        var trials: [[Matcher]] = []
        for element in expected {
            trials.append(
                actual.indices.map { index in
                    let canonicalElement = canonical.flatMap { index < $0.count ? $0[index] : nil }
                    return self.trial(element, actual[index], canonicalElement, "\(path)[\(index)]")
                }
            )
        }
        var assignment = [Int](repeating: -1, count: expected.count)
        var used = [Bool](repeating: false, count: actual.count)
        func assign(_ position: Int) -> Bool {
            if position == expected.count { return true }
            for index in actual.indices where !used[index] && trials[position][index].mismatches.isEmpty {
                used[index] = true
                assignment[position] = index
                if assign(position + 1) { return true }
                used[index] = false
            }
            return false
        }
        if assign(0) {
            for (position, index) in assignment.enumerated() {
                self.captures.merge(trials[position][index].captures) { _, new in new }
            }
            return true
        }
        let unmatched = expected.indices.filter { position in
            !trials[position].contains { $0.mismatches.isEmpty }
        }
        let detail =
            unmatched.isEmpty
            ? "no one-to-one assignment exists"
            : "no element matches " + unmatched.map { PayloadMatcher.short(expected[$0]) }.joined(separator: ", ")
        let what = name == "$unordered" ? "the same elements in any order" : "elements containing"
        return self.fail(
            "\(path): expected \(what) \(PayloadMatcher.short(.array(expected))), got "
                + "\(PayloadMatcher.short(.array(actual))) (\(detail))"
        )
    }
}

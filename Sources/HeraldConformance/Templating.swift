import HeraldWire

/// A template that cannot be evaluated: unknown kind, bad syntax, or a value that is not known yet.
public struct TemplateError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong, naming the template.
    public var description: String

    /// Creates an error.
    public init(_ description: String) {
        self.description = description
    }
}

/// The values templates are evaluated against while one case runs.
public struct TemplateContext: Sendable {
    /// The run's nonce (prefix of every run-unique id).
    public var nonce: String
    /// The case id (hashed into every run-unique id).
    public var caseID: String
    /// The app id of the run.
    public var appID: String
    /// Captured values (`capture`, `captureFrame`, `welcome.<actor>`, `login.<actor>`).
    public var captures: [String: JSONValue] = [:]
    /// Request ids of requests sent with `as`.
    public var requestIDs: [String: UInt32] = [:]
    /// The 0-based iteration of the innermost `repeat`, if any.
    public var iteration: Int?
    /// The 0-based index of the element the innermost `$generate` is building (`${index}`), if any.
    public var generatorIndex: Int?
    /// `Welcome.limits` as protobuf JSON (with defaults), once a Welcome is known.
    public var limits: JSONValue?
    /// `Welcome.timers` as protobuf JSON (with defaults), once a Welcome is known.
    public var timers: JSONValue?
    /// Tokens already produced for `${token:…}` templates, by template text (`token:valid`).
    public var tokens: [String: String] = [:]
    /// The longest run-unique id, in bytes.
    public var maximumIDBytes = 64
    /// The target's test-control key (`${testControlKey}`, Spec/18-test-control.md), if the run has one.
    public var testControlKey: String?

    /// Creates a context.
    public init(nonce: String, caseID: String, appID: String) {
        self.nonce = nonce
        self.caseID = caseID
        self.appID = appID
    }

    /// The run-unique user id of an actor (or of any name).
    public func userID(_ name: String) -> String {
        Templating.runUniqueID(nonce: self.nonce, caseID: self.caseID, name: name, maximumBytes: self.maximumIDBytes)
    }

    /// The run-unique channel id for a name.
    public func channelID(_ name: String) -> String {
        Templating.runUniqueID(nonce: self.nonce, caseID: self.caseID, name: name, maximumBytes: self.maximumIDBytes)
    }
}

/// Evaluates `${…}` templates in scenario strings.
///
/// | Template | Value |
/// |---|---|
/// | `${user:<name>}` | the run-unique user id of actor (or any name) `<name>` |
/// | `${channel:<name>}` | a run-unique channel id |
/// | `${app}` | the run's app id |
/// | `${nonce}` | the run's nonce |
/// | `${capture:<name>[.<path>]}` | a captured value or a field of it |
/// | `${request:<name>[±n]}` | the request id of the request sent with `"as": "<name>"` |
/// | `${opcode:<Type>[±n]}` | the numeric opcode of message `<Type>` |
/// | `${i[±n]}` | the 0-based iteration of the innermost `repeat` |
/// | `${limit:<field>[±n]}` | a `Welcome.limits` field (camelCase) |
/// | `${timer:<field>[±n]}` | a `Welcome.timers` field (camelCase) |
/// | `${fill:<n>}` | a string of `n` ASCII `x`; `n` may be `limit:<field>±k` or `timer:<field>±k` |
/// | `${digits:<n>}` | a string of `n` ASCII `1` (DTMF digits of a given length); `n` as for `${fill:…}` |
/// | `${token:<kind>}` | a token for the acting actor's user (kinds as in `login.token`) |
/// | `${index[±n]}` | the 0-based index of the element the innermost `$generate` builds |
/// | `${calc:<expression>}` | integer arithmetic (`+ - * / %`, parentheses) on the expanded expression |
/// | `${bytes:<text>}` | the number of UTF-8 bytes of the expanded text: `${bytes:${channel:c}}` |
///
/// In JSON values, an object `{"$generate": {"count": n, "item": v}}` becomes an array of `n` elements (`n` a number
/// or a template), each `v` evaluated with `${index}` set to its position.
///
/// Templates nest (`${channel:c-${i}}`); `$${` is a literal `${`. A string that is exactly one template takes the
/// template's type (a number for `${limit:…}`, any JSON value for `${capture:…}`); otherwise values are
/// interpolated as text.
public enum Templating {
    /// The template kinds, as written before the colon.
    public static let kinds = [
        "user", "channel", "app", "nonce", "capture", "request", "opcode", "i", "limit", "timer", "fill", "token",
        "index", "calc", "bytes", "testControlKey", "digits",
    ]

    /// The key of a generator object: `{"$generate": {"count": n, "item": v}}`.
    public static let generatorKey = "$generate"
    /// The most elements one `$generate` may build.
    public static let maximumGeneratedCount: Int64 = 100_000

    // MARK: Evaluation

    /// Evaluates every template in a string.
    ///
    /// - Returns: The template's own value when `text` is exactly one template; otherwise the interpolated string.
    /// - Throws: ``TemplateError`` for an unknown or unevaluable template.
    public static func resolve(_ text: String, in context: TemplateContext) throws(TemplateError) -> JSONValue {
        let parts = try Self.parse(text)
        if parts.count == 1, case .template(let inner) = parts[0] {
            return try Self.evaluate(inner, in: context)
        }
        return .string(try Self.interpolate(parts, in: context))
    }

    /// Evaluates every template in a string and returns the text.
    ///
    /// - Throws: ``TemplateError`` for an unknown or unevaluable template.
    public static func expand(_ text: String, in context: TemplateContext) throws(TemplateError) -> String {
        try Self.interpolate(try Self.parse(text), in: context)
    }

    /// Evaluates templates in every string of a JSON value (object keys are left alone).
    ///
    /// - Throws: ``TemplateError`` for an unknown or unevaluable template.
    public static func resolve(json: JSONValue, in context: TemplateContext) throws(TemplateError) -> JSONValue {
        switch json {
        case .string(let text):
            return try Self.resolve(text, in: context)
        case .array(let elements):
            var result: [JSONValue] = []
            result.reserveCapacity(elements.count)
            for element in elements {
                result.append(try Self.resolve(json: element, in: context))
            }
            return .array(result)
        case .object(let members):
            if Self.isGenerator(members) {
                return try Self.generate(members, in: context)
            }
            var result: [String: JSONValue] = [:]
            for (key, value) in members {
                result[key] = try Self.resolve(json: value, in: context)
            }
            return .object(result)
        default:
            return json
        }
    }

    /// Whether an object is a generator: it has the key `$generate`.
    public static func isGenerator(_ members: [String: JSONValue]) -> Bool {
        members[Self.generatorKey] != nil
    }

    /// Expands `{"$generate": {"count": n, "item": v}}` into `n` evaluations of `v`, `${index}` counting from 0.
    private static func generate(
        _ members: [String: JSONValue],
        in context: TemplateContext
    ) throws(TemplateError) -> JSONValue {
        let problems = Self.generatorProblems(members)
        guard problems.isEmpty, let body = members[Self.generatorKey], let item = body["item"],
            let countValue = body["count"]
        else {
            throw TemplateError(problems.first ?? "malformed $generate")
        }
        let count: Int64
        switch countValue {
        case .string(let text):
            let value = try Self.resolve(text, in: context)
            guard let number = value.integerValue else {
                throw TemplateError("$generate: count \"\(text)\" is \(value.compactText), not an integer")
            }
            count = number
        default:
            guard let number = countValue.integerValue else {
                throw TemplateError("$generate: count \(countValue.compactText) is not an integer")
            }
            count = number
        }
        guard count >= 0, count <= Self.maximumGeneratedCount else {
            throw TemplateError("$generate: count \(count) is not between 0 and \(Self.maximumGeneratedCount)")
        }
        var inner = context
        var elements: [JSONValue] = []
        elements.reserveCapacity(Int(count))
        for index in 0..<Int(count) {
            inner.generatorIndex = index
            elements.append(try Self.resolve(json: item, in: inner))
        }
        return .array(elements)
    }

    /// Checks the shape of a generator object: only the key `$generate`, whose value has exactly `count` (a
    /// non-negative number or a template string) and `item`; templates in `count` are checked too.
    ///
    /// - Returns: One message per problem.
    public static func generatorProblems(_ members: [String: JSONValue]) -> [String] {
        var problems: [String] = []
        let others = members.keys.filter { $0 != Self.generatorKey }.sorted()
        if !others.isEmpty {
            problems.append("a $generate object has no other keys (found \(others.joined(separator: ", ")))")
        }
        guard let body = members[Self.generatorKey]?.objectValue else {
            return problems + ["$generate takes an object {\"count\": …, \"item\": …}"]
        }
        let unknown = body.keys.filter { $0 != "count" && $0 != "item" }.sorted()
        if !unknown.isEmpty {
            problems.append("$generate: unknown key \(unknown.joined(separator: ", ")); allowed: count, item")
        }
        if body["item"] == nil {
            problems.append("$generate needs an item")
        }
        switch body["count"] {
        case nil:
            problems.append("$generate needs a count")
        case .string(let text)?:
            if !text.contains("${") {
                problems.append("$generate: count \"\(text)\" is neither a number nor a template")
            }
            problems += Self.problems(in: text).map { "$generate: count: " + $0 }
        case let value?:
            if let number = value.integerValue, number >= 0, number <= Self.maximumGeneratedCount {
                break
            }
            problems.append(
                "$generate: count \(value.compactText) is not an integer between 0 and \(Self.maximumGeneratedCount)"
            )
        }
        return problems
    }

    /// Evaluates an ``IntExpression``.
    ///
    /// - Throws: ``TemplateError`` when the template does not evaluate to an integer.
    public static func integer(_ expression: IntExpression, in context: TemplateContext) throws(TemplateError) -> Int64
    {
        switch expression {
        case .literal(let value):
            return value
        case .template(let text):
            let value = try Self.resolve(text, in: context)
            guard let number = value.integerValue else {
                throw TemplateError("\"\(text)\" is \(value.compactText), not an integer")
            }
            return number
        }
    }

    // MARK: Static checks

    /// Checks the syntax and kinds of every template in `text` without evaluating them.
    ///
    /// - Returns: One message per problem.
    public static func problems(in text: String) -> [String] {
        let parts: [Part]
        do {
            parts = try Self.parse(text)
        } catch {
            return [error.description]
        }
        var problems: [String] = []
        Self.check(parts, into: &problems)
        return problems
    }

    /// Every `${token:<kind>}` template text (without `${` `}`) in a JSON value, for producing tokens before
    /// evaluation. With a `context`, templates nested in the kind are expanded first, as evaluation will expand them
    /// (`${token:ttl:${calc:${timer:tokenWillExpireLeadMs}/2000}}`).
    public static func tokenTemplates(in json: JSONValue, context: TemplateContext? = nil) -> [String] {
        switch json {
        case .string(let text):
            guard let parts = try? Self.parse(text) else { return [] }
            return Self.tokenTemplates(in: parts, context: context)
        case .array(let elements):
            return elements.flatMap { Self.tokenTemplates(in: $0, context: context) }
        case .object(let members):
            return members.keys.sorted().flatMap { Self.tokenTemplates(in: members[$0]!, context: context) }
        default:
            return []
        }
    }

    // MARK: Run-unique ids

    /// A run-unique id `<nonce>-<case hash>-<name>` of at most `maximumBytes` bytes, using only characters of the
    /// user-id syntax (Spec/05-session.md).
    ///
    /// Characters of `name` outside `A–Z a–z 0–9 - _ .` become `_`; a name too long to fit is shortened and
    /// suffixed with its hash, so distinct names stay distinct.
    public static func runUniqueID(nonce: String, caseID: String, name: String, maximumBytes: Int = 64) -> String {
        let prefix = nonce + "-" + Self.base36(Self.fnv1a(caseID), length: 6) + "-"
        var cleaned = ""
        for scalar in name.unicodeScalars {
            let allowed =
                (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z") || (scalar >= "0" && scalar <= "9")
                || scalar == "-" || scalar == "_" || scalar == "."
            cleaned.unicodeScalars.append(allowed ? scalar : "_")
        }
        if cleaned.isEmpty { cleaned = "_" }
        let room = maximumBytes - prefix.utf8.count
        if cleaned.utf8.count <= room || room < 8 {
            return prefix + cleaned
        }
        let hash = Self.base36(Self.fnv1a(name), length: 6)
        return prefix + String(cleaned.prefix(room - 7)) + "~" + hash
    }

    /// 64-bit FNV-1a of the UTF-8 bytes of `text`.
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }

    /// `value` in base 36, lower case, the last `length` digits (zero-padded).
    static func base36(_ value: UInt64, length: Int) -> String {
        let digits = Array("0123456789abcdefghijklmnopqrstuvwxyz")
        var value = value
        var result: [Character] = []
        for _ in 0..<length {
            result.append(digits[Int(value % 36)])
            value /= 36
        }
        return String(result.reversed())
    }

    // MARK: Parsing

    indirect enum Part: Hashable {
        case literal(String)
        /// The template's content, itself parsed (it may contain templates).
        case template([Part])
    }

    static func parse(_ text: String) throws(TemplateError) -> [Part] {
        let characters = Array(text)
        var index = 0
        let parts = try Self.parseParts(characters, &index, nested: false, whole: text)
        return parts
    }

    private static func parseParts(
        _ characters: [Character],
        _ index: inout Int,
        nested: Bool,
        whole: String
    ) throws(TemplateError) -> [Part] {
        var parts: [Part] = []
        var literal = ""
        func flush() {
            if !literal.isEmpty {
                parts.append(.literal(literal))
                literal = ""
            }
        }
        while index < characters.count {
            let character = characters[index]
            if character == "$", index + 2 < characters.count, characters[index + 1] == "$",
                characters[index + 2] == "{"
            {
                literal += "${"
                index += 3
            } else if character == "$", index + 1 < characters.count, characters[index + 1] == "{" {
                index += 2
                flush()
                let inner = try Self.parseParts(characters, &index, nested: true, whole: whole)
                parts.append(.template(inner))
            } else if character == "}" && nested {
                index += 1
                flush()
                return parts
            } else {
                literal.append(character)
                index += 1
            }
        }
        if nested {
            throw TemplateError("unterminated template in \"\(whole)\" (a \"${\" has no matching \"}\")")
        }
        flush()
        return parts
    }

    private static func interpolate(_ parts: [Part], in context: TemplateContext) throws(TemplateError) -> String {
        var output = ""
        for part in parts {
            switch part {
            case .literal(let text):
                output += text
            case .template(let inner):
                let value = try Self.evaluate(inner, in: context)
                if case .string(let text) = value {
                    output += text
                } else {
                    output += value.compactText
                }
            }
        }
        return output
    }

    private static func evaluate(_ inner: [Part], in context: TemplateContext) throws(TemplateError) -> JSONValue {
        let expression = try Self.interpolate(inner, in: context)
        return try Self.evaluate(expression: expression, in: context)
    }

    private static func split(_ expression: String) -> (kind: String, argument: String?) {
        if let colon = expression.firstIndex(of: ":") {
            return (String(expression[..<colon]), String(expression[expression.index(after: colon)...]))
        }
        return (expression, nil)
    }

    /// Splits a trailing `+n` / `-n` off a numeric template's argument.
    private static func splitOffset(_ text: String) -> (base: String, offset: Int64) {
        var digits = ""
        var index = text.endIndex
        while index > text.startIndex {
            let previous = text.index(before: index)
            let character = text[previous]
            if character.isASCII && character.isNumber {
                digits.insert(character, at: digits.startIndex)
                index = previous
            } else if (character == "+" || character == "-") && !digits.isEmpty {
                let sign: Int64 = character == "-" ? -1 : 1
                return (String(text[..<previous]), sign * (Int64(digits) ?? 0))
            } else {
                break
            }
        }
        return (text, 0)
    }

    static func evaluate(expression: String, in context: TemplateContext) throws(TemplateError) -> JSONValue {
        if expression == "i" || expression.hasPrefix("i+") || expression.hasPrefix("i-") {
            let (_, offset) = Self.splitOffset(expression)
            guard let iteration = context.iteration else {
                throw TemplateError("${\(expression)} is used outside a repeat step")
            }
            return .int(Int64(iteration) + offset)
        }
        if expression == "index" || expression.hasPrefix("index+") || expression.hasPrefix("index-") {
            let (_, offset) = Self.splitOffset(expression)
            guard let index = context.generatorIndex else {
                throw TemplateError("${\(expression)} is used outside the item of a $generate")
            }
            return .int(Int64(index) + offset)
        }
        let (kind, argument) = Self.split(expression)
        switch kind {
        case "app":
            return .string(context.appID)
        case "nonce":
            return .string(context.nonce)
        case "testControlKey":
            guard let key = context.testControlKey else {
                throw TemplateError(
                    "${testControlKey}: the run has no test-control key (give --test-control-key or "
                        + "--test-control-key-file)"
                )
            }
            return .string(key)
        case "user":
            return .string(context.userID(try Self.require(argument, expression)))
        case "channel":
            return .string(context.channelID(try Self.require(argument, expression)))
        case "capture":
            return try Self.capture(try Self.require(argument, expression), in: context)
        case "request":
            let (name, offset) = Self.splitOffset(try Self.require(argument, expression))
            guard let id = context.requestIDs[name] else {
                throw TemplateError("${\(expression)}: no request was sent with \"as\": \"\(name)\" before this step")
            }
            return .int(Int64(id) + offset)
        case "opcode":
            let (name, offset) = Self.splitOffset(try Self.require(argument, expression))
            guard let info = HeraldOpcodeTable.infoIncludingExtensions(forMessageName: "herald.v1." + name) else {
                throw TemplateError("${\(expression)}: \(name) is not a Herald v1 message with an opcode")
            }
            return .int(Int64(info.wireValue) + offset)
        case "limit", "timer":
            return .int(try Self.welcomeValue(kind, try Self.require(argument, expression), in: context))
        case "fill", "digits":
            let count = try Self.fillCount(try Self.require(argument, expression), in: context)
            guard count >= 0, count <= 16_777_215 else {
                throw TemplateError("${\(expression)}: \(count) is not a usable length")
            }
            return .string(String(repeating: kind == "fill" ? "x" : "1", count: Int(count)))
        case "token":
            guard let token = context.tokens[expression] else {
                throw TemplateError("${\(expression)}: tokens are only available in send payloads")
            }
            return .string(token)
        case "calc":
            let text = try Self.require(argument, expression)
            do throws(IntegerArithmetic.Failure) {
                return .int(try IntegerArithmetic.evaluate(text))
            } catch {
                throw TemplateError("${\(expression)}: \(error.description)")
            }
        case "bytes":
            return .int(Int64((argument ?? "").utf8.count))
        default:
            throw TemplateError(
                "unknown template ${\(expression)}; known: " + Self.kinds.map { "${\($0)…}" }.joined(separator: ", ")
            )
        }
    }

    private static func require(_ argument: String?, _ expression: String) throws(TemplateError) -> String {
        guard let argument, !argument.isEmpty else {
            throw TemplateError("${\(expression)} needs an argument after the colon")
        }
        return argument
    }

    private static func welcomeValue(
        _ kind: String,
        _ argument: String,
        in context: TemplateContext
    ) throws(TemplateError) -> Int64 {
        let (field, offset) = Self.splitOffset(argument)
        guard let source = kind == "limit" ? context.limits : context.timers else {
            throw TemplateError("${\(kind):\(argument)}: no Welcome has been received yet")
        }
        guard let value = source[field] else {
            let known = source.objectValue.map { $0.keys.sorted().joined(separator: ", ") } ?? ""
            throw TemplateError(
                "${\(kind):\(argument)}: Welcome.\(kind == "limit" ? "limits" : "timers") has no field \"\(field)\"; "
                    + "known: \(known)"
            )
        }
        guard let number = value.integerValue else {
            throw TemplateError("${\(kind):\(argument)}: \(value.compactText) is not an integer")
        }
        return number + offset
    }

    private static func fillCount(_ argument: String, in context: TemplateContext) throws(TemplateError) -> Int64 {
        if let count = Int64(argument) {
            return count
        }
        let (kind, rest) = Self.split(argument)
        guard kind == "limit" || kind == "timer", let rest else {
            throw TemplateError("${fill:\(argument)}: the length is a number, limit:<field>±n or timer:<field>±n")
        }
        return try Self.welcomeValue(kind, rest, in: context)
    }

    private static func capture(_ path: String, in context: TemplateContext) throws(TemplateError) -> JSONValue {
        let components = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        // The capture name may itself contain dots (`welcome.alice`): take the longest known prefix.
        for length in stride(from: components.count, through: 1, by: -1) {
            let name = components[0..<length].joined(separator: ".")
            guard let value = context.captures[name] else { continue }
            let rest = components[length...].joined(separator: ".")
            if rest.isEmpty { return value }
            do {
                return try JSONPath.lookup(rest, in: value)
            } catch {
                throw TemplateError("${capture:\(path)}: \(error.description)")
            }
        }
        let known = context.captures.keys.sorted().joined(separator: ", ")
        throw TemplateError("${capture:\(path)}: nothing was captured under that name; captured: \(known)")
    }

    // MARK: Static checking helpers

    private static func check(_ parts: [Part], into problems: inout [String]) {
        for part in parts {
            guard case .template(let inner) = part else { continue }
            Self.check(inner, into: &problems)
            // Only templates without nested templates can be checked further.
            guard inner.allSatisfy({ if case .literal = $0 { true } else { false } }) else { continue }
            let expression = inner.map { if case .literal(let text) = $0 { text } else { "" } }.joined()
            if let problem = Self.staticProblem(expression) {
                problems.append(problem)
            }
        }
    }

    private static func staticProblem(_ expression: String) -> String? {
        if expression == "i" || expression.hasPrefix("i+") || expression.hasPrefix("i-") {
            return Self.splitOffset(expression).base == "i" ? nil : "malformed template ${\(expression)}"
        }
        if expression == "index" || expression.hasPrefix("index+") || expression.hasPrefix("index-") {
            return Self.splitOffset(expression).base == "index" ? nil : "malformed template ${\(expression)}"
        }
        let (kind, argument) = Self.split(expression)
        switch kind {
        case "app", "nonce", "testControlKey":
            return argument == nil ? nil : "${\(kind)} takes no argument"
        case "user", "channel", "capture", "request":
            return (argument ?? "").isEmpty ? "${\(expression)} needs an argument after the colon" : nil
        case "opcode":
            let name = Self.splitOffset(argument ?? "").base
            return HeraldOpcodeTable.infoIncludingExtensions(forMessageName: "herald.v1." + name) == nil
                ? "${\(expression)}: \(name) is not a Herald v1 message with an opcode" : nil
        case "limit", "timer":
            return (argument ?? "").isEmpty ? "${\(expression)} needs a field name" : nil
        case "fill", "digits":
            guard let argument, !argument.isEmpty else { return "${\(kind)} needs a length" }
            if Int64(argument) != nil { return nil }
            let (inner, rest) = Self.split(argument)
            return (inner == "limit" || inner == "timer") && !(rest ?? "").isEmpty
                ? nil : "${\(expression)}: the length is a number, limit:<field>±n or timer:<field>±n"
        case "token":
            guard let argument, TokenSpec(argument) != nil else {
                return "${\(expression)}: unknown token kind; see the login step"
            }
            return nil
        case "bytes":
            return argument == nil ? "${bytes} needs a colon, then the text to measure: ${bytes:<text>}" : nil
        case "calc":
            guard let argument, !argument.isEmpty else { return "${calc} needs an expression" }
            do throws(IntegerArithmetic.Failure) {
                _ = try IntegerArithmetic.evaluate(argument)
                return nil
            } catch {
                return "${\(expression)}: \(error.description)"
            }
        default:
            return "unknown template ${\(expression)}; known: " + Self.kinds.map { "${\($0)…}" }.joined(separator: ", ")
        }
    }

    private static func tokenTemplates(in parts: [Part], context: TemplateContext?) -> [String] {
        var result: [String] = []
        for part in parts {
            guard case .template(let inner) = part else { continue }
            result += Self.tokenTemplates(in: inner, context: context)
            let literal = inner.map { if case .literal(let text) = $0 { text } else { "" } }.joined()
            guard literal.hasPrefix("token:") else { continue }
            if let context, let expanded = try? Self.interpolate(inner, in: context) {
                result.append(expanded)
            } else {
                result.append(literal)
            }
        }
        return result
    }
}

/// Paths into JSON values: `field.sub`, `list[2].name` or `list.2.name`.
public enum JSONPath {
    /// A path that leads nowhere.
    public struct LookupError: Error, Hashable, Sendable, CustomStringConvertible {
        /// What is missing.
        public var description: String
    }

    /// The value at `path` inside `value`.
    ///
    /// - Throws: ``LookupError`` when a component is missing.
    public static func lookup(_ path: String, in value: JSONValue) throws(LookupError) -> JSONValue {
        var current = value
        var walked = ""
        for component in Self.components(path) {
            switch (component, current) {
            case (.key(let key), .object(let members)):
                guard let next = members[key] else {
                    throw LookupError(description: "no field \"\(key)\" at \(walked.isEmpty ? "the top" : walked)")
                }
                current = next
                walked += walked.isEmpty ? key : "." + key
            case (.index(let index), .array(let elements)):
                guard index < elements.count else {
                    throw LookupError(
                        description: "index \(index) is out of range at \(walked) (\(elements.count) elements)"
                    )
                }
                current = elements[index]
                walked += "[\(index)]"
            case (.key(let key), .array(let elements)):
                guard let index = Int(key), index < elements.count else {
                    throw LookupError(description: "\(walked) is an array; \"\(key)\" is not an index in it")
                }
                current = elements[index]
                walked += "[\(index)]"
            default:
                throw LookupError(description: "\(walked.isEmpty ? "the value" : walked) is not an object or array")
            }
        }
        return current
    }

    enum Component: Hashable {
        case key(String)
        case index(Int)
    }

    static func components(_ path: String) -> [Component] {
        var result: [Component] = []
        for piece in path.split(separator: ".", omittingEmptySubsequences: true) {
            var text = Substring(piece)
            if let bracket = text.firstIndex(of: "[") {
                let key = text[..<bracket]
                if !key.isEmpty { result.append(.key(String(key))) }
                text = text[bracket...]
                while text.hasPrefix("["), let close = text.firstIndex(of: "]") {
                    let number = text[text.index(after: text.startIndex)..<close]
                    result.append(Int(number).map(Component.index) ?? .key(String(number)))
                    text = text[text.index(after: close)...]
                }
            } else {
                result.append(.key(String(text)))
            }
        }
        return result
    }
}

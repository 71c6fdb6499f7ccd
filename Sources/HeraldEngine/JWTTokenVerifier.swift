import Crypto

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Verifies Herald tokens: HS256 JSON Web Tokens (Spec/15-tokens.md §15.3).
///
/// The verifier applies the steps of TOK-7 for a login and the order of TOK-23 for a renewal, and reports the first
/// step that fails. It reads the time only from the `nowMs` it is given.
///
/// Steps 1 and 2 (the token's shape and its JOSE header) are checked before any signature work; step 3 computes and
/// compares the HMAC-SHA256 signature with swift-crypto (in constant time), trying each secret of the app (TOK-3; `kid` is not used to choose);
/// the claims are then checked here against the injected clock:
///
/// - Base64url segments must be canonical: no padding, no characters outside the base64url alphabet and no set bits
///   after the last full byte.
/// - The header and the claims set must be JSON objects in valid UTF-8 (RFC 8259) with no duplicate member names at
///   any depth (names are compared byte for byte) and at most 64 levels of nesting.
/// - `aud` and `sub` are compared byte for byte with the app id and user id (no Unicode normalization).
/// - NumericDates may be integers or fractions. They are compared exactly up to 10⁻¹⁸ s (digits beyond the 18th
///   decimal place are ignored) and saturate at ±10¹⁹ s.
/// - Secrets shorter than 32 bytes (which a valid configuration never holds, TOK-1) never verify a token.
public struct JWTTokenVerifier: TokenVerifying {
    /// The literal a client sends instead of a token in app-ID-only mode (TOK-14).
    static let noNeedToken = "_no_need_token"

    private struct App: Sendable {
        var allowsTokenlessLogin: Bool
        var secretCount: Int
    }

    /// The configured apps, keyed by the UTF-8 bytes of their ids so that lookups are byte for byte.
    private let apps: [[UInt8]: App]
    /// The HMAC-SHA256 keys of each app.
    private let keys: [[UInt8]: [SymmetricKey]]
    private let maximumLifetimeSeconds: Int64?
    private let acceptedIssuers: Set<String>?

    /// Creates a verifier for `apps`.
    ///
    /// - Parameters:
    ///   - apps: The apps and their secrets. A token verifies if it verifies under any secret of its app.
    ///   - maximumLifetimeSeconds: If set, a token whose `exp` − `iat` exceeds this fails at step 4 (TOK-10).
    ///   - acceptedIssuers: If set, a token fails at step 4 unless its `iss` is a string in this set (compared byte
    ///     for byte).
    public init(apps: [AppCredentials], maximumLifetimeSeconds: Int64? = nil, acceptedIssuers: Set<String>? = nil) {
        var table: [[UInt8]: App] = [:]
        var secrets: [[UInt8]: [[UInt8]]] = [:]
        for app in apps {
            let usable = app.secrets.filter { $0.count >= 32 }
            table[Array(app.appID.utf8)] = App(
                allowsTokenlessLogin: app.allowsTokenlessLogin,
                secretCount: usable.count
            )
            secrets[Array(app.appID.utf8)] = usable
        }
        self.apps = table
        self.maximumLifetimeSeconds = maximumLifetimeSeconds
        self.acceptedIssuers = acceptedIssuers
        self.keys = secrets.mapValues { appSecrets in appSecrets.map { SymmetricKey(data: $0) } }
    }

    /// Verifies a login token, applying the steps of TOK-7 in order (and TOK-14/TOK-16 for empty tokens).
    public func verifyLogin(token: String, appID: String, userID: String, nowMs: Int64) -> TokenVerdict {
        self.verify(token: token, appID: appID, userID: userID, nowMs: nowMs, renewal: false)
    }

    /// Verifies a renewal token, applying the steps in the order of TOK-23: steps 1–4 and 7, then 5 and 6, then 8.
    public func verifyRenewal(token: String, appID: String, userID: String, nowMs: Int64) -> TokenVerdict {
        self.verify(token: token, appID: appID, userID: userID, nowMs: nowMs, renewal: true)
    }

    private func verify(
        token: String,
        appID: String,
        userID: String,
        nowMs: Int64,
        renewal: Bool
    ) -> TokenVerdict {
        let appKey = Array(appID.utf8)
        let app = self.apps[appKey]
        if token.isEmpty || token.utf8.elementsEqual(Self.noNeedToken.utf8) {
            return app?.allowsTokenlessLogin == true ? .tokenless : .failed(.malformed)
        }
        do throws(TokenStepFailure) {
            // Steps 1 and 2.
            let parsed = try ParsedToken(token)
            // Step 3. An unknown app, or one with no secret, verifies nothing.
            guard (app?.secretCount ?? 0) > 0, self.signatureVerifies(parsed, appKey: appKey) else {
                return .failed(.signature)
            }
            // Step 4.
            let claims = try TokenClaims(
                parsed.claims,
                maximumLifetimeSeconds: self.maximumLifetimeSeconds,
                acceptedIssuers: self.acceptedIssuers
            )
            let now = NumericDate(milliseconds: nowMs)
            if renewal {
                try claims.checkTimes(now: now)
                try claims.checkAudienceAndSubject(appID: appID, userID: userID)
            } else {
                try claims.checkAudienceAndSubject(appID: appID, userID: userID)
                try claims.checkTimes(now: now)
            }
            // Step 8: no skew on `exp` (TOK-12).
            guard claims.expiresAt > now else { return .failed(.expired) }
            return .verified(VerifiedToken(expiresMs: claims.expiresAt.floorMilliseconds))
        } catch {
            return .failed(error.step)
        }
    }

    private func signatureVerifies(_ parsed: ParsedToken, appKey: [UInt8]) -> Bool {
        for key in self.keys[appKey] ?? [] {
            // swift-crypto compares the computed HMAC with the signature in constant time (TOK-9).
            if HMAC<SHA256>.isValidAuthenticationCode(parsed.signature, authenticating: parsed.signingInput, using: key)
            {
                return true
            }
        }
        return false
    }
}

// MARK: - Steps 1 and 2: shape and header

/// A verification step failed; thrown between the steps of ``JWTTokenVerifier``.
struct TokenStepFailure: Error {
    var step: TokenFailure
}

/// A token split into its segments, with header and claims decoded and the header checked (steps 1 and 2).
struct ParsedToken {
    /// The ASCII bytes of the first two segments joined by `.`.
    var signingInput: [UInt8]
    /// The decoded signature segment.
    var signature: [UInt8]
    /// The decoded JOSE header.
    var header: JSONObject
    /// The decoded claims set.
    var claims: JSONObject

    /// Parses `token`, failing with step 1 or step 2.
    init(_ token: String) throws(TokenStepFailure) {
        let bytes = Array(token.utf8)
        let segments = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard segments.count == 3,
            let headerBytes = Base64URL.decode(segments[0]),
            let claimsBytes = Base64URL.decode(segments[1]),
            let signature = Base64URL.decode(segments[2]),
            let header = JSONParser.parseObject(headerBytes),
            let claims = JSONParser.parseObject(claimsBytes)
        else {
            throw TokenStepFailure(step: .malformed)
        }
        self.signingInput = Array(bytes[..<segments[1].endIndex])
        self.signature = signature
        self.header = header
        self.claims = claims
        try Self.checkHeader(header)
    }

    private static func checkHeader(_ header: JSONObject) throws(TokenStepFailure) {
        guard case .string(let alg)? = header["alg"], alg.utf8.elementsEqual("HS256".utf8) else {
            throw TokenStepFailure(step: .header)
        }
        if header["crit"] != nil {
            throw TokenStepFailure(step: .header)
        }
        if let typ = header["typ"] {
            guard case .string(let value) = typ, Self.isJWT(value) else {
                throw TokenStepFailure(step: .header)
            }
        }
    }

    /// Whether `value` is `JWT` in any mix of ASCII upper and lower case.
    private static func isJWT(_ value: String) -> Bool {
        let lowered = value.utf8.map { byte in
            (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
        }
        return lowered == Array("jwt".utf8)
    }
}

// MARK: - Step 4 onwards: claims

/// The claims of a signed token, with the types of Spec/15-tokens.md §15.2 checked (step 4).
struct TokenClaims {
    /// `aud`, as a one-element array when it was a string.
    var audiences: [String]
    /// `sub`.
    var subject: String
    /// `exp`.
    var expiresAt: NumericDate
    /// `iat`.
    var issuedAt: NumericDate
    /// `nbf`, if present.
    var notBefore: NumericDate?

    private static let skew = NumericDate(milliseconds: 60_000)

    /// Checks the claims of step 4.
    init(
        _ claims: JSONObject,
        maximumLifetimeSeconds: Int64?,
        acceptedIssuers: Set<String>?
    ) throws(TokenStepFailure) {
        let failure = TokenStepFailure(step: .claims)
        switch claims["aud"] {
        case .string(let audience)?:
            self.audiences = [audience]
        case .array(let elements)?:
            var audiences: [String] = []
            for element in elements {
                guard case .string(let audience) = element else { throw failure }
                audiences.append(audience)
            }
            self.audiences = audiences
        default:
            throw failure
        }
        guard case .string(let subject)? = claims["sub"],
            case .number(let exp)? = claims["exp"],
            case .number(let iat)? = claims["iat"]
        else {
            throw failure
        }
        self.subject = subject
        self.expiresAt = exp
        self.issuedAt = iat
        switch claims["nbf"] {
        case nil:
            self.notBefore = nil
        case .number(let nbf)?:
            self.notBefore = nbf
        default:
            throw failure
        }
        guard exp > iat else { throw failure }
        if let maximumLifetimeSeconds {
            let lifetime = exp.attoseconds - iat.attoseconds
            let maximum = Int128(maximumLifetimeSeconds) * NumericDate.attosecondsPerSecond
            guard lifetime <= maximum else { throw failure }
        }
        if let acceptedIssuers {
            guard case .string(let issuer)? = claims["iss"],
                acceptedIssuers.contains(where: { $0.utf8.elementsEqual(issuer.utf8) })
            else {
                throw failure
            }
        }
    }

    /// Steps 5 and 6.
    func checkAudienceAndSubject(appID: String, userID: String) throws(TokenStepFailure) {
        guard self.audiences.contains(where: { $0.utf8.elementsEqual(appID.utf8) }) else {
            throw TokenStepFailure(step: .audience)
        }
        guard self.subject.utf8.elementsEqual(userID.utf8) else {
            throw TokenStepFailure(step: .subject)
        }
    }

    /// Step 7: `iat` and `nbf` at most 60 s after now (TOK-12).
    func checkTimes(now: NumericDate) throws(TokenStepFailure) {
        let latest = NumericDate(attoseconds: now.attoseconds + Self.skew.attoseconds)
        guard self.issuedAt <= latest else { throw TokenStepFailure(step: .notYetValid) }
        if let notBefore = self.notBefore, notBefore > latest {
            throw TokenStepFailure(step: .notYetValid)
        }
    }
}

/// A JWT NumericDate as a fixed-point count of attoseconds (10⁻¹⁸ s) since the Unix epoch.
///
/// Converted exactly from a JSON number literal, except that digits beyond the 18th decimal place are dropped
/// (rounding towards zero) and magnitudes of 10¹⁹ s or more saturate at ±10¹⁹ s.
struct NumericDate: Comparable, Hashable, Sendable {
    static let attosecondsPerSecond: Int128 = 1_000_000_000_000_000_000
    static let attosecondsPerMillisecond: Int128 = 1_000_000_000_000_000
    /// 10¹⁹ s in attoseconds; the largest magnitude represented.
    static let saturation: Int128 = 10_000_000_000_000_000_000_000_000_000_000_000_000

    /// The value in attoseconds.
    var attoseconds: Int128

    /// Creates a date from attoseconds.
    init(attoseconds: Int128) {
        self.attoseconds = attoseconds
    }

    /// Creates a date from Unix milliseconds.
    init(milliseconds: Int64) {
        self.attoseconds = Int128(milliseconds) * Self.attosecondsPerMillisecond
    }

    /// Converts a JSON number literal that has already been checked against the RFC 8259 grammar.
    init(jsonLiteral literal: some Collection<UInt8>) {
        var digits: [UInt8] = []
        var fractionDigits = 0
        var exponent = 0
        var negative = false
        var negativeExponent = false
        var part = 0  // 0: integer part, 1: fraction, 2: exponent
        for byte in literal {
            switch byte {
            case UInt8(ascii: "-") where part == 0:
                negative = true
            case UInt8(ascii: "-"):
                negativeExponent = true
            case UInt8(ascii: "+"):
                break
            case UInt8(ascii: "."):
                part = 1
            case UInt8(ascii: "e"), UInt8(ascii: "E"):
                part = 2
            default:
                let digit = Int(byte &- UInt8(ascii: "0"))
                switch part {
                case 0:
                    digits.append(UInt8(digit))
                case 1:
                    digits.append(UInt8(digit))
                    fractionDigits += 1
                default:
                    exponent = min(exponent * 10 + digit, 1_000_000_000)
                }
            }
        }
        if negativeExponent { exponent = -exponent }
        // The value is digits × 10^scale attoseconds.
        var scale = exponent - fractionDigits + 18
        guard let first = digits.firstIndex(where: { $0 != 0 }) else {
            self.attoseconds = 0
            return
        }
        var significant = digits[first...]
        if scale < 0 {
            if -scale >= significant.count {
                self.attoseconds = 0
                return
            }
            significant = significant.dropLast(-scale)
            scale = 0
        }
        var magnitude: Int128
        if significant.count + scale > 37 {
            magnitude = Self.saturation
        } else {
            magnitude = 0
            for digit in significant {
                magnitude = magnitude * 10 + Int128(digit)
            }
            for _ in 0..<scale {
                magnitude *= 10
            }
        }
        self.attoseconds = negative ? -magnitude : magnitude
    }

    /// The date in Unix milliseconds, rounded down and clamped to the range of `Int64` (TOK-11).
    var floorMilliseconds: Int64 {
        var quotient = self.attoseconds / Self.attosecondsPerMillisecond
        if self.attoseconds % Self.attosecondsPerMillisecond < 0 {
            quotient -= 1
        }
        return Int64(clamping: quotient)
    }

    static func < (lhs: NumericDate, rhs: NumericDate) -> Bool {
        lhs.attoseconds < rhs.attoseconds
    }
}

// MARK: - JSON

/// A JSON value as decoded by ``JSONParser``.
enum JSONValue: Sendable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number, as a NumericDate (the only use Herald has for numbers in a token).
    case number(NumericDate)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object.
    case object(JSONObject)
}

/// A JSON object: its members in document order, with distinct names.
struct JSONObject: Sendable {
    /// One member.
    struct Member: Sendable {
        /// The member's name.
        var name: String
        /// The member's value.
        var value: JSONValue
    }

    /// The members in document order.
    var members: [Member]

    /// The value of the member whose name equals `name` byte for byte.
    subscript(name: String) -> JSONValue? {
        self.members.first { $0.name.utf8.elementsEqual(name.utf8) }?.value
    }
}

/// A strict RFC 8259 parser: valid UTF-8, no duplicate member names, limited nesting.
struct JSONParser {
    /// The deepest nesting of arrays and objects accepted.
    static let maximumDepth = 64

    private let bytes: [UInt8]
    private var index = 0
    private var depth = 0

    private init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Parses `bytes` as one JSON object, or returns `nil` if they are anything else.
    static func parseObject(_ bytes: [UInt8]) -> JSONObject? {
        guard String(validating: bytes, as: UTF8.self) != nil else { return nil }
        var parser = JSONParser(bytes: bytes)
        parser.skipWhitespace()
        guard parser.peek() == UInt8(ascii: "{"), case .object(let object)? = parser.parseValue() else {
            return nil
        }
        parser.skipWhitespace()
        guard parser.index == bytes.count else { return nil }
        return object
    }

    private func peek() -> UInt8? {
        self.index < self.bytes.count ? self.bytes[self.index] : nil
    }

    private mutating func skipWhitespace() {
        while let byte = self.peek(),
            byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n")
                || byte == UInt8(ascii: "\r")
        {
            self.index += 1
        }
    }

    private mutating func consume(_ literal: String) -> Bool {
        let expected = Array(literal.utf8)
        guard self.bytes.count - self.index >= expected.count,
            self.bytes[self.index..<self.index + expected.count].elementsEqual(expected)
        else {
            return false
        }
        self.index += expected.count
        return true
    }

    private mutating func parseValue() -> JSONValue? {
        guard let byte = self.peek() else { return nil }
        switch byte {
        case UInt8(ascii: "{"):
            return self.parseObjectValue()
        case UInt8(ascii: "["):
            return self.parseArray()
        case UInt8(ascii: "\""):
            return self.parseString().map { .string($0) }
        case UInt8(ascii: "t"):
            return self.consume("true") ? .bool(true) : nil
        case UInt8(ascii: "f"):
            return self.consume("false") ? .bool(false) : nil
        case UInt8(ascii: "n"):
            return self.consume("null") ? .null : nil
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return self.parseNumber()
        default:
            return nil
        }
    }

    private mutating func parseObjectValue() -> JSONValue? {
        self.depth += 1
        defer { self.depth -= 1 }
        guard self.depth <= Self.maximumDepth else { return nil }
        self.index += 1
        var members: [JSONObject.Member] = []
        var names = Set<[UInt8]>()
        self.skipWhitespace()
        if self.peek() == UInt8(ascii: "}") {
            self.index += 1
            return .object(JSONObject(members: members))
        }
        while true {
            self.skipWhitespace()
            guard self.peek() == UInt8(ascii: "\""), let name = self.parseString() else { return nil }
            guard names.insert(Array(name.utf8)).inserted else { return nil }
            self.skipWhitespace()
            guard self.peek() == UInt8(ascii: ":") else { return nil }
            self.index += 1
            self.skipWhitespace()
            guard let value = self.parseValue() else { return nil }
            members.append(JSONObject.Member(name: name, value: value))
            self.skipWhitespace()
            switch self.peek() {
            case UInt8(ascii: ","):
                self.index += 1
            case UInt8(ascii: "}"):
                self.index += 1
                return .object(JSONObject(members: members))
            default:
                return nil
            }
        }
    }

    private mutating func parseArray() -> JSONValue? {
        self.depth += 1
        defer { self.depth -= 1 }
        guard self.depth <= Self.maximumDepth else { return nil }
        self.index += 1
        var elements: [JSONValue] = []
        self.skipWhitespace()
        if self.peek() == UInt8(ascii: "]") {
            self.index += 1
            return .array(elements)
        }
        while true {
            self.skipWhitespace()
            guard let value = self.parseValue() else { return nil }
            elements.append(value)
            self.skipWhitespace()
            switch self.peek() {
            case UInt8(ascii: ","):
                self.index += 1
            case UInt8(ascii: "]"):
                self.index += 1
                return .array(elements)
            default:
                return nil
            }
        }
    }

    /// Parses a string starting at its opening quote.
    private mutating func parseString() -> String? {
        self.index += 1
        var utf8: [UInt8] = []
        while let byte = self.peek() {
            self.index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: utf8, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let escape = self.peek() else { return nil }
                self.index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"):
                    utf8.append(escape)
                case UInt8(ascii: "b"):
                    utf8.append(0x08)
                case UInt8(ascii: "f"):
                    utf8.append(0x0C)
                case UInt8(ascii: "n"):
                    utf8.append(0x0A)
                case UInt8(ascii: "r"):
                    utf8.append(0x0D)
                case UInt8(ascii: "t"):
                    utf8.append(0x09)
                case UInt8(ascii: "u"):
                    guard let scalar = self.parseUnicodeEscape() else { return nil }
                    UTF8.encode(scalar) { utf8.append($0) }
                default:
                    return nil
                }
            case 0x00..<0x20:
                return nil
            default:
                // Multi-byte sequences were validated as a whole before parsing; copy them through.
                utf8.append(byte)
            }
        }
        return nil
    }

    /// Parses the four hex digits after `\u`, and a second escape when they are a high surrogate.
    private mutating func parseUnicodeEscape() -> Unicode.Scalar? {
        guard let first = self.parseHex4() else { return nil }
        switch first {
        case 0xD800...0xDBFF:
            guard self.consume("\\u"), let second = self.parseHex4(), (0xDC00...0xDFFF).contains(second) else {
                return nil
            }
            return Unicode.Scalar(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
        case 0xDC00...0xDFFF:
            return nil
        default:
            return Unicode.Scalar(first)
        }
    }

    private mutating func parseHex4() -> UInt32? {
        guard self.bytes.count - self.index >= 4 else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = self.bytes[self.index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
            self.index += 1
        }
        return value
    }

    /// Parses a number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    private mutating func parseNumber() -> JSONValue? {
        let start = self.index
        if self.peek() == UInt8(ascii: "-") { self.index += 1 }
        if self.peek() == UInt8(ascii: "0") {
            self.index += 1
        } else {
            guard self.skipDigits() else { return nil }
        }
        if self.peek() == UInt8(ascii: ".") {
            self.index += 1
            guard self.skipDigits() else { return nil }
        }
        if self.peek() == UInt8(ascii: "e") || self.peek() == UInt8(ascii: "E") {
            self.index += 1
            if self.peek() == UInt8(ascii: "+") || self.peek() == UInt8(ascii: "-") { self.index += 1 }
            guard self.skipDigits() else { return nil }
        }
        return .number(NumericDate(jsonLiteral: self.bytes[start..<self.index]))
    }

    /// Skips one or more digits; returns false if there was none.
    private mutating func skipDigits() -> Bool {
        let start = self.index
        while let byte = self.peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
            self.index += 1
        }
        return self.index > start
    }
}

// MARK: - Base64url

/// Base64url without padding (RFC 4648 §5), strict: only canonical encodings decode.
enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, character) in alphabet.enumerated() {
            table[Int(character)] = UInt8(value)
        }
        return table
    }()

    /// Decodes a non-empty segment, or returns `nil` if it is empty, has a character outside the alphabet (padding
    /// included), has an impossible length, or has set bits after its last byte.
    static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        guard !text.isEmpty, text.count % 4 != 1 else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(text.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for character in text {
            let value = Self.values[Int(character)]
            guard value != 0xFF else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                accumulator &= (1 << UInt32(bits)) - 1
            }
        }
        guard accumulator == 0 else { return nil }
        return output
    }

    /// Encodes `bytes` without padding.
    static func encode(_ bytes: some Collection<UInt8>) -> String {
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count * 4 + 2) / 3)
        var accumulator: UInt32 = 0
        var bits = 0
        for byte in bytes {
            accumulator = accumulator << 8 | UInt32(byte)
            bits += 8
            while bits >= 6 {
                bits -= 6
                output.append(Self.alphabet[Int((accumulator >> UInt32(bits)) & 0x3F)])
            }
            accumulator &= (1 << UInt32(bits)) - 1
        }
        if bits > 0 {
            output.append(Self.alphabet[Int((accumulator << UInt32(6 - bits)) & 0x3F)])
        }
        return String(decoding: output, as: UTF8.self)
    }
}

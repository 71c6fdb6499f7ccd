import HeraldEngine
import HeraldMessages

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// App secrets kept in files (Spec/15-tokens.md §15.1).
public enum AppSecretFile {
    /// The name of the generated secret's file inside a data directory.
    public static let fileName = "app-secret"

    /// Reads a secret: the file's bytes, without trailing line breaks (so `echo SECRET > FILE` works).
    ///
    /// - Throws: File-system errors, and ``HeraldServerConfigurationError`` for an empty file.
    public static func read(path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw HeraldServerConfigurationError("cannot read the app secret file \(path)")
        }
        var bytes = Array(data)
        while let last = bytes.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") {
            bytes.removeLast()
        }
        guard !bytes.isEmpty else {
            throw HeraldServerConfigurationError("the app secret file \(path) is empty")
        }
        return bytes
    }

    /// Reads `directory/app-secret`, or creates it (readable by its owner only) with a new secret: 64 hexadecimal
    /// characters from 32 bytes of the system's secure random generator (TOK-1, TOK-2). The secret is the text
    /// itself, so it can be passed on a command line.
    ///
    /// - Returns: The secret, the file's path, and whether the file was created now.
    public static func loadOrCreate(directory: String) throws -> (secret: [UInt8], path: String, created: Bool) {
        let path = directory + "/" + Self.fileName
        if FileManager.default.fileExists(atPath: path) {
            return (try Self.read(path: path), path, false)
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var generator = SystemRandomNumberGenerator()
        let hex = (0..<32).map { _ in
            let byte = UInt8.random(in: .min ... .max, using: &generator)
            let digits = String(byte, radix: 16)
            return byte < 0x10 ? "0" + digits : digits
        }.joined()
        let created = FileManager.default.createFile(
            atPath: path,
            contents: Data((hex + "\n").utf8),
            attributes: [.posixPermissions: 0o600]
        )
        guard created else {
            throw HeraldServerConfigurationError("cannot create the app secret file \(path)")
        }
        return (Array(hex.utf8), path, true)
    }
}

/// Names of rate classes for command lines and configuration files (Spec/14-limits.md §14.3).
public enum RateClassName {
    /// Every rate class with its short name, such as `messages` or `join-same-channel`.
    public static let all: [(name: String, rateClass: Herald_V1_RateClass)] = [
        ("login", .login),
        ("renew-token", .renewToken),
        ("messages", .messages),
        ("join", .join),
        ("join-same-channel", .joinSameChannel),
        ("get-members", .getMembers),
        ("query-presence", .queryPresence),
        ("subscription", .subscription),
        ("user-attributes-write", .userAttributesWrite),
        ("user-attributes-read", .userAttributesRead),
        ("channel-attributes-write", .channelAttributesWrite),
        ("channel-attributes-read", .channelAttributesRead),
        ("member-count", .memberCount),
    ]

    /// The short name of a rate class.
    public static func name(of rateClass: Herald_V1_RateClass) -> String {
        Self.all.first { $0.rateClass == rateClass }?.name ?? "\(rateClass)"
    }

    /// Looks a class up by short name (`join-same-channel`), ignoring case, with `_` for `-` and an optional
    /// `RATE_CLASS_` prefix, so that `RATE_CLASS_JOIN_SAME_CHANNEL` works too.
    public static func rateClass(named text: String) -> Herald_V1_RateClass? {
        var name = String(text.lowercased().map { $0 == "_" ? "-" : $0 })
        if name.hasPrefix("rate-class-") {
            name.removeFirst("rate-class-".count)
        }
        return Self.all.first { $0.name == name }?.rateClass
    }

    /// Parses `CLASS=COUNT/WINDOW_MS`, such as `messages=180/3000`.
    public static func parseLimit(
        _ text: String
    ) throws(HeraldServerConfigurationError) -> (rateClass: Herald_V1_RateClass, limit: RateLimitValue) {
        let parts = text.split(separator: "=", maxSplits: 1)
        guard parts.count == 2 else {
            throw HeraldServerConfigurationError("'\(text)' is not CLASS=COUNT/WINDOW_MS")
        }
        guard let rateClass = Self.rateClass(named: String(parts[0])) else {
            throw HeraldServerConfigurationError(
                "unknown rate class '\(parts[0])'; known: \(Self.all.map(\.name).joined(separator: ", "))"
            )
        }
        let numbers = parts[1].split(separator: "/", maxSplits: 1)
        guard numbers.count == 2, let count = Int(numbers[0]), let window = Int64(numbers[1]), count > 0, window > 0
        else {
            throw HeraldServerConfigurationError("'\(text)': COUNT and WINDOW_MS must be positive whole numbers")
        }
        return (rateClass, RateLimitValue(count: count, windowMs: window))
    }
}

/// The command-line names of the engine's settings: one flag per field of `EngineLimits` and `EngineTimers`.
public enum EngineSettingFlags {
    /// Converts a Swift field name to a flag name: `maxUserIDBytes` → `max-user-id-bytes`,
    /// `channelAttributesEmptyTTLMs` → `channel-attributes-empty-ttl-ms`.
    public static func flagName(forField field: String) -> String {
        let characters = Array(field)
        var result = ""
        for (index, character) in characters.enumerated() {
            if character.isUppercase && index > 0 {
                let previous = characters[index - 1]
                let next = index + 1 < characters.count ? characters[index + 1] : nil
                if previous.isLowercase || previous.isNumber || (previous.isUppercase && next?.isLowercase == true) {
                    result.append("-")
                }
            }
            result.append(contentsOf: character.lowercased())
        }
        return result
    }

    /// The flag names of every `EngineLimits` field, in declaration order.
    public static var limitFlags: [String] {
        Mirror(reflecting: EngineLimits()).children.compactMap { $0.label.map(Self.flagName(forField:)) }
    }

    /// The flag names of every `EngineTimers` field, in declaration order.
    public static var timerFlags: [String] {
        Mirror(reflecting: EngineTimers()).children.compactMap { $0.label.map(Self.flagName(forField:)) }
    }
}

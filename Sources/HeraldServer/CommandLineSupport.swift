import HeraldEngine
import HeraldMessages

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// App secrets kept in files (Spec/15-tokens.md §15.1).
public enum AppSecretFile {
    /// The name of the generated secret's file inside a data directory.
    public static let fileName = "app-secret"

    /// Reads a secret: the file's bytes, without trailing line breaks (so `echo SECRET > FILE` works).
    ///
    /// - Throws: ``FileAccessError`` when the file cannot be read (saying why), and
    ///   ``HeraldServerConfigurationError`` for an empty file.
    public static func read(path: String) throws -> [UInt8] {
        var bytes = try CommandLineFiles.readFile(path: path, what: "the app secret file")
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
    /// itself, so it can be passed on a command line. The directory is created if needed.
    ///
    /// - Returns: The secret, the file's path, and whether the file was created now.
    /// - Throws: ``FileAccessError`` when the directory or the file cannot be created or read, saying why;
    ///   ``HeraldServerConfigurationError`` for an empty file.
    public static func loadOrCreate(directory: String) throws -> (secret: [UInt8], path: String, created: Bool) {
        let path = directory + "/" + Self.fileName
        if FileManager.default.fileExists(atPath: path) {
            return (try Self.read(path: path), path, false)
        }
        try CommandLineFiles.createDirectory(path: directory, what: "the data directory")
        var generator = SystemRandomNumberGenerator()
        let hex = (0..<32).map { _ in
            let byte = UInt8.random(in: .min ... .max, using: &generator)
            let digits = String(byte, radix: 16)
            return byte < 0x10 ? "0" + digits : digits
        }.joined()
        try CommandLineFiles.createFile(
            path: path,
            contents: Array((hex + "\n").utf8),
            permissions: 0o600,
            what: "the app secret file"
        )
        return (Array(hex.utf8), path, true)
    }
}

/// A file or directory that could not be read or created, with the reason in plain words.
public struct FileAccessError: Error, Hashable, CustomStringConvertible {
    /// What was attempted, as a verb phrase: `read`, `create`.
    public var action: String
    /// What the path is, for people: `the app secret file`, `the data directory`.
    public var what: String
    /// The path as given.
    public var path: String
    /// Why it failed, in plain words: `permission denied`, `no such file or directory`, `/x is not a directory`.
    public var reason: String

    /// Creates a description of a failed file operation.
    public init(action: String, what: String, path: String, reason: String) {
        self.action = action
        self.what = what
        self.path = path
        self.reason = reason
    }

    /// `cannot create the data directory /x: permission denied`.
    public var description: String {
        "cannot \(self.action) \(self.what) \(self.path): \(self.reason)"
    }

    /// The description with the command-line flag that named the path:
    /// `cannot create the data directory /x (--data): permission denied`.
    public func description(flag: String) -> String {
        "cannot \(self.action) \(self.what) \(self.path) (\(flag)): \(self.reason)"
    }
}

/// Messages for system error numbers, in plain words.
public enum SystemErrorText {
    /// The system's message for `errorNumber`, starting in lower case: `permission denied`, `no such file or
    /// directory`, `address already in use`.
    public static func reason(errorNumber: Int32) -> String {
        guard let text = strerror(errorNumber) else { return "system error \(errorNumber)" }
        let message = String(cString: text)
        guard let first = message.first else { return "system error \(errorNumber)" }
        return first.lowercased() + message.dropFirst()
    }

    /// Why a listening socket could not be opened: ``reason(errorNumber:)``, with a hint for the usual causes.
    public static func listenReason(errorNumber: Int32) -> String {
        switch errorNumber {
        case EACCES: "permission denied (ports below 1024 need privileges)"
        case EADDRNOTAVAIL: "the address is not one of this machine's"
        default: Self.reason(errorNumber: errorNumber)
        }
    }
}

/// Files read and directories created by the command-line tools, with errors that say which path and why.
public enum CommandLineFiles {
    /// Reads a whole file.
    ///
    /// - Parameters:
    ///   - path: The file.
    ///   - what: What the file is, for the error message (`the app secret file`).
    /// - Throws: ``FileAccessError`` with the reason: `no such file or directory`, `permission denied`,
    ///   `it is a directory`, ….
    public static func readFile(path: String, what: String) throws(FileAccessError) -> [UInt8] {
        func failure(_ reason: String) -> FileAccessError {
            FileAccessError(action: "read", what: what, path: path, reason: reason)
        }
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw failure(SystemErrorText.reason(errorNumber: errno)) }
        defer { _ = close(descriptor) }
        var status = stat()
        if fstat(descriptor, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR {
            throw failure("it is a directory")
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure(SystemErrorText.reason(errorNumber: errno))
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[..<count])
        }
        return bytes
    }

    /// Creates a directory and any missing parents (mode 0755), and checks that the directory can be written to.
    ///
    /// - Parameters:
    ///   - path: The directory.
    ///   - what: What the directory is, for the error message (`the data directory`).
    /// - Throws: ``FileAccessError`` with the reason: `permission denied`, `read-only file system`,
    ///   `/x is a file, not a directory`, ….
    public static func createDirectory(path: String, what: String) throws(FileAccessError) {
        func failure(_ reason: String) -> FileAccessError {
            FileAccessError(action: "create", what: what, path: path, reason: reason)
        }
        guard !path.isEmpty else { throw failure("the path is empty") }
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += prefix.isEmpty || prefix.hasSuffix("/") ? component : "/" + component
            var status = stat()
            if stat(prefix, &status) == 0 {
                guard (status.st_mode & S_IFMT) == S_IFDIR else {
                    throw failure(prefix == path ? "it is a file, not a directory" : "\(prefix) is not a directory")
                }
                continue
            }
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                let reason = SystemErrorText.reason(errorNumber: errno)
                throw failure(prefix == path ? reason : "\(prefix): \(reason)")
            }
        }
        if access(path, W_OK | X_OK) != 0 {
            throw FileAccessError(
                action: "write to",
                what: what,
                path: path,
                reason: SystemErrorText.reason(errorNumber: errno)
            )
        }
    }

    /// Creates a new file with `contents` and the given permissions; fails if it exists.
    ///
    /// - Throws: ``FileAccessError`` with the reason.
    public static func createFile(
        path: String,
        contents: [UInt8],
        permissions: UInt16,
        what: String
    ) throws(FileAccessError) {
        func failure(_ reason: String) -> FileAccessError {
            FileAccessError(action: "create", what: what, path: path, reason: reason)
        }
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, mode_t(permissions))
        guard descriptor >= 0 else { throw failure(SystemErrorText.reason(errorNumber: errno)) }
        defer { _ = close(descriptor) }
        var offset = 0
        while offset < contents.count {
            let count = contents.withUnsafeBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure(SystemErrorText.reason(errorNumber: errno))
            }
            offset += count
        }
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

/// A timer the command line left unset whose protocol default would break LIM-11 against a timer that was set,
/// with the value derived for it.
public struct DerivedTimer: Sendable, Hashable, CustomStringConvertible {
    /// The timer's flag name, without dashes: `presence-unreachable-ms`.
    public var flag: String
    /// The protocol default that was replaced.
    public var defaultValue: Int64
    /// The value used instead.
    public var value: Int64
    /// How the value was derived: `6/5 of --heartbeat-interval-ms 500`.
    public var derivation: String
    /// The LIM-11 rule the default broke: `below --idle-timeout-ms 2000`.
    public var rule: String

    /// Creates the description of a derived timer.
    public init(flag: String, defaultValue: Int64, value: Int64, derivation: String, rule: String) {
        self.flag = flag
        self.defaultValue = defaultValue
        self.value = value
        self.derivation = derivation
        self.rule = rule
    }

    /// `--presence-unreachable-ms 600 (6/5 of --heartbeat-interval-ms 500; the default 6000 is not below
    /// --idle-timeout-ms 2000, LIM-11)`.
    public var description: String {
        "--\(self.flag) \(self.value) (\(self.derivation); the default \(self.defaultValue) is not \(self.rule), LIM-11)"
    }
}

extension EngineSettingFlags {
    /// Replaces the timers that the command line left unset and whose defaults would break LIM-11 against the
    /// timers it set (Spec/14-limits.md §14.4), keeping the proportions of the protocol defaults:
    ///
    /// - `heartbeat-interval-ms`: 1/6 of `idle-timeout-ms` (5000 of 30000), when `idle-timeout-ms` is below twice
    ///   the default heartbeat;
    /// - `idle-timeout-ms`: 6 × `heartbeat-interval-ms` or 5 × `presence-unreachable-ms`, whichever is larger, when
    ///   the default is below twice the heartbeat or not above presence-unreachable;
    /// - `presence-unreachable-ms`: 6/5 of `heartbeat-interval-ms` (6000 and 5000), when the default is not below
    ///   the idle timeout;
    /// - `member-count-interval-ms`: 1/3 of `member-count-interval-large-ms` (1000 and 3000), and the large one
    ///   3 × the other, when the default would exceed, or be exceeded by, the one set.
    ///
    /// Timers that were set are never changed, so two that conflict still fail ``check(_:given:derived:)``.
    ///
    /// - Parameters:
    ///   - timers: The timers after the command line's values were applied.
    ///   - given: The flag names (`idle-timeout-ms`) the command line set.
    /// - Returns: The timers derived, in the order above.
    public static func deriveDependentTimers(_ timers: inout EngineTimers, given: Set<String>) -> [DerivedTimer] {
        let defaults = EngineTimers()
        var derived: [DerivedTimer] = []
        let limit = Int64(UInt32.max)
        if !given.contains("heartbeat-interval-ms"), given.contains("idle-timeout-ms"), timers.idleTimeoutMs >= 2,
            timers.idleTimeoutMs < 2 * timers.heartbeatIntervalMs
        {
            timers.heartbeatIntervalMs = max(1, timers.idleTimeoutMs / 6)
            derived.append(
                DerivedTimer(
                    flag: "heartbeat-interval-ms",
                    defaultValue: defaults.heartbeatIntervalMs,
                    value: timers.heartbeatIntervalMs,
                    derivation: "1/6 of --idle-timeout-ms \(timers.idleTimeoutMs)",
                    rule: "at most half of --idle-timeout-ms \(timers.idleTimeoutMs)"
                )
            )
        }
        if !given.contains("idle-timeout-ms"), (1...limit).contains(timers.heartbeatIntervalMs),
            (1...limit).contains(timers.presenceUnreachableMs),
            timers.idleTimeoutMs < 2 * timers.heartbeatIntervalMs
                || timers.presenceUnreachableMs >= timers.idleTimeoutMs
        {
            let fromHeartbeat = 6 * timers.heartbeatIntervalMs
            let fromPresence = 5 * timers.presenceUnreachableMs
            let rule =
                timers.idleTimeoutMs < 2 * timers.heartbeatIntervalMs
                ? "at least twice --heartbeat-interval-ms \(timers.heartbeatIntervalMs)"
                : "above --presence-unreachable-ms \(timers.presenceUnreachableMs)"
            timers.idleTimeoutMs = min(limit, max(fromHeartbeat, fromPresence))
            derived.append(
                DerivedTimer(
                    flag: "idle-timeout-ms",
                    defaultValue: defaults.idleTimeoutMs,
                    value: timers.idleTimeoutMs,
                    derivation: fromHeartbeat >= fromPresence
                        ? "6 × --heartbeat-interval-ms \(timers.heartbeatIntervalMs)"
                        : "5 × --presence-unreachable-ms \(timers.presenceUnreachableMs)",
                    rule: rule
                )
            )
        }
        if !given.contains("presence-unreachable-ms"), timers.heartbeatIntervalMs >= 1,
            timers.presenceUnreachableMs >= timers.idleTimeoutMs
        {
            let heartbeat = timers.heartbeatIntervalMs
            timers.presenceUnreachableMs = max(1, heartbeat / 5 * 6 + heartbeat % 5 * 6 / 5)
            derived.append(
                DerivedTimer(
                    flag: "presence-unreachable-ms",
                    defaultValue: defaults.presenceUnreachableMs,
                    value: timers.presenceUnreachableMs,
                    derivation: "6/5 of --heartbeat-interval-ms \(heartbeat)",
                    rule: "below --idle-timeout-ms \(timers.idleTimeoutMs)"
                )
            )
        }
        if timers.memberCountIntervalMs > timers.memberCountIntervalLargeMs {
            if !given.contains("member-count-interval-ms"), timers.memberCountIntervalLargeMs >= 1 {
                timers.memberCountIntervalMs = max(1, timers.memberCountIntervalLargeMs / 3)
                derived.append(
                    DerivedTimer(
                        flag: "member-count-interval-ms",
                        defaultValue: defaults.memberCountIntervalMs,
                        value: timers.memberCountIntervalMs,
                        derivation: "1/3 of --member-count-interval-large-ms \(timers.memberCountIntervalLargeMs)",
                        rule: "at most --member-count-interval-large-ms \(timers.memberCountIntervalLargeMs)"
                    )
                )
            } else if !given.contains("member-count-interval-large-ms"), timers.memberCountIntervalMs >= 1 {
                timers.memberCountIntervalLargeMs = min(limit, 3 * timers.memberCountIntervalMs)
                derived.append(
                    DerivedTimer(
                        flag: "member-count-interval-large-ms",
                        defaultValue: defaults.memberCountIntervalLargeMs,
                        value: timers.memberCountIntervalLargeMs,
                        derivation: "3 × --member-count-interval-ms \(timers.memberCountIntervalMs)",
                        rule: "at least --member-count-interval-ms \(timers.memberCountIntervalMs)"
                    )
                )
            }
        }
        return derived
    }

    /// Checks the limits and timers of `configuration` as ``EngineConfiguration/validate()`` does (HS-26, LIM-11,
    /// positive values), with messages that name the flags to change and say which values were given, defaulted or
    /// derived: `--presence-unreachable-ms (6000) must be shorter than --idle-timeout-ms (2000) (LIM-11); lower
    /// --presence-unreachable-ms or raise --idle-timeout-ms`.
    ///
    /// - Parameters:
    ///   - configuration: The engine configuration built from the command line.
    ///   - given: The flag names the command line set.
    ///   - derived: The flag names of ``deriveDependentTimers(_:given:)``'s results.
    public static func check(
        _ configuration: EngineConfiguration,
        given: Set<String>,
        derived: Set<String> = []
    ) throws(HeraldServerConfigurationError) {
        func shown(_ flag: String, _ value: Int64) -> String {
            if given.contains(flag) { return "--\(flag) (\(value))" }
            return "--\(flag) (\(derived.contains(flag) ? "derived" : "default") \(value))"
        }
        let limits = configuration.limits
        if limits.maxPayloadLength < 65_536 || limits.maxPayloadLength > 0x00FF_FFFF {
            throw HeraldServerConfigurationError(
                "\(shown("max-payload-length", Int64(limits.maxPayloadLength))) must be from 65536 to 16777215 (HS-26)"
            )
        }
        for child in Mirror(reflecting: limits).children {
            if let label = child.label, let value = child.value as? Int, value <= 0 {
                throw HeraldServerConfigurationError(
                    "\(shown(Self.flagName(forField: label), Int64(value))) must be positive"
                )
            }
        }
        if let violation = limits.receiveLimitViolations().first {
            throw HeraldServerConfigurationError(
                violation.description { shown(Self.flagName(forField: $0), Int64($1)) }
            )
        }
        for child in Mirror(reflecting: configuration.timers).children {
            guard let label = child.label, let value = child.value as? Int64 else { continue }
            let flag = Self.flagName(forField: label)
            if label == "offlineRetentionMs" {
                if value <= 0 { throw HeraldServerConfigurationError("\(shown(flag, value)) must be positive") }
            } else if value <= 0 || value > Int64(UInt32.max) {
                throw HeraldServerConfigurationError("\(shown(flag, value)) must be from 1 to 4294967295 ms")
            }
        }
        let timers = configuration.timers
        let heartbeat = shown("heartbeat-interval-ms", timers.heartbeatIntervalMs)
        let idle = shown("idle-timeout-ms", timers.idleTimeoutMs)
        if timers.idleTimeoutMs < 2 * timers.heartbeatIntervalMs {
            throw HeraldServerConfigurationError(
                "\(idle) must be at least twice \(heartbeat) (LIM-11); raise --idle-timeout-ms or lower "
                    + "--heartbeat-interval-ms"
            )
        }
        if timers.presenceUnreachableMs >= timers.idleTimeoutMs {
            throw HeraldServerConfigurationError(
                "\(shown("presence-unreachable-ms", timers.presenceUnreachableMs)) must be shorter than \(idle) "
                    + "(LIM-11); lower --presence-unreachable-ms or raise --idle-timeout-ms"
            )
        }
        if timers.memberCountIntervalMs > timers.memberCountIntervalLargeMs {
            throw HeraldServerConfigurationError(
                "\(shown("member-count-interval-ms", timers.memberCountIntervalMs)) must not exceed "
                    + "\(shown("member-count-interval-large-ms", timers.memberCountIntervalLargeMs)) (LIM-11); "
                    + "lower --member-count-interval-ms or raise --member-count-interval-large-ms"
            )
        }
    }
}

extension HeraldListenerError {
    /// Whether the address is taken by another socket (`EADDRINUSE`).
    public var isAddressInUse: Bool {
        self.errorNumber == EADDRINUSE
    }
}

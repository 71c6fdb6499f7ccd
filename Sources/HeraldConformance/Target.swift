import Foundation
import HeraldClient
import HeraldEngine
import HeraldProcess
import HeraldServer

// MARK: - Target URLs

/// A target URL that cannot be used.
public struct TargetError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong.
    public var description: String

    /// Creates an error.
    public init(_ description: String) {
        self.description = description
    }
}

/// The server under test: a URL of Spec/02-transports.md §2.1.
///
/// `tcp://host[:port]` and `tls://host[:port]` (default port 7420, no path), `ws://host[:port][/path]` and
/// `wss://host[:port][/path]` (default port 7421, default path `/herald`). IPv6 hosts are written in brackets.
public struct Target: Sendable, Hashable, CustomStringConvertible {
    /// The default port of `tcp` and `tls` (TRN-1).
    public static let defaultStreamPort = 7420
    /// The default port of `ws` and `wss` (TRN-1).
    public static let defaultWebSocketPort = 7421
    /// The default WebSocket path (TRN-1).
    public static let defaultWebSocketPath = "/herald"

    /// The transport.
    public var transport: HeraldTransport
    /// The host: a DNS name or an IP address (IPv6 without brackets).
    public var host: String
    /// The port.
    public var port: Int
    /// The HTTP path for `ws` and `wss` (with query, if any); empty for `tcp` and `tls`.
    public var path: String

    /// Creates a target.
    public init(transport: HeraldTransport, host: String, port: Int, path: String = "") {
        self.transport = transport
        self.host = host
        self.port = port
        self.path = transport.isWebSocket ? (path.isEmpty ? Self.defaultWebSocketPath : path) : ""
    }

    /// The target of a listener of an in-process ``HeraldServer``.
    public init(listener: BoundListener) {
        self.init(transport: listener.transport, host: listener.host, port: listener.port, path: listener.path ?? "")
    }

    /// Parses a target URL.
    ///
    /// - Throws: ``TargetError`` for an unknown scheme, credentials in the URL (TRN-3), a path, query or fragment on
    ///   `tcp`/`tls` (TRN-2), a fragment on `ws`/`wss`, or a bad port.
    public init(parsing url: String) throws(TargetError) {
        // One parser for every Herald URL: the client library's (Spec/02-transports.md §2.1).
        let address: ServerAddress
        do {
            address = try ServerAddress(parsing: url)
        } catch {
            throw TargetError(
                error.message.replacingOccurrences(of: "pass the token to login", with: "use the credential options")
            )
        }
        guard let transport = HeraldTransport(rawValue: address.scheme.rawValue) else {
            throw TargetError("'\(url)': unknown scheme '\(address.scheme.rawValue)'")
        }
        self.init(transport: transport, host: address.host, port: address.port, path: address.path)
    }

    /// The URL, with default port and path written out.
    public var url: String {
        self.address.url
    }

    /// ``url``.
    public var description: String {
        self.url
    }

    /// The HTTP `Host` header value of the target: `host:port`, with an IPv6 address in brackets.
    var hostHeader: String {
        self.address.hostHeader
    }

    /// Whether the transport is TLS (`tls` or `wss`).
    public var usesTLS: Bool {
        self.transport == .tls || self.transport == .wss
    }

    /// Whether ``host`` is an IP address literal (no Server Name Indication is sent for those, TRN-9).
    public var hostIsIPAddress: Bool {
        self.address.hostIsIPAddress
    }

    /// The target as the client library's address.
    public var address: ServerAddress {
        ServerAddress(
            scheme: ServerAddress.Scheme(rawValue: self.transport.rawValue) ?? .tcp,
            host: self.host,
            port: self.port,
            path: self.path
        )
    }
}

/// How the runner's client verifies TLS servers.
public struct TLSClientOptions: Sendable, Hashable {
    /// Skip certificate verification (for self-signed test servers; TRN-8 allows it when asked explicitly).
    public var insecure: Bool
    /// A PEM file of certificates to trust instead of the system's roots.
    public var trustRootsFile: String?

    /// Creates options; the default verifies against the system's roots.
    public init(insecure: Bool = false, trustRootsFile: String? = nil) {
        self.insecure = insecure
        self.trustRootsFile = trustRootsFile
    }
}

// MARK: - Tokens

/// The token kinds of the `login` step and `${token:…}`, as written in scenario files.
public enum TokenSpec: Sendable, Hashable, CustomStringConvertible {
    /// `valid`: a token for the user, valid now.
    case valid
    /// `none`: the empty token.
    case none
    /// `expired`: a correctly signed token whose `exp` has passed.
    case expired
    /// `wrong-user:<name>`: a valid token for another actor's (or name's) user id.
    case wrongUser(String)
    /// `wrong-app`: a token signed with the app's secret but naming another app in `aud`.
    case wrongApp
    /// `ttl:<seconds>`: a valid token expiring after that many seconds.
    case ttl(Int64)
    /// `extra-claims`: a valid token whose claims set also holds claims Spec/15-tokens.md does not define (TOK-6).
    case extraClaims
    /// `extra-header`: a valid token whose JOSE header also holds members Spec/15-tokens.md does not define (TOK-6).
    case extraHeader
    /// `nested-claims:<levels>`: a valid token whose claims set nests JSON arrays `levels` deep, the claims object
    /// itself being level 1 (TOK-28).
    case nestedClaims(Int)
    /// `raw:<text>`: exactly this text.
    case raw(String)

    /// Parses a kind; `nil` when unknown.
    public init?(_ text: String) {
        switch text {
        case "valid": self = .valid
        case "none": self = .none
        case "expired": self = .expired
        case "wrong-app": self = .wrongApp
        case "extra-claims": self = .extraClaims
        case "extra-header": self = .extraHeader
        default:
            if text.hasPrefix("wrong-user:"), text.count > 11 {
                self = .wrongUser(String(text.dropFirst(11)))
            } else if text.hasPrefix("ttl:"), let seconds = Int64(text.dropFirst(4)), seconds > 0 {
                self = .ttl(seconds)
            } else if text.hasPrefix("nested-claims:"), let levels = Int(text.dropFirst(14)),
                TokenKind.nestedClaimsLevels.contains(levels)
            {
                self = .nestedClaims(levels)
            } else if text.hasPrefix("raw:") {
                self = .raw(String(text.dropFirst(4)))
            } else {
                return nil
            }
        }
    }

    /// The kind as written in scenario files.
    public var description: String {
        switch self {
        case .valid: "valid"
        case .none: "none"
        case .expired: "expired"
        case .wrongUser(let name): "wrong-user:\(name)"
        case .wrongApp: "wrong-app"
        case .ttl(let seconds): "ttl:\(seconds)"
        case .extraClaims: "extra-claims"
        case .extraHeader: "extra-header"
        case .nestedClaims(let levels): "nested-claims:\(levels)"
        case .raw(let text): "raw:\(text)"
        }
    }
}

/// The tokens a ``TokenSource`` is asked for. (`none`, `raw:` and `wrong-user:` are handled by the runner: a
/// wrong-user token is a ``valid`` token for the other user.)
public enum TokenKind: Sendable, Hashable, CustomStringConvertible {
    /// Valid now, for the app and user asked for.
    case valid
    /// Correctly signed, but expired.
    case expired
    /// Signed with the app's secret, naming another app.
    case wrongApp
    /// Valid for this many more seconds.
    case ttl(seconds: Int64)
    /// Valid now, with claims that Spec/15-tokens.md does not define added to the claims set (TOK-6).
    case extraClaims
    /// Valid now, with members that Spec/15-tokens.md does not define added to the JOSE header (TOK-6).
    case extraHeader
    /// Valid now, with a claim `x-herald-depth` of nested arrays that makes the claims set `levels` deep, the claims
    /// object being level 1 (TOK-28).
    case nestedClaims(levels: Int)

    /// The nesting depths a `nested-claims:<levels>` token may ask for.
    public static let nestedClaimsLevels = 2...4096

    /// `valid`, `expired`, `wrong-app`, `ttl:<seconds>`, `extra-claims` or `extra-header` (the value of
    /// `HERALD_TOKEN_KIND`).
    public var description: String {
        switch self {
        case .valid: "valid"
        case .expired: "expired"
        case .wrongApp: "wrong-app"
        case .ttl(let seconds): "ttl:\(seconds)"
        case .extraClaims: "extra-claims"
        case .extraHeader: "extra-header"
        case .nestedClaims(let levels): "nested-claims:\(levels)"
        }
    }
}

/// One token to produce.
public struct TokenRequest: Sendable, Hashable {
    /// The app id the token is for.
    public var appID: String
    /// The user id the token names.
    public var userID: String
    /// The kind.
    public var kind: TokenKind

    /// Creates a request.
    public init(appID: String, userID: String, kind: TokenKind) {
        self.appID = appID
        self.userID = userID
        self.kind = kind
    }
}

/// A token source cannot produce this kind of token: the case is reported not applicable.
public struct TokenUnavailable: Error, Hashable, Sendable, CustomStringConvertible {
    /// Why.
    public var description: String

    /// Creates the error.
    public init(_ description: String) {
        self.description = description
    }
}

/// Where the runner gets tokens for `login` steps and `${token:…}`.
public protocol TokenSource: Sendable {
    /// Produces a token.
    ///
    /// - Throws: ``TokenUnavailable`` when this source cannot produce the kind (the case becomes not applicable);
    ///   any other error makes the case an `error`.
    func token(for request: TokenRequest) async throws -> String
}

/// Mints tokens with the app's secret, as the app's token issuer would (HS256, Spec/15-tokens.md).
public struct SecretTokenSource: TokenSource {
    /// The app secret.
    public var secret: [UInt8]
    /// The `iss` claim, if any.
    public var issuer: String?

    /// Creates a source.
    public init(secret: [UInt8], issuer: String? = nil) {
        self.secret = secret
        self.issuer = issuer
    }

    /// Mints the token.
    public func token(for request: TokenRequest) async throws -> String {
        let now = Int64(Date().timeIntervalSince1970)
        switch request.kind {
        case .valid:
            return try await TokenMinter.mint(
                appID: request.appID,
                userID: request.userID,
                secret: self.secret,
                issuedAt: now - 5,
                lifetimeSeconds: 3600,
                issuer: self.issuer
            )
        case .ttl(let seconds):
            // `exp` is whole seconds: a token minted late in a second would have almost a second less than its
            // nominal lifetime. Wait for the next second when less than 250 ms of this one are left, so a `ttl:N`
            // token always has at least N − 0.25 s to live when it is used.
            let fraction = Date().timeIntervalSince1970.truncatingRemainder(dividingBy: 1)
            if fraction > 0.75 {
                try await Task.sleep(for: .milliseconds(Int((1 - fraction) * 1000) + 5))
            }
            let now = Int64(Date().timeIntervalSince1970)
            return try await TokenMinter.mint(
                appID: request.appID,
                userID: request.userID,
                secret: self.secret,
                issuedAt: now,
                lifetimeSeconds: seconds,
                issuer: self.issuer
            )
        case .expired:
            return try await TokenMinter.mint(
                appID: request.appID,
                userID: request.userID,
                secret: self.secret,
                issuedAt: now - 7200,
                lifetimeSeconds: 3600,
                issuer: self.issuer
            )
        case .wrongApp:
            let claims: JSONValue = .object([
                "aud": .string(request.appID + "-other"),
                "sub": .string(request.userID),
                "iat": .int(now - 5),
                "exp": .int(now + 3600),
            ])
            return try await TokenMinter.sign(
                headerJSON: #"{"alg":"HS256","typ":"JWT"}"#,
                claimsJSON: claims.compactText,
                secret: self.secret
            )
        case .extraClaims:
            return try await TokenMinter.sign(
                headerJSON: Self.objectText(Self.standardHeader),
                claimsJSON: Self.objectText(
                    self.standardClaims(request, now: now) + Self.extraClaims(request, now: now)
                ),
                secret: self.secret
            )
        case .extraHeader:
            return try await TokenMinter.sign(
                headerJSON: Self.objectText(Self.standardHeader + Self.extraHeaderMembers),
                claimsJSON: Self.objectText(self.standardClaims(request, now: now)),
                secret: self.secret
            )
        case .nestedClaims(let levels):
            // The claims object is level 1; `levels - 1` arrays nest inside it.
            var nested = JSONValue.array([])
            for _ in 2..<levels { nested = .array([nested]) }
            return try await TokenMinter.sign(
                headerJSON: Self.objectText(Self.standardHeader),
                claimsJSON: Self.objectText(self.standardClaims(request, now: now) + [("x-herald-depth", nested)]),
                secret: self.secret
            )
        }
    }

    /// The header of every minted token: `alg` `HS256` and `typ` `JWT`.
    static let standardHeader: [(name: String, value: JSONValue)] = [
        ("alg", .string("HS256")), ("typ", .string("JWT")),
    ]

    /// The header members that an `extra-header` token adds after ``standardHeader``: none is defined by
    /// Spec/15-tokens.md, so a server ignores them all (TOK-6). `ALG` and `Typ` differ from `alg` and `typ` only in
    /// case (JOSE member names are case-sensitive), and come last, so a server that reads names without regard to
    /// case, or lets a later member override an earlier one, sees `none` and another type.
    static let extraHeaderMembers: [(name: String, value: JSONValue)] = [
        ("x-herald-conformance", .string("a header member Herald does not define")),
        ("ext", .object(["nested": .array([.int(1), .bool(true), .null, .string("é")])])),
        ("ALG", .string("none")),
        ("Typ", .string("herald-unknown")),
    ]

    /// The claims of a `valid` token: `aud`, `sub`, `iat` (5 s ago), `exp` (in an hour), and `iss` if set.
    func standardClaims(_ request: TokenRequest, now: Int64) -> [(name: String, value: JSONValue)] {
        var claims: [(name: String, value: JSONValue)] = [
            ("aud", .string(request.appID)), ("sub", .string(request.userID)), ("iat", .int(now - 5)),
            ("exp", .int(now + 3600)),
        ]
        if let issuer = self.issuer { claims.append(("iss", .string(issuer))) }
        return claims
    }

    /// The claims that an `extra-claims` token adds after the standard ones: none is defined by Spec/15-tokens.md,
    /// so a server ignores them all (TOK-6). Registered JWT claims Herald does not use (`jti`), private claims of
    /// every JSON type, and — last — claims whose names differ from `aud`, `sub`, `exp`, `iat` and `nbf` only in
    /// case, with values that would make the token fail if a server took them for the real claims (claim names are
    /// case-sensitive).
    static func extraClaims(_ request: TokenRequest, now: Int64) -> [(name: String, value: JSONValue)] {
        [
            ("jti", .string("herald-conformance-\(now)")),
            ("scope", .string("chat presence")),
            ("roles", .array([.string("member"), .string("tester")])),
            (
                "x-herald-conformance",
                .object([
                    "nested": .array([
                        .int(1), .double(2.5), .int(-300), .bool(true), .bool(false), .null, .string("é ✓"),
                    ]),
                    "empty": .object([:]),
                ])
            ),
            ("Aud", .string(request.appID + "-other")),
            ("SUB", .string(request.userID + "-other")),
            ("EXP", .int(1)),
            ("Iat", .int(now + 86_400)),
            ("NBF", .int(now + 86_400)),
        ]
    }

    /// A JSON object's compact text with its members in the given order.
    static func objectText(_ members: [(name: String, value: JSONValue)]) -> String {
        "{" + members.map { JSONValue.string($0.name).compactText + ":" + $0.value.compactText }.joined(separator: ",")
            + "}"
    }
}

/// For servers in app-ID-only mode: `valid` is the empty token; other kinds are unavailable.
public struct TokenlessTokenSource: TokenSource {
    /// Creates a source.
    public init() {}

    /// The empty token for ``TokenKind/valid``.
    public func token(for request: TokenRequest) async throws -> String {
        guard request.kind == .valid else {
            throw TokenUnavailable("no app secret or token command was given, so no \(request.kind) token can be made")
        }
        return ""
    }
}

/// Runs a shell command for each token (`--token-command`).
///
/// The command runs with `/bin/sh -c` and the environment variables `HERALD_APP_ID`, `HERALD_USER` and
/// `HERALD_TOKEN_KIND` (`valid`, `expired`, `wrong-app`, `ttl:<seconds>`, `extra-claims` or `extra-header`; see
/// ``TokenKind``). `HERALD_APP_ID` is the app-ID-only app (`--app-id-only`) for cases that use it. The command prints
/// the token on standard output (surrounding white space is removed) and exits 0. Exit status 2 means "this kind
/// cannot be produced": the case is reported not applicable. Any other failure makes the case an `error`.
public struct CommandTokenSource: TokenSource {
    /// The exit status meaning "cannot produce this kind".
    public static let unavailableExitStatus: Int32 = 2

    /// The command line.
    public var command: String

    /// Creates a source.
    public init(command: String) {
        self.command = command
    }

    /// Runs the command.
    public func token(for request: TokenRequest) async throws -> String {
        let command = self.command
        let (status, output, errors) = try await withCheckedThrowingContinuation {
            (continuation: CheckedContinuation<(Int32, Data, Data), any Error>) in
            DispatchQueue.global().async {
                let process = ChildProcess()
                process.executableURL = URL(fileURLWithPath: "/bin/sh")
                process.arguments = ["-c", command]
                var environment = ProcessInfo.processInfo.environment
                environment["HERALD_APP_ID"] = request.appID
                environment["HERALD_USER"] = request.userID
                environment["HERALD_TOKEN_KIND"] = request.kind.description
                process.environment = environment
                let stdout = Pipe()
                let stderr = Pipe()
                process.standardOutput = stdout
                process.standardError = stderr
                process.standardInput = FileHandle.nullDevice
                do {
                    try process.run()
                } catch {
                    continuation.resume(throwing: error)
                    return
                }
                let output = stdout.fileHandleForReading.readDataToEndOfFile()
                let errors = stderr.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(returning: (process.terminationStatus, output, errors))
            }
        }
        let errorText = String(decoding: errors, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if status == Self.unavailableExitStatus {
            throw TokenUnavailable(
                "the token command cannot produce a \(request.kind) token" + (errorText.isEmpty ? "" : ": \(errorText)")
            )
        }
        guard status == 0 else {
            throw TargetError(
                "the token command exited with status \(status) for a \(request.kind) token"
                    + (errorText.isEmpty ? "" : ": \(errorText)")
            )
        }
        return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

import Foundation

/// Where a Herald server listens: a URL of Spec/02-transports.md §2.1.
///
/// `tcp://host[:port]` and `tls://host[:port]` (default port 7420, no path), `ws://host[:port][/path]` and
/// `wss://host[:port][/path]` (default port 7421, default path `/herald`). IPv6 hosts are written in brackets.
public struct ServerAddress: Sendable, Hashable, CustomStringConvertible {
    /// The transport of an address: its URL scheme.
    public enum Scheme: String, Sendable, Hashable, CaseIterable {
        /// Frames over plain TCP.
        case tcp
        /// Frames over TLS over TCP (ALPN `herald/1`).
        case tls
        /// One frame per binary WebSocket message (subprotocol `herald.v1`).
        case ws
        /// WebSocket over TLS.
        case wss

        /// Whether frames travel in WebSocket messages.
        public var isWebSocket: Bool { self == .ws || self == .wss }
        /// Whether the connection is encrypted.
        public var usesTLS: Bool { self == .tls || self == .wss }
    }

    /// The default port of `tcp` and `tls` (TRN-1).
    public static let defaultStreamPort = 7420
    /// The default port of `ws` and `wss` (TRN-1).
    public static let defaultWebSocketPort = 7421
    /// The default WebSocket path (TRN-1).
    public static let defaultWebSocketPath = "/herald"

    /// The transport.
    public var scheme: Scheme
    /// The host: a DNS name or an IP address (IPv6 without brackets).
    public var host: String
    /// The port.
    public var port: Int
    /// The HTTP path (with query, if any) for `ws` and `wss`; empty for `tcp` and `tls`.
    public var path: String

    /// Creates an address; a WebSocket address without a path gets `/herald`.
    public init(scheme: Scheme, host: String, port: Int? = nil, path: String = "") {
        self.scheme = scheme
        self.host = host
        self.port = port ?? (scheme.isWebSocket ? Self.defaultWebSocketPort : Self.defaultStreamPort)
        self.path = scheme.isWebSocket ? (path.isEmpty ? Self.defaultWebSocketPath : path) : ""
    }

    /// Parses a server URL (TRN-1 to TRN-3).
    ///
    /// - Throws: ``HeraldClientError`` with ``HeraldClientError/Code/invalidAddress`` for an unknown scheme,
    ///   credentials in the URL (TRN-3), a path, query or fragment on `tcp`/`tls` (TRN-2), a fragment on `ws`/`wss`,
    ///   or a bad port.
    public init(parsing url: String) throws(HeraldClientError) {
        func invalid(_ why: String) -> HeraldClientError { HeraldClientError(.invalidAddress, "'\(url)': \(why)") }
        guard let separator = url.range(of: "://") else {
            throw invalid("not a URL: write tcp://host:port, tls://…, ws://host:port/path or wss://…")
        }
        let schemeText = url[..<separator.lowerBound].lowercased()
        guard let scheme = Scheme(rawValue: schemeText) else {
            throw invalid("unknown scheme '\(schemeText)'; use tcp, tls, ws or wss")
        }
        var rest = Substring(url[separator.upperBound...])
        if rest.contains("#") { throw invalid("a server URL has no fragment") }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        rest = rest[authorityEnd...]
        if authority.contains("@") {
            throw invalid("credentials are never taken from the URL (TRN-3); pass the token to login")
        }
        let host: String
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw invalid("unterminated IPv6 address") }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw invalid("expected ':' after the IPv6 address") }
                portText = after.dropFirst()
            }
        } else {
            if let colon = authority.lastIndex(of: ":") {
                host = String(authority[..<colon])
                portText = authority[authority.index(after: colon)...]
            } else {
                host = String(authority)
            }
            if host.contains(":") { throw invalid("write an IPv6 host in brackets, as [::1]") }
        }
        guard !host.isEmpty else { throw invalid("no host") }
        var port: Int?
        if let portText {
            guard let value = Int(portText), (1...65_535).contains(value) else {
                throw invalid("the port must be a number from 1 to 65535")
            }
            port = value
        }
        if scheme.isWebSocket {
            let path = rest.isEmpty ? Self.defaultWebSocketPath : (rest.hasPrefix("?") ? "/" + rest : String(rest))
            self.init(scheme: scheme, host: host, port: port, path: path)
        } else {
            guard rest.isEmpty || rest == "/" else { throw invalid("a \(scheme) URL has no path or query (TRN-2)") }
            self.init(scheme: scheme, host: host, port: port)
        }
    }

    /// The URL, with the default port and path written out.
    public var url: String {
        "\(self.scheme.rawValue)://\(self.hostHeader)\(self.path)"
    }

    /// ``url``.
    public var description: String { self.url }

    /// `host:port`, with an IPv6 address in brackets: the HTTP `Host` header of a WebSocket address.
    public var hostHeader: String {
        (self.host.contains(":") ? "[\(self.host)]" : self.host) + ":\(self.port)"
    }

    /// Whether ``host`` is an IP address literal (no Server Name Indication is sent for those, TRN-9).
    public var hostIsIPAddress: Bool {
        if self.host.contains(":") { return true }
        let parts = self.host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
    }
}

import HeraldEngine

/// A host and port to listen on.
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// The host: an IPv4 address, an IPv6 address (without brackets) or a name such as `localhost`.
    public var host: String
    /// The TCP port; 0 lets the system choose one (see ``BoundListener/port``).
    public var port: Int

    /// Creates an address.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`, `[ipv6]:port`, or `:port` (which listens on every IPv4 interface, `0.0.0.0`).
    ///
    /// - Throws: ``HeraldServerConfigurationError`` when the text is not of that form or the port is not in
    ///   `0...65535`.
    public init(parsing text: String) throws(HeraldServerConfigurationError) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"),
                text.index(after: close) < text.endIndex,
                text[text.index(after: close)] == ":"
            else {
                throw HeraldServerConfigurationError("'\(text)' is not HOST:PORT (an IPv6 host is written [::1]:PORT)")
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw HeraldServerConfigurationError("'\(text)' is not HOST:PORT")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") {
                throw HeraldServerConfigurationError("'\(text)': write an IPv6 host in brackets, as [::1]:PORT")
            }
        }
        guard let port = Int(portText), (0...65_535).contains(port) else {
            throw HeraldServerConfigurationError("'\(text)': the port must be a number from 0 to 65535")
        }
        self.host = host.isEmpty ? "0.0.0.0" : String(host)
        self.port = port
    }

    /// `host:port`, with an IPv6 host in brackets.
    public var description: String {
        self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)"
    }
}

/// The PEM files of a TLS server identity.
public struct TLSFiles: Sendable, Hashable {
    /// A PEM file with the certificate chain, leaf first.
    public var certificateChainPath: String
    /// A PEM file with the private key of the leaf certificate.
    public var privateKeyPath: String

    /// Creates the description of a TLS identity.
    public init(certificateChainPath: String, privateKeyPath: String) {
        self.certificateChainPath = certificateChainPath
        self.privateKeyPath = privateKeyPath
    }
}

/// A configuration the server cannot run with.
public struct HeraldServerConfigurationError: Error, Hashable, CustomStringConvertible {
    /// What is wrong.
    public var description: String

    /// Creates an error.
    public init(_ description: String) {
        self.description = description
    }
}

/// Everything a ``HeraldServer`` needs: where to listen, TLS, the engine's configuration and where to keep data.
///
/// Transports are those of Spec/02-transports.md: plain TCP (`tcp://`), TLS (`tls://`, the TCP listener with
/// ``tls`` set), WebSocket (`ws://`) and WebSocket over TLS (`wss://`, ``secureWebSocket``).
public struct HeraldServerConfiguration: Sendable {
    /// The default TCP (and TLS) listener: `127.0.0.1:7420` (Spec/02-transports.md §2.1).
    public static let defaultTCPAddress = ListenAddress(host: "127.0.0.1", port: 7420)
    /// The default WebSocket listener: `127.0.0.1:7421` (Spec/02-transports.md §2.1).
    public static let defaultWebSocketAddress = ListenAddress(host: "127.0.0.1", port: 7421)
    /// The default WebSocket path, `/herald`: the path a client uses for a `ws://` URL without one (TRN-1).
    public static let defaultWebSocketPath = "/herald"
    /// The name of the offline-message database inside ``dataDirectory``.
    public static let offlineInboxFileName = "offline-messages.sqlite"

    /// The TCP listener, or `nil` for none. With ``tls`` set it speaks TLS (`tls://`).
    public var tcp: ListenAddress? = HeraldServerConfiguration.defaultTCPAddress
    /// The plain WebSocket listener (`ws://`), or `nil` for none.
    public var webSocket: ListenAddress? = HeraldServerConfiguration.defaultWebSocketAddress
    /// The WebSocket listener over TLS (`wss://`), or `nil` for none. Needs ``tls``.
    public var secureWebSocket: ListenAddress?
    /// The HTTP path of the WebSocket endpoints; other paths are answered 404.
    public var webSocketPath = HeraldServerConfiguration.defaultWebSocketPath
    /// The TLS identity for the TCP listener and ``secureWebSocket``; `nil` serves TCP in plain text.
    public var tls: TLSFiles?
    /// The engine's apps, capabilities, limits, timers and rate limits.
    public var engine: EngineConfiguration
    /// The directory for durable data (the offline-message database); `nil` keeps offline messages in memory
    /// only, which breaks PEER-36 and is meant for tests.
    public var dataDirectory: String?
    /// The most decoded frames of a connection on their way to the engine (from another event loop) and not yet
    /// processed; reading from the socket pauses at it (inbound backpressure). Also the most requests held per
    /// connection while its output is backed up (Spec/14-limits.md LIM-21); acknowledgements and pings are read on
    /// until that many are held.
    public var inboundFrameBuffer = 16
    /// The longest the server waits for a client to finish the TLS handshake or the WebSocket upgrade;
    /// `nil` uses the engine's `handshakeTimeoutMs`.
    public var transportHandshakeTimeoutMs: Int64?
    /// The longest sleep of the timer driver between two `fireDueTimers()` calls, in milliseconds.
    public var timerTickMs: Int64 = 20

    /// Creates a configuration with the default listeners and the given engine configuration.
    public init(engine: EngineConfiguration, dataDirectory: String? = nil) {
        self.engine = engine
        self.dataDirectory = dataDirectory
    }

    /// Checks the configuration without opening anything: the engine's rules and the listener settings.
    public func validate() throws(HeraldServerConfigurationError) {
        do {
            try self.engine.validate()
        } catch {
            throw HeraldServerConfigurationError(error.description)
        }
        if self.tcp == nil && self.webSocket == nil && self.secureWebSocket == nil {
            throw HeraldServerConfigurationError("no listener is configured")
        }
        if self.secureWebSocket != nil && self.tls == nil {
            throw HeraldServerConfigurationError("a wss listener needs a TLS certificate and key")
        }
        if !self.webSocketPath.hasPrefix("/") || self.webSocketPath.contains("?") || self.webSocketPath.contains("#") {
            throw HeraldServerConfigurationError("the WebSocket path must start with / and have no query or fragment")
        }
        if self.inboundFrameBuffer < 1 {
            throw HeraldServerConfigurationError("the inbound frame buffer must hold at least one frame")
        }
        if self.timerTickMs < 1 {
            throw HeraldServerConfigurationError("the timer tick must be at least 1 ms")
        }
    }
}

/// The transports of Spec/02-transports.md.
public enum HeraldTransport: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Plain TCP (`tcp://`).
    case tcp
    /// TLS over TCP (`tls://`).
    case tls
    /// WebSocket over TCP (`ws://`).
    case ws
    /// WebSocket over TLS (`wss://`).
    case wss

    /// The URL scheme, which is also the transport's name in logs.
    public var description: String { self.rawValue }

    /// Whether frames travel in WebSocket messages.
    public var isWebSocket: Bool { self == .ws || self == .wss }

    /// The transport's name in messages for people: `TCP`, `TLS`, `WebSocket` or `WebSocket over TLS`.
    public var displayName: String {
        switch self {
        case .tcp: "TCP"
        case .tls: "TLS"
        case .ws: "WebSocket"
        case .wss: "WebSocket over TLS"
        }
    }
}

/// A listener that could not be opened: the port is taken, the address is not this machine's, the host name does
/// not resolve, or the system refused.
public struct HeraldListenerError: Error, Hashable, CustomStringConvertible {
    /// The transport the listener was to serve.
    public var transport: HeraldTransport
    /// The address it was to listen on.
    public var address: ListenAddress
    /// Why it failed, in plain words: `address already in use`, `permission denied`, ….
    public var reason: String
    /// The system's error number, when the failure came from a system call (`EADDRINUSE`, `EACCES`, …).
    public var errorNumber: Int32?

    /// Creates the description of a failed listener.
    public init(transport: HeraldTransport, address: ListenAddress, reason: String, errorNumber: Int32? = nil) {
        self.transport = transport
        self.address = address
        self.reason = reason
        self.errorNumber = errorNumber
    }

    /// `cannot listen for WebSocket on 127.0.0.1:7421: address already in use`.
    public var description: String {
        "cannot listen for \(self.transport.displayName) on \(self.address): \(self.reason)"
    }
}

/// A listener the server has opened, with the port actually bound.
public struct BoundListener: Sendable, Hashable, CustomStringConvertible {
    /// The transport served.
    public var transport: HeraldTransport
    /// The host the listener was configured with.
    public var host: String
    /// The bound port (the system's choice when port 0 was configured).
    public var port: Int
    /// The WebSocket path, for `ws` and `wss`; `nil` otherwise.
    public var path: String?

    /// Creates a description of a bound listener.
    public init(transport: HeraldTransport, host: String, port: Int, path: String? = nil) {
        self.transport = transport
        self.host = host
        self.port = port
        self.path = path
    }

    /// `host:port`, with an IPv6 host in brackets.
    public var hostAndPort: String {
        ListenAddress(host: self.host, port: self.port).description
    }

    /// The server address as a URL (Spec/02-transports.md §2.1), such as `tcp://127.0.0.1:7420` or
    /// `ws://127.0.0.1:7421/herald`.
    public var url: String {
        "\(self.transport)://\(self.hostAndPort)\(self.path ?? "")"
    }

    /// The line `herald serve` prints for the listener: `tcp 127.0.0.1:7420`, `ws ws://127.0.0.1:7421/herald`.
    public var description: String {
        self.transport.isWebSocket ? "\(self.transport) \(self.url)" : "\(self.transport) \(self.hostAndPort)"
    }
}

/// Where a benchmark connects: a `tcp://HOST:PORT` URL, as `herald conform --url` takes it.
public struct BenchTarget: Sendable, Hashable, CustomStringConvertible {
    /// The host name or IP address.
    public var host: String
    /// The TCP port.
    public var port: Int

    /// Creates a target.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `tcp://HOST:PORT` (an IPv6 host in brackets: `tcp://[::1]:7420`).
    ///
    /// - Throws: ``BenchError`` with ``BenchError/Code/usage`` for another scheme or a missing or bad port.
    public init(url: String) throws(BenchError) {
        let prefix = "tcp://"
        guard url.hasPrefix(prefix) else {
            throw BenchError(
                .usage,
                "--url \(url): only tcp://HOST:PORT is supported by herald bench (WebSocket is not yet)"
            )
        }
        var rest = Substring(url.dropFirst(prefix.count))
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        let host: Substring
        let portText: Substring
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else {
                throw BenchError(.usage, "--url \(url): an IPv6 host needs a closing ]")
            }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let afterClose = rest[rest.index(after: close)...]
            guard afterClose.hasPrefix(":") else { throw BenchError(.usage, "--url \(url): a port is required") }
            portText = afterClose.dropFirst()
        } else {
            guard let colon = rest.lastIndex(of: ":") else {
                throw BenchError(.usage, "--url \(url): a port is required (tcp://HOST:PORT)")
            }
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        }
        guard !host.isEmpty, let port = Int(portText), (1...65535).contains(port) else {
            throw BenchError(.usage, "--url \(url): expected tcp://HOST:PORT with a port from 1 to 65535")
        }
        self.host = String(host)
        self.port = port
    }

    /// `tcp://HOST:PORT`.
    public var description: String {
        self.host.contains(":") ? "tcp://[\(self.host)]:\(self.port)" : "tcp://\(self.host):\(self.port)"
    }
}

/// An error of the benchmark tool: bad options, an unreachable server, a run that could not be carried out.
public struct BenchError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of error, extensible.
    public struct Code: RawRepresentable, Hashable, Sendable {
        /// The code's name.
        public var rawValue: String

        /// Creates a code.
        public init(rawValue: String) {
            self.rawValue = rawValue
        }

        /// An option or a combination of options is wrong.
        public static let usage = Code(rawValue: "usage")
        /// The server cannot be reached or refused the handshake or a login.
        public static let unreachable = Code(rawValue: "unreachable")
        /// A token could not be minted.
        public static let token = Code(rawValue: "token")
        /// The run itself went wrong (not a failed check: those are in the results).
        public static let run = Code(rawValue: "run")
    }

    /// The kind of error.
    public var code: Code
    /// What went wrong.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { self.message }
}

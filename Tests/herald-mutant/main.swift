import ArgumentParser
import Foundation
import HeraldMutants
import UnixSignals

// herald-mutant: a deliberately wrong Herald server as its own process, for Scripts/mutant-field-run.sh. It is a
// MutantProxy (Tests/HeraldMutants) in front of a separately started correct server. Test tooling, not a product.

/// The `herald-mutant` command: runs a ``MutantProxy`` until SIGTERM or SIGINT.
struct HeraldMutant: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald-mutant",
        abstract: "A deliberately wrong Herald server: a TCP proxy that breaks one rule in front of a correct server.",
        discussion: """
            Relays every connection to --upstream and applies --mutation. Prints \
            "herald-mutant: listening tcp HOST:PORT (mutation NAME)" once listening, with the port actually bound \
            (so --listen 127.0.0.1:0 is usable by scripts), and runs until SIGTERM or SIGINT. Mutations: \
            \(ProxyMutation.allCases.map(\.rawValue).joined(separator: ", ")).

            Exit status: 0 after SIGTERM or SIGINT; 3 the listener cannot be opened; 64 a wrong option.
            """
    )

    @Option(help: "The correct Herald server, HOST:PORT (plain TCP).")
    var upstream: String

    @Option(help: "Where the proxy listens, HOST:PORT (port 0 picks a free port).")
    var listen = "127.0.0.1:0"

    @Option(help: "The rule to break: \(ProxyMutation.allCases.map(\.rawValue).joined(separator: ", ")).")
    var mutation: String

    func validate() throws {
        _ = try Self.address(self.upstream, option: "--upstream")
        _ = try Self.address(self.listen, option: "--listen")
        _ = try Self.proxyMutation(self.mutation)
    }

    func run() async throws {
        let upstream = try Self.address(self.upstream, option: "--upstream")
        let listen = try Self.address(self.listen, option: "--listen")
        let mutation = try Self.proxyMutation(self.mutation)
        // Trapping first: a signal that arrives once the listening line is out is never lost.
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let proxy: MutantProxy
        do {
            proxy = try await MutantProxy.start(
                upstreamHost: upstream.host,
                upstreamPort: upstream.port,
                listenHost: listen.host,
                listenPort: listen.port,
                mutation: mutation
            )
        } catch {
            Self.write("herald-mutant: error: cannot listen on \(self.listen) (--listen): \(error)\n", error: true)
            throw ExitCode(3)
        }
        Self.write("herald-mutant: listening tcp \(proxy.host):\(proxy.port) (mutation \(mutation.rawValue))\n")
        var iterator = signals.makeAsyncIterator()
        if let signal = await iterator.next() {
            Self.write("herald-mutant: \(signal), stopping\n")
        }
        await proxy.stop()
        Self.write("herald-mutant: stopped after \(proxy.log.entries.count) mutations\n")
    }

    /// `HOST:PORT` (the host may be a bracketed IPv6 address).
    static func address(_ text: String, option: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else {
            throw ValidationError("\(option) must be HOST:PORT with a port from 0 to 65535, not '\(text)'")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
        }
        guard !host.isEmpty else {
            throw ValidationError("\(option) must be HOST:PORT, not '\(text)' (the host is missing)")
        }
        return (host, port)
    }

    /// The mutation named `name`.
    static func proxyMutation(_ name: String) throws -> ProxyMutation {
        guard let mutation = ProxyMutation(rawValue: name) else {
            let names = ProxyMutation.allCases.map(\.rawValue).joined(separator: ", ")
            throw ValidationError("--mutation must be one of \(names), not '\(name)'")
        }
        return mutation
    }

    /// Writes `text` unbuffered (scripts wait for the listening line while the process runs).
    static func write(_ text: String, error: Bool = false) {
        (error ? FileHandle.standardError : FileHandle.standardOutput).write(Data(text.utf8))
    }
}

/// Runs the command (in an async context, so that the asynchronous `main` of `AsyncParsableCommand` is chosen).
func runHeraldMutant() async {
    await HeraldMutant.main()
}

await runHeraldMutant()

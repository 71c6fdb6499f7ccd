import ArgumentParser
import HeraldSpec

/// The `herald` command-line tool: frame vectors, frame decoding and encoding, spec tooling, the server and the
/// conformance suite.
///
/// The commands only parse arguments and print; the work is done by `HeraldVectors`, `HeraldSpec`, `HeraldWire`,
/// `HeraldServer` and `HeraldConformance`.
@main
struct Herald: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald",
        abstract: "Tools for the Herald real-time messaging protocol.",
        discussion: """
            herald \(HeraldVersion.tool) speaks protocol version \(HeraldVersion.protocolVersion) \
            (specification \(HeraldVersion.spec)).

            Exit status, the same for every subcommand:
              0  done (serve: stopped by SIGINT or SIGTERM)
              1  the thing checked failed: conformance cases (conform), vectors (vectors
                 verify), a frame (decode, encode), the requirement index (spec
                 requirements --check); serve: the server failed while running
              2  usage or configuration error: a bad flag or value, settings that break a
                 rule of the specification, an input file that cannot be read or used,
                 nothing selected; the message names the flag to change
              3  the environment refused: the conformance target is unreachable, a
                 listener cannot be opened (address in use, permission denied), the data
                 directory or its database cannot be created
            """,
        version: HeraldVersion.tool,
        subcommands: [
            Vectors.self, Decode.self, Encode.self, Spec.self, Serve.self, Token.self, Conform.self, Bench.self,
            Chat.self, ClientAdapterCommand.self,
        ]
    )

    /// Parses and runs a command. `herald conform --list --json` is the list's JSON flag (``Conform/normalize(_:)``),
    /// and command-line errors of every subcommand exit with status 2, the usage-error status of
    /// ``ExitCode/usage``.
    static func main() async {
        let arguments = Conform.normalize(Array(CommandLine.arguments.dropFirst()))
        do {
            var command = try Self.parseAsRoot(arguments)
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            if Self.exitCode(for: error) == .validationFailure {
                Console.error(Self.fullMessage(for: error))
                Self.exit(withError: ExitCode.usage)
            }
            Self.exit(withError: error)
        }
    }
}

import ArgumentParser

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
        version: "0.1.0",
        subcommands: [Vectors.self, Decode.self, Encode.self, Spec.self, Serve.self, Token.self, Conform.self]
    )

    /// Parses and runs a command. `herald conform` gets two adjustments: `--list --json` is the list's JSON flag
    /// (``Conform/normalize(_:)``), and command-line errors exit with status 2, the suite's usage-error status.
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
            if arguments.first == "conform" && Self.exitCode(for: error) == .validationFailure {
                Console.error(Self.fullMessage(for: error))
                Self.exit(withError: ExitCode.usage)
            }
            Self.exit(withError: error)
        }
    }
}

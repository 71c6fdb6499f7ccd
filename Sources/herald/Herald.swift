import ArgumentParser

/// The `herald` command-line tool: frame vectors, frame decoding and encoding, and spec tooling.
///
/// The commands only parse arguments and print; the work is done by `HeraldVectors`, `HeraldSpec` and
/// `HeraldWire`.
@main
struct Herald: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald",
        abstract: "Tools for the Herald real-time messaging protocol.",
        version: "0.1.0",
        subcommands: [Vectors.self, Decode.self, Encode.self, Spec.self]
    )
}

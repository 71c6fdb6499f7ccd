import ArgumentParser
import HeraldClientAdapter

extension Herald {
    /// `herald client-adapter`: the adapter of HeraldClient for `herald conform client`.
    struct ClientAdapterCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "client-adapter",
            abstract: "The adapter of HeraldClient for herald conform client (reads commands on standard input).",
            discussion: """
                Speaks the adapter protocol herald-adapter/1 (Spec/19-client-conformance.md) on standard input and \
                output: one JSON command per input line, one JSON reply or event per output line. Started by \
                herald conform client --adapter 'herald client-adapter', once per case; exits after shutdown or \
                at the end of its input.
                """
        )

        func run() async throws {
            await ClientAdapter().run()
        }
    }
}

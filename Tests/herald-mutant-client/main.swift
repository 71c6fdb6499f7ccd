import ArgumentParser
import HeraldClient
import HeraldClientAdapter
import HeraldMutants

// herald-mutant-client: a deliberately wrong Herald client as an adapter of `herald conform client`. It is the
// HeraldClient adapter with a MutantClientConnector (Tests/HeraldMutants) that breaks one rule. Test tooling, not a
// product.

/// The `herald-mutant-client` command: serves the adapter protocol with a mutant client.
struct HeraldMutantClient: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald-mutant-client",
        abstract: "A deliberately wrong Herald client, as an adapter of herald conform client.",
        discussion: """
            Serves the adapter protocol herald-adapter/1 on standard input and output like herald client-adapter, \
            with HeraldClient behind a connector that breaks one rule: \
            \(ClientMutation.allCases.map(\.rawValue).joined(separator: ", ")). Its hello reply names the mutation \
            (mutant-NAME).
            """
    )

    @Option(help: "The rule to break: \(ClientMutation.allCases.map(\.rawValue).joined(separator: ", ")).")
    var mutation: String

    func validate() throws {
        guard ClientMutation(rawValue: self.mutation) != nil else {
            throw ValidationError(
                "--mutation must be one of \(ClientMutation.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
    }

    func run() async throws {
        let mutation = ClientMutation(rawValue: self.mutation)!
        await ClientAdapter(name: "mutant-\(mutation.rawValue)") { tls in
            MutantClientConnector(mutation: mutation, tls: tls)
        }.run()
    }
}

/// Runs the command (in an async context, so that the asynchronous `main` of `AsyncParsableCommand` is chosen).
func runHeraldMutantClient() async {
    await HeraldMutantClient.main()
}

await runHeraldMutantClient()

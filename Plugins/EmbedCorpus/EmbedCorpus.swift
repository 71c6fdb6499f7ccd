import Foundation
import PackagePlugin

/// Embeds the conformance corpus in the `HeraldCorpus` module at build time: every `*.json` file of
/// `Vectors/scenarios` (the cases and `waivers.json`), of `Vectors/client-scenarios` (the client cases) and the requirement sources of `Spec` (`README.md` and the
/// `NN-*.md` chapters). The files are the build command's inputs, so editing a scenario or a chapter rebuilds the
/// module, and the `herald` binary never runs with a corpus older than its sources.
@main
struct EmbedCorpus: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] {
        let root = context.package.directoryURL
        let scenarios = try Self.files(in: root.appending(path: "Vectors/scenarios")) { $0.hasSuffix(".json") }
        let clientScenarios = try Self.files(in: root.appending(path: "Vectors/client-scenarios")) {
            $0.hasSuffix(".json")
        }
        let spec = try Self.files(in: root.appending(path: "Spec")) { name in
            name == "README.md"
                || (name.hasSuffix(".md") && name.count > 3 && name.prefix(2).allSatisfy(\.isNumber)
                    && name.dropFirst(2).first == "-")
        }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedCorpus+Files.swift")
        let arguments =
            [output.path] + scenarios.map { "scenarios=" + $0.path } + spec.map { "spec=" + $0.path }
            + clientScenarios.map { "clientScenarios=" + $0.path }
        return [
            .buildCommand(
                displayName:
                    "Embedding the conformance corpus (\(scenarios.count) scenario files, \(clientScenarios.count) client "
                    + "scenario files, \(spec.count) Spec files)",
                executable: try context.tool(named: "herald-embed").url,
                arguments: arguments,
                inputFiles: scenarios + clientScenarios + spec,
                outputFiles: [output]
            )
        ]
    }

    /// The files of `directory` whose names satisfy `include`, in name order.
    static func files(in directory: URL, where include: (String) -> Bool) throws -> [URL] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { !$0.hasPrefix(".") && include($0) }
            .sorted()
            .map { directory.appending(path: $0) }
    }
}

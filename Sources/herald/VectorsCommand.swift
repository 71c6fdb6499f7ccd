import ArgumentParser
import Foundation
import HeraldVectors

extension Herald {
    /// `herald vectors …`: work with the golden vectors.
    struct Vectors: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "vectors",
            abstract: "Work with the golden test vectors.",
            subcommands: [Verify.self]
        )
    }
}

extension Herald.Vectors {
    /// `herald vectors verify [DIR]`: runs every frame vector against HeraldWire.
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check every frame vector (suite herald-frames) under a directory.",
            discussion: """
                Each vector is decoded with its bytes in one read and again one byte at a time; both must give \
                the expected frames or error, and valid vectors must re-encode to the same bytes. Prints one \
                line per failure and closes with "N passed, N failed". Exit status: 0 if all passed, 1 if any \
                failed, 2 if the directory cannot be read or no vector ran.
                """
        )

        @Argument(help: "The directory searched for *.json vector files (the schema/ folder is skipped).")
        var directory: String = "Vectors"

        @Option(help: ArgumentHelp("Run only vectors whose id matches this glob (* and ?).", valueName: "glob"))
        var filter: String?

        @Flag(help: "Also print a line for every vector that passes.")
        var verbose = false

        func run() async throws {
            let collection: FrameVectorCollection
            do {
                collection = try FrameVectorLoader.load(directory: URL(fileURLWithPath: self.directory))
            } catch {
                Console.error("error: \(error)")
                throw ExitCode.usage
            }
            var passed = 0
            var failed = 0
            for problem in collection.problems {
                Console.output("FAIL \(problem.relativePath): \(problem.message)\n")
                failed += 1
            }
            var ran = 0
            for vector in collection.vectors where self.filter.map({ Glob.matches($0, vector.id) }) ?? true {
                ran += 1
                let result = FrameVectorVerifier.verifyAllFeedings(vector, feedings: [.whole, .chunks(size: 1)])
                if let failure = result.failure {
                    Console.output("FAIL \(vector.id): \(failure)\n")
                    failed += 1
                } else {
                    if self.verbose { Console.output("PASS \(vector.id)\n") }
                    passed += 1
                }
            }
            guard ran > 0 else {
                let what = self.filter.map { "matching \"\($0)\" " } ?? ""
                Console.error("error: no frame vectors \(what)found under \(self.directory)")
                throw ExitCode.usage
            }
            Console.output("\(passed) passed, \(failed) failed\n")
            if failed > 0 { throw ExitCode.failure }
        }
    }
}

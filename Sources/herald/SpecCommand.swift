import ArgumentParser
import Foundation
import HeraldSpec

extension Herald {
    /// `herald spec …`: tooling for the Markdown specification.
    struct Spec: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "spec",
            abstract: "Tooling for the specification in Spec/.",
            subcommands: [Requirements.self, Migration.self]
        )
    }
}

extension Herald.Spec {
    /// `herald spec requirements [--spec DIR] [--write | --check]`.
    struct Requirements: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "requirements",
            abstract: "Index the tagged requirements ([PREFIX-N]) of the specification.",
            discussion: """
                Prints the number of requirements per level and per chapter. Problems (duplicate ids, statements \
                without an RFC 2119 keyword, malformed tags) are printed as file:line and make the exit status 1. \
                --write regenerates requirements.json; --check exits 1 if it is out of date. An unreadable \
                --spec directory exits 2.
                """
        )

        @Option(help: "The specification directory.")
        var spec: String = "Spec"

        @Flag(help: "Write requirements.json in the specification directory.")
        var write = false

        @Flag(help: "Exit with status 1 if requirements.json differs from what --write would generate.")
        var check = false

        func validate() throws {
            if self.write && self.check {
                throw ValidationError("--write and --check cannot be used together")
            }
        }

        func run() async throws {
            let directory = URL(fileURLWithPath: self.spec)
            let index: RequirementIndex
            do {
                index = try RequirementIndex(specDirectory: directory)
            } catch {
                Console.error("error: cannot read \(self.spec) (--spec): \(error.localizedDescription)")
                throw ExitCode.usage
            }
            self.printSummary(index)
            for diagnostic in index.diagnostics {
                Console.error("\(self.spec)/\(diagnostic)")
            }
            guard index.diagnostics.isEmpty else {
                Console.error("error: \(index.diagnostics.count) problem(s) in the requirement tags")
                throw ExitCode.failure
            }
            let file = directory.appendingPathComponent(RequirementIndex.fileName)
            let rendered = try index.renderJSON()
            if self.write {
                try rendered.write(to: file, options: .atomic)
                Console.output("wrote \(file.relativePath)\n")
            } else if self.check {
                let committed = try? Data(contentsOf: file)
                guard committed == rendered else {
                    Console.error(
                        "error: \(file.relativePath) is out of date; run `swift run herald spec requirements --write`"
                    )
                    throw ExitCode.failure
                }
                Console.output("\(file.relativePath) is up to date\n")
            }
        }

        private func printSummary(_ index: RequirementIndex) {
            func counts(_ counts: [RequirementLevel: Int]) -> String {
                RequirementLevel.allCases.map { "\($0.rawValue) \(counts[$0, default: 0])" }.joined(separator: ", ")
            }
            var lines = ["\(index.requirements.count) requirements (\(counts(index.countsByLevel)))"]
            let width = index.chapters.map(\.count).max() ?? 0
            for (chapter, chapterCounts) in index.countsByChapter {
                let total = chapterCounts.values.reduce(0, +)
                let padding = String(repeating: " ", count: width - chapter.count)
                lines.append("  \(chapter)\(padding)  \(total) (\(counts(chapterCounts)))")
            }
            Console.output(lines.joined(separator: "\n") + "\n")
        }
    }
}

extension Herald.Spec {
    /// `herald spec migration [--spec DIR] [--write | --check]`.
    struct Migration: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "migration",
            abstract: "Generate the Agora RTM → HeraldClient table of the client's documentation from mapping.md.",
            discussion: """
                Prints the page; --write writes it to \(MigrationGuide.path) (relative to the current directory, \
                the repository root); --check exits 1 if that file is out of date. An unreadable --spec directory \
                exits 2.
                """
        )

        @Option(help: "The specification directory.")
        var spec: String = "Spec"

        @Flag(help: "Write the page into the client's documentation catalog.")
        var write = false

        @Flag(help: "Exit with status 1 if the page differs from what --write would generate.")
        var check = false

        func validate() throws {
            if self.write && self.check {
                throw ValidationError("--write and --check cannot be used together")
            }
        }

        func run() async throws {
            let table: MappingTable
            do {
                table = try MappingTable(specDirectory: URL(fileURLWithPath: self.spec))
            } catch {
                Console.error("error: cannot read \(self.spec)/mapping.md (--spec): \(error)")
                throw ExitCode.usage
            }
            let rendered = MigrationGuide.render(table)
            let file = URL(fileURLWithPath: MigrationGuide.path)
            if self.write {
                try Data(rendered.utf8).write(to: file, options: .atomic)
                Console.output("wrote \(MigrationGuide.path)\n")
            } else if self.check {
                guard (try? String(contentsOf: file, encoding: .utf8)) == rendered else {
                    Console.error(
                        "error: \(MigrationGuide.path) is out of date; run `swift run herald spec migration --write`"
                    )
                    throw ExitCode.failure
                }
                Console.output("\(MigrationGuide.path) is up to date\n")
            } else {
                Console.output(rendered)
            }
        }
    }
}

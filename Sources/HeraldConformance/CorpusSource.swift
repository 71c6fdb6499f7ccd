import Foundation
import HeraldCorpus
import HeraldSpec

/// Where a run's scenario corpus and requirement texts come from: the copy built into the binary
/// (``HeraldCorpus/EmbeddedCorpus``), or directories named with `--scenarios` and `--spec`.
///
/// The embedded copy makes `herald conform` work from any directory, with nothing but the binary; the directories
/// are for corpus authors and for testing a corpus other than the one built in. A `--scenarios` directory without
/// a Spec beside it (and without `--spec`) still gets the embedded requirement texts, so failure reports never lose
/// them silently; the run's header says where each part came from.
public struct CorpusSource: Sendable {
    /// The scenario files (cases only, in name order) as (file name, bytes).
    public var scenarioFiles: [(name: String, data: Data)]
    /// `waivers.json`, if the corpus has one.
    public var waiverData: Data?
    /// The requirement sources of the Spec, in chapter order; `nil` when none are available.
    public var specDocuments: [SpecDocument]?
    /// Where the scenarios came from: `embedded` or the directory.
    public var scenariosLabel: String
    /// Where the Spec came from: `embedded`, the directory, or `none`.
    public var specLabel: String
    /// The directory given with `--scenarios`, if any.
    public var scenariosDirectory: String?

    /// The corpus built into the binary.
    public static var embedded: CorpusSource {
        let files = EmbeddedCorpus.scenarios
        return CorpusSource(
            scenarioFiles: files.filter { !ScenarioLoader.ignoredFileNames.contains($0.name) }.map {
                ($0.name, Data($0.text.utf8))
            },
            waiverData: files.first { $0.name == WaiverFile.fileName }.map { Data($0.text.utf8) },
            specDocuments: Self.embeddedSpec,
            scenariosLabel: "embedded",
            specLabel: "embedded",
            scenariosDirectory: nil
        )
    }

    /// The Spec's requirement sources built into the binary, in chapter order.
    public static var embeddedSpec: [SpecDocument] {
        EmbeddedCorpus.spec.map { SpecDocument(name: $0.name, text: $0.text) }.sorted {
            SpecDocument.inChapterOrder($0.name, $1.name)
        }
    }

    /// The corpus version printed by `herald conform --version`: the number of scenario files and the
    /// fingerprint of the embedded files.
    public static var embeddedVersion: String {
        let files = EmbeddedCorpus.scenarios.filter { !ScenarioLoader.ignoredFileNames.contains($0.name) }
        return "\(files.count) scenario files, fingerprint \(EmbeddedCorpus.fingerprint)"
    }

    /// Resolves `--scenarios` and `--spec`.
    ///
    /// - Parameters:
    ///   - scenarios: The scenario directory, or `nil` for the embedded corpus.
    ///   - spec: The Spec directory, or `nil`: then `Spec` beside the scenarios' `Vectors` directory when it exists,
    ///     else the embedded Spec.
    /// - Throws: ``CorpusSourceError`` naming the option and path when a directory cannot be read.
    public static func resolve(scenarios: String?, spec: String?) throws(CorpusSourceError) -> CorpusSource {
        var source = CorpusSource.embedded
        if let scenarios {
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: scenarios)
            } catch {
                throw CorpusSourceError(
                    "--scenarios \(scenarios): " + Self.reason(error, path: scenarios, expecting: "directory")
                )
            }
            var files: [(name: String, data: Data)] = []
            source.waiverData = nil
            for name in names.sorted() where name.hasSuffix(".json") && !name.hasPrefix(".") {
                let path = (scenarios as NSString).appendingPathComponent(name)
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw CorpusSourceError("--scenarios: cannot read \(path)")
                }
                if name == WaiverFile.fileName {
                    source.waiverData = data
                } else if !ScenarioLoader.ignoredFileNames.contains(name) {
                    files.append((name, data))
                }
            }
            source.scenarioFiles = files
            source.scenariosLabel = scenarios
            source.scenariosDirectory = scenarios
        }
        let specDirectory = spec ?? scenarios.flatMap(Self.specBeside)
        if let specDirectory {
            do {
                source.specDocuments = try SpecDocument.loadChapters(in: URL(fileURLWithPath: specDirectory))
            } catch {
                throw CorpusSourceError(
                    "--spec \(specDirectory): " + Self.reason(error, path: specDirectory, expecting: "directory")
                )
            }
            source.specLabel = specDirectory
        }
        return source
    }

    /// `Spec` beside the `Vectors` directory that holds `scenarios`, if it exists.
    static func specBeside(_ scenarios: String) -> String? {
        let root = URL(fileURLWithPath: scenarios).deletingLastPathComponent().deletingLastPathComponent()
        let spec = root.appendingPathComponent("Spec").path
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: spec, isDirectory: &isDirectory) && isDirectory.boolValue
            ? spec : nil
    }

    /// The requirement index of the Spec, if there is one with requirements.
    public var requirementIndex: RequirementIndex? {
        guard let documents = self.specDocuments else { return nil }
        let index = RequirementIndex(documents: documents)
        return index.requirements.isEmpty ? nil : index
    }

    /// The waivers (none when the corpus has no `waivers.json`).
    public func waivers() throws(CoverageError) -> WaiverFile {
        guard let data = self.waiverData else { return WaiverFile(waivers: []) }
        return try WaiverFile(data: data)
    }

    /// A file-system error in plain words: `no such directory`, `permission denied`, `not a directory`.
    static func reason(_ error: any Error, path: String, expecting kind: String) -> String {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            return "no such \(kind)"
        }
        if kind == "directory" && !isDirectory.boolValue {
            return "not a directory"
        }
        if !FileManager.default.isReadableFile(atPath: path) {
            return "permission denied"
        }
        return "cannot be read (\((error as NSError).localizedDescription))"
    }
}

/// A `--scenarios` or `--spec` directory that cannot be used.
public struct CorpusSourceError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong, naming the option and the path.
    public var description: String

    /// Creates an error.
    public init(_ description: String) {
        self.description = description
    }
}

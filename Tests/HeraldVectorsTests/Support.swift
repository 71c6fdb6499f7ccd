import Foundation
import HeraldProcess
import HeraldSpec
import HeraldVectors
import Testing

/// Paths and lazily loaded project files shared by the tests.
enum Project {
    /// The repository root, found from this file's path (no bundle resources).
    static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    /// `Spec/`.
    static let specDirectory = root.appendingPathComponent("Spec")
    /// `Vectors/`.
    static let vectorsDirectory = root.appendingPathComponent("Vectors")
    /// `Vectors/frames/`.
    static let frameVectorsDirectory = vectorsDirectory.appendingPathComponent("frames")

    /// The frame vectors under `Vectors/frames` (empty if the folder is missing; a test reports that).
    static let frameVectors: Result<FrameVectorCollection, FrameVectorLoader.LoadError> = Result {
        () throws(FrameVectorLoader.LoadError) in
        try FrameVectorLoader.load(directory: frameVectorsDirectory)
    }

    /// Every frame vector, wrapped for `@Test(arguments:)`.
    static let vectorCases: [VectorCase] = {
        guard case .success(let collection) = frameVectors else { return [] }
        return collection.vectors.map(VectorCase.init)
    }()

    /// The requirement index of `Spec/`.
    static let requirementIndex: Result<RequirementIndex, any Error> = Result {
        try RequirementIndex(specDirectory: specDirectory)
    }

    /// The seed-rows file: `$HERALD_SEED_ROWS`, else `<repo>/../shared/seed-rows.tsv`.
    static var seedRowsURL: URL {
        if let path = ProcessInfo.processInfo.environment["HERALD_SEED_ROWS"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return root.deletingLastPathComponent().appendingPathComponent("shared/seed-rows.tsv")
    }
}

/// A frame vector as a test argument, shown by its id.
struct VectorCase: Sendable, CustomTestStringConvertible {
    var vector: FrameVector

    var testDescription: String { self.vector.id }
}

/// Runs the built `herald` executable, as swift-argument-parser's `AssertExecuteCommand` does.
enum HeraldProcess {
    /// The result of one run.
    struct Output {
        var status: Int32
        var standardOutput: String
        var standardError: String
    }

    /// The `herald` binary next to the test bundle (`.build/<config>/herald`).
    static let executable: URL? = {
        var candidates: [URL] = []
        let bundle = Bundle.main.bundleURL
        candidates.append(bundle.lastPathComponent.hasSuffix("xctest") ? bundle.deletingLastPathComponent() : bundle)
        if let path = Bundle.main.executablePath {
            var url = URL(fileURLWithPath: path).deletingLastPathComponent()
            candidates.append(url)
            // Darwin: …/herald-packageTests.xctest/Contents/MacOS/herald-packageTests
            for _ in 0..<3 { url.deleteLastPathComponent() }
            candidates.append(url)
        }
        candidates.append(Project.root.appendingPathComponent(".build/debug"))
        return candidates.map { $0.appendingPathComponent("herald") }.first {
            FileManager.default.isExecutableFile(atPath: $0.path)
        }
    }()

    /// Runs `herald arguments…` with `input` on standard input.
    ///
    /// The wait does not block a thread: tests share the cooperative thread pool with the live-server tests, and
    /// a test blocked in `waitUntilExit()` would starve them.
    static func run(_ arguments: [String], input: String? = nil) async throws -> Output {
        let executable = try #require(
            self.executable,
            "No herald executable next to the test bundle (\(Bundle.main.bundleURL.path)); run `swift build` first"
        )
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("herald-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outURL = scratch.appendingPathComponent("stdout")
        let errURL = scratch.appendingPathComponent("stderr")
        let inURL = scratch.appendingPathComponent("stdin")
        try Data().write(to: outURL)
        try Data().write(to: errURL)
        try Data((input ?? "").utf8).write(to: inURL)

        let process = ChildProcess()
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = Project.root
        let stdout = try FileHandle(forWritingTo: outURL)
        let stderr = try FileHandle(forWritingTo: errURL)
        let stdin = try FileHandle(forReadingFrom: inURL)
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = stdin
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            process.terminationHandler = { _ in continuation.resume() }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        try stdout.close()
        try stderr.close()
        try stdin.close()
        return Output(
            status: process.terminationStatus,
            standardOutput: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
            standardError: String(decoding: try Data(contentsOf: errURL), as: UTF8.self)
        )
    }
}

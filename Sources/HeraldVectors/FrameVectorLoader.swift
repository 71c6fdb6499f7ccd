import Foundation

/// A frame-vector file read from disk.
public struct LoadedFrameVectorFile: Sendable {
    /// The file's path relative to the directory that was searched, for example `frames/valid.json`.
    public var relativePath: String
    /// The file's URL.
    public var url: URL
    /// The parsed file.
    public var file: FrameVectorFile
}

/// A problem with a vector file as a whole (unreadable, wrong shape, wrong count, duplicate ids).
public struct FrameVectorFileProblem: Hashable, Sendable, CustomStringConvertible {
    /// The file's path relative to the searched directory.
    public var relativePath: String
    /// What is wrong.
    public var message: String

    /// Creates a problem.
    public init(relativePath: String, message: String) {
        self.relativePath = relativePath
        self.message = message
    }

    /// `path: message`.
    public var description: String { "\(self.relativePath): \(self.message)" }
}

/// All frame-vector files found under a directory.
public struct FrameVectorCollection: Sendable {
    /// The files of suite `herald-frames` that parsed, in path order.
    public var files: [LoadedFrameVectorFile]
    /// Problems with files: unparsable JSON, wrong shape, `numberOfTests` mismatch, duplicate ids, …
    public var problems: [FrameVectorFileProblem]

    /// Every vector of every file, in path order then file order.
    public var vectors: [FrameVector] {
        self.files.flatMap(\.file.tests)
    }
}

/// Finds and reads frame-vector files.
public enum FrameVectorLoader {
    /// The directory that `schema/` files live in; never searched.
    public static let schemaDirectoryName = "schema"

    /// An error that stops loading altogether.
    public struct LoadError: Error, Hashable, Sendable, CustomStringConvertible {
        /// What is wrong.
        public var message: String

        /// Creates an error.
        public init(_ message: String) {
            self.message = message
        }

        /// The message.
        public var description: String { self.message }
    }

    /// Reads every `*.json` under `directory` (recursively, skipping any `schema/` folder) whose top-level
    /// `suite` is `herald-frames`; files of other suites are ignored.
    ///
    /// File-level problems are collected, not thrown: the file's `numberOfTests` must equal its number of tests,
    /// `schemaVersion` must be ``FrameVectorFile/currentSchemaVersion`` and `protocolVersion` 1, every label a
    /// vector uses must be defined in the file, and ids must be unique across all files.
    ///
    /// - Throws: ``LoadError`` if `directory` does not exist or is not a directory.
    public static func load(directory: URL) throws(LoadError) -> FrameVectorCollection {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue
        else {
            throw LoadError("\(directory.path) is not a directory")
        }
        var files: [LoadedFrameVectorFile] = []
        var problems: [FrameVectorFileProblem] = []
        for (url, relativePath) in self.jsonFiles(in: directory) {
            switch self.read(url: url, relativePath: relativePath) {
            case .ignored:
                continue
            case .problem(let message):
                problems.append(FrameVectorFileProblem(relativePath: relativePath, message: message))
            case .file(let file):
                problems += self.check(file, relativePath: relativePath)
                files.append(LoadedFrameVectorFile(relativePath: relativePath, url: url, file: file))
            }
        }
        var seen: [String: String] = [:]
        for loaded in files {
            for vector in loaded.file.tests {
                if let other = seen[vector.id] {
                    problems.append(
                        FrameVectorFileProblem(
                            relativePath: loaded.relativePath,
                            message: "duplicate vector id \(vector.id) (also in \(other))"
                        )
                    )
                } else {
                    seen[vector.id] = loaded.relativePath
                }
            }
        }
        return FrameVectorCollection(files: files, problems: problems)
    }

    private enum ReadResult {
        case ignored
        case problem(String)
        case file(FrameVectorFile)
    }

    private static func read(url: URL, relativePath: String) -> ReadResult {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            return .problem("cannot read: \(error.localizedDescription)")
        }
        let value: Any
        do {
            value = try JSONText.parse(data)
        } catch {
            return .problem("invalid JSON: \(JSONText.describe(error))")
        }
        guard (value as? [String: Any])?["suite"] as? String == FrameVectorFile.suiteName else { return .ignored }
        do {
            return .file(try JSONDecoder().decode(FrameVectorFile.self, from: data))
        } catch {
            return .problem("not a frame-vector file: \(Self.describe(error))")
        }
    }

    private static func check(_ file: FrameVectorFile, relativePath: String) -> [FrameVectorFileProblem] {
        var messages: [String] = []
        if file.numberOfTests != file.tests.count {
            messages.append("numberOfTests is \(file.numberOfTests) but the file has \(file.tests.count) tests")
        }
        if file.schemaVersion != FrameVectorFile.currentSchemaVersion {
            messages.append(
                "schemaVersion is \(file.schemaVersion), this reader reads \(FrameVectorFile.currentSchemaVersion)"
            )
        }
        if file.protocolVersion != 1 { messages.append("protocolVersion is \(file.protocolVersion), expected 1") }
        let defined = Set((file.labels ?? [:]).keys)
        for vector in file.tests {
            for label in vector.labels ?? [] where !defined.contains(label) {
                messages.append("vector \(vector.id) uses label \(label), which the file's labels do not define")
            }
        }
        return messages.map { FrameVectorFileProblem(relativePath: relativePath, message: $0) }
    }

    /// `*.json` files under `directory`, sorted by relative path, outside any `schema/` folder.
    private static func jsonFiles(in directory: URL) -> [(URL, String)] {
        let root = directory.standardizedFileURL.resolvingSymlinksInPath()
        guard
            let enumerator = FileManager.default.enumerator(
                at: root,
                includingPropertiesForKeys: [.isDirectoryKey],
                options: [.skipsHiddenFiles]
            )
        else {
            return []
        }
        var result: [(URL, String)] = []
        let rootComponents = root.pathComponents
        for case let url as URL in enumerator {
            let components = url.standardizedFileURL.resolvingSymlinksInPath().pathComponents
            let relative = Array(components.dropFirst(rootComponents.count))
            if (try? url.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true {
                if url.lastPathComponent == Self.schemaDirectoryName { enumerator.skipDescendants() }
                continue
            }
            guard url.pathExtension == "json" else { continue }
            result.append((url, relative.joined(separator: "/")))
        }
        return result.sorted { $0.1 < $1.1 }
    }

    /// A readable description of a `DecodingError` (with its coding path).
    static func describe(_ error: any Error) -> String {
        guard let decodingError = error as? DecodingError else { return "\(error)" }
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { key in key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue)" }.joined()
        }
        switch decodingError {
        case .keyNotFound(let key, let context):
            return "missing \(path(context)).\(key.stringValue)"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(path(context)): \(context.debugDescription)"
        @unknown default:
            return "\(decodingError)"
        }
    }
}

/// Shell-style glob matching (`*` any run of characters, `?` one character) used by `--filter`.
public enum Glob {
    /// Whether `text` matches `pattern` as a whole.
    public static func matches(_ pattern: String, _ text: String) -> Bool {
        let pattern = Array(pattern)
        let text = Array(text)
        var patternIndex = 0
        var textIndex = 0
        var starIndex: Int?
        var starText = 0
        while textIndex < text.count {
            if patternIndex < pattern.count, pattern[patternIndex] == "?" || pattern[patternIndex] == text[textIndex] {
                patternIndex += 1
                textIndex += 1
            } else if patternIndex < pattern.count, pattern[patternIndex] == "*" {
                starIndex = patternIndex
                starText = textIndex
                patternIndex += 1
            } else if let star = starIndex {
                patternIndex = star + 1
                starText += 1
                textIndex = starText
            } else {
                return false
            }
        }
        while patternIndex < pattern.count, pattern[patternIndex] == "*" { patternIndex += 1 }
        return patternIndex == pattern.count
    }
}

import Foundation
import HeraldProcess
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// ``ChildProcess``, the `posix_spawn` replacement for Foundation's `Process` that Herald's tools and tests use.
@Suite struct ChildProcessTests {
    static func shell(
        _ script: String,
        directory: URL? = nil,
        environment: [String: String]? = nil
    ) throws -> (
        status: Int32, output: String
    ) {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        process.currentDirectoryURL = directory
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(!process.isRunning)
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func runsWithPipesDirectoryEnvironmentAndStatus() throws {
        let result = try Self.shell(
            "pwd; echo $HERALD_X; exit 3",
            directory: URL(fileURLWithPath: "/tmp"),
            environment: ["HERALD_X": "y"]
        )
        #expect(result.status == 3)
        #expect(result.output == "/tmp\ny\n")
    }

    @Test func feedsStandardInput() throws {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/bin/cat")
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data("hello\n".utf8))
        try input.fileHandleForWriting.close()
        #expect(output.fileHandleForReading.readDataToEndOfFile() == Data("hello\n".utf8))
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    @Test func reportsTheSignalThatEndedTheChild() throws {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/bin/sleep")
        process.arguments = ["30"]
        let ended = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in ended.signal() }
        try process.run()
        #expect(process.isRunning)
        #expect(process.processIdentifier > 0)
        process.terminate()
        ended.wait()
        #expect(process.terminationStatus == SIGTERM)
    }

    /// A descriptor without close-on-exec (as Foundation's `Pipe` makes them) does not leak into the child: a reader
    /// of a pipe would otherwise wait for end of file until every unrelated child had exited.
    @Test func theChildInheritsOnlyItsThreeStreams() throws {
        var descriptors: [Int32] = [0, 0]
        #expect(pipe(&descriptors) == 0)
        defer {
            close(descriptors[0])
            close(descriptors[1])
        }
        let result = try Self.shell("ls /proc/self/fd")
        let inherited = Set(result.output.split(separator: "\n").compactMap { Int32($0) })
        #expect(!inherited.contains(descriptors[0]))
        #expect(!inherited.contains(descriptors[1]))
        #expect(inherited.isSuperset(of: [0, 1, 2]))
    }

    @Test func aMissingProgramIsAnError() {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/nonexistent/program")
        #expect(throws: ChildProcessError.self) { try process.run() }
    }
}

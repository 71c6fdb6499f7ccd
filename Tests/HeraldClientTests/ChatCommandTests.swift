import Foundation
import HeraldClient
import HeraldProcess
import Testing

/// `herald chat`, the library's example program, as a user runs it: the built executable, its standard input and
/// output, against the reference server, with a library client on the other side.
@Suite(.serialized) struct ChatCommandTests {
    /// The `herald` executable built next to the test binary.
    static func executable() throws -> URL {
        let candidates =
            [
                URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent(),
                URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent(),
            ]
            + Bundle.allBundles.filter { $0.bundlePath.hasSuffix(".xctest") }.map {
                $0.bundleURL.deletingLastPathComponent()
            }
        for directory in candidates {
            let path = directory.appendingPathComponent("herald")
            if FileManager.default.isExecutableFile(atPath: path.path) { return path }
        }
        throw HarnessFailure("no herald executable next to the test binary")
    }

    @Test(arguments: [ServerAddress.Scheme.tcp, .ws])
    func chatsWithALibraryClient(scheme: ServerAddress.Scheme) async throws {
        try await withLiveServer(scheme) { address in
            let process = ChildProcess()
            process.executableURL = try Self.executable()
            process.arguments = ["chat", address.url, "--app-id", liveAppID, "--user", "alice", "--channel", "lobby"]
            let input = Pipe()
            let output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            process.standardError = output
            let lines = AwaitQueue<String>()
            let exit = AwaitQueue<Int32>()
            process.terminationHandler = { exit.push($0.terminationStatus) }
            try process.run()
            let reader = output.fileHandleForReading
            Thread {
                var buffer = Data()
                while true {
                    let data = reader.availableData
                    if data.isEmpty { break }
                    buffer.append(data)
                    while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                        lines.push(String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self))
                        buffer.removeSubrange(buffer.startIndex...newline)
                    }
                }
                lines.finish()
            }.start()
            func expectLine(_ text: String) async throws {
                while let line = await lines.next() {
                    if line == text { return }
                }
                throw HarnessFailure("herald chat never printed '\(text)'")
            }
            func type(_ line: String) {
                input.fileHandleForWriting.write(Data((line + "\n").utf8))
            }
            defer { if process.isRunning { process.terminate() } }

            try await expectLine("* joined lobby")
            let (bob, bobEvents) = try await liveClient(address, "bob")
            try await bob.send(HeraldMessage(text: "hi alice"), toPeer: "alice")
            try await expectLine("[bob] hi alice")
            type("/msg bob hi bob")
            let peer = try await bobEvents.next("peer message") { event -> String? in
                if case .peerMessage(let message) = event { return message.message.text }
                return nil
            }
            #expect(peer == "hi bob")
            try await bob.channel("lobby").join()
            try await expectLine("* bob joined #lobby")
            type("hello lobby")
            let said = try await bobEvents.next("channel message") { event -> String? in
                if case .channelMessage(let message) = event { return message.message.text }
                return nil
            }
            #expect(said == "hello lobby")
            let call = bob.callManager.createLocalInvitation(calleeID: "alice", channelID: "lobby")
            try await bob.callManager.send(call)
            try await expectLine("* bob is calling; /accept or /refuse")
            type("/accept")
            _ = try await bobEvents.next("accepted") { event -> Bool? in
                if case .localInvitation(_, .acceptedByRemote) = event { return true }
                return nil
            }
            type("/quit")
            #expect(await exit.next() == 0)
            await bob.close()
        }
    }
}

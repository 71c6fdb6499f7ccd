import Foundation
import HeraldClient
import Testing

/// The README's two-client example, compiled here and run against the reference server. The code between the
/// markers must be the README's block, line for line (the test compares them).
func readmeExample(
    address: ServerAddress,
    appID: String,
    aliceToken: String,
    bobToken: String
) async throws
    -> (LocalInvitation, [String])
{
    var printed: [String] = []
    func print(_ items: String...) { printed.append(items.joined(separator: " ")) }
    // README: begin
    let alice = HeraldClient(address: address, appID: appID)
    let bob = HeraldClient(address: address, appID: appID)
    try await alice.login(userID: "alice", token: aliceToken)
    try await bob.login(userID: "bob", token: bobToken)
    let bobEvents = await bob.events()

    // A peer message: returns once Bob's client has it (ACK_MODE_PEER, the default).
    try await alice.send(HeraldMessage(text: "hi Bob"), toPeer: "bob")

    // A channel message.
    try await alice.channel("room").join()
    try await bob.channel("room").join()
    try await alice.channel("room").send(HeraldMessage(text: "hello room"))

    // A call invitation, which Bob accepts.
    let call = alice.callManager.createLocalInvitation(calleeID: "bob", channelID: "call-1")
    try await alice.callManager.send(call)

    events: for await event in bobEvents {
        switch event {
        case .peerMessage(let received):
            print("peer message from \(received.fromUserID): \(received.message.text)")
        case .channelMessage(let received):
            print("in \(received.channelID), \(received.fromUserID) says \(received.message.text)")
        case .remoteInvitation(let invitation, .invitationReceived):
            try await bob.callManager.accept(invitation)
        case .remoteInvitation(_, .accepted):
            print("call accepted: \(call.state)")  // acceptedByRemote
            break events
        default:
            continue
        }
    }
    await alice.close()
    await bob.close()
    // README: end
    return (call, printed)
}

@Suite(.serialized) struct ReadmeExampleTests {
    static func readmeBlock() throws -> [String] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let lines = readme.components(separatedBy: "\n")
        guard
            let marker = lines.firstIndex(
                of: "<!-- client-example: Tests/HeraldClientTests/ReadmeExampleTests.swift -->"
            ),
            lines.count > marker + 2, lines[marker + 1] == "```swift",
            let end = lines[(marker + 2)...].firstIndex(of: "```")
        else { throw HarnessFailure("README.md has no client example block after its marker") }
        return Array(lines[(marker + 2)..<end])
    }

    static func sourceBlock() throws -> [String] {
        let source = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8)
        let lines = source.components(separatedBy: "\n")
        guard let begin = lines.firstIndex(where: { $0.hasSuffix("// README: begin") }),
            let end = lines.firstIndex(where: { $0.hasSuffix("// README: end") })
        else { throw HarnessFailure("markers missing") }
        return lines[(begin + 1)..<end].map { $0.hasPrefix("    ") ? String($0.dropFirst(4)) : $0 }
    }

    @Test func theReadmeShowsThisCodeInUnderFortyLines() throws {
        let readme = try Self.readmeBlock()
        #expect(readme == (try Self.sourceBlock()))
        #expect(readme.count < 40)
    }

    @Test(arguments: [ServerAddress.Scheme.tcp, .ws])
    func theExampleRuns(scheme: ServerAddress.Scheme) async throws {
        try await withLiveServer(scheme) { address in
            let (call, printed) = try await readmeExample(
                address: address,
                appID: liveAppID,
                aliceToken: "",
                bobToken: ""
            )
            #expect(call.state == .acceptedByRemote)
            #expect(printed.first == "peer message from alice: hi Bob")
            #expect(printed.contains("in room, alice says hello room"))
            #expect(printed.last == "call accepted: acceptedByRemote")
        }
    }
}

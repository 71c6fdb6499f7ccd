import Foundation
import HeraldEngine
import HeraldMessages
import HeraldServer
import HeraldWire
import NIOCore
import Testing

@Suite("Test-control restarts (Spec/18-test-control.md)")
struct TestControlRestartTests {
    static let key = "server-test-control-key"

    /// Sends `TestControlRequest` with `restart` in `mode` and checks the `TestControlResponse`.
    static func requestRestart(_ mode: Herald_V1_TestControlRestartMode, on admin: TestClient) async throws {
        var request = Herald_V1_TestControlRequest()
        request.key = Self.key
        request.restart.mode = mode
        let id = admin.takeRequestID()
        // TestClient.send(frame:) validates against the v1 table; the extension frame is written as it is.
        let frame = try HeraldFrame(
            extensionOpcode: HeraldOpcodeTable.testControlRequest,
            requestID: id,
            message: request
        )
        var bytes = ByteBuffer()
        frame.header.write(to: &bytes)
        bytes.writeImmutableBuffer(frame.payload)
        try await admin.sendRaw(bytes)
        let response = try await admin.response(to: id, as: Herald_V1_TestControlResponse.self)
        #expect(response.result == .ok)
    }

    @Test("TCTL-12, PEER-36: a crash closes every connection without a frame; CACHED_BY_SERVER messages survive it")
    func crashKeepsCachedMessages() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "herald-crash-\(UUID().uuidString)"
        )
        defer { try? FileManager.default.removeItem(at: directory) }
        let configuration = testConfiguration {
            $0.dataDirectory = directory.path
            $0.engine.testControlKey = Array(Self.key.utf8)
        }
        try await withTestServer(configuration) { server, listeners in
            let before = server.engine
            let alice = try await listeners.loggedIn("alice", on: .tcp)
            var message = Herald_V1_SendPeerMessageRequest()
            message.peerID = "bob"
            message.message = textBody("kept")
            message.enableOfflineMessaging = true
            let sent = try await alice.request(message, expecting: Herald_V1_SendPeerMessageResponse.self)
            #expect(sent.result == .cachedByServer)
            let admin = try await listeners.connect(.tcp)
            let welcome = try await admin.hello(capabilities: ["herald.test-control"])
            #expect(welcome.capabilities.contains("herald.test-control"))
            try await Self.requestRestart(.crash, on: admin)
            for client in [alice, admin] {
                _ = try await client.expectClose()
                #expect(client.stashed.isEmpty, "a crash sends no frame: \(client.stashed.map(\.opcode))")
            }
            #expect(server.engine !== before)
            let bob = try await listeners.loggedIn("bob", on: .tcp)
            let (_, delivered) = try await bob.expect(Herald_V1_PeerMessage.self)
            #expect(delivered.message.text == "kept" && delivered.isOffline && delivered.messageID == sent.messageID)
            // In-memory state is gone: alice's session did not survive.
            #expect(await server.engine.counts().sessions == 1)
        }
    }

    @Test(
        "TCTL-11, HS-57: a graceful restart sends Disconnect SERVER_SHUTDOWN everywhere, then serves on the same port"
    )
    func gracefulRestart() async throws {
        let configuration = testConfiguration { $0.engine.testControlKey = Array(Self.key.utf8) }
        try await withTestServer(configuration) { server, listeners in
            let alice = try await listeners.loggedIn("alice", on: .ws)
            let admin = try await listeners.connect(.tcp)
            try await admin.hello(capabilities: ["herald.test-control"])
            try await Self.requestRestart(.graceful, on: admin)
            for client in [alice, admin] {
                let (_, disconnect) = try await client.expect(Herald_V1_Disconnect.self)
                #expect(disconnect.reason == .serverShutdown)
                _ = try await client.expectClose()
            }
            // The new engine serves both listeners; its only session is the one just logged in (the engine has
            // answered the login, so the count is settled; after a close it would not be yet).
            for transport in [HeraldTransport.tcp, .ws] {
                let again = try await listeners.loggedIn("alice", on: transport)
                #expect(await server.engine.counts().sessions == 1)
                await again.close()
            }
        }
    }

    @Test("Without a key, 0xF001 stays an unknown opcode and the decoder refuses it from its header")
    func disabledByDefault() async throws {
        try await withTestServer { _, listeners in
            let client = try await listeners.connect(.tcp)
            let welcome = try await client.hello(capabilities: ["herald.test-control"])
            #expect(!welcome.capabilities.contains("herald.test-control"))
            try await client.sendRaw([0x48, 0x52, 1, 0, 0xF0, 0x01, 0, 0, 0, 9, 0, 0, 0, 0])
            let (_, error) = try await client.expect(Herald_V1_ProtocolError.self)
            #expect(error.code == "unknown-opcode" && error.requestID == 9)
            try await client.expect(Herald_V1_Disconnect.self)
            _ = try await client.expectClose()
        }
    }
}

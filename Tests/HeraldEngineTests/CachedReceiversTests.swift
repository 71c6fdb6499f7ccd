import HeraldEngine
import HeraldMessages
import HeraldWire
import SwiftProtobuf
import Testing

/// The login read of cached messages happens only for users who may have some (the engine's index of receivers):
/// a login costs no store operation otherwise, and a user with cached messages never misses them (PEER-39, PEER-51).
@Suite("Cached receivers: no store read at the login of a user with nothing cached")
struct CachedReceiversTests {
    private static func cacheable(to peer: String, _ text: String) -> Herald_V1_SendPeerMessageRequest {
        Herald_V1_SendPeerMessageRequest.with {
            $0.peerID = peer
            $0.message = Herald_V1_MessageBody.with {
                $0.type = .text
                $0.text = text
            }
            $0.enableOfflineMessaging = true
        }
    }

    /// Sends a LoginRequest without settling the store, and returns the operations the engine queued for it.
    private static func loginQueuing(_ user: String, in h: EngineHarness) async -> (TestClient, [OfflineOperation]) {
        let client = await h.connect()
        await client.send(
            Herald_V1_LoginRequest.with {
                $0.appID = testAppID
                $0.userID = user
            }
        )
        #expect(client.drain().map(\.opcode) == [.loginResponse, .connectionStateChanged])
        return (client, h.store.queued)
    }

    private static func isRead(_ operation: OfflineOperation) -> Bool {
        if case .messages = operation { return true }
        return false
    }

    @Test("a user with nothing cached logs in without a store read; the next frame is processed at once")
    func noReadWithoutCachedMessages() async throws {
        let h = try EngineHarness(manualStore: true)
        let (bob, queued) = await Self.loginQueuing("bob", in: h)
        #expect(queued.isEmpty)
        // SES-38 does not hold the next frame back: there is nothing to wait for.
        _ = await bob.request(Herald_V1_Ping(), expecting: Herald_V1_Pong.self)
    }

    @Test("a message cached for a user makes the user's next login read the store and deliver it")
    func cachedMessageIsRead() async throws {
        let h = try EngineHarness(manualStore: true)
        let alice = await h.login("alice")
        await alice.send(Self.cacheable(to: "bob", "while you were out"))
        await h.store.completeAll()
        let (bob, queued) = await Self.loginQueuing("bob", in: h)
        #expect(queued.contains(where: Self.isRead))
        await h.store.completeAll()
        let delivered = bob.drain().filter { $0.opcode == .peerMessage }
        let texts = try delivered.map { try $0.decodeMessage(as: Herald_V1_PeerMessage.self).message.text }
        #expect(texts == ["while you were out"])
    }

    @Test("a read that finds nothing, with nothing stored since it was submitted, takes the user out of the index")
    func emptyReadLeavesTheIndex() async throws {
        let h = try EngineHarness(manualStore: true)
        let alice = await h.login("alice")
        await alice.send(Self.cacheable(to: "carol", "expires"))
        await h.store.completeAll()
        // The message goes without the engine (as the expiry purge would take it).
        try h.inbox.purge(receivedBeforeMs: Int64.max)
        let (carol, first) = await Self.loginQueuing("carol", in: h)
        #expect(first.contains(where: Self.isRead))
        await h.store.completeAll()
        await carol.drop()
        let (_, second) = await Self.loginQueuing("carol", in: h)
        #expect(second.isEmpty)
    }

    @Test("a message stored while the read is outstanding keeps the user in the index")
    func appendDuringTheReadKeepsTheUser() async throws {
        let h = try EngineHarness(manualStore: true)
        let alice = await h.login("alice")
        await alice.send(Self.cacheable(to: "dave", "first"))
        await h.store.completeAll()
        try h.inbox.purge(receivedBeforeMs: Int64.max)
        let (dave, _) = await Self.loginQueuing("dave", in: h)
        // Dave's session ends before the read completes: the message sent now is stored for him.
        await dave.drop()
        await alice.send(Self.cacheable(to: "dave", "second"))
        await h.store.completeAll()
        let (again, queued) = await Self.loginQueuing("dave", in: h)
        #expect(queued.contains(where: Self.isRead))
        await h.store.completeAll()
        let texts = try again.drain().filter { $0.opcode == .peerMessage }.map {
            try $0.decodeMessage(as: Herald_V1_PeerMessage.self).message.text
        }
        #expect(texts == ["second"])
    }

    @Test("receivers already in the store when the engine starts are read at their login")
    func receiversAtStartup() async throws {
        let inbox = MemoryOfflineInbox()
        try inbox.append(
            OfflineMessageRecord(
                appID: testAppID,
                receiverID: "erin",
                senderID: "alice",
                messageID: 7,
                serverReceivedMs: ManualEngineClock().nowMilliseconds(),
                body: Herald_V1_MessageBody.with {
                    $0.type = .text
                    $0.text = "from before the restart"
                }
            ),
            capacity: 200
        )
        let h = try EngineHarness(inbox: inbox, manualStore: true)
        let (erin, queued) = await Self.loginQueuing("erin", in: h)
        #expect(queued.contains(where: Self.isRead))
        await h.store.completeAll()
        let texts = try erin.drain().filter { $0.opcode == .peerMessage }.map {
            try $0.decodeMessage(as: Herald_V1_PeerMessage.self).message.text
        }
        #expect(texts == ["from before the restart"])
    }
}

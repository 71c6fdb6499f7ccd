import HeraldEngine
import HeraldMessages
import HeraldWire
import SwiftProtobuf
import Testing

private func body(_ value: String) -> Herald_V1_MessageBody {
    Herald_V1_MessageBody.with {
        $0.type = .text
        $0.text = value
    }
}

private func message(
    to peer: String,
    _ text: String,
    offline: Bool = true,
    mode: Herald_V1_AckMode = .peer
) -> Herald_V1_SendPeerMessageRequest {
    Herald_V1_SendPeerMessageRequest.with {
        $0.peerID = peer
        $0.message = body(text)
        $0.enableOfflineMessaging = offline
        $0.ackMode = mode
    }
}

extension TestClient {
    /// The responses to `SendPeerMessageRequest`s received so far, by request id.
    fileprivate func peerResponses() -> [UInt32: Herald_V1_SendPeerMessageResponse] {
        self.pull()
        var responses: [UInt32: Herald_V1_SendPeerMessageResponse] = [:]
        for frame in self.inbox where frame.opcode == .sendPeerMessageResponse {
            responses[frame.requestID] = try? frame.decodeMessage(as: Herald_V1_SendPeerMessageResponse.self)
        }
        self.inbox.removeAll { $0.opcode == .sendPeerMessageResponse }
        return responses
    }

    /// The texts of the `PeerMessage`s received so far, in order, with their frames.
    fileprivate func peerMessages() -> [(text: String, offline: Bool, seq: UInt64, frame: HeraldFrame)] {
        self.pull()
        let frames = self.inbox.filter { $0.opcode == .peerMessage }
        self.inbox.removeAll { $0.opcode == .peerMessage }
        return frames.map { frame in
            let message = (try? frame.decodeMessage(as: Herald_V1_PeerMessage.self)) ?? Herald_V1_PeerMessage()
            return (message.message.text, message.isOffline, message.seq, frame)
        }
    }
}

/// The engine with an offline store whose batches complete only when the test says so (PEER-36, PEER-49 … PEER-53).
@Suite("Offline store off the engine (Spec/06-peer-messages.md, Spec 1.0.2)")
struct OfflineStoreTests {
    @Test func otherClientsAreAnsweredWhileABatchIsOutstanding() async throws {  // PEER-49
        let h = try EngineHarness(manualStore: true)
        let alice = await h.login("alice")
        let carol = await h.login("carol")
        let dave = await h.login("dave")
        await alice.send(message(to: "bob", "cached"))
        #expect(h.store.queuedCount == 1)
        // The batch is outstanding: alice has no answer yet, and everyone else is served.
        #expect(alice.peerResponses().isEmpty)
        let live = await carol.request(
            message(to: "dave", "live", offline: false, mode: .server),
            expecting: Herald_V1_SendPeerMessageResponse.self
        )
        #expect(live.result == .ok)
        #expect(dave.peerMessages().map(\.text) == ["live"])
        _ = await carol.request(Herald_V1_Ping(), expecting: Herald_V1_Pong.self)
        // Alice's own next request is answered too, before her cached message.
        let unreachable = await alice.request(
            message(to: "nobody", "x", offline: false),
            expecting: Herald_V1_SendPeerMessageResponse.self
        )
        #expect(unreachable.result == .peerUnreachable)
        #expect(alice.peerResponses().isEmpty)
        await h.store.completeAll()
        let answers = alice.peerResponses()
        #expect(answers.count == 1)
        #expect(answers.values.first?.result == .cachedByServer)
    }

    @Test func cachedAnswerOnlyAfterTheCommit() async throws {  // PEER-36
        let inbox = MemoryOfflineInbox()
        let h = try EngineHarness(inbox: inbox, manualStore: true)
        let alice = await h.login("alice")
        let before = h.store.batches
        for index in 0..<5 {
            await alice.send(message(to: "bob", "m\(index)", mode: index.isMultiple(of: 2) ? .peer : .server))
        }
        // Nothing is stored and nothing answered until the batch runs; then all five at once, in one batch.
        #expect(try inbox.messages(appID: testAppID, receiverID: "bob", notBeforeMs: 0).isEmpty)
        #expect(alice.peerResponses().isEmpty)
        await h.store.completeAll()
        #expect(h.store.batches == before + 1)
        let answers = alice.peerResponses()
        #expect(answers.count == 5)
        #expect(answers.values.allSatisfy { $0.result == .cachedByServer })
        let stored = try inbox.messages(appID: testAppID, receiverID: "bob", notBeforeMs: 0)
        #expect(stored.map(\.body.text) == ["m0", "m1", "m2", "m3", "m4"])
        #expect(Set(stored.map(\.messageID)) == Set(answers.values.map(\.messageID)))
    }

    @Test func failedCommitAnswersFailure() async throws {  // PEER-45
        let h = try EngineHarness(manualStore: true)
        let alice = await h.login("alice")
        await alice.send(message(to: "bob", "lost"))
        h.store.failNextBatch()
        await h.store.completeAll()
        let answer = alice.peerResponses().values.first
        #expect(answer?.result == .failure)
        #expect(answer?.messageID != 0)
    }

    @Test func sessionEndAnswersWaitForTheCommit() async throws {  // PEER-30, PEER-36
        let h = try EngineHarness(manualStore: true)
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        await alice.send(message(to: "bob", "one"))
        await alice.send(message(to: "bob", "two", mode: .server))
        #expect(bob.peerMessages().count == 2)
        #expect(alice.peerResponses().count == 1)  // the ACK_MODE_SERVER OK
        await bob.drop()
        #expect(h.store.queued.count == 2)
        #expect(alice.peerResponses().isEmpty)
        await h.store.completeAll()
        #expect(alice.peerResponses().values.map(\.result) == [.cachedByServer])
    }

    @Test func liveMessagesWaitBehindTheLoginRead() async throws {  // PEER-40, PEER-52, PEER-31, PEER-28
        let h = try EngineHarness(manualStore: true)
        let alice = await h.login("alice")
        await alice.send(message(to: "bob", "cached"))
        await h.store.completeAll()
        _ = alice.peerResponses()
        let bob = await h.connect()
        await bob.send(
            Herald_V1_LoginRequest.with {
                $0.appID = testAppID
                $0.userID = "bob"
            }
        )
        #expect(h.store.queued.count == 1)  // the login's read
        await alice.send(message(to: "bob", "live peer"))
        await alice.send(message(to: "bob", "live server", mode: .server))
        // Queued to bob: the server-mode sender is answered OK now (PEER-31), bob gets nothing yet (PEER-40).
        #expect(alice.peerResponses().values.map(\.result) == [.ok])
        #expect(bob.peerMessages().isEmpty)
        // The ACK_MODE_PEER timeout runs from when the message is sent, not from acceptance (PEER-28).
        await h.advance(by: h.engine.configuration.timers.peerAckTimeoutMs)
        #expect(alice.peerResponses().isEmpty)
        await h.store.completeAll()
        let received = bob.peerMessages()
        #expect(received.map(\.text) == ["cached", "live peer", "live server"])
        #expect(received.map(\.offline) == [true, false, false])
        #expect(received.map(\.seq) == [1, 2, 3])
        await bob.ack(received[1].frame)
        #expect(alice.peerResponses().values.map(\.result) == [.ok])
    }

    @Test func heldMessagesAreStoredWhenTheSessionEndsFirst() async throws {  // PEER-52, PEER-29, PEER-30, PEER-32
        let inbox = MemoryOfflineInbox()
        let h = try EngineHarness(inbox: inbox, manualStore: true)
        let alice = await h.login("alice")
        let bob = await h.connect()
        await bob.send(
            Herald_V1_LoginRequest.with {
                $0.appID = testAppID
                $0.userID = "bob"
            }
        )
        await alice.send(message(to: "bob", "cacheable peer"))
        await alice.send(message(to: "bob", "not cacheable", offline: false))
        await alice.send(message(to: "bob", "cacheable server", mode: .server))
        #expect(alice.peerResponses().values.map(\.result) == [.ok])
        await bob.drop()
        // PEER-29 at once; PEER-30 only after the commit.
        #expect(alice.peerResponses().values.map(\.result) == [.peerUnreachable])
        await h.store.completeAll()  // the read (ignored: the session ended) and the two appends
        #expect(alice.peerResponses().values.map(\.result) == [.cachedByServer])
        let stored = try inbox.messages(appID: testAppID, receiverID: "bob", notBeforeMs: 0)
        #expect(stored.map(\.body.text) == ["cacheable peer", "cacheable server"])
        let again = await h.connect()
        await again.send(
            Herald_V1_LoginRequest.with {
                $0.appID = testAppID
                $0.userID = "bob"
            }
        )
        #expect(h.store.queuedCount == 1)
        await h.store.completeAll()
        #expect(again.peerMessages().map(\.text) == ["cacheable peer", "cacheable server"])
    }

    @Test func aNewLoginDuringTheReadGetsEverythingInOrder() async throws {  // PEER-44, PEER-52, SES-23
        let h = try EngineHarness(manualStore: true)
        let alice = await h.login("alice")
        await alice.send(message(to: "bob", "cached", mode: .server))
        await h.store.completeAll()
        let first = await h.connect()
        await first.send(
            Herald_V1_LoginRequest.with {
                $0.appID = testAppID
                $0.userID = "bob"
            }
        )
        await alice.send(message(to: "bob", "held", mode: .server))
        let second = await h.connect()
        await second.send(
            Herald_V1_LoginRequest.with {
                $0.appID = testAppID
                $0.userID = "bob"
            }
        )
        // First read, the held message stored for the replaced session, then the second login's read.
        #expect(h.store.queued.count == 3)
        await h.store.completeAll()
        #expect(first.peerMessages().isEmpty)
        #expect(second.peerMessages().map(\.text) == ["cached", "held"])
    }

    @Test func framesAfterTheLoginWaitForTheCachedMessages() async throws {  // PEER-51, SES-38
        let h = try EngineHarness(manualStore: true)
        let alice = await h.login("alice")
        await alice.send(message(to: "bob", "cached"))
        await h.store.completeAll()
        let bob = await h.connect()
        await bob.send(
            Herald_V1_LoginRequest.with {
                $0.appID = testAppID
                $0.userID = "bob"
            }
        )
        #expect(bob.drain().map(\.opcode) == [.loginResponse, .connectionStateChanged])
        // Bob's next frame waits (the host awaits it) until the read has completed.
        let ping = Task { await bob.send(Herald_V1_Ping()) }
        for _ in 0..<100 { await Task.yield() }
        #expect(bob.drain().isEmpty)
        // Others are served meanwhile.
        _ = await alice.request(Herald_V1_Ping(), expecting: Herald_V1_Pong.self)
        await h.store.completeAll()
        _ = await ping.value
        #expect(bob.drain().map(\.opcode) == [.peerMessage, .pong])
    }

    @Test func tooManyHeldMessagesAreRefused() async throws {  // PEER-53
        let h = try EngineHarness(manualStore: true) { $0.limits.maxOutboundQueueFrames = 3 }
        let alice = await h.login("alice")
        // Bob has a cached message, so his login reads the store (a user with none starts at once).
        await alice.send(message(to: "bob", "cached"))
        await h.store.completeAll()
        let bob = await h.connect()
        await bob.send(
            Herald_V1_LoginRequest.with {
                $0.appID = testAppID
                $0.userID = "bob"
            }
        )
        for index in 0..<4 {
            await alice.send(message(to: "bob", "m\(index)", mode: .server))
        }
        let answers = alice.peerResponses().sorted { $0.key < $1.key }.map(\.value.result)
        #expect(answers == [.cachedByServer, .ok, .ok, .ok, .failure])
        await h.store.completeAll()
        // Three deliveries outstanding at most (LIM-33): the cached message and the first two live ones.
        #expect(bob.peerMessages().map(\.text) == ["cached", "m0", "m1"])
        #expect(h.store.queuedCount == 0)  // the refused message was not cached either
    }

    @Test func aFullStoreRefusesNewCacheableMessages() async throws {  // PEER-50
        let h = try EngineHarness(manualStore: true, backlogLimit: 2)
        let alice = await h.login("alice")
        for index in 0..<3 {
            await alice.send(message(to: "bob", "m\(index)"))
        }
        #expect(alice.peerResponses().values.map(\.result) == [.failure])
        #expect(await h.engine.offlineStoreStatistics().backlog == 2)
        await h.store.completeAll()
        #expect(alice.peerResponses().values.map(\.result) == [.cachedByServer, .cachedByServer])
        #expect(await h.engine.offlineStoreStatistics().backlog == 0)
    }

    @Test func acknowledgementAndPurgeAreSubmittedNotAwaited() async throws {  // PEER-41, PEER-38
        let inbox = MemoryOfflineInbox()
        let h = try EngineHarness(inbox: inbox, manualStore: true)
        let alice = await h.login("alice")
        await alice.send(message(to: "bob", "cached"))
        await h.store.completeAll()
        let bob = await h.connect()
        await bob.send(
            Herald_V1_LoginRequest.with {
                $0.appID = testAppID
                $0.userID = "bob"
            }
        )
        await h.store.completeAll()
        let delivery = try #require(bob.peerMessages().first)
        await bob.ack(delivery.frame)
        #expect(
            h.store.queued == [
                .remove(
                    appID: testAppID,
                    receiverID: "bob",
                    messageID: try #require(
                        inbox.messages(appID: testAppID, receiverID: "bob", notBeforeMs: 0).first?.messageID
                    )
                )
            ]
        )
        await h.store.completeAll()
        #expect(try inbox.messages(appID: testAppID, receiverID: "bob", notBeforeMs: 0).isEmpty)
        await h.advance(by: h.engine.configuration.timers.offlineRetentionMs)
        guard case .purge = h.store.queued.first else {
            Issue.record("no purge submitted: \(h.store.queued)")
            return
        }
        // A second purge is not queued while one is outstanding.
        await h.advance(by: h.engine.configuration.timers.offlineRetentionMs)
        #expect(h.store.queuedCount == 1)
    }
}

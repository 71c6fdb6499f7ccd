import Foundation
import HeraldEngine
import HeraldMessages
import HeraldWire
import SwiftProtobuf
import Testing

/// A store that fails every operation, to exercise PEER-45.
private struct FailingInbox: OfflineInbox {
    struct Failure: Error {}

    func append(_ record: OfflineMessageRecord, capacity: Int) throws -> Int { throw Failure() }
    func messages(appID: String, receiverID: String, notBeforeMs: Int64) throws -> [OfflineMessageRecord] {
        throw Failure()
    }
    func remove(appID: String, receiverID: String, messageID: UInt64) throws { throw Failure() }
    func purge(receivedBeforeMs beforeMs: Int64) throws -> Int { throw Failure() }
    func largestMessageID() throws -> UInt64 { 0 }
}

private func text(_ value: String) -> Herald_V1_MessageBody {
    Herald_V1_MessageBody.with {
        $0.type = .text
        $0.text = value
    }
}

private func peerRequest(
    to peer: String,
    _ body: Herald_V1_MessageBody? = nil,
    offline: Bool = false,
    mode: Herald_V1_AckMode = .peer
) -> Herald_V1_SendPeerMessageRequest {
    Herald_V1_SendPeerMessageRequest.with {
        $0.peerID = peer
        if let body { $0.message = body }
        $0.enableOfflineMessaging = offline
        $0.ackMode = mode
    }
}

private func hello(_ capabilities: [String]) -> Herald_V1_Hello {
    Herald_V1_Hello.with {
        $0.versions = [1]
        $0.capabilities = capabilities
    }
}

extension EngineHarness {
    /// Connects and logs `user` in, keeping every frame after the `LoginResponse` for the test to inspect.
    fileprivate func loginKeepingFrames(
        _ user: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async -> TestClient {
        let client = await self.connect()
        let response = await client.request(
            Herald_V1_LoginRequest.with {
                $0.appID = testAppID
                $0.userID = user
            },
            expecting: Herald_V1_LoginResponse.self,
            sourceLocation: sourceLocation
        )
        #expect(response.result == .ok, sourceLocation: sourceLocation)
        client.user = user
        return client
    }
}

extension TestClient {
    /// Sends a peer message whose answer is expected now.
    fileprivate func sendPeer(
        _ request: Herald_V1_SendPeerMessageRequest,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async -> Herald_V1_SendPeerMessageResponse {
        await self.request(request, expecting: Herald_V1_SendPeerMessageResponse.self, sourceLocation: sourceLocation)
    }
}

@Suite("Peer messages")
struct PeerMessageTests {
    // MARK: - Online delivery and ACK_MODE_PEER

    @Test func peerModeAnswersOKOnAcceptedAck() async throws {  // PEER-16, PEER-18 … PEER-20, PEER-25, PEER-26
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let id = await alice.send(peerRequest(to: "bob", text("hi")))
        alice.expectNothing()  // PEER-25: no answer before the ack
        let (message, frame) = bob.expect(Herald_V1_PeerMessage.self)
        #expect(frame.flags.contains(.ackRequired))
        #expect(frame.requestID != 0)
        #expect(message.fromUserID == "alice")
        #expect(message.message == text("hi"))
        #expect(!message.isOffline)
        #expect(message.seq == 1)
        #expect(message.messageID != 0)
        #expect(message.serverReceivedMs == h.now)
        bob.expectNothing()
        await bob.ack(frame)
        bob.expectNothing()  // HS-53
        let (response, responseFrame) = alice.expect(Herald_V1_SendPeerMessageResponse.self)
        #expect(responseFrame.requestID == id)
        #expect(response.result == .ok)
        #expect(response.messageID == message.messageID)
        #expect(response.serverReceivedMs == message.serverReceivedMs)
        alice.expectNothing()
    }

    @Test func peerModeIncompatibleAck() async throws {  // PEER-27, HS-54
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        await alice.send(peerRequest(to: "bob", text("one")))
        await alice.send(peerRequest(to: "bob", text("two")))
        let frames = bob.drain()
        #expect(frames.count == 2)
        #expect(frames[0].requestID != frames[1].requestID)  // PEER-19
        await bob.ack(frames[0], result: .incompatible)
        await bob.ack(frames[1], result: Herald_V1_DeliveryAckResult(rawValue: 77)!)
        let responses = alice.all(Herald_V1_SendPeerMessageResponse.self)
        #expect(responses.map(\.result) == [.incompatibleMessage, .incompatibleMessage])
        #expect(responses.allSatisfy { $0.messageID != 0 })
    }

    @Test func peerModeTimesOutAndLateAckIsSilent() async throws {  // PEER-24, PEER-28
        let h = try EngineHarness { $0.timers.peerAckTimeoutMs = 1000 }
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let sentAt = h.now
        await alice.send(peerRequest(to: "bob", text("hi")))
        let (message, frame) = bob.expect(Herald_V1_PeerMessage.self)
        await h.advance(by: 999)
        alice.expectNothing()
        await h.advance(by: 1)
        let response = alice.expect(Herald_V1_SendPeerMessageResponse.self).message
        #expect(response.result == .sentTimeout)
        #expect(response.messageID == message.messageID)
        #expect(response.serverReceivedMs == sentAt)
        await bob.ack(frame)
        bob.expectNothing()  // not unknown-delivery
        alice.expectNothing()
    }

    @Test func receiverSessionEndsBeforeAckNotCacheable() async throws {  // PEER-29, SES-32
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let carol = await h.login("carol")
        let first = await alice.send(peerRequest(to: "bob", text("one")))
        let second = await alice.send(peerRequest(to: "carol", text("two")))
        _ = bob.drain()
        _ = carol.drain()
        _ = await bob.request(Herald_V1_LogoutRequest(), expecting: Herald_V1_LogoutResponse.self)  // logout
        let (response, frame) = alice.expect(Herald_V1_SendPeerMessageResponse.self)
        #expect(frame.requestID == first)
        #expect(response.result == .peerUnreachable)
        #expect(response.messageID != 0)
        await carol.drop()  // connection loss
        let (response2, frame2) = alice.expect(Herald_V1_SendPeerMessageResponse.self)
        #expect(frame2.requestID == second)
        #expect(response2.result == .peerUnreachable)
        alice.expectNothing()
        #expect(try h.inbox.messages(appID: testAppID, receiverID: "bob", notBeforeMs: 0).isEmpty)
    }

    @Test func receiverSessionEndsBeforeAckCacheable() async throws {  // PEER-30, PEER-32, PEER-16, PEER-39
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        await alice.send(peerRequest(to: "bob", text("hi"), offline: true))
        let live = bob.expect(Herald_V1_PeerMessage.self).message
        await bob.drop()
        let response = alice.expect(Herald_V1_SendPeerMessageResponse.self).message
        #expect(response.result == .cachedByServer)
        #expect(response.messageID == live.messageID)
        #expect(response.serverReceivedMs == live.serverReceivedMs)
        let bob2 = await h.loginKeepingFrames("bob")
        let frames = bob2.drain()
        // PEER-39: after the LoginResponse (taken above) and the ConnectionStateChanged.
        #expect(frames.map(\.opcode) == [.connectionStateChanged, .peerMessage])
        let cached = try frames[1].decodeMessage(as: Herald_V1_PeerMessage.self)
        #expect(cached.isOffline)
        #expect(cached.messageID == live.messageID)
        #expect(cached.serverReceivedMs == live.serverReceivedMs)
        #expect(cached.message == live.message)
        #expect(cached.fromUserID == "alice")
        #expect(cached.seq == 1)
        #expect(frames[1].flags.contains(.ackRequired))
        alice.expectNothing()  // PEER-42
    }

    @Test func cacheableWithoutOfflineCapabilityIsUnreachable() async throws {  // PEER-29, PEER-34, OVR-8
        let h = try EngineHarness()
        let alice = await h.login("alice", hello: hello(["peer-messages"]))
        #expect(!alice.welcome.capabilities.contains("offline-messages"))
        let bob = await h.login("bob")
        await alice.send(peerRequest(to: "bob", text("hi"), offline: true))
        _ = bob.drain()
        await bob.drop()
        #expect(alice.expect(Herald_V1_SendPeerMessageResponse.self).message.result == .peerUnreachable)
        let offline = await alice.sendPeer(peerRequest(to: "bob", text("again"), offline: true))
        #expect(offline.result == .peerUnreachable)  // PEER-33 via PEER-34
        #expect(try h.inbox.messages(appID: testAppID, receiverID: "bob", notBeforeMs: 0).isEmpty)
    }

    @Test func timedOutCacheableMessageIsCachedSilentlyWhenSessionEnds() async throws {  // PEER-32, PEER-42
        let h = try EngineHarness { $0.timers.peerAckTimeoutMs = 1000 }
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        await alice.send(peerRequest(to: "bob", text("hi"), offline: true))
        _ = bob.drain()
        await h.advance(by: 1000)
        #expect(alice.expect(Herald_V1_SendPeerMessageResponse.self).message.result == .sentTimeout)
        await bob.drop()
        alice.expectNothing()
        let stored = try h.inbox.messages(appID: testAppID, receiverID: "bob", notBeforeMs: 0)
        #expect(stored.map(\.body) == [text("hi")])
    }

    @Test func acknowledgedLiveMessageIsNotCached() async throws {  // PEER-41
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        await alice.send(peerRequest(to: "bob", text("hi"), offline: true))
        await bob.ack(bob.expect(Herald_V1_PeerMessage.self).frame)
        #expect(alice.expect(Herald_V1_SendPeerMessageResponse.self).message.result == .ok)
        await bob.drop()
        #expect(try h.inbox.messages(appID: testAppID, receiverID: "bob", notBeforeMs: 0).isEmpty)
    }

    // MARK: - ACK_MODE_SERVER

    @Test func serverModeAnswersOKWhenQueued() async throws {  // PEER-31
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let response = await alice.sendPeer(peerRequest(to: "bob", text("hi"), mode: .server))
        #expect(response.result == .ok)
        let (message, frame) = bob.expect(Herald_V1_PeerMessage.self)
        #expect(frame.flags.contains(.ackRequired))  // the receiver cannot tell the mode
        #expect(message.messageID == response.messageID)
        #expect(message.serverReceivedMs == response.serverReceivedMs)
        await bob.ack(frame)
        bob.expectNothing()
        alice.expectNothing()
    }

    @Test func serverModeCachesOutstandingMessageWhenSessionEnds() async throws {  // PEER-32
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let response = await alice.sendPeer(peerRequest(to: "bob", text("hi"), offline: true, mode: .server))
        #expect(response.result == .ok)
        _ = bob.drain()
        await bob.drop()
        alice.expectNothing()
        let stored = try h.inbox.messages(appID: testAppID, receiverID: "bob", notBeforeMs: 0)
        #expect(stored.map(\.messageID) == [response.messageID])
    }

    @Test func serverModeNotCacheableOutstandingMessageIsDropped() async throws {  // PEER-32 (negative)
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        #expect(await alice.sendPeer(peerRequest(to: "bob", text("hi"), mode: .server)).result == .ok)
        _ = bob.drain()
        await bob.drop()
        alice.expectNothing()
        #expect(try h.inbox.messages(appID: testAppID, receiverID: "bob", notBeforeMs: 0).isEmpty)
    }

    // MARK: - Offline receivers

    @Test(arguments: [Herald_V1_AckMode.peer, .server])
    func offlineReceiverNotCacheable(mode: Herald_V1_AckMode) async throws {  // PEER-33
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let response = await alice.sendPeer(peerRequest(to: "never-seen", text("hi"), mode: mode))
        #expect(response.result == .peerUnreachable)
        #expect(response.messageID != 0)
        #expect(response.serverReceivedMs == h.now)
        #expect(try h.inbox.messages(appID: testAppID, receiverID: "never-seen", notBeforeMs: 0).isEmpty)
    }

    @Test(arguments: [Herald_V1_AckMode.peer, .server])
    func offlineReceiverCachedAndDeliveredInOrder(mode: Herald_V1_AckMode) async throws {
        // PEER-16, PEER-19, PEER-20, PEER-35, PEER-39, PEER-44
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let carol = await h.login("carol")
        var responses: [Herald_V1_SendPeerMessageResponse] = []
        for (index, sender) in [alice, carol, alice].enumerated() {
            let response = await sender.sendPeer(peerRequest(to: "bob", text("m\(index)"), offline: true, mode: mode))
            #expect(response.result == .cachedByServer)
            responses.append(response)
            await h.advance(by: 10)
        }
        let bob = await h.loginKeepingFrames("bob")
        let frames = bob.drain()
        #expect(frames.first?.opcode == .connectionStateChanged)
        let deliveries = frames.dropFirst()
        #expect(deliveries.count == 3)
        var ids = Set<UInt32>()
        for (index, frame) in deliveries.enumerated() {
            let message = try frame.decodeMessage(as: Herald_V1_PeerMessage.self)
            #expect(message.isOffline)
            #expect(message.seq == UInt64(index + 1))
            #expect(message.message == text("m\(index)"))
            #expect(message.fromUserID == (index == 1 ? "carol" : "alice"))
            #expect(message.messageID == responses[index].messageID)
            #expect(message.serverReceivedMs == responses[index].serverReceivedMs)
            #expect(frame.flags.contains(.ackRequired))
            ids.insert(frame.requestID)
        }
        #expect(ids.count == 3 && !ids.contains(0))
        for frame in deliveries { await bob.ack(frame) }
        bob.expectNothing()
        alice.expectNothing()  // PEER-42
        carol.expectNothing()
    }

    @Test func cachedMessagesComeBeforeLiveOnes() async throws {  // PEER-40, PEER-44
        let h = try EngineHarness()
        let alice = await h.login("alice")
        #expect(await alice.sendPeer(peerRequest(to: "bob", text("old"), offline: true)).result == .cachedByServer)
        let bob = await h.loginKeepingFrames("bob")
        await alice.send(peerRequest(to: "bob", text("new"), offline: true))
        let messages = bob.all(Herald_V1_PeerMessage.self)
        #expect(messages.map(\.message.text) == ["old", "new"])
        #expect(messages.map(\.isOffline) == [true, false])
        #expect(messages.map(\.seq) == [1, 2])
    }

    @Test func cachedMessageRemovedOnlyOnAck() async throws {  // PEER-41
        let h = try EngineHarness()
        let alice = await h.login("alice")
        for body in ["a", "b", "c"] {
            #expect(await alice.sendPeer(peerRequest(to: "bob", text(body), offline: true)).result == .cachedByServer)
        }
        let bob = await h.loginKeepingFrames("bob")
        bob.expect(Herald_V1_ConnectionStateChanged.self)
        let frames = bob.drain()
        #expect(frames.count == 3)
        await bob.ack(frames[0])
        await bob.ack(frames[2], result: .incompatible)  // either result removes it
        await bob.drop()
        let remaining = try h.inbox.messages(appID: testAppID, receiverID: "bob", notBeforeMs: 0)
        #expect(remaining.map(\.body.text) == ["b"])
        let bob2 = await h.loginKeepingFrames("bob")
        let again = bob2.all(Herald_V1_PeerMessage.self)
        #expect(again.map(\.message.text) == ["b"])
        #expect(again.first?.isOffline == true)
        alice.expectNothing()
    }

    @Test func cacheKeepsNewestWhenFull() async throws {  // PEER-37
        let h = try EngineHarness { $0.limits.maxOfflineMessages = 3 }
        let alice = await h.login("alice")
        for index in 0..<5 {
            let response = await alice.sendPeer(peerRequest(to: "bob", text("m\(index)"), offline: true))
            #expect(response.result == .cachedByServer)
        }
        let stored = try h.inbox.messages(appID: testAppID, receiverID: "bob", notBeforeMs: 0)
        #expect(stored.map(\.body.text) == ["m2", "m3", "m4"])
    }

    @Test func expiredCachedMessagesAreNotDelivered() async throws {  // PEER-38
        let h = try EngineHarness {
            $0.timers.offlineRetentionMs = 100_000
            $0.timers.idleTimeoutMs = 1_000_000
        }
        let alice = await h.login("alice")
        #expect(await alice.sendPeer(peerRequest(to: "bob", text("old"), offline: true)).result == .cachedByServer)
        await h.advance(by: 50_000)
        #expect(await alice.sendPeer(peerRequest(to: "bob", text("edge"), offline: true)).result == .cachedByServer)
        await h.advance(by: 50_001)  // "old" is 100 001 ms old, "edge" 50 001 ms
        let bob = await h.loginKeepingFrames("bob")
        #expect(bob.all(Herald_V1_PeerMessage.self).map(\.message.text) == ["edge"])
    }

    @Test func messageExactlyAtRetentionIsDelivered() async throws {  // PEER-38 boundary ("more than")
        let h = try EngineHarness {
            $0.timers.offlineRetentionMs = 100_000
            $0.timers.idleTimeoutMs = 1_000_000
        }
        let alice = await h.login("alice")
        #expect(await alice.sendPeer(peerRequest(to: "bob", text("edge"), offline: true)).result == .cachedByServer)
        await h.advance(by: 100_000)
        let bob = await h.loginKeepingFrames("bob")
        #expect(bob.all(Herald_V1_PeerMessage.self).map(\.message.text) == ["edge"])
    }

    @Test func cachedMessagesSurviveARestart() async throws {  // PEER-36, PEER-14
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-peer-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("inbox.sqlite").path
        let firstID: UInt64
        do {
            let h = try EngineHarness(inbox: try SQLiteOfflineInbox(path: path))
            let alice = await h.login("alice")
            let response = await alice.sendPeer(peerRequest(to: "bob", text("durable"), offline: true))
            #expect(response.result == .cachedByServer)
            firstID = response.messageID
        }
        let h = try EngineHarness(inbox: try SQLiteOfflineInbox(path: path))
        let bob = await h.loginKeepingFrames("bob")
        let (message, frame) = bob.expect(Herald_V1_PeerMessage.self)
        #expect(message.messageID == firstID)
        #expect(message.message == text("durable"))
        #expect(message.isOffline)
        let carol = await h.login("carol")
        let next = await carol.sendPeer(peerRequest(to: "dave", text("x")))
        #expect(next.messageID > firstID)  // never reused after a restart
        await bob.ack(frame)
        #expect(try h.inbox.messages(appID: testAppID, receiverID: "bob", notBeforeMs: 0).isEmpty)
    }

    @Test func storeFailureIsFailure() async throws {  // PEER-45
        let h = try EngineHarness(inbox: FailingInbox())
        let alice = await h.login("alice")
        let response = await alice.sendPeer(peerRequest(to: "bob", text("hi"), offline: true))
        #expect(response.result == .failure)
        #expect(response.messageID != 0)  // accepted, then failed
        let bob = await h.login("bob")
        await alice.send(peerRequest(to: "bob", text("live"), offline: true))
        _ = bob.drain()
        await bob.drop()
        #expect(alice.expect(Herald_V1_SendPeerMessageResponse.self).message.result == .failure)
        // Not cacheable: the store is not involved.
        #expect(await alice.sendPeer(peerRequest(to: "bob", text("hi"))).result == .peerUnreachable)
    }

    // MARK: - Capabilities of the receiver

    @Test func receiverWithoutPeerCapabilityIsOffline() async throws {  // OVR-10
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob", hello: hello(["presence"]))
        #expect(await alice.sendPeer(peerRequest(to: "bob", text("a"))).result == .peerUnreachable)
        #expect(await alice.sendPeer(peerRequest(to: "bob", text("b"), offline: true)).result == .cachedByServer)
        bob.expectNothing()
        _ = await bob.request(Herald_V1_LogoutRequest(), expecting: Herald_V1_LogoutResponse.self)
        let bob2 = await h.loginKeepingFrames("bob")
        #expect(bob2.all(Herald_V1_PeerMessage.self).map(\.message.text) == ["b"])
    }

    // MARK: - Receivers and ordering

    @Test func sendingToOneself() async throws {  // PEER-9
        let h = try EngineHarness()
        let alice = await h.login("alice")
        await alice.send(peerRequest(to: "alice", text("me")))
        let (message, frame) = alice.expect(Herald_V1_PeerMessage.self)
        #expect(message.fromUserID == "alice")
        await alice.ack(frame)
        #expect(alice.expect(Herald_V1_SendPeerMessageResponse.self).message.result == .ok)
    }

    @Test func remoteLoginMovesOutstandingMessagesToTheNewSession() async throws {  // PEER-30, PEER-32, PEER-39
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        await alice.send(peerRequest(to: "bob", text("one"), offline: true))
        await alice.send(peerRequest(to: "bob", text("two"), offline: true))
        #expect(bob.all(Herald_V1_PeerMessage.self).count == 2)
        let bob2 = await h.loginKeepingFrames("bob")
        let responses = alice.all(Herald_V1_SendPeerMessageResponse.self)
        #expect(responses.map(\.result) == [.cachedByServer, .cachedByServer])
        let redelivered = bob2.all(Herald_V1_PeerMessage.self)
        #expect(redelivered.map(\.message.text) == ["one", "two"])
        #expect(redelivered.allSatisfy { $0.isOffline })
        #expect(redelivered.map(\.messageID) == responses.map(\.messageID))
    }

    @Test func messageIDsAreUniqueAndLiveOrderIsKept() async throws {  // PEER-14, PEER-43, PEER-44
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        for index in 0..<20 {
            await alice.send(peerRequest(to: "bob", text("\(index)"), mode: .server))
        }
        let responses = alice.all(Herald_V1_SendPeerMessageResponse.self)
        #expect(Set(responses.map(\.messageID)).count == 20)
        let messages = bob.all(Herald_V1_PeerMessage.self)
        #expect(messages.map(\.message.text) == (0..<20).map { "\($0)" })
        #expect(messages.map(\.seq) == (1...20).map { UInt64($0) })
    }

    @Test func historicalFlagIsIgnored() async throws {  // PEER-17
        let h = try EngineHarness()
        let alice = await h.login("alice")
        var request = peerRequest(to: "bob", text("hi"))
        request.enableHistoricalMessaging = true
        #expect(await alice.sendPeer(request).result == .peerUnreachable)
        request.enableOfflineMessaging = true
        #expect(await alice.sendPeer(request).result == .cachedByServer)
    }

    @Test func idempotencyKeyIsAccepted() async throws {  // EXT-16
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        var request = peerRequest(to: "bob", text("hi"), mode: .server)
        request.idempotencyKey = "8c2b7a8e-3f57-4a55-a4c9-0c8f2c6d7e11"
        #expect(await alice.sendPeer(request).result == .ok)
        #expect(bob.all(Herald_V1_PeerMessage.self).count == 1)
    }

    // MARK: - Rejections

    @Test(arguments: ["", "null", String(repeating: "u", count: 65), "bad/id", "é"])
    func invalidUserID(peer: String) async throws {  // PEER-8, PEER-13
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let response = await alice.sendPeer(peerRequest(to: peer, text("hi"), offline: true))
        #expect(response.result == .invalidUserID)
        #expect(response.messageID == 0 && response.serverReceivedMs == 0)
        alice.expectNothing()
    }

    @Test func longestUserIDIsValid() async throws {  // PEER-8
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let response = await alice.sendPeer(peerRequest(to: String(repeating: "u", count: 64), text("hi")))
        #expect(response.result == .peerUnreachable)
    }

    static let invalidBodies: [Herald_V1_MessageBody?] = [
        nil,  // PEER-1: absent
        Herald_V1_MessageBody.with { $0.text = "untyped" },  // PEER-1: MESSAGE_TYPE_UNDEFINED
        Herald_V1_MessageBody.with {
            $0.type = .UNRECOGNIZED(3)
            $0.text = "file"
        },  // PEER-1: unknown type
        Herald_V1_MessageBody.with { $0.type = .text },  // PEER-2
        Herald_V1_MessageBody.with {
            $0.type = .text
            $0.text = "t"
            $0.raw = Data([1])
        },  // PEER-3
        Herald_V1_MessageBody.with {
            $0.type = .raw
            $0.text = "description only"
        },  // PEER-4
        text(String(repeating: "x", count: 32_769)),  // PEER-6
        Herald_V1_MessageBody.with {
            $0.type = .raw
            $0.raw = Data(repeating: 7, count: 32_000)
            $0.text = String(repeating: "d", count: 769)
        },  // PEER-6: the description counts
    ]

    @Test(arguments: invalidBodies)
    func invalidMessage(body: Herald_V1_MessageBody?) async throws {  // PEER-1 … PEER-6, PEER-13
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let response = await alice.sendPeer(peerRequest(to: "bob", body, offline: true, mode: .server))
        #expect(response.result == .invalidMessage)
        #expect(response.messageID == 0 && response.serverReceivedMs == 0)
        bob.expectNothing()
        #expect(try h.inbox.messages(appID: testAppID, receiverID: "bob", notBeforeMs: 0).isEmpty)
    }

    static let validBodies: [Herald_V1_MessageBody] = [
        Herald_V1_MessageBody.with {
            $0.type = .raw
            $0.raw = Data([0, 1, 2])
        },  // PEER-5
        text(String(repeating: "x", count: 32_768)),  // PEER-6: exactly the limit
        text(String(repeating: "é", count: 16_384)),  // counted in UTF-8 bytes
        Herald_V1_MessageBody.with {
            $0.type = .raw
            $0.raw = Data(repeating: 7, count: 32_000)
            $0.text = String(repeating: "d", count: 768)
        },
    ]

    @Test(arguments: validBodies)
    func validBodyIsDeliveredUnchanged(body: Herald_V1_MessageBody) async throws {  // PEER-5 … PEER-7
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        #expect(await alice.sendPeer(peerRequest(to: "bob", body, mode: .server)).result == .ok)
        let message = bob.expect(Herald_V1_PeerMessage.self).message
        #expect(message.message == body)
    }

    @Test func userIDIsCheckedBeforeBody() async throws {  // PEER-10
        let h = try EngineHarness()
        let alice = await h.login("alice")
        #expect(await alice.sendPeer(peerRequest(to: "", nil)).result == .invalidUserID)
    }

    @Test func unknownAckModeIsFailure() async throws {  // EXT-14 (no INVALID_ARGUMENT value in PeerMessageResult)
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let response = await alice.sendPeer(peerRequest(to: "bob", text("hi"), mode: .UNRECOGNIZED(9)))
        #expect(response.result == .failure)
        #expect(response.messageID == 0)
        bob.expectNothing()
    }

    @Test func notLoggedIn() async throws {  // PEER-11, PEER-13
        let h = try EngineHarness()
        let client = await h.connect()
        let response = await client.sendPeer(peerRequest(to: "bob", text("hi"), offline: true))
        #expect(response.result == .userNotLoggedIn)
        #expect(response.messageID == 0 && response.serverReceivedMs == 0)
        #expect(try h.inbox.messages(appID: testAppID, receiverID: "bob", notBeforeMs: 0).isEmpty)
    }

    @Test func tooOftenBeforeArguments() async throws {  // PEER-10, PEER-12, PEER-13, LIM-5
        let h = try EngineHarness { $0.rateLimits[.messages] = RateLimitValue(count: 2, windowMs: 3000) }
        let alice = await h.login("alice")
        #expect(await alice.sendPeer(peerRequest(to: "", text("x"))).result == .invalidUserID)  // counts
        #expect(await alice.sendPeer(peerRequest(to: "bob", text("x"), offline: true)).result == .cachedByServer)
        let refused = await alice.sendPeer(peerRequest(to: "", text("x")))
        #expect(refused.result == .tooOften)
        #expect(refused.messageID == 0 && refused.serverReceivedMs == 0)
        #expect(try h.inbox.messages(appID: testAppID, receiverID: "bob", notBeforeMs: 0).count == 1)
        await h.advance(by: 3000)
        #expect(await alice.sendPeer(peerRequest(to: "bob", text("y"))).result == .peerUnreachable)
    }
}

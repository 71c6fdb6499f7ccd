import HeraldEngine
import HeraldMessages
import HeraldWire
import SwiftProtobuf
import Testing

private let limit = 8

private func peerRequest(
    to peer: String,
    _ text: String,
    offline: Bool = false,
    mode: Herald_V1_AckMode = .server
) -> Herald_V1_SendPeerMessageRequest {
    Herald_V1_SendPeerMessageRequest.with {
        $0.peerID = peer
        $0.message = Herald_V1_MessageBody.with {
            $0.type = .text
            $0.text = text
        }
        $0.enableOfflineMessaging = offline
        $0.ackMode = mode
    }
}

private let capabilities = Herald_V1_Hello.with {
    $0.versions = [1]
    $0.capabilities = ["peer-messages", "offline-messages", "invitations"]
}

extension TestClient {
    /// The texts of the `PeerMessage`s waiting in the inbox, in order; removes them and keeps the frames for acks.
    fileprivate func takePeerMessages() -> [(frame: HeraldFrame, text: String)] {
        self.pull()
        let frames = self.inbox.filter { $0.opcode == .peerMessage }
        self.inbox.removeAll { $0.opcode == .peerMessage }
        return frames.map { frame in
            (frame, (try? frame.decodeMessage(as: Herald_V1_PeerMessage.self).message.text) ?? "?")
        }
    }

    /// The results of the `SendPeerMessageResponse`s waiting in the inbox, in order; removes them.
    fileprivate func takeResults() -> [Herald_V1_PeerMessageResult] {
        self.pull()
        let frames = self.inbox.filter { $0.opcode == .sendPeerMessageResponse }
        self.inbox.removeAll { $0.opcode == .sendPeerMessageResponse }
        return frames.map { (try? $0.decodeMessage(as: Herald_V1_SendPeerMessageResponse.self).result) ?? .failure }
    }
}

@Suite("Delivery credit: held, not cut off, while the receiver acknowledges (Spec/14-limits.md LIM-33 … LIM-35)")
struct DeliveryCreditTests {
    private func harness() throws -> EngineHarness {
        try EngineHarness { $0.limits.maxOutboundQueueFrames = limit }
    }

    @Test("LIM-33: at the limit a message waits; one acknowledgement sends it, and ACK_MODE_SERVER is answered then")
    func heldUntilAcknowledged() async throws {
        let h = try self.harness()
        let bob = await h.login("bob", hello: capabilities)
        let alice = await h.login("alice", hello: capabilities)
        for index in 0..<limit {
            _ = await alice.send(peerRequest(to: "bob", "m\(index)"))
        }
        #expect(alice.takeResults() == Array(repeating: .ok, count: limit))
        let first = bob.takePeerMessages()
        #expect(first.map(\.text) == (0..<limit).map { "m\($0)" })
        _ = await alice.send(peerRequest(to: "bob", "late"))
        #expect(alice.takeResults().isEmpty, "answered when sent, not before")
        #expect(bob.takePeerMessages().isEmpty)
        #expect(!bob.sink.isClosed)
        await bob.ack(first[0].frame)
        #expect(bob.takePeerMessages().map(\.text) == ["late"])
        #expect(alice.takeResults() == [.ok])
        #expect(!bob.sink.isClosed)
    }

    @Test("LIM-34: nothing acknowledged for 5000 ms with messages held makes a slow consumer; an ack restarts the wait")
    func ackStall() async throws {
        let h = try self.harness()
        let bob = await h.login("bob", hello: capabilities)
        let alice = await h.login("alice", hello: capabilities)
        for index in 0...limit {
            _ = await alice.send(peerRequest(to: "bob", "m\(index)", mode: .peer))
        }
        let delivered = bob.takePeerMessages()
        #expect(delivered.count == limit)
        await h.advance(by: 4000)
        await bob.ack(delivered[0].frame)
        #expect(bob.takePeerMessages().map(\.text) == ["m\(limit)"])
        _ = await alice.send(peerRequest(to: "bob", "after"))
        await h.advance(by: 4999)
        #expect(!bob.sink.isClosed, "the ack at 4000 ms restarted the 5000 ms")
        await h.advance(by: 1)
        #expect(bob.sink.isClosed)
        bob.pull()
        #expect(bob.inbox.map(\.opcode).suffix(2) == [.protocolError, .disconnect])
        // The held ACK_MODE_SERVER message is answered as for an offline receiver (LIM-19): not cacheable.
        #expect(alice.takeResults().contains(.peerUnreachable))
    }

    @Test("LIM-35: a sender is held back while many of its messages wait, and released once few are left")
    func senderHeldBack() async throws {
        let h = try self.harness()
        let bob = await h.login("bob", hello: capabilities)
        let alice = await h.login("alice", hello: capabilities)
        let pauseAt = limit / 4
        for index in 0..<(limit + pauseAt + 1) {
            _ = await alice.send(peerRequest(to: "bob", "m\(index)"))
        }
        #expect(alice.sink.requestsHeld)
        #expect(!bob.sink.requestsHeld)
        var received = bob.takePeerMessages()
        #expect(received.count == limit)
        // Each acknowledgement sends one held message; the sender goes on once at most limit / 8 are held.
        await bob.ack(received.removeFirst().frame)
        #expect(alice.sink.requestsHeld)
        await bob.ack(received.removeFirst().frame)
        #expect(!alice.sink.requestsHeld)
        #expect(bob.takePeerMessages().map(\.text) == ["m\(limit)", "m\(limit + 1)"])
    }

    @Test("A login with more cached messages than the limit gets them all, paced by its acknowledgements")
    func cachedBeyondLimit() async throws {
        let h = try EngineHarness {
            $0.limits.maxOutboundQueueFrames = limit
            $0.limits.maxOfflineMessages = 3 * limit
        }
        let alice = await h.login("alice", hello: capabilities)
        for index in 0..<(3 * limit) {
            _ = await alice.send(peerRequest(to: "bob", "c\(index)", offline: true))
            await h.settle()
        }
        #expect(alice.takeResults() == Array(repeating: .cachedByServer, count: 3 * limit))
        // Logged in without draining: the first cached messages follow the LoginResponse.
        let bob = await h.connect(hello: capabilities)
        let login = await bob.request(
            Herald_V1_LoginRequest.with {
                $0.appID = testAppID
                $0.userID = "bob"
            },
            expecting: Herald_V1_LoginResponse.self
        )
        #expect(login.result == .ok)
        var texts: [String] = []
        for _ in 0..<(3 * limit) {
            let batch = bob.takePeerMessages()
            guard !batch.isEmpty else { break }
            #expect(batch.count <= limit)
            texts.append(contentsOf: batch.map(\.text))
            for message in batch { await bob.ack(message.frame) }
            if texts.count == 3 * limit { break }
        }
        #expect(texts == (0..<(3 * limit)).map { "c\($0)" })
        #expect(!bob.sink.isClosed)
    }
}

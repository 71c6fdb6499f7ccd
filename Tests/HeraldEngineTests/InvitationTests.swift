import HeraldEngine
import HeraldMessages
import HeraldWire
import SwiftProtobuf
import Testing

// Timers shortened for the tests (all below the 30 s idle timeout).
private let peerOfflineMs: Int64 = 3000
private let noResponseMs: Int64 = 4000
private let expiryMs: Int64 = 6000
private let acceptAckMs: Int64 = 2000

private func makeHarness(_ configure: (inout EngineConfiguration) -> Void = { _ in }) throws -> EngineHarness {
    try EngineHarness {
        $0.timers.invitationPeerOfflineMs = peerOfflineMs
        $0.timers.invitationNoResponseMs = noResponseMs
        $0.timers.invitationExpiryMs = expiryMs
        $0.timers.invitationAcceptAckMs = acceptAckMs
        configure(&$0)
    }
}

private let withoutInvitations = Herald_V1_Hello.with {
    $0.versions = [1]
    $0.capabilities = ["peer-messages"]
}

extension TestClient {
    @discardableResult
    fileprivate func invite(
        _ callee: String,
        id: String = "call-1",
        channel: String = "room",
        content: String = "hello",
        requirePeerOnline: Bool = false
    ) async -> Herald_V1_SendInvitationResponse {
        await self.request(
            Herald_V1_SendInvitationRequest.with {
                $0.calleeID = callee
                $0.channelID = channel
                $0.content = content
                $0.requirePeerOnline = requirePeerOnline
                $0.invitationID = id
            },
            expecting: Herald_V1_SendInvitationResponse.self
        )
    }

    fileprivate func cancel(_ id: String = "call-1") async -> Herald_V1_CancelInvitationResponse {
        await self.request(
            Herald_V1_CancelInvitationRequest.with { $0.invitationID = id },
            expecting: Herald_V1_CancelInvitationResponse.self
        )
    }

    fileprivate func accept(_ id: String, response: String = "") async -> Herald_V1_AcceptInvitationResponse {
        await self.request(
            Herald_V1_AcceptInvitationRequest.with {
                $0.invitationID = id
                $0.response = response
            },
            expecting: Herald_V1_AcceptInvitationResponse.self
        )
    }

    fileprivate func refuse(_ id: String, response: String = "") async -> Herald_V1_RefuseInvitationResponse {
        await self.request(
            Herald_V1_RefuseInvitationRequest.with {
                $0.invitationID = id
                $0.response = response
            },
            expecting: Herald_V1_RefuseInvitationResponse.self
        )
    }

    fileprivate func dtmf(
        to callee: String,
        digits: String = "12#",
        channel: String = "room",
        extra: String = ""
    ) async -> Herald_V1_SendDtmfResponse {
        await self.request(
            Herald_V1_SendDtmfRequest.with {
                $0.calleeID = callee
                $0.channelID = channel
                $0.digits = digits
                $0.extra = extra
            },
            expecting: Herald_V1_SendDtmfResponse.self
        )
    }

    fileprivate func logout() async {
        _ = await self.request(Herald_V1_LogoutRequest(), expecting: Herald_V1_LogoutResponse.self)
        _ = self.drain()
    }

    /// The opcodes of every frame received so far (consumed).
    fileprivate func opcodes() -> [Herald_V1_Opcode] {
        self.drain().map(\.opcode)
    }
}

/// Logs `user` in and keeps every frame after `LoginResponse` and `ConnectionStateChanged` (such as pending
/// invitations) for the test, unlike ``EngineHarness/login(_:hello:)``, which drains them.
private func loginKeepingEvents(_ h: EngineHarness, _ user: String) async -> TestClient {
    let client = await h.connect()
    let response = await client.request(
        Herald_V1_LoginRequest.with {
            $0.appID = testAppID
            $0.userID = user
        },
        expecting: Herald_V1_LoginResponse.self
    )
    #expect(response.result == .ok)
    client.user = user
    #expect(client.expect(Herald_V1_ConnectionStateChanged.self).message.state == .connected)
    return client
}

/// Invites bob from alice, checks the delivery and returns the callee-side id and the delivery frame.
private func inviteOnline(
    _ alice: TestClient,
    _ bob: TestClient,
    id: String = "call-1",
    content: String = "hello"
) async -> (calleeID: String, frame: HeraldFrame) {
    let response = await alice.invite(bob.user, id: id, content: content)
    #expect(response.result == .ok)
    #expect(response.invitationID == id)
    let (received, frame) = bob.expect(Herald_V1_RemoteInvitationReceived.self)
    #expect(frame.flags.contains(.ackRequired))
    #expect(frame.requestID != 0)
    #expect(!received.invitationID.isEmpty)
    #expect(received.callerID == alice.user)
    #expect(received.content == content)
    return (received.invitationID, frame)
}

/// Invites bob, who acknowledges; returns the callee-side id.
private func inviteAcknowledged(_ alice: TestClient, _ bob: TestClient, id: String = "call-1") async -> String {
    let (calleeID, frame) = await inviteOnline(alice, bob, id: id)
    await bob.ack(frame)
    let (byPeer, _) = alice.expect(Herald_V1_LocalInvitationReceivedByPeer.self)
    #expect(byPeer.invitationID == id)
    return calleeID
}

@Suite("Call invitations and DTMF")
struct InvitationTests {
    // MARK: - Terminal states

    @Test func acceptedEndToEnd() async throws {
        // INV-18 … INV-20, INV-26, INV-32 … INV-35, INV-45, INV-47.
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let response = await alice.invite("bob", id: "call-1", channel: "room", content: "video?")
        #expect(response.result == .ok)
        #expect(response.invitationID == "call-1")
        alice.expectNothing()
        let (received, frame) = bob.expect(Herald_V1_RemoteInvitationReceived.self)
        #expect(frame.flags.contains(.ackRequired) && frame.requestID != 0)
        #expect(received.callerID == "alice" && received.channelID == "room" && received.content == "video?")
        #expect(received.seq == 1)
        bob.expectNothing()

        await bob.ack(frame)
        bob.expectNothing()
        let byPeer = alice.expect(Herald_V1_LocalInvitationReceivedByPeer.self).message
        #expect(byPeer.invitationID == "call-1" && byPeer.calleeID == "bob" && byPeer.channelID == "room")
        #expect(byPeer.seq == 1)

        let accept = await bob.accept(received.invitationID, response: "sure")
        #expect(accept.result == .ok && accept.invitationID == received.invitationID)
        bob.expectNothing()
        let (accepted, acceptedFrame) = alice.expect(Herald_V1_LocalInvitationAccepted.self)
        #expect(acceptedFrame.flags.contains(.ackRequired) && acceptedFrame.requestID != 0)
        #expect(accepted.invitationID == "call-1" && accepted.response == "sure" && accepted.seq == 2)
        alice.expectNothing()

        await alice.ack(acceptedFrame)
        alice.expectNothing()
        let done = bob.expect(Herald_V1_RemoteInvitationAccepted.self).message
        #expect(done.invitationID == received.invitationID && done.seq == 2)

        // INV-14, INV-16: answers after the end.
        #expect(await bob.accept(received.invitationID).result == .alreadyAccept)
        #expect(await bob.refuse(received.invitationID).result == .alreadyAccept)
        #expect(await alice.cancel("call-1").result == .alreadyEnd)
        // INV-46: no timer fires afterwards.
        await h.advance(by: 20_000)
        alice.expectNothing()
        bob.expectNothing()
    }

    @Test func refusedEndToEnd() async throws {
        // INV-37: RefuseInvitationResponse, then LocalInvitationRefused, then RemoteInvitationRefused.
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let calleeID = await inviteAcknowledged(alice, bob)
        let refuse = await bob.refuse(calleeID, response: "busy")
        #expect(refuse.result == .ok && refuse.invitationID == calleeID)
        let refused = alice.expect(Herald_V1_LocalInvitationRefused.self).message
        #expect(refused.invitationID == "call-1" && refused.response == "busy" && refused.seq == 2)
        let remote = bob.expect(Herald_V1_RemoteInvitationRefused.self).message
        #expect(remote.invitationID == calleeID && remote.seq == 2)
        // INV-15, INV-16.
        #expect(await bob.accept(calleeID).result == .alreadyEnd)
        #expect(await bob.refuse(calleeID).result == .alreadyEnd)
        #expect(await alice.cancel().result == .alreadyEnd)
        await h.advance(by: 20_000)
        alice.expectNothing()
        bob.expectNothing()
    }

    @Test func refuseResponseComesBeforeCalleeEvent() async throws {
        // INV-37 frame order on the callee's connection.
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let calleeID = await inviteAcknowledged(alice, bob)
        await bob.send(Herald_V1_RefuseInvitationRequest.with { $0.invitationID = calleeID })
        #expect(bob.opcodes() == [.refuseInvitationResponse, .remoteInvitationRefused])
        #expect(alice.opcodes() == [.localInvitationRefused])
    }

    @Test func canceledWhilePending() async throws {
        // INV-38, INV-40: the callee hears nothing, now or at its next login.
        let h = try makeHarness()
        let alice = await h.login("alice")
        #expect(await alice.invite("bob").result == .ok)
        let cancel = await alice.cancel("call-1")
        #expect(cancel.result == .ok && cancel.invitationID == "call-1")
        let canceled = alice.expect(Herald_V1_LocalInvitationCanceled.self).message
        #expect(canceled.invitationID == "call-1" && canceled.seq == 1)
        let bob = await loginKeepingEvents(h, "bob")
        await h.advance(by: 20_000)
        bob.expectNothing()
        alice.expectNothing()
        #expect(await alice.cancel("call-1").result == .alreadyEnd)
    }

    @Test func canceledAfterDeliveryBeforeAcknowledgement() async throws {
        // INV-38, INV-39, INV-30.
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let (calleeID, frame) = await inviteOnline(alice, bob, content: "extra-data")
        await alice.send(Herald_V1_CancelInvitationRequest.with { $0.invitationID = "call-1" })
        #expect(alice.opcodes() == [.cancelInvitationResponse, .localInvitationCanceled])
        let canceled = bob.expect(Herald_V1_RemoteInvitationCanceled.self).message
        #expect(canceled.invitationID == calleeID && canceled.content == "extra-data" && canceled.seq == 2)
        // A late acknowledgement causes no frame at all, not even a ProtocolError.
        await bob.ack(frame)
        bob.expectNothing()
        alice.expectNothing()
        #expect(await bob.accept(calleeID).result == .alreadyEnd)
        await h.advance(by: 20_000)
        alice.expectNothing()
        bob.expectNothing()
    }

    @Test func canceledAfterReceipt() async throws {
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let calleeID = await inviteAcknowledged(alice, bob)
        #expect(await alice.cancel().result == .ok)
        #expect(alice.expect(Herald_V1_LocalInvitationCanceled.self).message.seq == 2)
        let canceled = bob.expect(Herald_V1_RemoteInvitationCanceled.self).message
        #expect(canceled.invitationID == calleeID && canceled.content == "hello")
        #expect(await bob.refuse(calleeID).result == .alreadyEnd)
        await h.advance(by: expiryMs * 2)
        alice.expectNothing()
        bob.expectNothing()
    }

    @Test func requirePeerOnlineFailsAtOnce() async throws {
        // INV-21: SendInvitationResponse OK, then LocalInvitationFailure PEER_OFFLINE.
        let h = try makeHarness()
        let alice = await h.login("alice")
        await alice.send(
            Herald_V1_SendInvitationRequest.with {
                $0.calleeID = "bob"
                $0.invitationID = "call-1"
                $0.requirePeerOnline = true
            }
        )
        let frames = alice.drain()
        #expect(frames.map(\.opcode) == [.sendInvitationResponse, .localInvitationFailure])
        let response = try frames[0].decodeMessage(as: Herald_V1_SendInvitationResponse.self)
        #expect(response.result == .ok && response.invitationID == "call-1")
        let failure = try frames[1].decodeMessage(as: Herald_V1_LocalInvitationFailure.self)
        #expect(failure.invitationID == "call-1" && failure.error == .peerOffline && failure.seq == 1)
        #expect(await alice.cancel().result == .alreadyEnd)
        let bob = await loginKeepingEvents(h, "bob")
        await h.advance(by: 20_000)
        bob.expectNothing()
        alice.expectNothing()
    }

    @Test func requirePeerOnlineWithOnlineCallee() async throws {
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        #expect(await alice.invite("bob", requirePeerOnline: true).result == .ok)
        bob.expect(Herald_V1_RemoteInvitationReceived.self)
        alice.expectNothing()
    }

    @Test func pendingDeliveredAtLoginInOrder() async throws {
        // INV-22, INV-24: after LoginResponse and ConnectionStateChanged, in creation order.
        let h = try makeHarness()
        let alice = await h.login("alice")
        let carol = await h.login("carol")
        #expect(await alice.invite("bob", id: "a", content: "first").result == .ok)
        await h.advance(by: 1000)
        #expect(await carol.invite("bob", id: "c", content: "second").result == .ok)
        #expect(await alice.invite("bob", id: "b", content: "third").result == .ok)
        await h.advance(by: peerOfflineMs - 1001)
        alice.expectNothing()

        let bob = await h.connect()
        await bob.send(
            Herald_V1_LoginRequest.with {
                $0.appID = testAppID
                $0.userID = "bob"
            }
        )
        bob.user = "bob"
        let frames = bob.drain()
        #expect(
            frames.map(\.opcode) == [
                .loginResponse, .connectionStateChanged, .remoteInvitationReceived, .remoteInvitationReceived,
                .remoteInvitationReceived,
            ]
        )
        let received = try frames.dropFirst(2).map { try $0.decodeMessage(as: Herald_V1_RemoteInvitationReceived.self) }
        #expect(received.map(\.content) == ["first", "second", "third"])
        #expect(received.map(\.callerID) == ["alice", "carol", "alice"])
        #expect(received.map(\.seq) == [1, 2, 3])
        #expect(Set(received.map(\.invitationID)).count == 3)  // INV-8
        #expect(Set(frames.dropFirst(2).map(\.requestID)).count == 3)  // INV-20
        #expect(frames.dropFirst(2).allSatisfy { $0.flags.contains(.ackRequired) && $0.requestID != 0 })

        // The peer-offline timer no longer applies; the no-response timer runs from the delivery.
        await h.advance(by: 1)
        alice.expectNothing()
        carol.expectNothing()
        await bob.ack(frames[2])
        #expect(alice.expect(Herald_V1_LocalInvitationReceivedByPeer.self).message.invitationID == "a")
        await h.advance(by: noResponseMs)
        let failures = alice.all(Herald_V1_LocalInvitationFailure.self)
        #expect(failures.map(\.invitationID) == ["b"])
        #expect(failures.map(\.error) == [.peerNoResponse])
        #expect(carol.expect(Herald_V1_LocalInvitationFailure.self).message.error == .peerNoResponse)
    }

    @Test func pendingDeliveredAfterCachedPeerMessages() async throws {
        // INV-22: LoginResponse, ConnectionStateChanged, cached PeerMessages, then the pending invitation.
        let h = try makeHarness()
        let alice = await h.login("alice")
        #expect(await alice.invite("bob", id: "early").result == .ok)
        let sent = await alice.request(
            Herald_V1_SendPeerMessageRequest.with {
                $0.peerID = "bob"
                $0.message = Herald_V1_MessageBody.with {
                    $0.type = .text
                    $0.text = "are you there?"
                }
                $0.enableOfflineMessaging = true
            },
            expecting: Herald_V1_SendPeerMessageResponse.self
        )
        #expect(sent.result == .cachedByServer)
        let bob = await h.connect()
        await bob.send(
            Herald_V1_LoginRequest.with {
                $0.appID = testAppID
                $0.userID = "bob"
            }
        )
        let frames = bob.drain()
        #expect(
            frames.map(\.opcode) == [
                .loginResponse, .connectionStateChanged, .peerMessage, .remoteInvitationReceived,
            ]
        )
        #expect(try frames[2].decodeMessage(as: Herald_V1_PeerMessage.self).seq == 1)
        #expect(try frames[3].decodeMessage(as: Herald_V1_RemoteInvitationReceived.self).seq == 2)
    }

    @Test func pendingFailsWithPeerOfflineAfterTimer() async throws {
        // INV-23.
        let h = try makeHarness()
        let alice = await h.login("alice")
        #expect(await alice.invite("bob").result == .ok)
        await h.advance(by: peerOfflineMs - 1)
        alice.expectNothing()
        await h.advance(by: 1)
        let failure = alice.expect(Herald_V1_LocalInvitationFailure.self).message
        #expect(failure.invitationID == "call-1" && failure.error == .peerOffline)
        #expect(await alice.cancel().result == .alreadyEnd)
        let bob = await loginKeepingEvents(h, "bob")
        await h.advance(by: 20_000)
        bob.expectNothing()
        alice.expectNothing()
    }

    @Test func noResponse() async throws {
        // INV-28, INV-30.
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let (calleeID, frame) = await inviteOnline(alice, bob)
        await h.advance(by: noResponseMs - 1)
        alice.expectNothing()
        bob.expectNothing()
        await h.advance(by: 1)
        let local = alice.expect(Herald_V1_LocalInvitationFailure.self).message
        #expect(local.invitationID == "call-1" && local.error == .peerNoResponse)
        let remote = bob.expect(Herald_V1_RemoteInvitationFailure.self).message
        #expect(remote.invitationID == calleeID && remote.error == .invitationExpire && remote.seq == 2)
        await bob.ack(frame)
        bob.expectNothing()
        alice.expectNothing()
        #expect(await bob.accept(calleeID).result == .alreadyEnd)
        #expect(await alice.cancel().result == .alreadyEnd)
    }

    @Test func incompatibleAcknowledgement() async throws {
        // INV-27: the caller fails with PEER_NO_RESPONSE; the callee gets nothing further.
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let (calleeID, frame) = await inviteOnline(alice, bob)
        await bob.ack(frame, result: .incompatible)
        let failure = alice.expect(Herald_V1_LocalInvitationFailure.self).message
        #expect(failure.error == .peerNoResponse)
        bob.expectNothing()
        await h.advance(by: 20_000)
        alice.expectNothing()
        bob.expectNothing()
        #expect(await bob.accept(calleeID).result == .alreadyEnd)
    }

    @Test func unknownAckResultCountsAsIncompatible() async throws {
        // HS-54 through INV-27.
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let (_, frame) = await inviteOnline(alice, bob)
        await bob.ack(frame, result: .init(rawValue: 77)!)
        #expect(alice.expect(Herald_V1_LocalInvitationFailure.self).message.error == .peerNoResponse)
        bob.expectNothing()
    }

    @Test func expiryMeasuredFromAcknowledgement() async throws {
        // INV-31.
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let (calleeID, frame) = await inviteOnline(alice, bob)
        await h.advance(by: noResponseMs - 1)
        await bob.ack(frame)
        alice.expect(Herald_V1_LocalInvitationReceivedByPeer.self)
        await h.advance(by: expiryMs - 1)
        alice.expectNothing()
        bob.expectNothing()
        await h.advance(by: 1)
        let local = alice.expect(Herald_V1_LocalInvitationFailure.self).message
        #expect(local.error == .invitationExpire && local.invitationID == "call-1")
        let remote = bob.expect(Herald_V1_RemoteInvitationFailure.self).message
        #expect(remote.error == .invitationExpire && remote.invitationID == calleeID)
        #expect(await bob.refuse(calleeID).result == .alreadyEnd)
        #expect(await alice.cancel().result == .alreadyEnd)
    }

    @Test func acceptAcknowledgementTimeout() async throws {
        // INV-36 (timer), INV-30 (late ack), INV-15.
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let calleeID = await inviteAcknowledged(alice, bob)
        #expect(await bob.accept(calleeID).result == .ok)
        let (_, acceptedFrame) = alice.expect(Herald_V1_LocalInvitationAccepted.self)
        // ACCEPT_SENT_TO_LOCAL: accept or refuse again → ALREADY_ACCEPT; the caller's state is final.
        #expect(await bob.accept(calleeID).result == .alreadyAccept)
        #expect(await bob.refuse(calleeID).result == .alreadyAccept)
        #expect(await alice.cancel().result == .alreadyEnd)
        await h.advance(by: acceptAckMs - 1)
        bob.expectNothing()
        await h.advance(by: 1)
        let failure = bob.expect(Herald_V1_RemoteInvitationFailure.self).message
        #expect(failure.invitationID == calleeID && failure.error == .acceptFailure)
        alice.expectNothing()
        await alice.ack(acceptedFrame)
        alice.expectNothing()
        bob.expectNothing()
        #expect(await bob.accept(calleeID).result == .alreadyEnd)
    }

    @Test func acceptAcknowledgedIncompatible() async throws {
        // INV-36 (INCOMPATIBLE).
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let calleeID = await inviteAcknowledged(alice, bob)
        #expect(await bob.accept(calleeID).result == .ok)
        let (_, acceptedFrame) = alice.expect(Herald_V1_LocalInvitationAccepted.self)
        await alice.ack(acceptedFrame, result: .incompatible)
        #expect(bob.expect(Herald_V1_RemoteInvitationFailure.self).message.error == .acceptFailure)
        alice.expectNothing()
        await h.advance(by: 20_000)
        alice.expectNothing()
        bob.expectNothing()
    }

    @Test func acceptImpliesAcknowledgement() async throws {
        // INV-29, INV-30.
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let (calleeID, frame) = await inviteOnline(alice, bob)
        #expect(await bob.accept(calleeID, response: "ok").result == .ok)
        let frames = alice.drain()
        #expect(frames.map(\.opcode) == [.localInvitationReceivedByPeer, .localInvitationAccepted])
        #expect(try frames[0].decodeMessage(as: Herald_V1_LocalInvitationReceivedByPeer.self).seq == 1)
        #expect(try frames[1].decodeMessage(as: Herald_V1_LocalInvitationAccepted.self).seq == 2)
        await bob.ack(frame)
        bob.expectNothing()
        alice.expectNothing()
        await alice.ack(frames[1])
        bob.expect(Herald_V1_RemoteInvitationAccepted.self)
    }

    @Test func refuseImpliesAcknowledgement() async throws {
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let (calleeID, frame) = await inviteOnline(alice, bob)
        #expect(await bob.refuse(calleeID).result == .ok)
        #expect(alice.opcodes() == [.localInvitationReceivedByPeer, .localInvitationRefused])
        bob.expect(Herald_V1_RemoteInvitationRefused.self)
        await bob.ack(frame)
        bob.expectNothing()
        alice.expectNothing()
    }

    // MARK: - End of the caller's session (INV-41 … INV-43)

    @Test func callerEndsWhilePending() async throws {
        let h = try makeHarness()
        let alice = await h.login("alice")
        #expect(await alice.invite("bob").result == .ok)
        await alice.logout()
        let bob = await loginKeepingEvents(h, "bob")
        await h.advance(by: peerOfflineMs + 1)  // below the 10 s login timeout of alice's connection
        bob.expectNothing()
        alice.expectNothing()
    }

    @Test func callerEndsBeforeAcknowledgement() async throws {
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let (calleeID, frame) = await inviteOnline(alice, bob)
        await alice.drop()
        let failure = bob.expect(Herald_V1_RemoteInvitationFailure.self).message
        #expect(failure.invitationID == calleeID && failure.error == .peerOffline)
        await bob.ack(frame)
        bob.expectNothing()
        #expect(await bob.accept(calleeID).result == .alreadyEnd)
        await h.advance(by: 20_000)
        bob.expectNothing()
    }

    @Test func callerEndsAfterReceipt() async throws {
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let calleeID = await inviteAcknowledged(alice, bob)
        await alice.logout()
        let failure = bob.expect(Herald_V1_RemoteInvitationFailure.self).message
        #expect(failure.invitationID == calleeID && failure.error == .peerOffline)
        #expect(await bob.refuse(calleeID).result == .alreadyEnd)
        // The old caller-side id belongs to no session any more.
        _ = await alice.request(
            Herald_V1_LoginRequest.with {
                $0.appID = testAppID
                $0.userID = "alice"
            },
            expecting: Herald_V1_LoginResponse.self
        )
        _ = alice.drain()
        #expect(await alice.cancel().result == .notStarted)
        await h.advance(by: 20_000)
        bob.expectNothing()
    }

    @Test func callerEndsWhileAcceptSentToLocal() async throws {
        // INV-42: at once, not after invitation_accept_ack_ms.
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let calleeID = await inviteAcknowledged(alice, bob)
        #expect(await bob.accept(calleeID).result == .ok)
        alice.expect(Herald_V1_LocalInvitationAccepted.self)
        await alice.drop()
        let failure = bob.expect(Herald_V1_RemoteInvitationFailure.self).message
        #expect(failure.invitationID == calleeID && failure.error == .peerOffline)
        #expect(await bob.accept(calleeID).result == .alreadyEnd)
        await h.advance(by: 20_000)
        bob.expectNothing()
    }

    @Test func callerEndsAfterAcceptedCausesNothing() async throws {
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let calleeID = await inviteAcknowledged(alice, bob)
        #expect(await bob.accept(calleeID).result == .ok)
        await alice.ack(alice.expect(Herald_V1_LocalInvitationAccepted.self).frame)
        bob.expect(Herald_V1_RemoteInvitationAccepted.self)
        await alice.logout()
        bob.expectNothing()
    }

    @Test func callerRemoteLoginEndsInvitations() async throws {
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let calleeID = await inviteAcknowledged(alice, bob)
        let alice2 = await h.login("alice")
        #expect(bob.expect(Herald_V1_RemoteInvitationFailure.self).message.invitationID == calleeID)
        #expect(await alice2.cancel().result == .notStarted)
    }

    // MARK: - End of the callee's session (INV-44)

    @Test func calleeEndsBeforeAcknowledgement() async throws {
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        _ = await inviteOnline(alice, bob)
        await bob.drop()
        let failure = alice.expect(Herald_V1_LocalInvitationFailure.self).message
        #expect(failure.invitationID == "call-1" && failure.error == .peerOffline)
        #expect(await alice.cancel().result == .alreadyEnd)
        // The invitation is not delivered again at the next login.
        let bob2 = await h.login("bob")
        await h.advance(by: 20_000)
        bob2.expectNothing()
        alice.expectNothing()
    }

    @Test func calleeEndsAfterReceipt() async throws {
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        _ = await inviteAcknowledged(alice, bob)
        await bob.logout()
        let failure = alice.expect(Herald_V1_LocalInvitationFailure.self).message
        #expect(failure.error == .peerOffline)
        bob.expectNothing()
        await h.advance(by: 20_000)
        alice.expectNothing()
    }

    @Test func calleeEndsWhileAcceptSentToLocal() async throws {
        // The caller is already ACCEPTED_BY_REMOTE (final): nothing to it; its late ack is silent (INV-30).
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let calleeID = await inviteAcknowledged(alice, bob)
        #expect(await bob.accept(calleeID).result == .ok)
        let (_, acceptedFrame) = alice.expect(Herald_V1_LocalInvitationAccepted.self)
        await bob.drop()
        alice.expectNothing()
        await alice.ack(acceptedFrame)
        alice.expectNothing()
        await h.advance(by: 20_000)
        alice.expectNothing()
    }

    @Test func calleeEndsAfterAcceptedCausesNothing() async throws {
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let calleeID = await inviteAcknowledged(alice, bob)
        #expect(await bob.accept(calleeID).result == .ok)
        await alice.ack(alice.expect(Herald_V1_LocalInvitationAccepted.self).frame)
        bob.expect(Herald_V1_RemoteInvitationAccepted.self)
        await bob.drop()
        alice.expectNothing()
    }

    @Test func calleeRemoteLogin() async throws {
        // The old session's invitation fails with PEER_OFFLINE; the new session does not receive it.
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let (calleeID, _) = await inviteOnline(alice, bob)
        let bob2 = await h.login("bob")
        #expect(alice.expect(Herald_V1_LocalInvitationFailure.self).message.error == .peerOffline)
        bob2.expectNothing()
        #expect(await bob2.accept(calleeID).result == .notStarted)
    }

    @Test func pendingInvitationsOfBothCallersSurviveOtherEnds() async throws {
        // One caller's end does not touch another caller's pending invitation to the same callee.
        let h = try makeHarness()
        let alice = await h.login("alice")
        let carol = await h.login("carol")
        #expect(await alice.invite("bob", id: "x").result == .ok)
        #expect(await carol.invite("bob", id: "y").result == .ok)
        await alice.drop()
        let bob = await loginKeepingEvents(h, "bob")
        let received = bob.all(Herald_V1_RemoteInvitationReceived.self)
        #expect(received.map(\.callerID) == ["carol"])
    }

    // MARK: - OVR-11

    @Test func calleeWithoutInvitationsCapabilityIsOffline() async throws {
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob", hello: withoutInvitations)
        #expect(await alice.invite("bob", id: "now", requirePeerOnline: true).result == .ok)
        #expect(alice.expect(Herald_V1_LocalInvitationFailure.self).message.error == .peerOffline)
        #expect(await alice.invite("bob", id: "later").result == .ok)
        alice.expectNothing()
        bob.expectNothing()
    }

    @Test func pendingForCapabilitylessCalleeDeliveredLater() async throws {
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob", hello: withoutInvitations)
        #expect(await alice.invite("bob").result == .ok)
        await h.advance(by: 1000)
        bob.expectNothing()
        await bob.drop()
        let bob2 = await h.connect()
        _ = await bob2.request(
            Herald_V1_LoginRequest.with {
                $0.appID = testAppID
                $0.userID = "bob"
            },
            expecting: Herald_V1_LoginResponse.self
        )
        let (received, frame) = bob2.expect(Herald_V1_RemoteInvitationReceived.self)
        #expect(received.callerID == "alice")
        await bob2.ack(frame)
        alice.expect(Herald_V1_LocalInvitationReceivedByPeer.self)
    }

    @Test func pendingForCapabilitylessCalleeTimesOut() async throws {
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob", hello: withoutInvitations)
        #expect(await alice.invite("bob").result == .ok)
        await h.advance(by: peerOfflineMs)
        #expect(alice.expect(Herald_V1_LocalInvitationFailure.self).message.error == .peerOffline)
        bob.expectNothing()
    }

    // MARK: - API-call errors (INV-1 … INV-17)

    @Test func notLoggedIn() async throws {
        // INV-10 check 1, INV-11, INV-9.
        let h = try makeHarness()
        let client = await h.connect()
        let send = await client.invite("bob", id: "x")
        #expect(send.result == .userNotLoggedIn && send.invitationID == "x")
        let cancel = await client.cancel("x")
        #expect(cancel.result == .userNotLoggedIn && cancel.invitationID == "x")
        let accept = await client.accept("y")
        #expect(accept.result == .userNotLoggedIn && accept.invitationID == "y")
        let refuse = await client.refuse("z")
        #expect(refuse.result == .userNotLoggedIn && refuse.invitationID == "z")
        #expect(await client.dtmf(to: "bob").result == .userNotLoggedIn)
        client.expectNothing()
    }

    @Test(arguments: ["", String(repeating: "i", count: 65), "a\u{0}b", "tab\tid", "new\nline", "del\u{7F}"])
    func invalidInvitationID(_ id: String) async throws {
        // INV-1, INV-9, INV-17.
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let response = await alice.invite("bob", id: id)
        #expect(response.result == .invalidArgument && response.invitationID == id)
        alice.expectNothing()
        bob.expectNothing()
    }

    @Test(arguments: [String(repeating: "i", count: 64), "é🙂 id with spaces", "\u{80}"])
    func validInvitationIDs(_ id: String) async throws {
        let h = try makeHarness()
        let alice = await h.login("alice")
        let response = await alice.invite("bob", id: id)
        #expect(response.result == .ok && response.invitationID == id)
        #expect(await alice.cancel(id).result == .ok)
    }

    @Test(arguments: ["", "null", "bad/char", "ünï", String(repeating: "u", count: 65), "alice"])
    func invalidCallee(_ callee: String) async throws {
        // INV-2 (the last argument is the caller itself).
        let h = try makeHarness()
        let alice = await h.login("alice")
        #expect(await alice.invite(callee).result == .invalidArgument)
        alice.expectNothing()
        #expect(await alice.cancel().result == .notStarted)
    }

    @Test(arguments: ["null", "bad/char", String(repeating: "c", count: 65)])
    func invalidChannel(_ channel: String) async throws {
        // INV-3.
        let h = try makeHarness()
        let alice = await h.login("alice")
        #expect(await alice.invite("bob", channel: channel).result == .invalidArgument)
    }

    @Test func emptyChannelAllowed() async throws {
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        #expect(await alice.invite("bob", channel: "").result == .ok)
        #expect(bob.expect(Herald_V1_RemoteInvitationReceived.self).message.channelID == "")
    }

    @Test func contentLimit() async throws {
        // INV-4 with the default limit (counted in bytes).
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let exact = String(repeating: "é", count: 4096)  // 8192 bytes
        #expect(await alice.invite("bob", id: "ok", content: exact).result == .ok)
        #expect(bob.expect(Herald_V1_RemoteInvitationReceived.self).message.content == exact)
        #expect(await alice.invite("bob", id: "big", content: exact + "x").result == .invalidArgument)
        bob.expectNothing()
    }

    @Test func contentLimitIsConfigurable() async throws {
        let h = try makeHarness { $0.limits.maxInvitationContentBytes = 10 }
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        #expect(alice.welcome.limits.maxInvitationContentBytes == 10)
        #expect(await alice.invite("bob", id: "big", content: "01234567890").result == .invalidArgument)
        #expect(await alice.invite("bob", id: "ok", content: "0123456789").result == .ok)
        let calleeID = bob.expect(Herald_V1_RemoteInvitationReceived.self).message.invitationID
        // INV-5, checked before the invitation lookup (INV-10).
        #expect(await bob.accept(calleeID, response: "01234567890").result == .invalidArgument)
        #expect(await bob.refuse(calleeID, response: "01234567890").result == .invalidArgument)
        #expect(await bob.accept("unknown", response: "01234567890").result == .invalidArgument)
        alice.expectNothing()  // INV-17: no implied acknowledgement either.
        #expect(await bob.accept(calleeID, response: "0123456789").result == .ok)
    }

    @Test func responseLimitBeforeAlreadyEnd() async throws {
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let calleeID = await inviteAcknowledged(alice, bob)
        #expect(await alice.cancel().result == .ok)
        let tooLong = String(repeating: "r", count: 8193)
        #expect(await bob.accept(calleeID, response: tooLong).result == .invalidArgument)
        #expect(await bob.refuse(calleeID, response: tooLong).result == .invalidArgument)
        #expect(await bob.refuse(calleeID, response: String(repeating: "r", count: 8192)).result == .alreadyEnd)
    }

    @Test func duplicateActiveID() async throws {
        // INV-6 in every active caller state, INV-17, INV-10 (arguments before the duplicate check).
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        #expect(await alice.invite("carol", id: "pending").result == .ok)
        let again = await alice.invite("carol", id: "pending")
        #expect(again.result == .alreadySent && again.invitationID == "pending")
        #expect(await alice.invite("bob", id: "pending").result == .alreadySent)
        #expect(await alice.invite("alice", id: "pending").result == .invalidArgument)
        bob.expectNothing()
        let (_, frame) = await inviteOnline(alice, bob, id: "dup")
        #expect(await alice.invite("bob", id: "dup").result == .alreadySent)
        bob.expectNothing()
        await bob.ack(frame)
        alice.expect(Herald_V1_LocalInvitationReceivedByPeer.self)
        #expect(await alice.invite("bob", id: "dup").result == .alreadySent)
        alice.expectNothing()
        bob.expectNothing()
        // The refused duplicates changed nothing: both invitations are still there.
        #expect(await alice.cancel("dup").result == .ok)
        alice.expect(Herald_V1_LocalInvitationCanceled.self)
        bob.expect(Herald_V1_RemoteInvitationCanceled.self)
        let carol = await loginKeepingEvents(h, "carol")
        #expect(carol.all(Herald_V1_RemoteInvitationReceived.self).count == 1)
    }

    @Test func reuseOfEndedID() async throws {
        // INV-7: accepted after a final state; later requests refer to the newest invitation.
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let first = await inviteAcknowledged(alice, bob, id: "same")
        #expect(await bob.refuse(first).result == .ok)
        alice.expect(Herald_V1_LocalInvitationRefused.self)
        bob.expect(Herald_V1_RemoteInvitationRefused.self)
        let (second, _) = await inviteOnline(alice, bob, id: "same")
        #expect(second != first)  // INV-8
        #expect(await alice.cancel("same").result == .ok)
        alice.expect(Herald_V1_LocalInvitationCanceled.self)
        #expect(bob.expect(Herald_V1_RemoteInvitationCanceled.self).message.invitationID == second)
        #expect(await alice.cancel("same").result == .alreadyEnd)
    }

    @Test func reuseWhileEarlierAwaitsAcceptAck() async throws {
        // The caller's state is final once accepted; the id may be reused while the callee waits.
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let first = await inviteAcknowledged(alice, bob, id: "same")
        #expect(await bob.accept(first).result == .ok)
        let (_, acceptedFrame) = alice.expect(Herald_V1_LocalInvitationAccepted.self)
        let (second, _) = await inviteOnline(alice, bob, id: "same")
        await alice.ack(acceptedFrame)
        #expect(bob.expect(Herald_V1_RemoteInvitationAccepted.self).message.invitationID == first)
        #expect(await alice.cancel("same").result == .ok)
        alice.expect(Herald_V1_LocalInvitationCanceled.self)
        #expect(bob.expect(Herald_V1_RemoteInvitationCanceled.self).message.invitationID == second)
    }

    @Test func unknownIDsAreNotStarted() async throws {
        // INV-12, INV-13: ids are per side and per session.
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let carol = await h.login("carol")
        let (calleeID, _) = await inviteOnline(alice, bob)
        #expect(await alice.cancel("nope").result == .notStarted)
        #expect(await alice.cancel(calleeID).result == .notStarted)  // a callee-side id is not the caller's
        #expect(await bob.cancel("call-1").result == .notStarted)  // bob sent nothing
        #expect(await bob.accept("call-1").result == .notStarted)  // the caller's id is not the callee's
        #expect(await alice.accept(calleeID).result == .notStarted)  // not delivered to alice
        #expect(await carol.refuse(calleeID).result == .notStarted)  // nor to carol
        #expect(await bob.refuse("").result == .notStarted)
        #expect(await alice.cancel("").result == .notStarted)
        alice.expectNothing()
        bob.expectNothing()
        carol.expectNothing()
    }

    @Test func endedRecordIsBounded() async throws {
        // Documented bound: 256 ended ids per session and side; older ones answer NOT_STARTED.
        let h = try makeHarness()
        let alice = await h.login("alice")
        for index in 0...256 {
            #expect(await alice.invite("bob", id: "id-\(index)", requirePeerOnline: true).result == .ok)
        }
        #expect(alice.all(Herald_V1_LocalInvitationFailure.self).count == 257)
        #expect(await alice.cancel("id-0").result == .notStarted)
        #expect(await alice.cancel("id-1").result == .alreadyEnd)
        #expect(await alice.cancel("id-256").result == .alreadyEnd)
    }

    @Test func lateAcknowledgementsOfEndedInvitationsStaySilent() async throws {
        // INV-30 and 04-handshake.md §4.8: deliveries of ended invitations stay outstanding until acknowledged.
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        var frames: [HeraldFrame] = []
        for index in 0..<100 {
            #expect(await alice.invite("bob", id: "id-\(index)").result == .ok)
            frames.append(bob.expect(Herald_V1_RemoteInvitationReceived.self).frame)
            #expect(await alice.cancel("id-\(index)").result == .ok)
        }
        _ = alice.drain()
        _ = bob.drain()
        for frame in frames {
            await bob.ack(frame)
        }
        bob.expectNothing()
        alice.expectNothing()
    }

    @Test func calleeThatDoesNotAcknowledgeBecomesSlowConsumer() async throws {
        // LIM-17: the delivery that would exceed the bound is not sent; the callee counts as offline for it and its
        // session ends, which fails the invitations delivered to it (INV-44).
        let h = try makeHarness { $0.limits.maxOutboundQueueFrames = 3 }
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        for index in 0..<3 {
            #expect(await alice.invite("bob", id: "id-\(index)").result == .ok)
        }
        #expect(bob.all(Herald_V1_RemoteInvitationReceived.self).count == 3)
        #expect(await alice.invite("bob", id: "id-3", requirePeerOnline: true).result == .ok)
        let failures = alice.all(Herald_V1_LocalInvitationFailure.self)
        #expect(failures.map(\.invitationID).sorted() == ["id-0", "id-1", "id-2", "id-3"])
        #expect(failures.allSatisfy { $0.error == .peerOffline })
        #expect(bob.sink.isClosed)
    }

    // MARK: - Sequence numbers and channels

    @Test func invitationEventsShareTheUserStream() async throws {
        // INV-47, LEG-44: invitation events and InvitationMessage number one stream per session.
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        #expect(await alice.invite("bob", id: "a").result == .ok)
        #expect(await alice.dtmf(to: "bob").result == .ok)
        #expect(await alice.invite("bob", id: "b").result == .ok)
        #expect(await alice.cancel("a").result == .ok)
        let frames = bob.drain()
        #expect(
            frames.map(\.opcode) == [
                .remoteInvitationReceived, .invitationMessage, .remoteInvitationReceived, .remoteInvitationCanceled,
            ]
        )
        #expect(try frames[0].decodeMessage(as: Herald_V1_RemoteInvitationReceived.self).seq == 1)
        #expect(try frames[1].decodeMessage(as: Herald_V1_InvitationMessage.self).seq == 2)
        #expect(try frames[2].decodeMessage(as: Herald_V1_RemoteInvitationReceived.self).seq == 3)
        #expect(try frames[3].decodeMessage(as: Herald_V1_RemoteInvitationCanceled.self).seq == 4)
        let canceled = alice.expect(Herald_V1_LocalInvitationCanceled.self).message
        #expect(canceled.seq == 1)
    }

    @Test func welcomeAdvertisesInvitationTimersAndLimit() async throws {
        let h = try EngineHarness()
        let client = await h.connect()
        #expect(client.welcome.timers.invitationPeerOfflineMs == 30000)
        #expect(client.welcome.timers.invitationNoResponseMs == 30000)
        #expect(client.welcome.timers.invitationExpiryMs == 60000)
        #expect(client.welcome.timers.invitationAcceptAckMs == 10000)
        #expect(client.welcome.limits.maxInvitationContentBytes == 8192)
    }

    @Test func defaultTimers() async throws {
        // The default invitation_peer_offline_ms (30000) and invitation_no_response_ms (30000), with pings keeping
        // the connections alive.
        let h = try EngineHarness()
        let alice = await h.login("alice")
        #expect(await alice.invite("bob").result == .ok)
        await h.advance(by: 20_000)
        _ = await alice.request(Herald_V1_Ping(), expecting: Herald_V1_Pong.self)
        await h.advance(by: 9_999)
        alice.expectNothing()
        await h.advance(by: 1)
        #expect(alice.expect(Herald_V1_LocalInvitationFailure.self).message.error == .peerOffline)
    }

    // MARK: - Legacy Signaling (§16.10, §16.11)

    @Test func channelInviteUser2ContentIsCarriedUnchanged() async throws {
        // LEG-33/LEG-34 are client rules: the server neither parses `content` nor derives require_peer_online
        // from it.
        let h = try makeHarness()
        let alice = await h.login("alice")
        let extra = #"{"_require_peer_online":1,"destMediaUid":"42","srcNum":"+100"}"#
        #expect(await alice.invite("bob", content: extra).result == .ok)
        alice.expectNothing()  // still pending: only the field counts
        let bob = await h.connect()
        _ = await bob.request(
            Herald_V1_LoginRequest.with {
                $0.appID = testAppID
                $0.userID = "bob"
            },
            expecting: Herald_V1_LoginResponse.self
        )
        let received = bob.expect(Herald_V1_RemoteInvitationReceived.self).message
        #expect(received.content == extra)
        #expect(await alice.cancel().result == .ok)
        #expect(bob.expect(Herald_V1_RemoteInvitationCanceled.self).message.content == extra)
    }

    @Test func dtmfDelivered() async throws {
        // LEG-42 … LEG-46.
        let h = try makeHarness()
        let alice = await h.login("alice")
        let gateway = await h.login("gateway")
        let response = await alice.dtmf(to: "gateway", digits: "0123456789*#", channel: "call", extra: "x=1")
        #expect(response.result == .ok)
        let (message, frame) = gateway.expect(Herald_V1_InvitationMessage.self)
        #expect(!frame.flags.contains(.ackRequired) && frame.requestID == 0)
        #expect(message.channelID == "call" && message.fromUserID == "alice" && message.type == .dtmf)
        #expect(message.data == "0123456789*#" && message.extra == "x=1" && message.seq == 1)
        gateway.expectNothing()
        alice.expectNothing()
        #expect(await alice.dtmf(to: "gateway", channel: "").result == .ok)
        #expect(gateway.expect(Herald_V1_InvitationMessage.self).message.seq == 2)
    }

    @Test func dtmfDoesNotTouchInvitations() async throws {
        // LEG-46: a DTMF during an invitation changes nothing.
        let h = try makeHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        let calleeID = await inviteAcknowledged(alice, bob)
        #expect(await alice.dtmf(to: "bob").result == .ok)
        bob.expect(Herald_V1_InvitationMessage.self)
        #expect(await bob.dtmf(to: "alice").result == .ok)
        alice.expect(Herald_V1_InvitationMessage.self)
        alice.expectNothing()
        #expect(await bob.accept(calleeID).result == .ok)
        alice.expect(Herald_V1_LocalInvitationAccepted.self)
    }

    @Test(arguments: ["", "12a", "1 2", "٣", "+1"])
    func dtmfInvalidDigits(_ digits: String) async throws {
        // LEG-39.
        let h = try makeHarness()
        let alice = await h.login("alice")
        let gateway = await h.login("gateway")
        #expect(await alice.dtmf(to: "gateway", digits: digits).result == .invalidArgument)
        gateway.expectNothing()
    }

    @Test func dtmfInvalidArguments() async throws {
        // LEG-40; arguments are checked before the receiver's presence (LEG-38).
        let h = try makeHarness()
        let alice = await h.login("alice")
        #expect(await alice.dtmf(to: "").result == .invalidArgument)
        #expect(await alice.dtmf(to: "null").result == .invalidArgument)
        #expect(await alice.dtmf(to: String(repeating: "g", count: 65)).result == .invalidArgument)
        #expect(await alice.dtmf(to: "gateway", channel: "bad/channel").result == .invalidArgument)
        #expect(await alice.dtmf(to: "gateway", extra: String(repeating: "e", count: 8193)).result == .invalidArgument)
        #expect(await alice.dtmf(to: "gateway", extra: String(repeating: "e", count: 8192)).result == .notStarted)
    }

    @Test func dtmfReceiverOffline() async throws {
        // LEG-41 and OVR-11 (a receiver without legacy-signaling counts as offline).
        let h = try makeHarness()
        let alice = await h.login("alice")
        #expect(await alice.dtmf(to: "gateway").result == .notStarted)
        let gateway = await h.login("gateway", hello: withoutInvitations)
        #expect(await alice.dtmf(to: "gateway").result == .notStarted)
        gateway.expectNothing()
        let gateway2 = await h.login(
            "gateway",
            hello: Herald_V1_Hello.with {
                $0.versions = [1]
                $0.capabilities = ["invitations"]
            }
        )
        #expect(await alice.dtmf(to: "gateway").result == .notStarted)
        gateway2.expectNothing()
    }

    @Test func dtmfNeedsLegacySignalingOnTheSender() async throws {
        let h = try makeHarness()
        let alice = await h.login("alice", hello: withoutInvitations)
        let gateway = await h.login("gateway")
        await alice.send(
            Herald_V1_SendDtmfRequest.with {
                $0.calleeID = "gateway"
                $0.digits = "1"
            }
        )
        #expect(alice.expect(Herald_V1_ProtocolError.self).message.code == "capability-not-granted")
        gateway.expectNothing()
    }

    @Test("INV-49: at most max_active_invitations in progress per caller; an ended one frees a place")
    func activeInvitationBound() async throws {
        let harness = try makeHarness { $0.limits.maxActiveInvitations = 2 }
        let alice = await harness.login("alice")
        _ = await harness.login("bob")
        #expect(alice.welcome.limits.maxActiveInvitations == 2)
        #expect(await alice.invite("bob", id: "one").result == .ok)
        #expect(await alice.invite("carol", id: "two").result == .ok)  // offline callee: pending, still in progress
        #expect(await alice.invite("dave", id: "three").result == .tooManyInvitations)
        #expect(await alice.cancel("one").result == .ok)
        #expect(await alice.invite("dave", id: "three").result == .ok)
    }
}

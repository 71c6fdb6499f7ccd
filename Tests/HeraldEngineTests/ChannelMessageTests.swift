import Foundation
import HeraldEngine
import HeraldMessages
import HeraldWire
import NIOCore
import SwiftProtobuf
import Testing

/// Requests used by the tests of this file.
private enum Msg {
    static func text(_ text: String) -> Herald_V1_MessageBody {
        Herald_V1_MessageBody.with {
            $0.type = .text
            $0.text = text
        }
    }

    static func raw(_ bytes: [UInt8], description: String = "") -> Herald_V1_MessageBody {
        Herald_V1_MessageBody.with {
            $0.type = .raw
            $0.raw = Data(bytes)
            $0.text = description
        }
    }

    static func send(
        _ client: TestClient,
        _ channel: String,
        _ body: Herald_V1_MessageBody?,
        historical: Bool = false
    ) async -> Herald_V1_SendChannelMessageResponse {
        await client.request(
            Herald_V1_SendChannelMessageRequest.with {
                $0.channelID = channel
                if let body { $0.message = body }
                $0.enableHistoricalMessaging = historical
            },
            expecting: Herald_V1_SendChannelMessageResponse.self
        )
    }

    static func external(
        _ client: TestClient,
        _ channel: String,
        _ body: Herald_V1_MessageBody?
    ) async -> Herald_V1_SendChannelMessageExternalResponse {
        await client.request(
            Herald_V1_SendChannelMessageExternalRequest.with {
                $0.channelID = channel
                if let body { $0.message = body }
            },
            expecting: Herald_V1_SendChannelMessageExternalResponse.self
        )
    }

    /// Joins every client, expecting success, and discards everything they received.
    static func joinAll(_ clients: [TestClient], _ channel: String) async {
        for client in clients {
            let response = await client.request(
                Herald_V1_JoinChannelRequest.with { $0.channelID = channel },
                expecting: Herald_V1_JoinChannelResponse.self
            )
            #expect(response.result == .ok)
        }
        for client in clients { _ = client.drain() }
    }

    /// A harness whose member counts never interfere (one join per test run stays within an interval).
    static func harness(_ configure: (inout EngineConfiguration) -> Void = { _ in }) throws -> EngineHarness {
        try EngineHarness {
            $0.rateLimits[.joinSameChannel] = nil
            configure(&$0)
        }
    }
}

@Suite("Channel messages (Spec/10-channel-messages.md, LEG-10 … LEG-17)")
struct ChannelMessageTests {
    @Test("CMSG-8 … CMSG-14: an accepted message reaches every other member, unchanged, once")
    func delivery() async throws {
        let harness = try Msg.harness()
        let alice = await harness.login("alice")
        let bob = await harness.login("bob")
        let carol = await harness.login("carol")
        let dave = await harness.login("dave")
        await Msg.joinAll([alice, bob, carol], "room")
        await harness.advance(by: 1000)
        for client in [alice, bob, carol] { _ = client.drain() }
        let body = Msg.raw([0, 1, 2, 255], description: "bytes")
        let response = await Msg.send(alice, "room", body)
        #expect(response.result == .ok)
        #expect(response.messageID != 0)
        #expect(response.serverReceivedMs == harness.now)
        // bob's stream so far: join count, MemberJoined(carol), count update; carol's: join count.
        for (receiver, seq) in [(bob, UInt64(4)), (carol, UInt64(2))] {
            let frames = receiver.drain()
            try #require(frames.map(\.opcode) == [.channelMessage])
            #expect(frames[0].requestID == 0 && frames[0].flags.isEmpty)  // CMSG-14
            let message = try frames[0].decodeMessage(as: Herald_V1_ChannelMessage.self)
            #expect(message.channelID == "room" && message.fromUserID == "alice")
            #expect(message.message == body)
            #expect(message.messageID == response.messageID)
            #expect(message.serverReceivedMs == response.serverReceivedMs)
            #expect(message.seq == seq, "\(receiver.user)")
        }
        alice.expectNothing()  // CMSG-11
        dave.expectNothing()
    }

    @Test("CMSG-2: no session → USER_NOT_LOGGED_IN with no id")
    func notLoggedIn() async throws {
        let harness = try EngineHarness()
        let client = await harness.connect()
        let response = await Msg.send(client, "room", Msg.text("hi"))
        #expect(response.result == .userNotLoggedIn && response.messageID == 0 && response.serverReceivedMs == 0)
        let external = await Msg.external(client, "room", Msg.text("hi"))
        #expect(external.result == .userNotLoggedIn && external.messageID == 0)
    }

    @Test("CMSG-3, LEG-11: RATE_CLASS_MESSAGES counts peer, channel and external channel messages together")
    func tooOften() async throws {
        let harness = try Msg.harness { $0.rateLimits[.messages] = RateLimitValue(count: 3, windowMs: 1000) }
        let alice = await harness.login("alice")
        let bob = await harness.login("bob")
        await Msg.joinAll([alice, bob], "room")
        #expect(await Msg.send(alice, "room", Msg.text("1")).result == .ok)
        #expect(await Msg.external(alice, "room", Msg.text("2")).result == .ok)
        // The peer message's response may wait for bob's acknowledgement; it is counted on arrival all the same.
        await alice.send(
            Herald_V1_SendPeerMessageRequest.with {
                $0.peerID = "bob"
                $0.message = Msg.text("3")
            }
        )
        let refused = await Msg.send(alice, "room", Msg.text("4"))
        #expect(refused.result == .tooOften && refused.messageID == 0 && refused.serverReceivedMs == 0)
        let refusedExternal = await Msg.external(alice, "room", Msg.text("5"))
        #expect(refusedExternal.result == .tooOften && refusedExternal.messageID == 0)
        #expect(bob.all(Herald_V1_ChannelMessage.self).map(\.message.text) == ["1", "2"])
        await harness.advance(by: 1000)
        #expect(await Msg.send(alice, "room", Msg.text("6")).result == .ok)
    }

    @Test("CMSG-4, CMSG-6, PEER-1 … PEER-6: bodies breaking §6.1 are INVALID_MESSAGE and not delivered")
    func invalidBodies() async throws {
        let harness = try Msg.harness {
            $0.limits.maxMessageBytes = 10
            $0.rateLimits[.messages] = nil
        }
        let alice = await harness.login("alice")
        let bob = await harness.login("bob")
        let carol = await harness.login("carol")
        await Msg.joinAll([alice, bob], "room")
        let invalid: [Herald_V1_MessageBody?] = [
            nil,
            Herald_V1_MessageBody.with { $0.text = "undefined type" },
            Herald_V1_MessageBody.with {
                $0.type = .UNRECOGNIZED(7)
                $0.text = "unknown type"
            },
            Msg.text(""),
            Herald_V1_MessageBody.with {
                $0.type = .text
                $0.text = "t"
                $0.raw = Data([1])
            },
            Msg.raw([]),
            Msg.raw([], description: "only a description"),
            Msg.text("12345678901"),
            Msg.raw([1, 2, 3, 4, 5, 6], description: "abcde"),
        ]
        for (index, body) in invalid.enumerated() {
            let response = await Msg.send(alice, "room", body)
            #expect(response.result == .invalidMessage, "body \(index)")
            #expect(response.messageID == 0 && response.serverReceivedMs == 0)
            let external = await Msg.external(alice, "room", body)
            #expect(external.result == .invalidMessage && external.messageID == 0, "body \(index)")  // LEG-12
        }
        bob.expectNothing()
        // CMSG-1: the body is checked before membership; LEG-10: before the channel id.
        #expect(await Msg.send(carol, "room", Msg.text("")).result == .invalidMessage)
        #expect(await Msg.external(carol, "null", Msg.text("")).result == .invalidMessage)
        // LIM-3, PEER-5: bodies at the limit and raw bodies without description are accepted.
        let valid = [
            Msg.text("1234567890"), Msg.raw([1, 2, 3, 4, 5], description: "abcde"), Msg.raw([9]), Msg.text("ü"),
        ]
        for body in valid {
            #expect(await Msg.send(alice, "room", body).result == .ok)
        }
        #expect(bob.all(Herald_V1_ChannelMessage.self).map(\.message) == valid)  // PEER-7
    }

    @Test("CMSG-5, CMSG-6: a sender that is not a member gets NOT_IN_CHANNEL, including for an invalid id")
    func notInChannel() async throws {
        let harness = try Msg.harness()
        let alice = await harness.login("alice")
        let bob = await harness.login("bob")
        await Msg.joinAll([bob], "room")
        let response = await Msg.send(alice, "room", Msg.text("hi"))
        #expect(response.result == .notInChannel && response.messageID == 0 && response.serverReceivedMs == 0)
        #expect(await Msg.send(alice, "null", Msg.text("hi")).result == .notInChannel)
        #expect(await Msg.send(alice, "", Msg.text("hi")).result == .notInChannel)
        bob.expectNothing()
    }

    @Test("CMSG-7: enable_historical_messaging is ignored")
    func historicalIgnored() async throws {
        let harness = try Msg.harness()
        let alice = await harness.login("alice")
        let bob = await harness.login("bob")
        await Msg.joinAll([alice, bob], "room")
        #expect(await Msg.send(alice, "room", Msg.text("kept?"), historical: true).result == .ok)
        #expect(bob.all(Herald_V1_ChannelMessage.self).map(\.message.text) == ["kept?"])
    }

    @Test("CMSG-15: a member that joins later does not get earlier messages")
    func laterJoinerGetsNothing() async throws {
        let harness = try Msg.harness()
        let alice = await harness.login("alice")
        let bob = await harness.login("bob")
        await Msg.joinAll([alice], "room")
        #expect(await Msg.send(alice, "room", Msg.text("before")).result == .ok)
        await Msg.joinAll([bob], "room")
        #expect(await Msg.send(alice, "room", Msg.text("after")).result == .ok)
        #expect(bob.all(Herald_V1_ChannelMessage.self).map(\.message.text) == ["after"])
    }

    @Test("CMSG-8, CMSG-17, CMSG-18: messages arrive in acceptance order with distinct ids and consecutive seq")
    func ordering() async throws {
        let harness = try Msg.harness()
        let alice = await harness.login("alice")
        let bob = await harness.login("bob")
        await Msg.joinAll([alice, bob], "room")
        await harness.advance(by: 1000)
        _ = alice.drain()
        _ = bob.drain()
        var ids: [UInt64] = []
        for index in 0..<5 {
            ids.append(await Msg.send(alice, "room", Msg.text("m\(index)")).messageID)
        }
        #expect(Set(ids).count == 5 && !ids.contains(0))
        let received = bob.all(Herald_V1_ChannelMessage.self)
        #expect(received.map(\.message.text) == ["m0", "m1", "m2", "m3", "m4"])
        #expect(received.map(\.messageID) == ids)
        #expect(received.map(\.seq) == [2, 3, 4, 5, 6])
    }

    @Test("CMSG-16: messages reach every member above the member-event threshold")
    func largeChannel() async throws {
        let harness = try Msg.harness { $0.limits.maxMemberEventChannelSize = 2 }
        var clients: [TestClient] = []
        for index in 0..<5 { clients.append(await harness.login("u\(index)")) }
        await Msg.joinAll(clients, "room")
        #expect(await Msg.send(clients[0], "room", Msg.text("all")).result == .ok)
        for client in clients.dropFirst() {
            #expect(client.all(Herald_V1_ChannelMessage.self).count == 1, "\(client.user)")
        }
    }

    @Test("OVR-12: members without channel-messages get no ChannelMessage and lose no seq; the sender is unaffected")
    func capabilityNotGranted() async throws {
        let harness = try Msg.harness()
        let alice = await harness.login("alice")
        let bob = await harness.login(
            "bob",
            hello: .with {
                $0.versions = [1]
                $0.capabilities = ["channels"]
            }
        )
        let carol = await harness.login("carol")
        await Msg.joinAll([alice, bob], "room")
        await harness.advance(by: 1000)
        _ = bob.drain()
        #expect(await Msg.send(alice, "room", Msg.text("hi")).result == .ok)
        bob.expectNothing()
        await harness.advance(by: 1000)
        _ = await carol.request(
            Herald_V1_JoinChannelRequest.with { $0.channelID = "room" },
            expecting: Herald_V1_JoinChannelResponse.self
        )
        // bob's stream: 1 the join count, 2 this MemberJoined (the message took no number).
        #expect(bob.expect(Herald_V1_MemberJoined.self).message.seq == 2)
    }

    // MARK: Legacy external messages (§16.4)

    @Test("LEG-13, LEG-17: an invalid channel id is FAILURE with no id")
    func externalInvalidChannel() async throws {
        let harness = try Msg.harness()
        let alice = await harness.login("alice")
        for channel in ["", "null", "a/b", String(repeating: "c", count: 65)] {
            let response = await Msg.external(alice, channel, Msg.text("hi"))
            #expect(response.result == .failure && response.messageID == 0 && response.serverReceivedMs == 0)
        }
    }

    @Test("LEG-14, LEG-15, LEG-16: external messages need no membership and reach every member but the sender")
    func externalDelivery() async throws {
        let harness = try Msg.harness()
        let alice = await harness.login("alice")
        let bob = await harness.login("bob")
        let carol = await harness.login("carol")
        await Msg.joinAll([bob, carol], "room")
        // From outside.
        let outside = await Msg.external(alice, "room", Msg.text("from outside"))
        #expect(outside.result == .ok && outside.messageID != 0 && outside.serverReceivedMs == harness.now)
        for receiver in [bob, carol] {
            let message = receiver.expect(Herald_V1_ChannelMessage.self).message
            #expect(message.fromUserID == "alice" && message.channelID == "room")
            #expect(message.messageID == outside.messageID && message.serverReceivedMs == outside.serverReceivedMs)
            #expect(message.message.text == "from outside")
        }
        // From a member: not to itself.
        let inside = await Msg.external(bob, "room", Msg.text("from inside"))
        #expect(inside.result == .ok && inside.messageID != outside.messageID)
        #expect(carol.all(Herald_V1_ChannelMessage.self).map(\.message.text) == ["from inside"])
        #expect(bob.all(Herald_V1_ChannelMessage.self).isEmpty)
        // To a channel without members.
        let empty = await Msg.external(alice, "empty", Msg.text("nobody"))
        #expect(empty.result == .ok && empty.messageID != 0)
        alice.expectNothing()
    }
}

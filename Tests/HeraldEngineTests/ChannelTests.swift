import HeraldEngine
import HeraldMessages
import HeraldWire
import NIOCore
import SwiftProtobuf
import Testing

/// Channel requests used by the tests of this file.
private enum Chan {
    static func join(
        _ client: TestClient,
        _ channel: String,
        legacy: Bool = false,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async -> Herald_V1_JoinChannelResponse {
        await client.request(
            Herald_V1_JoinChannelRequest.with {
                $0.channelID = channel
                $0.legacyMemberList = legacy
            },
            expecting: Herald_V1_JoinChannelResponse.self,
            sourceLocation: sourceLocation
        )
    }

    static func leave(_ client: TestClient, _ channel: String) async -> Herald_V1_LeaveChannelResponse {
        await client.request(
            Herald_V1_LeaveChannelRequest.with { $0.channelID = channel },
            expecting: Herald_V1_LeaveChannelResponse.self
        )
    }

    static func members(_ client: TestClient, _ channel: String) async -> Herald_V1_GetMembersResponse {
        await client.request(
            Herald_V1_GetMembersRequest.with { $0.channelID = channel },
            expecting: Herald_V1_GetMembersResponse.self
        )
    }

    static func counts(_ client: TestClient, _ channels: [String]) async -> Herald_V1_GetChannelMemberCountResponse {
        await client.request(
            Herald_V1_GetChannelMemberCountRequest.with { $0.channelIds = channels },
            expecting: Herald_V1_GetChannelMemberCountResponse.self
        )
    }

    static func query(
        _ client: TestClient,
        _ channel: String,
        user: String = ""
    ) async
        -> Herald_V1_QueryChannelUsersResponse
    {
        await client.request(
            Herald_V1_QueryChannelUsersRequest.with {
                $0.channelID = channel
                $0.userID = user
            },
            expecting: Herald_V1_QueryChannelUsersResponse.self
        )
    }

    /// Joins every client, expecting success, then discards everything they received.
    static func joinAll(
        _ clients: [TestClient],
        _ channel: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        for client in clients {
            let response = await join(client, channel, sourceLocation: sourceLocation)
            #expect(response.result == .ok, "join of \(client.user) failed", sourceLocation: sourceLocation)
        }
        for client in clients { _ = client.drain() }
    }

    /// The member counts a client has received so far.
    static func countsReceived(_ client: TestClient) -> [UInt32] {
        client.all(Herald_V1_MemberCountUpdated.self).map(\.memberCount)
    }

    /// A harness without the join rate limits, for tests that join often.
    static func harness(_ configure: (inout EngineConfiguration) -> Void = { _ in }) throws -> EngineHarness {
        try EngineHarness {
            $0.rateLimits[.join] = nil
            $0.rateLimits[.joinSameChannel] = nil
            $0.rateLimits[.getMembers] = nil
            $0.rateLimits[.memberCount] = nil
            configure(&$0)
        }
    }

    static let channelsOnly = Herald_V1_Hello.with {
        $0.versions = [1]
        $0.capabilities = ["channels"]
    }
}

@Suite("Channels (Spec/09-channels.md, LEG-18 … LEG-25)")
struct ChannelTests {
    // MARK: Joining (§9.2)

    @Test("CHAN-2, CHAN-10, CHAN-11, EXT-25: the joiner gets its response, then the member count at seq 1")
    func joinResponseThenCount() async throws {
        let harness = try EngineHarness()
        let alice = await harness.login("alice")
        await alice.send(Herald_V1_JoinChannelRequest.with { $0.channelID = "room" })
        let frames = alice.drain()
        try #require(frames.map(\.opcode) == [.joinChannelResponse, .memberCountUpdated])
        let response = try frames[0].decodeMessage(as: Herald_V1_JoinChannelResponse.self)
        #expect(response.result == .ok && response.channelID == "room")
        let count = try frames[1].decodeMessage(as: Herald_V1_MemberCountUpdated.self)
        #expect(count.channelID == "room" && count.memberCount == 1 && count.seq == 1)
        #expect(frames[1].requestID == 0 && frames[1].flags.isEmpty)
    }

    @Test("CHAN-11, CHAN-12, LEG-18: the legacy member list lists the most recent joiners, newest (joiner) last")
    func legacyMemberList() async throws {
        let harness = try Chan.harness { $0.limits.maxLegacyMemberList = 3 }
        let a = await harness.login("a")
        let b = await harness.login("b")
        let c = await harness.login("c")
        let d = await harness.login("d")
        await Chan.joinAll([a, b, c], "room")
        // b leaves and comes back: it is now more recent than c.
        _ = await Chan.leave(b, "room")
        await Chan.joinAll([b], "room")
        await d.send(
            Herald_V1_JoinChannelRequest.with {
                $0.channelID = "room"
                $0.legacyMemberList = true
            }
        )
        let frames = d.drain()
        try #require(frames.map(\.opcode) == [.joinChannelResponse, .memberCountUpdated, .channelMemberList])
        let list = try frames[2].decodeMessage(as: Herald_V1_ChannelMemberList.self)
        #expect(list.channelID == "room")
        #expect(list.userIds == ["c", "b", "d"])
        #expect(list.seq == 2)
        #expect(try frames[1].decodeMessage(as: Herald_V1_MemberCountUpdated.self).memberCount == 4)
        // Fewer members than the limit: all of them, in join order.
        let small = await Chan.join(a, "small")
        #expect(small.result == .ok)
        _ = a.drain()
        _ = await Chan.join(d, "small", legacy: true)
        let (short, _) = d.expect(Herald_V1_ChannelMemberList.self)
        #expect(short.userIds == ["a", "d"])
    }

    @Test("CHAN-13, OVR-9: without legacy-signaling the member list is not sent")
    func legacyMemberListNeedsCapability() async throws {
        let harness = try EngineHarness()
        let alice = await harness.login("alice")
        let bob = await harness.login("bob", hello: Chan.channelsOnly)
        await Chan.joinAll([alice], "room")
        await bob.send(
            Herald_V1_JoinChannelRequest.with {
                $0.channelID = "room"
                $0.legacyMemberList = true
            }
        )
        let frames = bob.drain()
        #expect(frames.map(\.opcode) == [.joinChannelResponse, .memberCountUpdated])
    }

    @Test("CHAN-4, CHAN-10: a join without a session is answered USER_NOT_LOGGED_IN with the channel id")
    func joinWithoutSession() async throws {
        let harness = try EngineHarness()
        let client = await harness.connect()
        let response = await Chan.join(client, "room")
        #expect(response.result == .userNotLoggedIn && response.channelID == "room")
    }

    @Test("CHAN-5: RATE_CLASS_JOIN counts the joins of a session")
    func joinRate() async throws {
        let harness = try EngineHarness {
            $0.rateLimits[.join] = RateLimitValue(count: 2, windowMs: 1000)
        }
        let alice = await harness.login("alice")
        #expect(await Chan.join(alice, "a").result == .ok)
        #expect(await Chan.join(alice, "b").result == .ok)
        let refused = await Chan.join(alice, "c")
        #expect(refused.result == .tooOften && refused.channelID == "c")
        await harness.advance(by: 1000)
        #expect(await Chan.join(alice, "c").result == .ok)
        // Another session has its own budget.
        let bob = await harness.login("bob")
        #expect(await Chan.join(bob, "a").result == .ok)
    }

    @Test("CHAN-6: RATE_CLASS_JOIN_SAME_CHANNEL counts joins of each channel id separately (default 2 per 5000 ms)")
    func joinSameChannelRate() async throws {
        let harness = try EngineHarness()
        let alice = await harness.login("alice")
        #expect(await Chan.join(alice, "a").result == .ok)
        #expect(await Chan.leave(alice, "a").result == .ok)
        #expect(await Chan.join(alice, "a").result == .ok)
        #expect(await Chan.leave(alice, "a").result == .ok)
        let refused = await Chan.join(alice, "a")
        #expect(refused.result == .joinSameChannelTooOften && refused.channelID == "a")
        #expect(await Chan.join(alice, "b").result == .ok)
        await harness.advance(by: 4999)
        #expect(await Chan.join(alice, "a").result == .joinSameChannelTooOften)
        await harness.advance(by: 1)
        #expect(await Chan.join(alice, "a").result == .ok)
    }

    @Test("LIM-6: a join refused by one join rate class counts towards neither")
    func refusedJoinsDoNotCount() async throws {
        let harness = try EngineHarness {
            $0.rateLimits[.join] = RateLimitValue(count: 1, windowMs: 1000)
            $0.rateLimits[.joinSameChannel] = RateLimitValue(count: 1, windowMs: 10_000)
        }
        let alice = await harness.login("alice")
        #expect(await Chan.join(alice, "a").result == .ok)
        #expect(await Chan.join(alice, "b").result == .tooOften)
        await harness.advance(by: 1000)
        // Had the refused join of "b" counted for "b", this would be JOIN_SAME_CHANNEL_TOO_OFTEN.
        #expect(await Chan.join(alice, "b").result == .ok)

        let other = try EngineHarness {
            $0.rateLimits[.join] = RateLimitValue(count: 2, windowMs: 1000)
            $0.rateLimits[.joinSameChannel] = RateLimitValue(count: 1, windowMs: 10_000)
        }
        let bob = await other.login("bob")
        #expect(await Chan.join(bob, "a").result == .ok)
        #expect(await Chan.join(bob, "a").result == .joinSameChannelTooOften)
        // Had the refused join counted for RATE_CLASS_JOIN, this would be TOO_OFTEN.
        #expect(await Chan.join(bob, "b").result == .ok)
    }

    @Test("CHAN-3, LIM-5: rate limits before the channel id, the id before membership, membership before the count")
    func joinCheckOrder() async throws {
        let harness = try EngineHarness {
            $0.rateLimits[.join] = RateLimitValue(count: 1, windowMs: 1000)
            $0.limits.maxChannelsJoined = 1
        }
        let alice = await harness.login("alice")
        #expect(await Chan.join(alice, "a").result == .ok)
        #expect(await Chan.join(alice, "null").result == .tooOften)
        await harness.advance(by: 1000)
        #expect(await Chan.join(alice, "a").result == .alreadyJoined)
        await harness.advance(by: 1000)
        #expect(await Chan.join(alice, "b").result == .exceedLimit)
        await harness.advance(by: 1000)
        // Invalid ids are counted per id too (LIM-5), so the third one is refused as too frequent.
        let bob = await harness.login("bob")
        let unlimited = try EngineHarness { $0.rateLimits[.join] = nil }
        let carol = await unlimited.login("carol")
        #expect(await Chan.join(carol, "null").result == .invalidArgument)
        #expect(await Chan.join(carol, "null").result == .invalidArgument)
        #expect(await Chan.join(carol, "null").result == .joinSameChannelTooOften)
        // Already joined is counted too: the third join of a joined channel is too frequent.
        #expect(await Chan.join(bob, "x").result == .ok)
        await harness.advance(by: 1000)
        #expect(await Chan.join(bob, "x").result == .alreadyJoined)
        await harness.advance(by: 1000)
        #expect(await Chan.join(bob, "x").result == .joinSameChannelTooOften)
    }

    @Test("CHAN-1, CHAN-7: channel ids outside the character set, empty, too long or null are invalid")
    func invalidChannelIDs() async throws {
        let harness = try Chan.harness()
        let alice = await harness.login("alice")
        let invalid = [
            "", "null", String(repeating: "a", count: 65), "a/b", "é", "tab\t", "quote\"", "back\\slash", "a*b",
        ]
        for channel in invalid {
            let response = await Chan.join(alice, channel)
            #expect(response.result == .invalidArgument, "\(channel.debugDescription)")
            #expect(response.channelID == channel)
        }
        alice.expectNothing()
        let valid = [
            String(repeating: "a", count: 64), "Null", " ", "! #$%&()+-:;<=.>?@[]^_{}|~,", "_agora_user_online",
        ]
        for channel in valid {
            #expect(await Chan.join(alice, channel).result == .ok, "\(channel.debugDescription)")  // LEG-49
        }
    }

    @Test("CHAN-8: joining a joined channel is ALREADY_JOINED and changes nothing")
    func alreadyJoined() async throws {
        let harness = try Chan.harness()
        let alice = await harness.login("alice")
        let bob = await harness.login("bob")
        await Chan.joinAll([alice, bob], "room")
        await harness.advance(by: 5000)
        _ = alice.drain()
        let again = await Chan.join(alice, "room")
        #expect(again.result == .alreadyJoined && again.channelID == "room")
        alice.expectNothing()
        bob.expectNothing()
        #expect(await Chan.counts(bob, ["room"]).counts.map(\.memberCount) == [2])
    }

    @Test("CHAN-9: a session in max_channels_joined channels cannot join another")
    func exceedLimit() async throws {
        let harness = try Chan.harness { $0.limits.maxChannelsJoined = 2 }
        let alice = await harness.login("alice")
        await Chan.joinAll([alice], "a")
        await Chan.joinAll([alice], "b")
        let refused = await Chan.join(alice, "c")
        #expect(refused.result == .exceedLimit && refused.channelID == "c")
        alice.expectNothing()
        _ = await Chan.leave(alice, "a")
        #expect(await Chan.join(alice, "c").result == .ok)
    }

    // MARK: Member events (§9.3)

    @Test("CHAN-14, CHAN-16, CHAN-18, CHAN-19, CHAN-29: member events go to the others, before the member count")
    func memberEvents() async throws {
        let harness = try Chan.harness()
        let alice = await harness.login("alice")
        let bob = await harness.login("bob")
        await Chan.joinAll([alice], "room")
        await harness.advance(by: 1000)
        let joined = await Chan.join(bob, "room")
        #expect(joined.result == .ok)
        let frames = alice.drain()
        try #require(frames.map(\.opcode) == [.memberJoined, .memberCountUpdated])
        let event = try frames[0].decodeMessage(as: Herald_V1_MemberJoined.self)
        #expect(event.channelID == "room" && event.userID == "bob" && event.seq == 2)
        let count = try frames[1].decodeMessage(as: Herald_V1_MemberCountUpdated.self)
        #expect(count.memberCount == 2 && count.seq == 3)
        // The joiner hears nothing about itself.
        #expect(bob.drain().map(\.opcode) == [.memberCountUpdated])

        await harness.advance(by: 1000)
        #expect(await Chan.leave(bob, "room").result == .ok)
        bob.expectNothing()
        let after = alice.drain()
        try #require(after.map(\.opcode) == [.memberLeft, .memberCountUpdated])
        let left = try after[0].decodeMessage(as: Herald_V1_MemberLeft.self)
        #expect(left.channelID == "room" && left.userID == "bob" && left.reason == .quit && left.seq == 4)
        #expect(try after[1].decodeMessage(as: Herald_V1_MemberCountUpdated.self).memberCount == 1)
    }

    @Test("CHAN-15, CHAN-17: no MemberJoined or MemberLeft while the channel (with the member) exceeds the threshold")
    func memberEventThreshold() async throws {
        let harness = try Chan.harness { $0.limits.maxMemberEventChannelSize = 3 }
        let a = await harness.login("a")
        let b = await harness.login("b")
        let c = await harness.login("c")
        let d = await harness.login("d")
        await Chan.joinAll([a, b], "room")
        _ = await Chan.join(c, "room")  // 3 members: at the threshold, announced
        #expect(a.all(Herald_V1_MemberJoined.self).map(\.userID) == ["c"])
        _ = await Chan.join(d, "room")  // 4 members: above it
        #expect(a.all(Herald_V1_MemberJoined.self).isEmpty)
        #expect(c.all(Herald_V1_MemberJoined.self).isEmpty)
        _ = await Chan.leave(d, "room")  // 4 before the departure: not announced
        #expect(a.all(Herald_V1_MemberLeft.self).isEmpty)
        _ = await Chan.leave(c, "room")  // 3 before: announced
        #expect(a.all(Herald_V1_MemberLeft.self).map(\.userID) == ["c"])
        #expect(b.all(Herald_V1_MemberLeft.self).map(\.userID) == ["c"])
    }

    @Test("CHAN-20, CHAN-21, CHAN-23, CHAN-24, SES-22, SES-24, SES-28: an ended session leaves with its cause")
    func sessionEndReasons() async throws {
        let harness = try Chan.harness()
        let alice = await harness.login("alice")
        let bob = await harness.login("bob")
        let carol = await harness.login("carol")
        let dave = await harness.login("dave")
        let erin = await harness.login("erin")
        await Chan.joinAll([alice, bob, carol, dave, erin], "room")
        await Chan.joinAll([bob], "other")

        _ = await bob.request(Herald_V1_LogoutRequest(), expecting: Herald_V1_LogoutResponse.self)
        await carol.drop()
        let dave2 = await harness.login("dave")
        await harness.engine.ban(UserKey(appID: testAppID, userID: "erin"))

        let left = alice.all(Herald_V1_MemberLeft.self)
        #expect(left.map(\.userID) == ["bob", "carol", "dave", "erin"])
        #expect(left.map(\.reason) == [.logout, .disconnected, .remoteLogin, .disconnected])
        #expect(await Chan.counts(alice, ["room", "other"]).counts.map(\.memberCount) == [1, 0])
        // The new session of dave starts without channels.
        #expect(await Chan.members(dave2, "room").result == .notInChannel)
    }

    @Test("CHAN-22: a session whose token expires leaves with TOKEN_EXPIRED")
    func tokenExpiryReason() async throws {
        let harness = try EngineHarness {
            $0.timers.idleTimeoutMs = 600_000
            $0.timers.tokenWillExpireLeadMs = 1000
        }
        let nowSeconds = harness.now / 1000
        let alice = await harness.connect()
        let bob = await harness.connect()
        for (client, user, lifetime) in [(alice, "alice", Int64(3600)), (bob, "bob", Int64(60))] {
            let token = try await TokenMinter.mint(
                appID: "strict",
                userID: user,
                secret: testSecret,
                issuedAt: nowSeconds,
                lifetimeSeconds: lifetime
            )
            let response = await client.request(
                Herald_V1_LoginRequest.with {
                    $0.appID = "strict"
                    $0.userID = user
                    $0.token = token
                },
                expecting: Herald_V1_LoginResponse.self
            )
            #expect(response.result == .ok)
            client.user = user
        }
        await Chan.joinAll([alice, bob], "room")
        await harness.advance(by: (nowSeconds + 60) * 1000 - harness.now)
        let left = alice.all(Herald_V1_MemberLeft.self)
        #expect(left.map(\.reason) == [.tokenExpired])
        #expect(left.map(\.userID) == ["bob"])
    }

    // MARK: Member counts (§9.4)

    @Test("CHAN-25, CHAN-26, CHAN-27: changes within an interval give one update with the latest count at its end")
    func memberCountExample() async throws {
        let harness = try Chan.harness()
        let users = ["alice", "b", "c", "d", "e", "f", "g"]
        var clients: [TestClient] = []
        for user in users { clients.append(await harness.login(user)) }
        let alice = clients[0]
        await Chan.joinAll(Array(clients[0..<5]), "room")
        await harness.advance(by: 1000)
        // Time 0 of the Spec's example: every member has just received 5 (e with its join).
        for client in clients[0..<4] {
            #expect(Chan.countsReceived(client) == [5], "\(client.user)")
        }
        clients[4].expectNothing()
        await harness.advance(by: 200)
        _ = await Chan.join(clients[5], "room")
        await harness.advance(by: 200)
        _ = await Chan.join(clients[6], "room")
        await harness.advance(by: 200)
        _ = await Chan.leave(clients[5], "room")
        #expect(alice.all(Herald_V1_MemberJoined.self).map(\.userID) == ["f", "g"])
        #expect(alice.all(Herald_V1_MemberLeft.self).map(\.userID) == ["f"])
        await harness.advance(by: 399)
        alice.expectNothing()
        await harness.advance(by: 1)
        #expect(Chan.countsReceived(alice) == [6])
        await harness.advance(by: 10_000)
        alice.expectNothing()
        // g joined at 400 with 7, and gets 6 at 1400.
        #expect(Chan.countsReceived(clients[6]) == [7, 6])
    }

    @Test("CHAN-25: after a quiet interval a change is reported at once")
    func memberCountAtOnce() async throws {
        let harness = try Chan.harness()
        let alice = await harness.login("alice")
        let bob = await harness.login("bob")
        await Chan.joinAll([alice], "room")
        await harness.advance(by: 1000)
        _ = await Chan.join(bob, "room")
        #expect(alice.drain().map(\.opcode) == [.memberJoined, .memberCountUpdated])
    }

    @Test("CHAN-28: a count equal to the last one sent is not sent again")
    func memberCountNotRepeated() async throws {
        let harness = try Chan.harness()
        let alice = await harness.login("alice")
        let bob = await harness.login("bob")
        await Chan.joinAll([alice], "room")
        await harness.advance(by: 100)
        _ = await Chan.join(bob, "room")
        await harness.advance(by: 100)
        _ = await Chan.leave(bob, "room")
        await harness.advance(by: 5000)
        #expect(alice.drain().map(\.opcode) == [.memberJoined, .memberLeft])
    }

    @Test("CHAN-25, CHAN-26: above the threshold the large interval applies")
    func memberCountLargeInterval() async throws {
        let harness = try Chan.harness {
            $0.limits.maxMemberEventChannelSize = 2
            $0.timers.memberCountIntervalLargeMs = 3000
        }
        let a = await harness.login("a")
        let b = await harness.login("b")
        let c = await harness.login("c")
        await Chan.joinAll([a], "room")
        _ = await Chan.join(b, "room")
        _ = await Chan.join(c, "room")
        #expect(a.all(Herald_V1_MemberJoined.self).map(\.userID) == ["b"])
        await harness.advance(by: 2999)
        a.expectNothing()
        await harness.advance(by: 1)
        #expect(Chan.countsReceived(a) == [3])
        #expect(Chan.countsReceived(b) == [2, 3])
        #expect(Chan.countsReceived(c) == [3])
    }

    @Test("CHAN-25 … CHAN-28: member counts follow the Spec's rules in a random run (model check)")
    func memberCountModel() async throws {
        let small: Int64 = 1000
        let large: Int64 = 2500
        let threshold = 3
        let harness = try Chan.harness {
            $0.limits.maxMemberEventChannelSize = threshold
            $0.timers.memberCountIntervalMs = small
            $0.timers.memberCountIntervalLargeMs = large
            $0.timers.idleTimeoutMs = 3_600_000
        }
        var clients: [TestClient] = []
        for index in 0..<7 { clients.append(await harness.login("u\(index)")) }
        // The model: for every member, when it last got a count and which.
        var last: [Int: (ms: Int64, count: Int)] = [:]
        var random = SplitMix64(seed: 0x4865_7261_6C64)
        var time: Int64 = 0
        func interval(_ count: Int) -> Int64 { count <= threshold ? small : large }
        func expectedSends() -> [Int: [UInt32]] {
            var sends: [Int: [UInt32]] = [:]
            let count = last.count
            for (member, sent) in last where sent.count != count && time - sent.ms >= interval(count) {
                sends[member] = [UInt32(count)]
                last[member] = (time, count)
            }
            return sends
        }
        func check(_ expected: [Int: [UInt32]], step: Int) {
            for (index, client) in clients.enumerated() {
                let got = Chan.countsReceived(client)
                #expect(got == expected[index, default: []], "step \(step), u\(index) at \(time)")
                _ = client.drain()
            }
        }
        for step in 0..<600 {
            let advance = Int64(random.next() % 4) * 100
            await harness.advance(by: advance)
            time += advance
            check(expectedSends(), step: step)
            if random.next() % 3 == 0 {
                let index = Int(random.next() % UInt64(clients.count))
                if last[index] == nil {
                    #expect(await Chan.join(clients[index], "room").result == .ok)
                    var expected = [index: [UInt32(last.count + 1)]]
                    last[index] = (time, last.count + 1)
                    expected.merge(expectedSends()) { $0 + $1 }
                    check(expected, step: step)
                } else {
                    #expect(await Chan.leave(clients[index], "room").result == .ok)
                    last[index] = nil
                    check(expectedSends(), step: step)
                }
            }
        }
    }

    // MARK: Leaving (§9.5)

    @Test("CHAN-30, CHAN-31, CHAN-33: leave results echo the channel id")
    func leaveResults() async throws {
        let harness = try EngineHarness()
        let anonymous = await harness.connect()
        let refused = await Chan.leave(anonymous, "room")
        #expect(refused.result == .userNotLoggedIn && refused.channelID == "room")
        let alice = await harness.login("alice")
        let notIn = await Chan.leave(alice, "room")
        #expect(notIn.result == .notInChannel && notIn.channelID == "room")
        let invalid = await Chan.leave(alice, "null")
        #expect(invalid.result == .notInChannel && invalid.channelID == "null")
        await Chan.joinAll([alice], "room")
        let ok = await Chan.leave(alice, "room")
        #expect(ok.result == .ok && ok.channelID == "room")
        #expect(await Chan.leave(alice, "room").result == .notInChannel)
    }

    @Test("CHAN-32, EXT-28: nothing of the stream follows the leave; a new join starts a new stream at seq 1")
    func leaveEndsStream() async throws {
        let harness = try Chan.harness()
        let alice = await harness.login("alice")
        let bob = await harness.login("bob")
        let carol = await harness.login("carol")
        await Chan.joinAll([alice, bob], "room")
        await harness.advance(by: 100)
        _ = await Chan.join(carol, "room")  // bob's count update is now pending
        _ = bob.all(Herald_V1_MemberJoined.self)
        await bob.send(Herald_V1_LeaveChannelRequest.with { $0.channelID = "room" })
        #expect(bob.drain().map(\.opcode) == [.leaveChannelResponse])
        await harness.advance(by: 5000)
        bob.expectNothing()
        _ = await Chan.join(bob, "room")
        let (count, _) = bob.expect(Herald_V1_MemberCountUpdated.self)
        #expect(count.seq == 1 && count.memberCount == 3)
    }

    @Test("CHAN-2, EXT-26: each channel has its own stream numbering")
    func independentStreams() async throws {
        let harness = try Chan.harness()
        let alice = await harness.login("alice")
        let bob = await harness.login("bob")
        await Chan.joinAll([alice], "one")
        await Chan.joinAll([alice], "two")
        await harness.advance(by: 1000)
        _ = await Chan.join(bob, "one")
        _ = await Chan.join(bob, "two")
        let joined = alice.all(Herald_V1_MemberJoined.self)
        #expect(joined.map(\.channelID) == ["one", "two"])
        #expect(joined.map(\.seq) == [2, 2])
        #expect(alice.all(Herald_V1_MemberCountUpdated.self).map(\.seq) == [3, 3])
    }

    // MARK: Listing members (§9.6)

    @Test("CHAN-35 … CHAN-41: GetMembers results")
    func getMembers() async throws {
        let harness = try EngineHarness()
        let anonymous = await harness.connect()
        let refused = await Chan.members(anonymous, "room")
        #expect(refused.result == .userNotLoggedIn && refused.channelID == "room" && refused.userIds.isEmpty)
        let alice = await harness.login("alice")
        let bob = await harness.login("bob")
        let carol = await harness.login("carol")
        await Chan.joinAll([alice, bob], "room")
        let notIn = await Chan.members(carol, "room")
        #expect(notIn.result == .notInChannel && notIn.channelID == "room" && notIn.userIds.isEmpty)
        #expect(await Chan.members(carol, "null").result == .notInChannel)
        let listed = await Chan.members(alice, "room")
        #expect(listed.result == .ok && listed.channelID == "room")
        #expect(listed.userIds.sorted() == ["alice", "bob"])
        // RATE_CLASS_GET_MEMBERS: 5 per 2000 ms (carol used 2, alice 1).
        for _ in 0..<4 { #expect(await Chan.members(alice, "room").result == .ok) }
        let tooOften = await Chan.members(alice, "room")
        #expect(tooOften.result == .tooOften && tooOften.channelID == "room" && tooOften.userIds.isEmpty)
    }

    @Test("CHAN-38, CHAN-39: above max_members_listed a random selection of that many distinct members")
    func getMembersLarge() async throws {
        let harness = try Chan.harness { $0.limits.maxMembersListed = 3 }
        var clients: [TestClient] = []
        for index in 0..<6 { clients.append(await harness.login("u\(index)")) }
        await Chan.joinAll(Array(clients[0..<3]), "room")
        #expect(await Chan.members(clients[0], "room").userIds.sorted() == ["u0", "u1", "u2"])
        await Chan.joinAll(Array(clients[3...]), "room")
        var seen = Set<String>()
        for _ in 0..<40 {
            let ids = await Chan.members(clients[0], "room").userIds
            #expect(ids.count == 3 && Set(ids).count == 3)
            #expect(Set(ids).isSubset(of: (0..<6).map { "u\($0)" }))
            seen.formUnion(ids)
        }
        #expect(seen.count == 6)  // chosen at random, not always the same three
    }

    // MARK: Counting members (§9.7)

    @Test("CHAN-42 … CHAN-49: GetChannelMemberCount results")
    func getChannelMemberCount() async throws {
        let harness = try EngineHarness {
            $0.limits.maxMemberCountChannels = 3
        }
        let anonymous = await harness.connect()
        #expect(await Chan.counts(anonymous, ["room"]).result == .userNotLoggedIn)
        let alice = await harness.login("alice")
        let bob = await harness.login("bob")
        await Chan.joinAll([alice, bob], "room")
        // CHAN-47, CHAN-48: in request order, duplicates and empty channels included; bob is not in "else".
        let counts = await Chan.counts(bob, ["else", "room", "room"])
        #expect(counts.result == .ok)
        #expect(counts.counts.map(\.channelID) == ["else", "room", "room"])
        #expect(counts.counts.map(\.memberCount) == [0, 2, 2])
        // CHAN-44: 1 per 1000 ms.
        let tooOften = await Chan.counts(bob, ["room"])
        #expect(tooOften.result == .tooOften && tooOften.counts.isEmpty)
        await harness.advance(by: 1000)
        // CHAN-42, CHAN-45: too many ids is reported before invalid ones.
        let tooMany = await Chan.counts(bob, ["null", "null", "null", "null"])
        #expect(tooMany.result == .exceedLimit && tooMany.counts.isEmpty)
        await harness.advance(by: 1000)
        #expect(await Chan.counts(bob, ["a", "b", "c"]).result == .ok)  // LIM-3
        await harness.advance(by: 1000)
        // CHAN-46.
        let empty = await Chan.counts(bob, [])
        #expect(empty.result == .invalidArgument && empty.counts.isEmpty)
        await harness.advance(by: 1000)
        #expect(await Chan.counts(bob, ["room", "a/b"]).result == .invalidArgument)
    }

    // MARK: Legacy channel query (§16.6)

    @Test("LEG-20 … LEG-25: QueryChannelUsers without membership")
    func queryChannelUsers() async throws {
        let harness = try EngineHarness()
        let anonymous = await harness.connect(
            hello: .with {
                $0.versions = [1]
                $0.capabilities = ["legacy-signaling"]
            }
        )
        let refused = await Chan.query(anonymous, "room")
        #expect(refused.result == .userNotLoggedIn && refused.channelID == "room")
        let alice = await harness.login("alice")
        let bob = await harness.login("bob")
        let carol = await harness.login("carol")
        await Chan.joinAll([alice, bob], "room")
        let list = await Chan.query(carol, "room")
        #expect(list.result == .ok && list.channelID == "room" && list.memberCount == 2)
        #expect(list.userIds.sorted() == ["alice", "bob"] && !list.isMember)
        let member = await Chan.query(carol, "room", user: "bob")
        #expect(member.result == .ok && member.isMember && member.userIds.isEmpty && member.memberCount == 2)
        #expect(!(await Chan.query(carol, "room", user: "carol")).isMember)
        // Rate class shared with GetMembers (5 per 2000 ms): carol has used 3, and GetMembers counts too.
        #expect(await Chan.members(carol, "room").result == .notInChannel)
        #expect(await Chan.members(carol, "room").result == .notInChannel)
        let tooOften = await Chan.query(carol, "room", user: "nobody")
        #expect(tooOften.result == .tooOften && tooOften.channelID == "room")
        await harness.advance(by: 2000)
        let empty = await Chan.query(carol, "empty")
        #expect(empty.result == .ok && empty.memberCount == 0 && empty.userIds.isEmpty)
        let badChannel = await Chan.query(carol, "null")
        #expect(badChannel.result == .failure && badChannel.channelID == "null" && badChannel.userIds.isEmpty)
        #expect(await Chan.query(carol, "room", user: "null").result == .failure)
        #expect(await Chan.query(carol, "room", user: String(repeating: "u", count: 65)).result == .failure)
    }

    @Test("LEG-24: QueryChannelUsers lists a random max_members_listed of a larger channel")
    func queryChannelUsersLarge() async throws {
        let harness = try Chan.harness { $0.limits.maxMembersListed = 2 }
        var clients: [TestClient] = []
        for index in 0..<4 { clients.append(await harness.login("u\(index)")) }
        await Chan.joinAll(clients, "room")
        let outsider = await harness.login("outsider")
        let response = await Chan.query(outsider, "room")
        #expect(response.memberCount == 4 && response.userIds.count == 2 && Set(response.userIds).count == 2)
    }
}

/// A small deterministic generator for reproducible random runs.
private struct SplitMix64 {
    var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

import HeraldEngine
import HeraldMessages
import HeraldWire
import NIOCore
import SwiftProtobuf
import Testing

/// Requests used by the tests of this file.
private enum Attr {
    static func pairs(_ pairs: [(String, String)]) -> [Herald_V1_Attribute] {
        pairs.map { pair in
            Herald_V1_Attribute.with {
                $0.key = pair.0
                $0.value = pair.1
            }
        }
    }

    static func set(
        _ client: TestClient,
        _ channel: String,
        _ attributes: [(String, String)],
        notify: Bool = false
    ) async -> Herald_V1_AttributeOperationResult {
        await client.request(
            Herald_V1_SetChannelAttributesRequest.with {
                $0.channelID = channel
                $0.attributes = pairs(attributes)
                $0.notifyMembers = notify
            },
            expecting: Herald_V1_SetChannelAttributesResponse.self
        ).result
    }

    static func update(
        _ client: TestClient,
        _ channel: String,
        _ attributes: [(String, String)],
        notify: Bool = false
    ) async -> Herald_V1_AttributeOperationResult {
        await client.request(
            Herald_V1_AddOrUpdateChannelAttributesRequest.with {
                $0.channelID = channel
                $0.attributes = pairs(attributes)
                $0.notifyMembers = notify
            },
            expecting: Herald_V1_AddOrUpdateChannelAttributesResponse.self
        ).result
    }

    static func delete(
        _ client: TestClient,
        _ channel: String,
        _ keys: [String],
        notify: Bool = false
    ) async -> Herald_V1_AttributeOperationResult {
        await client.request(
            Herald_V1_DeleteChannelAttributesByKeysRequest.with {
                $0.channelID = channel
                $0.keys = keys
                $0.notifyMembers = notify
            },
            expecting: Herald_V1_DeleteChannelAttributesByKeysResponse.self
        ).result
    }

    static func clear(
        _ client: TestClient,
        _ channel: String,
        notify: Bool = false
    ) async -> Herald_V1_AttributeOperationResult {
        await client.request(
            Herald_V1_ClearChannelAttributesRequest.with {
                $0.channelID = channel
                $0.notifyMembers = notify
            },
            expecting: Herald_V1_ClearChannelAttributesResponse.self
        ).result
    }

    static func get(_ client: TestClient, _ channel: String) async -> Herald_V1_GetChannelAttributesResponse {
        await client.request(
            Herald_V1_GetChannelAttributesRequest.with { $0.channelID = channel },
            expecting: Herald_V1_GetChannelAttributesResponse.self
        )
    }

    static func getKeys(
        _ client: TestClient,
        _ channel: String,
        _ keys: [String]
    ) async -> Herald_V1_GetChannelAttributesByKeysResponse {
        await client.request(
            Herald_V1_GetChannelAttributesByKeysRequest.with {
                $0.channelID = channel
                $0.keys = keys
            },
            expecting: Herald_V1_GetChannelAttributesByKeysResponse.self
        )
    }

    /// The key/value pairs of a channel, in order.
    static func values(_ client: TestClient, _ channel: String) async -> [String] {
        await get(client, channel).attributes.map { "\($0.key)=\($0.value)" }
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

    /// A harness without the attribute rate limits, for tests that write often.
    static func harness(_ configure: (inout EngineConfiguration) -> Void = { _ in }) throws -> EngineHarness {
        try EngineHarness {
            $0.rateLimits[.channelAttributesWrite] = nil
            $0.rateLimits[.channelAttributesRead] = nil
            $0.rateLimits[.joinSameChannel] = nil
            configure(&$0)
        }
    }
}

@Suite("Channel attributes (Spec/11-channel-attributes.md)")
struct ChannelAttributeTests {
    // MARK: Writing and reading (§11.3, §11.4)

    @Test("CATTR-2, CATTR-14, CATTR-21, CATTR-23, CATTR-26: Set replaces all; reads give the stored attributes")
    func setAndGet() async throws {
        let harness = try Attr.harness()
        let alice = await harness.login("alice")
        let bob = await harness.login("bob")
        #expect(await Attr.set(alice, "room", [("a", "1"), ("b", "2")]) == .ok)
        let written = harness.now
        await harness.advance(by: 10)
        let response = await Attr.get(bob, "room")
        #expect(response.result == .ok && response.channelID == "room")
        #expect(response.attributes.map(\.key) == ["a", "b"])
        #expect(response.attributes.map(\.value) == ["1", "2"])
        #expect(response.attributes.allSatisfy { $0.lastUpdatedBy == "alice" && $0.lastUpdatedMs == written })
        #expect(await Attr.set(bob, "room", [("c", "3"), ("a", "1")]) == .ok)
        #expect(await Attr.values(alice, "room") == ["c=3", "a=1"])
        let after = await Attr.get(alice, "room").attributes
        #expect(after.allSatisfy { $0.lastUpdatedBy == "bob" && $0.lastUpdatedMs == harness.now })
        // CATTR-15: an empty Set removes everything.
        #expect(await Attr.set(bob, "room", []) == .ok)
        #expect(await Attr.get(alice, "room").attributes.isEmpty)
    }

    @Test("CATTR-23: a channel that never had attributes reads as OK and empty")
    func neverWritten() async throws {
        let harness = try Attr.harness()
        let alice = await harness.login("alice")
        let response = await Attr.get(alice, "nothing")
        #expect(response.result == .ok && response.channelID == "nothing" && response.attributes.isEmpty)
        let byKeys = await Attr.getKeys(alice, "nothing", ["a"])
        #expect(byKeys.result == .ok && byKeys.channelID == "nothing" && byKeys.attributes.isEmpty)
    }

    @Test("CATTR-16, CATTR-17, CATTR-21: AddOrUpdate keeps positions, appends new keys, stamps what it writes")
    func addOrUpdate() async throws {
        let harness = try Attr.harness()
        let alice = await harness.login("alice")
        let bob = await harness.login("bob")
        #expect(await Attr.set(alice, "room", [("a", "1"), ("b", "2"), ("c", "3")]) == .ok)
        let first = harness.now
        await harness.advance(by: 100)
        #expect(await Attr.update(bob, "room", [("b", "two"), ("d", "4"), ("a", "1")]) == .ok)
        let attributes = await Attr.get(alice, "room").attributes
        #expect(attributes.map { "\($0.key)=\($0.value)" } == ["a=1", "b=two", "c=3", "d=4"])
        #expect(attributes.map(\.lastUpdatedBy) == ["bob", "bob", "alice", "bob"])
        #expect(attributes.map(\.lastUpdatedMs) == [harness.now, harness.now, first, harness.now])
        #expect(await Attr.update(bob, "room", []) == .invalidArgument)
    }

    @Test("CATTR-18, CATTR-19: Delete removes the named keys that exist and keeps the order of the rest")
    func deleteByKeys() async throws {
        let harness = try Attr.harness()
        let alice = await harness.login("alice")
        #expect(await Attr.set(alice, "room", [("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]) == .ok)
        #expect(await Attr.delete(alice, "room", ["c", "zz", "a"]) == .ok)
        #expect(await Attr.values(alice, "room") == ["b=2", "d=4"])
        #expect(await Attr.delete(alice, "room", []) == .invalidArgument)
        #expect(await Attr.delete(alice, "empty", ["x"]) == .ok)
    }

    @Test("CATTR-20: Clear removes everything and succeeds on a channel without attributes")
    func clear() async throws {
        let harness = try Attr.harness()
        let alice = await harness.login("alice")
        #expect(await Attr.clear(alice, "room") == .ok)
        #expect(await Attr.set(alice, "room", [("a", "1")]) == .ok)
        #expect(await Attr.clear(alice, "room") == .ok)
        #expect(await Attr.get(alice, "room").attributes.isEmpty)
    }

    @Test("CATTR-24, CATTR-25, CATTR-27: GetByKeys answers in request key order, skipping absent keys")
    func getByKeys() async throws {
        let harness = try Attr.harness()
        let alice = await harness.login("alice")
        #expect(await Attr.set(alice, "room", [("a", "1"), ("b", "2"), ("c", "3")]) == .ok)
        let response = await Attr.getKeys(alice, "room", ["c", "zz", "a"])
        #expect(response.result == .ok && response.channelID == "room")
        #expect(response.attributes.map(\.key) == ["c", "a"])
        #expect(response.attributes.map(\.lastUpdatedBy) == ["alice", "alice"])
        let empty = await Attr.getKeys(alice, "room", [])
        #expect(empty.result == .invalidArgument && empty.channelID == "room" && empty.attributes.isEmpty)
    }

    // MARK: Validation (§11.1, §11.2)

    @Test("CATTR-1, CATTR-3, CATTR-4, CATTR-5, CATTR-27, LEG-50: invalid arguments on every operation")
    func invalidArguments() async throws {
        let harness = try Attr.harness()
        let alice = await harness.login("alice")
        #expect(await Attr.set(alice, "room", [("a", "1")]) == .ok)
        let badChannels = ["", "null", "a/b", String(repeating: "c", count: 65)]
        for channel in badChannels {
            #expect(await Attr.set(alice, channel, [("a", "1")]) == .invalidArgument)
            #expect(await Attr.update(alice, channel, [("a", "1")]) == .invalidArgument)
            #expect(await Attr.delete(alice, channel, ["a"]) == .invalidArgument)
            #expect(await Attr.clear(alice, channel) == .invalidArgument)
            let get = await Attr.get(alice, channel)
            #expect(get.result == .invalidArgument && get.channelID == channel && get.attributes.isEmpty)
            let byKeys = await Attr.getKeys(alice, channel, ["a"])
            #expect(byKeys.result == .invalidArgument && byKeys.channelID == channel && byKeys.attributes.isEmpty)
        }
        let badKeys = ["", String(repeating: "k", count: 33), "has space", "tab\t", "nl\n", "del\u{7F}", "nul\u{0}"]
        for key in badKeys {
            #expect(await Attr.set(alice, "room", [(key, "v")]) == .invalidArgument, "\(key.debugDescription)")
            #expect(await Attr.update(alice, "room", [(key, "v")]) == .invalidArgument)
            #expect(await Attr.delete(alice, "room", [key]) == .invalidArgument)
            #expect(await Attr.getKeys(alice, "room", [key]).result == .invalidArgument)
        }
        // CATTR-4: empty values.
        #expect(await Attr.set(alice, "room", [("x", "")]) == .invalidArgument)
        #expect(await Attr.update(alice, "room", [("x", "")]) == .invalidArgument)
        // CATTR-5: the same key twice.
        #expect(await Attr.set(alice, "room", [("x", "1"), ("x", "2")]) == .invalidArgument)
        #expect(await Attr.update(alice, "room", [("x", "1"), ("x", "1")]) == .invalidArgument)
        #expect(await Attr.delete(alice, "room", ["a", "a"]) == .invalidArgument)
        #expect(await Attr.getKeys(alice, "room", ["a", "a"]).result == .invalidArgument)
        // CATTR-9: nothing changed.
        #expect(await Attr.values(alice, "room") == ["a=1"])
        // Keys at the limit, non-ASCII keys and keys starting with "_" are ordinary keys.
        let good = [String(repeating: "k", count: 32), "ключ", "_channel_ttl"]
        #expect(await Attr.update(alice, "room", good.map { ($0, "v") }) == .ok)
        #expect(await Attr.get(alice, "room").attributes.map(\.key) == ["a"] + good)
    }

    @Test("CATTR-6 … CATTR-9, LIM-3: size limits, at and over the limit")
    func sizeOverflow() async throws {
        let harness = try Attr.harness {
            $0.limits.maxAttributeValueBytes = 8
            $0.limits.maxAttributesCount = 3
            $0.limits.maxChannelAttributesBytes = 20
        }
        let alice = await harness.login("alice")
        let bob = await harness.login("bob")
        await Attr.joinAll([bob], "room")
        // CATTR-6.
        #expect(await Attr.set(alice, "room", [("v", "123456789")], notify: true) == .sizeOverflow)
        #expect(await Attr.update(alice, "room", [("v", "123456789")], notify: true) == .sizeOverflow)
        #expect(await Attr.set(alice, "room", [("v", "12345678")]) == .ok)
        // CATTR-7.
        #expect(await Attr.set(alice, "room", [("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]) == .sizeOverflow)
        #expect(await Attr.set(alice, "room", [("a", "1"), ("b", "2")]) == .ok)
        #expect(await Attr.update(alice, "room", [("c", "3"), ("d", "4")], notify: true) == .sizeOverflow)
        #expect(await Attr.update(alice, "room", [("a", "one"), ("c", "3")]) == .ok)
        // CATTR-8: keys and values of all attributes after the write count.
        #expect(await Attr.update(alice, "room", [("b", "2345678")]) == .ok)  // 4 + 8 + 2 = 14 bytes
        #expect(await Attr.update(alice, "room", [("c", "12345678")], notify: true) == .sizeOverflow)  // 21 bytes
        #expect(await Attr.values(alice, "room") == ["a=one", "b=2345678", "c=3"])
        #expect(await Attr.set(alice, "room", [("abcd", "12345678"), ("efgh", "1234")]) == .ok)  // exactly 20
        #expect(await Attr.set(alice, "room", [("abcd", "12345678"), ("efgh", "12345")]) == .sizeOverflow)
        #expect(await Attr.values(alice, "room") == ["abcd=12345678", "efgh=1234"])
        // CATTR-9: the refused writes notified nobody.
        #expect(bob.all(Herald_V1_ChannelAttributesUpdated.self).isEmpty)
    }

    @Test("CATTR-10: arguments are checked before sizes, the rate limit before arguments")
    func checkOrder() async throws {
        let harness = try EngineHarness {
            $0.limits.maxAttributeValueBytes = 4
            $0.rateLimits[.channelAttributesWrite] = RateLimitValue(count: 2, windowMs: 1000)
        }
        let alice = await harness.login("alice")
        #expect(await Attr.set(alice, "room", [("bad key", "too long value")]) == .invalidArgument)
        #expect(await Attr.set(alice, "room", [("k", "too long value"), ("k", "1")]) == .invalidArgument)
        #expect(await Attr.set(alice, "null", [("bad key", "")]) == .tooOften)
    }

    @Test("CATTR-11: no session → USER_NOT_LOGGED_IN for every operation")
    func notLoggedIn() async throws {
        let harness = try EngineHarness()
        let client = await harness.connect()
        #expect(await Attr.set(client, "room", [("a", "1")]) == .userNotLoggedIn)
        #expect(await Attr.update(client, "room", [("a", "1")]) == .userNotLoggedIn)
        #expect(await Attr.delete(client, "room", ["a"]) == .userNotLoggedIn)
        #expect(await Attr.clear(client, "room") == .userNotLoggedIn)
        let get = await Attr.get(client, "room")
        #expect(get.result == .userNotLoggedIn && get.channelID == "room" && get.attributes.isEmpty)
        let byKeys = await Attr.getKeys(client, "room", ["a"])
        #expect(byKeys.result == .userNotLoggedIn && byKeys.channelID == "room")
    }

    @Test("CATTR-12, CATTR-13: writes and reads have separate rate classes (10 per 5000 ms each)")
    func rateLimits() async throws {
        let harness = try EngineHarness()
        let alice = await harness.login("alice")
        for index in 0..<10 {
            let result: Herald_V1_AttributeOperationResult
            switch index % 4 {
            case 0: result = await Attr.set(alice, "room", [("a", "\(index)")])
            case 1: result = await Attr.update(alice, "room", [("b", "\(index)")])
            case 2: result = await Attr.delete(alice, "room", ["b"])
            default: result = await Attr.clear(alice, "null")  // refused later, still counted (LIM-5)
            }
            #expect(result == (index % 4 == 3 ? .invalidArgument : .ok))
        }
        #expect(await Attr.clear(alice, "room") == .tooOften)
        #expect(await Attr.values(alice, "room") == ["a=8", "b=9"])
        for _ in 0..<9 { #expect(await Attr.get(alice, "room").result == .ok) }
        let refused = await Attr.getKeys(alice, "room", ["a"])
        #expect(refused.result == .tooOften && refused.channelID == "room" && refused.attributes.isEmpty)
        await harness.advance(by: 5000)
        #expect(await Attr.clear(alice, "room") == .ok)
        #expect(await Attr.get(alice, "room").result == .ok)
    }

    // MARK: Notifications (§11.5)

    @Test("CATTR-28, CATTR-31 … CATTR-35: members get the full attributes, kind, keys and writer")
    func notification() async throws {
        let harness = try Attr.harness()
        let alice = await harness.login("alice")
        let bob = await harness.login("bob")
        let carol = await harness.login("carol")
        await Attr.joinAll([alice, bob], "room")
        await harness.advance(by: 1000)
        _ = alice.drain()
        _ = bob.drain()
        // A non-member writer notifies the members and gets only its response.
        #expect(await Attr.set(carol, "room", [("a", "1"), ("b", "2")], notify: true) == .ok)
        carol.expectNothing()
        for (member, seq) in [(alice, UInt64(4)), (bob, UInt64(2))] {
            let update = member.expect(Herald_V1_ChannelAttributesUpdated.self).message
            #expect(update.channelID == "room" && update.kind == .set && update.updatedBy == "carol")
            #expect(update.changedKeys == ["a", "b"])
            #expect(update.attributes.map { "\($0.key)=\($0.value)" } == ["a=1", "b=2"])
            #expect(update.attributes.allSatisfy { $0.lastUpdatedBy == "carol" && $0.lastUpdatedMs == harness.now })
            #expect(update.seq == seq, "\(member.user)")
            member.expectNothing()
        }
        // UPDATE: changed keys in request order, the whole set after the write.
        #expect(await Attr.update(carol, "room", [("c", "3"), ("a", "one")], notify: true) == .ok)
        let update = bob.expect(Herald_V1_ChannelAttributesUpdated.self).message
        #expect(update.kind == .update && update.changedKeys == ["c", "a"])
        #expect(update.attributes.map { "\($0.key)=\($0.value)" } == ["a=one", "b=2", "c=3"])
        // DELETE: absent keys are listed too.
        #expect(await Attr.delete(carol, "room", ["zz", "b"], notify: true) == .ok)
        let delete = bob.expect(Herald_V1_ChannelAttributesUpdated.self).message
        #expect(delete.kind == .delete && delete.changedKeys == ["zz", "b"])
        #expect(delete.attributes.map(\.key) == ["a", "c"])
        // CLEAR: no keys, no attributes.
        #expect(await Attr.clear(carol, "room", notify: true) == .ok)
        let clear = bob.expect(Herald_V1_ChannelAttributesUpdated.self).message
        #expect(clear.kind == .clear && clear.changedKeys.isEmpty && clear.attributes.isEmpty)
        #expect(alice.all(Herald_V1_ChannelAttributesUpdated.self).map(\.kind) == [.update, .delete, .clear])
    }

    @Test("CATTR-28, CATTR-30: a member writer gets its response, then its own notification")
    func writerIsMember() async throws {
        let harness = try Attr.harness()
        let alice = await harness.login("alice")
        await Attr.joinAll([alice], "room")
        await alice.send(
            Herald_V1_AddOrUpdateChannelAttributesRequest.with {
                $0.channelID = "room"
                $0.attributes = Attr.pairs([("k", "v")])
                $0.notifyMembers = true
            }
        )
        let frames = alice.drain()
        #expect(frames.map(\.opcode) == [.addOrUpdateChannelAttributesResponse, .channelAttributesUpdated])
    }

    @Test("CATTR-29, CATTR-36, CATTR-37: no notification without notify_members; one per write, in order")
    func notifyOption() async throws {
        let harness = try Attr.harness()
        let alice = await harness.login("alice")
        let bob = await harness.login("bob")
        await Attr.joinAll([bob], "room")
        #expect(await Attr.set(alice, "room", [("a", "1")]) == .ok)
        #expect(await Attr.update(alice, "room", [("b", "2")]) == .ok)
        #expect(await Attr.delete(alice, "room", ["a"]) == .ok)
        #expect(await Attr.clear(alice, "room") == .ok)
        bob.expectNothing()
        #expect(await Attr.update(alice, "room", [("a", "1")], notify: true) == .ok)
        #expect(await Attr.update(alice, "room", [("a", "2")], notify: true) == .ok)
        let updates = bob.all(Herald_V1_ChannelAttributesUpdated.self)
        #expect(updates.map { $0.attributes.first?.value } == ["1", "2"])
        #expect(updates.map(\.seq) == [2, 3])
    }

    @Test("OVR-13: members without channel-attributes get no update and lose no seq; the writer is unaffected")
    func notifyCapability() async throws {
        let harness = try Attr.harness()
        let alice = await harness.login("alice")
        let bob = await harness.login(
            "bob",
            hello: .with {
                $0.versions = [1]
                $0.capabilities = ["channels"]
            }
        )
        let carol = await harness.login("carol")
        await Attr.joinAll([bob], "room")
        #expect(await Attr.set(alice, "room", [("a", "1")], notify: true) == .ok)
        bob.expectNothing()
        await harness.advance(by: 1000)
        _ = await carol.request(
            Herald_V1_JoinChannelRequest.with { $0.channelID = "room" },
            expecting: Herald_V1_JoinChannelResponse.self
        )
        #expect(bob.expect(Herald_V1_MemberJoined.self).message.seq == 2)
    }

    @Test("§11.5: notifications reach every member whatever the channel's size")
    func notifyLargeChannel() async throws {
        let harness = try Attr.harness { $0.limits.maxMemberEventChannelSize = 1 }
        var clients: [TestClient] = []
        for index in 0..<4 { clients.append(await harness.login("u\(index)")) }
        await Attr.joinAll(clients, "room")
        #expect(await Attr.set(clients[0], "room", [("a", "1")], notify: true) == .ok)
        for client in clients {
            #expect(client.all(Herald_V1_ChannelAttributesUpdated.self).count == 1, "\(client.user)")
        }
    }

    // MARK: Lifetime (§11.6)

    @Test("CATTR-38: attributes of a channel that was never joined go one TTL after the last write")
    func emptyChannelExpiry() async throws {
        let harness = try Attr.harness { $0.timers.channelAttributesEmptyTTLMs = 5000 }
        let alice = await harness.login("alice")
        #expect(await Attr.set(alice, "room", [("a", "1")]) == .ok)
        await harness.advance(by: 3000)
        #expect(await Attr.update(alice, "room", [("b", "2")]) == .ok)  // restarts the idle time
        await harness.advance(by: 4999)
        #expect(await Attr.values(alice, "room") == ["a=1", "b=2"])
        await harness.advance(by: 1)
        #expect(await Attr.get(alice, "room").attributes.isEmpty)
        // CHAN-1: a channel with attributes but no members has no members.
        let count = await alice.request(
            Herald_V1_GetChannelMemberCountRequest.with { $0.channelIds = ["room"] },
            expecting: Herald_V1_GetChannelMemberCountResponse.self
        )
        #expect(count.counts.map(\.memberCount) == [0])
    }

    @Test("CATTR-38, CATTR-39, SES-34: attributes stay while there are members and go one TTL after the last left")
    func expiryAfterLastMemberLeft() async throws {
        let harness = try Attr.harness { $0.timers.channelAttributesEmptyTTLMs = 5000 }
        let alice = await harness.login("alice")
        let bob = await harness.login("bob")
        await Attr.joinAll([bob], "room")
        #expect(await Attr.set(alice, "room", [("a", "1")]) == .ok)
        await harness.advance(by: 8000)
        #expect(await Attr.values(alice, "room") == ["a=1"])
        // bob's session ends: the channel is empty from now on.
        _ = await bob.request(Herald_V1_LogoutRequest(), expecting: Herald_V1_LogoutResponse.self)
        await harness.advance(by: 4999)
        #expect(await Attr.values(alice, "room") == ["a=1"])
        await harness.advance(by: 1)
        #expect(await Attr.values(alice, "room") == [])
    }

    @Test("CATTR-39: a join before the TTL runs out keeps the attributes; the next departure starts it again")
    func joinCancelsExpiry() async throws {
        let harness = try Attr.harness { $0.timers.channelAttributesEmptyTTLMs = 5000 }
        let alice = await harness.login("alice")
        let bob = await harness.login("bob")
        #expect(await Attr.set(alice, "room", [("a", "1")]) == .ok)
        await harness.advance(by: 4000)
        await Attr.joinAll([bob], "room")
        await harness.advance(by: 6000)
        #expect(await Attr.values(alice, "room") == ["a=1"])
        _ = await bob.request(
            Herald_V1_LeaveChannelRequest.with { $0.channelID = "room" },
            expecting: Herald_V1_LeaveChannelResponse.self
        )
        await harness.advance(by: 4999)
        #expect(await Attr.values(alice, "room") == ["a=1"])
        await harness.advance(by: 1)
        #expect(await Attr.values(alice, "room") == [])
        // A write that clears the attributes leaves nothing to expire; a new write starts afresh.
        #expect(await Attr.set(alice, "room", [("b", "2")]) == .ok)
        await harness.advance(by: 4999)
        #expect(await Attr.values(alice, "room") == ["b=2"])
    }
}

import HeraldEngine
import HeraldMessages
import HeraldWire
import SwiftProtobuf
import Testing

private func attr(_ key: String, _ value: String) -> Herald_V1_Attribute {
    Herald_V1_Attribute.with {
        $0.key = key
        $0.value = value
    }
}

extension TestClient {
    fileprivate func set(_ attributes: [Herald_V1_Attribute]) async -> Herald_V1_AttributeOperationResult {
        await self.request(
            Herald_V1_SetLocalUserAttributesRequest.with { $0.attributes = attributes },
            expecting: Herald_V1_SetLocalUserAttributesResponse.self
        ).result
    }

    fileprivate func addOrUpdate(_ attributes: [Herald_V1_Attribute]) async -> Herald_V1_AttributeOperationResult {
        await self.request(
            Herald_V1_AddOrUpdateLocalUserAttributesRequest.with { $0.attributes = attributes },
            expecting: Herald_V1_AddOrUpdateLocalUserAttributesResponse.self
        ).result
    }

    fileprivate func delete(_ keys: [String]) async -> Herald_V1_AttributeOperationResult {
        await self.request(
            Herald_V1_DeleteLocalUserAttributesByKeysRequest.with { $0.keys = keys },
            expecting: Herald_V1_DeleteLocalUserAttributesByKeysResponse.self
        ).result
    }

    fileprivate func clear() async -> Herald_V1_AttributeOperationResult {
        await self.request(
            Herald_V1_ClearLocalUserAttributesRequest(),
            expecting: Herald_V1_ClearLocalUserAttributesResponse.self
        ).result
    }

    fileprivate func get(_ user: String) async -> Herald_V1_GetUserAttributesResponse {
        await self.request(
            Herald_V1_GetUserAttributesRequest.with { $0.userID = user },
            expecting: Herald_V1_GetUserAttributesResponse.self
        )
    }

    fileprivate func get(_ user: String, keys: [String]) async -> Herald_V1_GetUserAttributesByKeysResponse {
        await self.request(
            Herald_V1_GetUserAttributesByKeysRequest.with {
                $0.userID = user
                $0.keys = keys
            },
            expecting: Herald_V1_GetUserAttributesByKeysResponse.self
        )
    }

    /// The own attributes, read back.
    fileprivate func own() async -> [Herald_V1_Attribute] {
        await self.get(self.user).attributes
    }
}

@Suite("User attributes")
struct UserAttributesTests {
    // MARK: - Writes (§8.3)

    @Test func setReplacesEverythingInRequestOrder() async throws {  // UATTR-12, UATTR-19, UATTR-23
        let h = try EngineHarness()
        let alice = await h.login("alice")
        #expect(await alice.set([attr("z", "1"), attr("a", "2")]) == .ok)
        #expect(await alice.own() == [attr("z", "1"), attr("a", "2")])
        #expect(await alice.set([attr("m", "3"), attr("z", "4")]) == .ok)
        #expect(await alice.own() == [attr("m", "3"), attr("z", "4")])
    }

    @Test func setWithNothingClears() async throws {  // UATTR-13
        let h = try EngineHarness()
        let alice = await h.login("alice")
        #expect(await alice.set([attr("a", "1")]) == .ok)
        #expect(await alice.set([]) == .ok)
        #expect(await alice.own().isEmpty)
    }

    @Test func addOrUpdateKeepsPositionsAndAppends() async throws {  // UATTR-14
        let h = try EngineHarness()
        let alice = await h.login("alice")
        #expect(await alice.set([attr("a", "1"), attr("b", "2"), attr("c", "3")]) == .ok)
        #expect(
            await alice.addOrUpdate([attr("y", "new-y"), attr("b", "B"), attr("x", "new-x"), attr("a", "A")]) == .ok
        )
        #expect(
            await alice.own() == [
                attr("a", "A"), attr("b", "B"), attr("c", "3"), attr("y", "new-y"), attr("x", "new-x"),
            ]
        )
    }

    @Test func addOrUpdateNeedsAttributes() async throws {  // UATTR-15
        let h = try EngineHarness()
        let alice = await h.login("alice")
        #expect(await alice.addOrUpdate([]) == .invalidArgument)
    }

    @Test func deleteRemovesNamedKeysKeepingOrder() async throws {  // UATTR-16, UATTR-17
        let h = try EngineHarness()
        let alice = await h.login("alice")
        #expect(await alice.set([attr("a", "1"), attr("b", "2"), attr("c", "3"), attr("d", "4")]) == .ok)
        #expect(await alice.delete(["c", "missing", "a"]) == .ok)
        #expect(await alice.own() == [attr("b", "2"), attr("d", "4")])
        #expect(await alice.delete([]) == .invalidArgument)
        #expect(await alice.own() == [attr("b", "2"), attr("d", "4")])
    }

    @Test func clearAlwaysSucceeds() async throws {  // UATTR-18
        let h = try EngineHarness()
        let alice = await h.login("alice")
        #expect(await alice.clear() == .ok)
        #expect(await alice.set([attr("a", "1"), attr("b", "2")]) == .ok)
        #expect(await alice.clear() == .ok)
        #expect(await alice.own().isEmpty)
    }

    // MARK: - Arguments (§8.1)

    static let invalidKeys = [
        "", String(repeating: "k", count: 33), "with space", "tab\t", "nul\u{0}", "del\u{7F}", "unit\u{1F}",
    ]

    @Test(arguments: invalidKeys)
    func invalidKeyEverywhere(key: String) async throws {  // UATTR-1, UATTR-7, UATTR-20 … UATTR-27
        let h = try EngineHarness()
        let alice = await h.login("alice")
        #expect(await alice.set([attr("ok", "1")]) == .ok)
        #expect(await alice.set([attr(key, "v")]) == .invalidArgument)
        #expect(await alice.addOrUpdate([attr("fine", "v"), attr(key, "v")]) == .invalidArgument)
        #expect(await alice.delete(["ok", key]) == .invalidArgument)
        let read = await alice.get("alice", keys: ["ok", key])
        #expect(read.result == .invalidArgument)
        #expect(read.userID == "alice")
        #expect(read.attributes.isEmpty)
        #expect(await alice.own() == [attr("ok", "1")])
    }

    @Test func longestAndNonASCIIKeysAreValid() async throws {  // UATTR-1, LIM-3
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let longest = String(repeating: "k", count: 32)
        let accented = String(repeating: "é", count: 16)  // 32 bytes
        #expect(await alice.set([attr(longest, "1"), attr(accented, "2"), attr("日本", "3")]) == .ok)
        #expect(await alice.get("alice", keys: [accented]).attributes == [attr(accented, "2")])
        #expect(await alice.set([attr(accented + "e", "x")]) == .invalidArgument)  // 33 bytes
    }

    @Test func emptyValueIsInvalid() async throws {  // UATTR-2
        let h = try EngineHarness()
        let alice = await h.login("alice")
        #expect(await alice.set([attr("a", "")]) == .invalidArgument)
        #expect(await alice.addOrUpdate([attr("a", "1"), attr("b", "")]) == .invalidArgument)
        #expect(await alice.own().isEmpty)
    }

    @Test func duplicateKeysAreInvalid() async throws {  // UATTR-3
        let h = try EngineHarness()
        let alice = await h.login("alice")
        #expect(await alice.set([attr("a", "1"), attr("a", "2")]) == .invalidArgument)
        #expect(await alice.addOrUpdate([attr("a", "1"), attr("b", "2"), attr("a", "1")]) == .invalidArgument)
        #expect(await alice.set([attr("a", "1")]) == .ok)
        #expect(await alice.delete(["a", "a"]) == .invalidArgument)
        #expect(await alice.get("alice", keys: ["a", "a"]).result == .invalidArgument)
        #expect(await alice.own() == [attr("a", "1")])
        // Keys are compared as bytes: precomposed and decomposed é are different keys.
        #expect(await alice.set([attr("caf\u{E9}", "1"), attr("cafe\u{301}", "2")]) == .ok)
        #expect(await alice.own().count == 2)
    }

    // MARK: - Sizes (§8.1)

    @Test func valueSize() async throws {  // UATTR-4, UATTR-7, LIM-3
        let h = try EngineHarness()
        let alice = await h.login("alice")
        #expect(await alice.set([attr("a", "1")]) == .ok)
        #expect(await alice.set([attr("big", String(repeating: "v", count: 8193))]) == .sizeOverflow)
        #expect(await alice.addOrUpdate([attr("a", String(repeating: "v", count: 8193))]) == .sizeOverflow)
        #expect(await alice.own() == [attr("a", "1")])
        #expect(await alice.set([attr("big", String(repeating: "v", count: 8192))]) == .ok)
    }

    @Test func attributeCount() async throws {  // UATTR-5, UATTR-7, LIM-3
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let thirtyTwo = (0..<32).map { attr("k\($0)", "v") }
        #expect(await alice.set(thirtyTwo + [attr("k32", "v")]) == .sizeOverflow)
        #expect(await alice.set(thirtyTwo) == .ok)
        #expect(await alice.addOrUpdate([attr("k0", "updated")]) == .ok)  // count unchanged
        #expect(await alice.addOrUpdate([attr("extra", "v")]) == .sizeOverflow)
        #expect(await alice.own().count == 32)
    }

    @Test func totalSize() async throws {  // UATTR-6, UATTR-7, LIM-3
        let h = try EngineHarness()
        let alice = await h.login("alice")
        // Two attributes of 1 + 8191 bytes each: 16384 in total, exactly the limit.
        let full = [attr("a", String(repeating: "v", count: 8191)), attr("b", String(repeating: "v", count: 8191))]
        #expect(await alice.set(full) == .ok)
        #expect(await alice.addOrUpdate([attr("c", "1")]) == .sizeOverflow)
        #expect(await alice.own() == full)
        // Checked after the operation: shortening one value makes room.
        #expect(await alice.addOrUpdate([attr("a", "short"), attr("c", "1")]) == .ok)
        #expect(await alice.own().map(\.key) == ["a", "b", "c"])
    }

    @Test func argumentsAreCheckedBeforeSizes() async throws {  // UATTR-8
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let oversize = attr("big", String(repeating: "v", count: 9000))
        #expect(await alice.set([oversize, attr("bad key", "v")]) == .invalidArgument)
        #expect(await alice.addOrUpdate([oversize, attr("e", "")]) == .invalidArgument)
    }

    // MARK: - Reads (§8.4)

    @Test func readingAnotherUser() async throws {  // UATTR-21 … UATTR-23, UATTR-25, UATTR-26
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        #expect(await bob.set([attr("a", "1"), attr("b", "2"), attr("c", "3")]) == .ok)
        let all = await alice.get("bob")
        #expect(all.result == .ok)
        #expect(all.userID == "bob")
        #expect(all.attributes == [attr("a", "1"), attr("b", "2"), attr("c", "3")])
        let some = await alice.get("bob", keys: ["c", "zz", "a"])
        #expect(some.result == .ok)
        #expect(some.userID == "bob")
        #expect(some.attributes == [attr("c", "3"), attr("a", "1")])
        let none = await alice.get("alice")
        #expect(none.result == .ok && none.attributes.isEmpty)  // UATTR-22
    }

    @Test(arguments: ["", "null", "bad/id", String(repeating: "u", count: 65)])
    func invalidUserID(user: String) async throws {  // UATTR-20, UATTR-26, UATTR-27
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let all = await alice.get(user)
        #expect(all.result == .invalidArgument)
        #expect(all.userID == user)
        #expect(all.attributes.isEmpty)
        let some = await alice.get(user, keys: ["a"])
        #expect(some.result == .invalidArgument)
        #expect(some.userID == user)
    }

    @Test func offlineUserIsNotFound() async throws {  // UATTR-8, UATTR-21, UATTR-26, UATTR-27
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        #expect(await bob.set([attr("a", "1")]) == .ok)
        await bob.drop()
        for user in ["bob", "never-seen"] {
            let all = await alice.get(user)
            #expect(all.result == .userNotFound)
            #expect(all.userID == user)
            #expect(all.attributes.isEmpty)
            let some = await alice.get(user, keys: ["a"])
            #expect(some.result == .userNotFound)
            #expect(some.attributes.isEmpty)
        }
        // Arguments come before the target user.
        #expect(await alice.get("bob", keys: []).result == .invalidArgument)  // UATTR-24
    }

    @Test func byKeysNeedsKeys() async throws {  // UATTR-24
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let response = await alice.get("alice", keys: [])
        #expect(response.result == .invalidArgument)
        #expect(response.userID == "alice")
    }

    // MARK: - Session checks and rates (§8.2)

    @Test func notLoggedIn() async throws {  // UATTR-8, UATTR-9
        let h = try EngineHarness()
        let client = await h.connect()
        client.user = "alice"
        #expect(await client.set([attr("a", "1")]) == .userNotLoggedIn)
        #expect(await client.addOrUpdate([attr("a", "1")]) == .userNotLoggedIn)
        #expect(await client.delete(["a"]) == .userNotLoggedIn)
        #expect(await client.clear() == .userNotLoggedIn)
        let all = await client.get("alice")
        #expect(all.result == .userNotLoggedIn && all.userID == "alice")
        let some = await client.get("alice", keys: ["a"])
        #expect(some.result == .userNotLoggedIn && some.userID == "alice")
    }

    @Test func writeRate() async throws {  // UATTR-10, LIM-5
        let h = try EngineHarness { $0.rateLimits[.userAttributesWrite] = RateLimitValue(count: 4, windowMs: 5000) }
        let alice = await h.login("alice")
        #expect(await alice.set([attr("a", "1")]) == .ok)
        #expect(await alice.addOrUpdate([]) == .invalidArgument)  // counts
        #expect(await alice.delete(["x"]) == .ok)
        #expect(await alice.clear() == .ok)
        #expect(await alice.set([attr("a", "")]) == .tooOften)  // before the arguments
        #expect(await alice.clear() == .tooOften)
        #expect(await alice.get("alice").result == .ok)  // reads have their own class
        await h.advance(by: 5000)
        #expect(await alice.set([attr("b", "2")]) == .ok)
    }

    @Test func readRate() async throws {  // UATTR-11
        let h = try EngineHarness { $0.rateLimits[.userAttributesRead] = RateLimitValue(count: 2, windowMs: 5000) }
        let alice = await h.login("alice")
        #expect(await alice.get("alice").result == .ok)
        #expect(await alice.get("alice", keys: ["a"]).result == .ok)
        let refused = await alice.get("alice")
        #expect(refused.result == .tooOften)
        #expect(refused.userID == "alice")
        #expect(await alice.get("", keys: []).result == .tooOften)
        #expect(await alice.set([attr("a", "1")]) == .ok)  // writes have their own class
    }

    // MARK: - Lifetime (§8.5)

    @Test func attributesEndWithTheSession() async throws {  // UATTR-28, SES-24, SES-30
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        #expect(await bob.set([attr("a", "1")]) == .ok)
        _ = await bob.request(Herald_V1_LogoutRequest(), expecting: Herald_V1_LogoutResponse.self)
        #expect(await alice.get("bob").result == .userNotFound)
        _ = bob.drain()
        let login = await bob.request(
            Herald_V1_LoginRequest.with {
                $0.appID = testAppID
                $0.userID = "bob"
            },
            expecting: Herald_V1_LoginResponse.self
        )
        #expect(login.result == .ok)
        #expect(await alice.get("bob").attributes.isEmpty)
        // Remote login: the new session starts empty.
        #expect(await bob.set([attr("b", "2")]) == .ok)
        let bob2 = await h.login("bob")
        let afterRemoteLogin = await alice.get("bob")
        #expect(afterRemoteLogin.result == .ok && afterRemoteLogin.attributes.isEmpty)
        // Connection loss.
        #expect(await bob2.set([attr("c", "3")]) == .ok)
        await bob2.drop()
        #expect(await alice.get("bob").result == .userNotFound)
    }

    @Test func idempotencyKeyIsAccepted() async throws {  // EXT-16
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let response = await alice.request(
            Herald_V1_SetLocalUserAttributesRequest.with {
                $0.attributes = [attr("a", "1")]
                $0.idempotencyKey = "3f0e2b5c-9f8d-4d0a-8a51-1c3b2e7d9f00"
            },
            expecting: Herald_V1_SetLocalUserAttributesResponse.self
        )
        #expect(response.result == .ok)
        #expect(await alice.own() == [attr("a", "1")])
    }
}

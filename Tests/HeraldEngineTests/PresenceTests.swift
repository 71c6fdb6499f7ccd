import HeraldEngine
import HeraldMessages
import HeraldWire
import SwiftProtobuf
import Testing

private func status(_ peer: String, _ state: Herald_V1_PeerOnlineState) -> Herald_V1_PeerOnlineStatus {
    Herald_V1_PeerOnlineStatus.with {
        $0.peerID = peer
        $0.state = state
    }
}

extension TestClient {
    fileprivate func query(_ peers: [String]) async -> Herald_V1_QueryPeersOnlineStatusResponse {
        await self.request(
            Herald_V1_QueryPeersOnlineStatusRequest.with { $0.peerIds = peers },
            expecting: Herald_V1_QueryPeersOnlineStatusResponse.self
        )
    }

    fileprivate func subscribe(
        _ peers: [String],
        option: Herald_V1_PeerSubscriptionOption = .onlineStatus
    ) async -> Herald_V1_PeerSubscriptionStatusResult {
        await self.request(
            Herald_V1_SubscribePeersOnlineStatusRequest.with {
                $0.peerIds = peers
                $0.option = option
            },
            expecting: Herald_V1_SubscribePeersOnlineStatusResponse.self
        ).result
    }

    fileprivate func unsubscribe(
        _ peers: [String],
        option: Herald_V1_PeerSubscriptionOption = .onlineStatus
    ) async -> Herald_V1_PeerSubscriptionStatusResult {
        await self.request(
            Herald_V1_UnsubscribePeersOnlineStatusRequest.with {
                $0.peerIds = peers
                $0.option = option
            },
            expecting: Herald_V1_UnsubscribePeersOnlineStatusResponse.self
        ).result
    }

    fileprivate func subscriptions(
        option: Herald_V1_PeerSubscriptionOption = .onlineStatus
    ) async -> Herald_V1_QueryPeersBySubscriptionOptionResponse {
        await self.request(
            Herald_V1_QueryPeersBySubscriptionOptionRequest.with { $0.option = option },
            expecting: Herald_V1_QueryPeersBySubscriptionOptionResponse.self
        )
    }

    /// The statuses of every `PeersOnlineStatusChanged` received so far, one array per event.
    fileprivate func changes() -> [[Herald_V1_PeerOnlineStatus]] {
        self.all(Herald_V1_PeersOnlineStatusChanged.self).map(\.statuses)
    }

    fileprivate func ping() async {
        _ = await self.request(Herald_V1_Ping(), expecting: Herald_V1_Pong.self)
    }
}

@Suite("Presence")
struct PresenceTests {
    // MARK: - Query (§7.2)

    @Test func queryReportsOnlineAndOfflineInRequestOrder() async throws {  // PRES-8, PRES-9
        let h = try EngineHarness()
        let alice = await h.login("alice")
        _ = await h.login("bob")
        let response = await alice.query(["bob", "nobody", "alice", "bob"])
        #expect(response.result == .ok)
        #expect(
            response.statuses == [
                status("bob", .online), status("nobody", .offline), status("alice", .online), status("bob", .online),
            ]
        )
    }

    @Test func queryNeverReportsUnreachable() async throws {  // PRES-9
        let h = try EngineHarness()
        let alice = await h.login("alice")
        _ = await h.login("bob")
        await h.advance(by: 10_000)  // bob is quiet
        #expect(await alice.query(["bob"]).statuses == [status("bob", .online)])
    }

    @Test func queryScopedToTheApp() async throws {  // §7 intro: user ids are scoped to the app
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let other = await h.connect()
        let token = try await TokenMinter.mint(
            appID: "strict",
            userID: "bob",
            secret: testSecret,
            issuedAt: h.now / 1000,
            lifetimeSeconds: 3600
        )
        let login = await other.request(
            Herald_V1_LoginRequest.with {
                $0.appID = "strict"
                $0.userID = "bob"
                $0.token = token
            },
            expecting: Herald_V1_LoginResponse.self
        )
        #expect(login.result == .ok)
        #expect(await alice.query(["bob"]).statuses == [status("bob", .offline)])
    }

    static let invalidQueries: [[String]] = [
        [],  // PRES-5
        (0...256).map { "u\($0)" },  // PRES-5: 257 ids
        ["bob", ""],  // PRES-6
        ["null"],
        ["bad/id"],
        [String(repeating: "u", count: 65)],
    ]

    @Test(arguments: invalidQueries)
    func invalidQuery(peers: [String]) async throws {  // PRES-5, PRES-6, PRES-7
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let response = await alice.query(peers)
        #expect(response.result == .invalidArgument)
        #expect(response.statuses.isEmpty)
    }

    @Test func queryOfExactlyTheLimit() async throws {  // PRES-5, LIM-3
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let peers = (0..<256).map { "u\($0)" }
        let response = await alice.query(peers)
        #expect(response.result == .ok)
        #expect(response.statuses.map(\.peerID) == peers)
    }

    @Test func queryNotLoggedIn() async throws {  // PRES-2, PRES-3
        let h = try EngineHarness()
        let client = await h.connect()
        let response = await client.query([])
        #expect(response.result == .userNotLoggedIn)
        #expect(response.statuses.isEmpty)
    }

    @Test func queryTooOften() async throws {  // PRES-2, PRES-4, LIM-5
        let h = try EngineHarness { $0.rateLimits[.queryPresence] = RateLimitValue(count: 2, windowMs: 5000) }
        let alice = await h.login("alice")
        #expect(await alice.query([]).result == .invalidArgument)  // counts
        #expect(await alice.query(["bob"]).result == .ok)
        let refused = await alice.query([])
        #expect(refused.result == .tooOften)  // before the arguments
        #expect(refused.statuses.isEmpty)
        await h.advance(by: 5000)
        #expect(await alice.query(["bob"]).result == .ok)
    }

    // MARK: - Subscribe (§7.3)

    @Test func subscribeSendsInitialStates() async throws {  // PRES-14, PRES-17, PRES-19, PRES-26, PRES-1
        let h = try EngineHarness()
        let alice = await h.login("alice")
        _ = await h.login("bob")
        let carol = await h.login("carol")
        await h.advance(by: 6000)
        await alice.ping()
        await carol.ping()
        _ = alice.drain()
        // bob has been quiet for 6000 ms: UNREACHABLE; carol pinged: ONLINE; dave never logged in: OFFLINE.
        let id = await alice.send(
            Herald_V1_SubscribePeersOnlineStatusRequest.with {
                $0.peerIds = ["carol", "bob", "dave", "carol", "alice"]
            }
        )
        let frames = alice.drain()
        #expect(frames.map(\.opcode) == [.subscribePeersOnlineStatusResponse, .peersOnlineStatusChanged])
        #expect(frames[0].requestID == id)
        #expect(try frames[0].decodeMessage(as: Herald_V1_SubscribePeersOnlineStatusResponse.self).result == .ok)
        let event = try frames[1].decodeMessage(as: Herald_V1_PeersOnlineStatusChanged.self)
        #expect(
            event.statuses == [
                status("carol", .online), status("bob", .unreachable), status("dave", .offline),
                status("alice", .online),
            ]
        )
        #expect(event.seq == 1)
        #expect(frames[1].flags.isEmpty && frames[1].requestID == 0)
    }

    @Test func subscribingAgainAddsNothing() async throws {  // PRES-17, PRES-18
        let h = try EngineHarness()
        let alice = await h.login("alice")
        #expect(await alice.subscribe(["bob", "carol"]) == .ok)
        #expect(alice.changes() == [[status("bob", .offline), status("carol", .offline)]])
        #expect(await alice.subscribe(["carol", "bob", "bob"]) == .ok)
        alice.expectNothing()
        #expect(await alice.subscribe(["bob", "dave"]) == .ok)
        #expect(alice.changes() == [[status("dave", .offline)]])
    }

    static let invalidSubscriptions: [([String], Herald_V1_PeerSubscriptionOption)] = [
        ([], .onlineStatus),
        (["bob", ""], .onlineStatus),
        (["null"], .onlineStatus),
        (["bob"], .UNRECOGNIZED(1)),
    ]

    @Test(arguments: invalidSubscriptions)
    func invalidSubscribe(peers: [String], option: Herald_V1_PeerSubscriptionOption) async throws {
        // PRES-13, PRES-16
        let h = try EngineHarness()
        let alice = await h.login("alice")
        #expect(await alice.subscribe(peers, option: option) == .invalidArgument)
        alice.expectNothing()
        #expect(await alice.subscriptions().peerIds.isEmpty)
        #expect(await alice.unsubscribe(peers, option: option) == .invalidArgument)
    }

    @Test func subscriptionOverflow() async throws {  // PRES-15, PRES-16, LIM-3
        let h = try EngineHarness { $0.limits.maxSubscriptions = 3 }
        let alice = await h.login("alice")
        #expect(await alice.subscribe(["a", "b"]) == .ok)
        _ = alice.drain()
        #expect(await alice.subscribe(["b", "c", "d"]) == .overflow)
        alice.expectNothing()
        #expect(await alice.subscriptions().peerIds == ["a", "b"])
        #expect(await alice.subscribe(["a", "c", "c", "b"]) == .ok)  // exactly 3 distinct
        #expect(alice.changes() == [[status("c", .offline)]])
        #expect(await alice.subscribe(["a", "b", "c"]) == .ok)
        #expect(await alice.subscribe(["e"]) == .overflow)
    }

    @Test func subscribeNotLoggedInAndTooOften() async throws {  // PRES-10, PRES-11, PRES-12
        let h = try EngineHarness { $0.rateLimits[.subscription] = RateLimitValue(count: 3, windowMs: 5000) }
        let client = await h.connect()
        #expect(await client.subscribe(["bob"]) == .userNotLoggedIn)
        #expect(await client.unsubscribe(["bob"]) == .userNotLoggedIn)
        #expect(await client.subscriptions().result == .userNotLoggedIn)
        let alice = await h.login("alice")
        // The three operations share one class.
        #expect(await alice.subscribe(["bob"]) == .ok)
        #expect(await alice.unsubscribe(["carol"]) == .ok)
        #expect(await alice.subscriptions().result == .ok)
        #expect(await alice.subscribe([]) == .tooOften)
        #expect(await alice.unsubscribe(["bob"]) == .tooOften)
        let listing = await alice.subscriptions(option: .UNRECOGNIZED(4))
        #expect(listing.result == .tooOften)
        #expect(listing.peerIds.isEmpty)
        _ = alice.drain()
        await h.advance(by: 5000)
        #expect(await alice.subscriptions().peerIds == ["bob"])
    }

    // MARK: - Change events (§7.4)

    @Test func loginLogoutAndDisconnectAreReported() async throws {  // PRES-20, PRES-21, SES-33
        let h = try EngineHarness()
        let alice = await h.login("alice")
        #expect(await alice.subscribe(["bob"]) == .ok)
        #expect(alice.changes() == [[status("bob", .offline)]])
        let bob = await h.login("bob")
        #expect(alice.changes() == [[status("bob", .online)]])
        _ = await bob.request(Herald_V1_LogoutRequest(), expecting: Herald_V1_LogoutResponse.self)
        #expect(alice.changes() == [[status("bob", .offline)]])
        let bob2 = await h.login("bob")
        #expect(alice.changes() == [[status("bob", .online)]])
        await bob2.drop()
        let events = alice.all(Herald_V1_PeersOnlineStatusChanged.self)
        #expect(events.map(\.statuses) == [[status("bob", .offline)]])
        #expect(events.first?.seq == 5)  // PRES-26: the fifth event of alice's user stream
        _ = bob
    }

    @Test func banIsReportedOffline() async throws {  // SES-33
        let h = try EngineHarness()
        let alice = await h.login("alice")
        _ = await h.login("bob")
        #expect(await alice.subscribe(["bob"]) == .ok)
        _ = alice.drain()
        await h.engine.ban(UserKey(appID: testAppID, userID: "bob"))
        #expect(alice.changes() == [[status("bob", .offline)]])
    }

    @Test func tokenExpiryIsReportedOffline() async throws {  // SES-33
        let h = try EngineHarness()
        let seconds = h.now / 1000
        func login(_ user: String, lifetime: Int64) async throws -> TestClient {
            let client = await h.connect()
            let token = try await TokenMinter.mint(
                appID: "strict",
                userID: user,
                secret: testSecret,
                issuedAt: seconds,
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
            _ = client.drain()
            return client
        }
        let alice = try await login("alice", lifetime: 3600)
        _ = try await login("bob", lifetime: 20)
        #expect(await alice.subscribe(["bob"]) == .ok)
        #expect(alice.changes() == [[status("bob", .online)]])
        for _ in 0..<4 {
            await h.advance(by: 5000)
            await alice.ping()
        }
        // bob went quiet after 6 s, and his token expired after 20 s.
        #expect(alice.changes() == [[status("bob", .unreachable)], [status("bob", .offline)]])
    }

    @Test func silenceMakesUnreachableAndAnyFrameOnlineAgain() async throws {  // PRES-1, PRES-20, PRES-24
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        #expect(await alice.subscribe(["bob"]) == .ok)
        #expect(alice.changes() == [[status("bob", .online)]])
        await h.advance(by: 3000)
        await bob.ping()  // restarts the 6000 ms of silence
        await h.advance(by: 5999)
        alice.expectNothing()
        await h.advance(by: 1)
        #expect(alice.changes() == [[status("bob", .unreachable)]])
        await h.advance(by: 2000)
        alice.expectNothing()  // PRES-21: reported once
        await bob.send(Herald_V1_DeliveryAck(), requestID: 999)  // any frame, even one that is refused
        _ = bob.drain()
        #expect(alice.changes() == [[status("bob", .online)]])
        await h.advance(by: 5999)
        alice.expectNothing()
        await h.advance(by: 1)
        #expect(alice.changes() == [[status("bob", .unreachable)]])
    }

    @Test func subscribingToAQuietUserReportsUnreachableOnce() async throws {  // PRES-17, PRES-21
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        await h.advance(by: 7000)
        #expect(await alice.subscribe(["bob"]) == .ok)
        #expect(alice.changes() == [[status("bob", .unreachable)]])
        await h.advance(by: 1000)
        alice.expectNothing()
        await bob.ping()
        #expect(alice.changes() == [[status("bob", .online)]])
    }

    @Test func remoteLoginIsNotReportedOffline() async throws {  // PRES-25, SES-23
        let h = try EngineHarness()
        let alice = await h.login("alice")
        _ = await h.login("bob")
        #expect(await alice.subscribe(["bob"]) == .ok)
        _ = alice.drain()
        _ = await h.login("bob")
        alice.expectNothing()
        await h.advance(by: 6000)
        await alice.ping()
        #expect(alice.changes() == [[status("bob", .unreachable)]])
        _ = await h.login("bob")  // the new session's connection has just sent a frame
        #expect(alice.changes() == [[status("bob", .online)]])
    }

    @Test func severalSubscribersEachGetTheirOwnSeq() async throws {  // PRES-20, PRES-26
        let h = try EngineHarness()
        let alice = await h.login("alice")
        let carol = await h.login("carol")
        #expect(await alice.subscribe(["bob"]) == .ok)
        #expect(await carol.subscribe(["dave"]) == .ok)
        #expect(await carol.subscribe(["bob"]) == .ok)
        _ = alice.drain()
        _ = carol.drain()
        _ = await h.login("bob")
        let forAlice = alice.all(Herald_V1_PeersOnlineStatusChanged.self)
        let forCarol = carol.all(Herald_V1_PeersOnlineStatusChanged.self)
        #expect(forAlice.map(\.statuses) == [[status("bob", .online)]])
        #expect(forCarol.map(\.statuses) == [[status("bob", .online)]])
        #expect(forAlice.map(\.seq) == [2])
        #expect(forCarol.map(\.seq) == [3])
    }

    // MARK: - Unsubscribe and listing (§7.5)

    @Test func unsubscribeStopsEvents() async throws {  // PRES-27, PRES-28
        let h = try EngineHarness()
        let alice = await h.login("alice")
        #expect(await alice.subscribe(["bob", "carol"]) == .ok)
        _ = alice.drain()
        #expect(await alice.unsubscribe(["bob", "zed", "bob"]) == .ok)
        _ = await h.login("bob")
        _ = await h.login("carol")
        #expect(alice.changes() == [[status("carol", .online)]])
        #expect(await alice.subscriptions().peerIds == ["carol"])
        #expect(await alice.subscribe(["bob"]) == .ok)  // subscribed again
        #expect(alice.changes() == [[status("bob", .online)]])
    }

    @Test func listingIsOrderedByLastAddition() async throws {  // PRES-31
        let h = try EngineHarness()
        let alice = await h.login("alice")
        #expect(await alice.subscribe(["c", "a"]) == .ok)
        #expect(await alice.subscribe(["b", "a"]) == .ok)
        #expect(await alice.unsubscribe(["c"]) == .ok)
        #expect(await alice.subscribe(["c"]) == .ok)
        let listing = await alice.subscriptions()
        #expect(listing.result == .ok)
        #expect(listing.peerIds == ["a", "b", "c"])
    }

    @Test func listingWithUnknownOptionIsFailure() async throws {  // PRES-30, PRES-33
        let h = try EngineHarness()
        let alice = await h.login("alice")
        #expect(await alice.subscribe(["bob"]) == .ok)
        let listing = await alice.subscriptions(option: .UNRECOGNIZED(2))
        #expect(listing.result == .failure)
        #expect(listing.peerIds.isEmpty)
    }

    // MARK: - Lifetime (§7.6)

    @Test func subscriptionsEndWithTheSession() async throws {  // PRES-32, SES-24, SES-29
        let h = try EngineHarness()
        let alice = await h.login("alice")
        #expect(await alice.subscribe(["bob"]) == .ok)
        _ = await alice.request(Herald_V1_LogoutRequest(), expecting: Herald_V1_LogoutResponse.self)
        _ = alice.drain()
        _ = await alice.request(
            Herald_V1_LoginRequest.with {
                $0.appID = testAppID
                $0.userID = "alice"
            },
            expecting: Herald_V1_LoginResponse.self
        )
        _ = alice.drain()
        #expect(await alice.subscriptions().peerIds.isEmpty)
        _ = await h.login("bob")
        alice.expectNothing()
        // A remote login also starts empty.
        #expect(await alice.subscribe(["bob"]) == .ok)
        let alice2 = await h.login("alice")
        #expect(await alice2.subscriptions().peerIds.isEmpty)
    }

    @Test func endedSubscriberIsNoLongerWatching() async throws {  // PRES-32, SES-29
        let h = try EngineHarness()
        let alice = await h.login("alice")
        #expect(await alice.subscribe(["bob"]) == .ok)
        await alice.drop()
        let carol = await h.login("carol")
        #expect(await carol.subscribe(["bob"]) == .ok)
        _ = carol.drain()
        _ = await h.login("bob")
        #expect(carol.changes() == [[status("bob", .online)]])
    }
}

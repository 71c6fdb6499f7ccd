import Foundation
import HeraldClient
import HeraldEngine
import HeraldServer
import Logging
import Testing

let liveAppID = "client-tests"
let liveSecret = Array("herald-client-tests-secret-0123456789".utf8)

/// The reference server on loopback port 0 (TCP and WebSocket), tokenless logins allowed.
func liveConfiguration(
    tokenless: Bool = true,
    _ configure: (inout HeraldServerConfiguration) -> Void = { _ in }
) -> HeraldServerConfiguration {
    let app = AppCredentials(appID: liveAppID, secrets: [liveSecret], allowsTokenlessLogin: tokenless)
    var configuration = HeraldServerConfiguration(engine: EngineConfiguration(apps: [app]))
    // The suite runs beside every other on two cores; no test here is about the handshake timeout.
    configuration.engine.timers.handshakeTimeoutMs = 60_000
    configuration.tcp = ListenAddress(host: "127.0.0.1", port: 0)
    configuration.webSocket = ListenAddress(host: "127.0.0.1", port: 0)
    configure(&configuration)
    return configuration
}

func quietLogger() -> Logger {
    var logger = Logger(label: "herald.client.tests")
    logger.logLevel = .critical
    return logger
}

/// Runs `body` with the address of a live server's `scheme` listener.
func withLiveServer(
    _ scheme: ServerAddress.Scheme,
    _ configuration: HeraldServerConfiguration = liveConfiguration(),
    _ body: (ServerAddress) async throws -> Void
) async throws {
    try await HeraldServer.withRunningServer(configuration: configuration, logger: quietLogger()) { _, listeners in
        let transport: HeraldTransport = scheme == .ws ? .ws : .tcp
        guard let listener = listeners.first(where: { $0.transport == transport }) else {
            throw HarnessFailure("no \(transport) listener")
        }
        try await body(ServerAddress(scheme: scheme, host: listener.host, port: listener.port))
    }
}

/// A client of the live server, with its events recorded.
func liveClient(
    _ address: ServerAddress,
    _ user: String,
    token: String = ""
) async throws -> (
    HeraldClient, EventRecorder
) {
    var configuration = HeraldClient.Configuration(address: address, appID: liveAppID)
    // A CI machine running every suite at once can stall a test for seconds; the answer still comes.
    configuration.requestTimeoutMs = 30_000
    let client = HeraldClient(configuration: configuration)
    let recorder = await EventRecorder(client)
    try await client.login(userID: user, token: token)
    return (client, recorder)
}

/// Every operation between two and three clients of the reference server, over TCP and WebSocket.
@Suite(.serialized) struct LiveClientTests {
    @Test(arguments: [ServerAddress.Scheme.tcp, .ws])
    func peerMessagesAndPresence(scheme: ServerAddress.Scheme) async throws {
        try await withLiveServer(scheme) { address in
            let (alice, _) = try await liveClient(address, "alice")
            let (bob, bobEvents) = try await liveClient(address, "bob")
            // ACK_MODE_PEER: the send returns once bob's client has the message.
            let sent = try await alice.send(HeraldMessage(text: "hello bob"), toPeer: "bob")
            #expect(sent.messageID != 0)
            let received = try await bobEvents.next("peer message") { event -> ReceivedPeerMessage? in
                if case .peerMessage(let message) = event { return message }
                return nil
            }
            #expect(received.fromUserID == "alice")
            #expect(received.message == HeraldMessage(text: "hello bob"))
            #expect(received.messageID == sent.messageID)
            let raw = HeraldMessage(raw: Data([0, 1, 2, 255]), description: "bytes")
            try await alice.send(raw, toPeer: "bob", options: PeerMessageOptions(ackMode: .server))
            let rawReceived = try await bobEvents.next("raw message") { event -> HeraldMessage? in
                if case .peerMessage(let message) = event { return message.message }
                return nil
            }
            #expect(rawReceived == raw)

            // An offline peer: unreachable without offline messaging, cached with it.
            let unreachable = await #expect(throws: HeraldClientError.self) {
                try await alice.send(HeraldMessage(text: "x"), toPeer: "carol")
            }
            #expect(unreachable?.result?.name == "PEER_MESSAGE_RESULT_PEER_UNREACHABLE")
            #expect(unreachable?.result?.value == 3)
            let cached = try await alice.send(
                HeraldMessage(text: "for later"),
                toPeer: "carol",
                options: PeerMessageOptions(enableOfflineMessaging: true)
            )
            #expect(cached.cachedByServer)
            let (carol, carolEvents) = try await liveClient(address, "carol")
            let offline = try await carolEvents.next("offline message") { event -> ReceivedPeerMessage? in
                if case .peerMessage(let message) = event { return message }
                return nil
            }
            #expect(offline.isOffline)
            #expect(offline.message.text == "for later")

            // Presence: query, subscribe, and see a logout.
            let states = try await alice.queryPeersOnlineStatus(["bob", "nobody"])
            #expect(states == ["bob": .online, "nobody": .offline])
            try await alice.subscribePeersOnlineStatus(["carol"])
            #expect(try await alice.querySubscribedPeers() == ["carol"])
            let aliceEvents = await EventRecorder(alice)
            try await carol.logout()
            #expect(await carol.connectionState == .disconnected)
            let change = try await aliceEvents.next("presence change") { event -> [String: PeerOnlineState]? in
                if case .peersOnlineStatusChanged(let states) = event { return states }
                return nil
            }
            #expect(change["carol"] == .offline)
            try await alice.unsubscribePeersOnlineStatus(["carol"])
            #expect(try await alice.querySubscribedPeers().isEmpty)

            // User attributes.
            try await alice.setLocalUserAttributes([Attribute(key: "mood", value: "happy")])
            try await alice.addOrUpdateLocalUserAttributes([Attribute(key: "city", value: "Oslo")])
            #expect(
                try await bob.userAttributes(of: "alice").sorted { $0.key < $1.key }.map(\.key) == ["city", "mood"]
            )
            #expect(
                try await bob.userAttributes(of: "alice", keys: ["city"]) == [Attribute(key: "city", value: "Oslo")]
            )
            try await alice.deleteLocalUserAttributes(keys: ["city"])
            #expect(try await alice.userAttributes() == [Attribute(key: "mood", value: "happy")])
            try await alice.clearLocalUserAttributes()
            #expect(try await alice.userAttributes().isEmpty)

            await alice.close()
            await bob.close()
            await carol.close()
            // A closed client refuses work with a typed error.
            let closed = await #expect(throws: HeraldClientError.self) {
                try await alice.send(HeraldMessage(text: "x"), toPeer: "bob")
            }
            #expect(closed?.code == .notLoggedIn)
        }
    }

    @Test(arguments: [ServerAddress.Scheme.tcp, .ws])
    func channelsMembersMessagesAndAttributes(scheme: ServerAddress.Scheme) async throws {
        try await withLiveServer(scheme) { address in
            let (alice, aliceEvents) = try await liveClient(address, "alice")
            let (bob, bobEvents) = try await liveClient(address, "bob")
            let aliceRoom = alice.channel("room")
            let roomEvents = await aliceRoom.events()
            try await aliceRoom.join(legacyMemberList: true)
            #expect(await aliceRoom.isJoined)
            #expect(await alice.joinedChannels == ["room"])
            #expect(await alice.welcome?.capabilities.contains("channels") == true)
            // The legacy member list and the member count follow the join, in the channel's own stream.
            var roomIterator = roomEvents.makeAsyncIterator()
            guard case .memberCountUpdated("room", let count) = await roomIterator.next() else {
                throw HarnessFailure("no member count after the join")
            }
            #expect(count == 1)
            guard case .channelMemberList("room", let listed) = await roomIterator.next() else {
                throw HarnessFailure("no member list after a join with legacyMemberList")
            }
            #expect(listed == ["alice"])
            let bobRoom = bob.channel("room")
            try await bobRoom.join()
            let joined = try await aliceEvents.next("member joined") { event -> String? in
                if case .memberJoined("room", let user) = event { return user }
                return nil
            }
            #expect(joined == "bob")
            #expect(try await aliceRoom.members().sorted() == ["alice", "bob"])
            #expect(try await alice.channelMemberCounts(["room", "empty"]) == ["room": 2, "empty": 0])

            let sent = try await bobRoom.send(HeraldMessage(text: "hi room"))
            let message = try await aliceEvents.next("channel message") { event -> ReceivedChannelMessage? in
                if case .channelMessage(let message) = event { return message }
                return nil
            }
            #expect(message.channelID == "room")
            #expect(message.fromUserID == "bob")
            #expect(message.messageID == sent.messageID)

            try await alice.setChannelAttributes(
                [Attribute(key: "topic", value: "cats")],
                of: "room",
                options: ChannelAttributeOptions(notifyMembers: true)
            )
            let update = try await bobEvents.next("attributes") { event -> [ChannelAttribute]? in
                if case .channelAttributesUpdated("room", let attributes, _, _, _) = event { return attributes }
                return nil
            }
            #expect(update.map(\.key) == ["topic"])
            #expect(update.first?.lastUpdatedBy == "alice")
            #expect(update.first.map { $0.lastUpdatedMs > 0 } == true)
            try await alice.addOrUpdateChannelAttributes([Attribute(key: "mood", value: "calm")], of: "room")
            #expect(try await bob.channelAttributes(of: "room").map(\.key).sorted() == ["mood", "topic"])
            #expect(try await bob.channelAttributes(of: "room", keys: ["mood"]).map(\.value) == ["calm"])
            try await alice.deleteChannelAttributes(keys: ["mood"], of: "room")
            #expect(try await bob.channelAttributes(of: "room").map(\.key) == ["topic"])
            try await alice.clearChannelAttributes(of: "room")
            #expect(try await bob.channelAttributes(of: "room").isEmpty)

            // The legacy Signaling surface: a message from outside, and the channel-users query.
            let (carol, _) = try await liveClient(address, "carol")
            try await carol.sendChannelMessageFromOutside(HeraldMessage(text: "knock"), to: "room")
            let outside = try await aliceEvents.next("message from outside") { event -> String? in
                if case .channelMessage(let message) = event, message.fromUserID == "carol" {
                    return message.message.text
                }
                return nil
            }
            #expect(outside == "knock")
            let users = try await carol.queryChannelUsers("room", userID: "bob")
            #expect(users.memberCount == 2)
            #expect(users.isMember)
            #expect(users.userIDs.isEmpty)  // LEG-24: the list only for an empty user id
            #expect(try await carol.queryChannelUsers("room").userIDs.sorted() == ["alice", "bob"])

            try await bobRoom.leave()
            let left = try await aliceEvents.next("member left") { event -> MemberLeftReason? in
                if case .memberLeft("room", "bob", let reason) = event { return reason }
                return nil
            }
            #expect(left == .quit)
            let notIn = await #expect(throws: HeraldClientError.self) {
                try await bobRoom.send(HeraldMessage(text: "x"))
            }
            #expect(notIn?.result?.name == "CHANNEL_MESSAGE_RESULT_NOT_IN_CHANNEL")
            await alice.close()
            await bob.close()
            await carol.close()
        }
    }

    @Test(arguments: [ServerAddress.Scheme.tcp, .ws])
    func invitationLifecycleOnBothSides(scheme: ServerAddress.Scheme) async throws {
        try await withLiveServer(scheme) { address in
            let (alice, aliceEvents) = try await liveClient(address, "alice")
            let (bob, bobEvents) = try await liveClient(address, "bob")
            let invitation = alice.callManager.createLocalInvitation(calleeID: "bob", channelID: "call")
            invitation.content = "ring ring"
            try await alice.callManager.send(invitation)
            let remote = try await bobEvents.next("invitation") { event -> RemoteInvitation? in
                if case .remoteInvitation(let invitation, .invitationReceived) = event { return invitation }
                return nil
            }
            #expect(remote.callerID == "alice")
            #expect(remote.content == "ring ring")
            _ = try await aliceEvents.next("received by peer") { event -> Bool? in
                if case .localInvitation(_, .receivedByRemote) = event { return true }
                return nil
            }
            remote.response = "on my way"
            try await bob.callManager.accept(remote)
            let accepted = try await aliceEvents.next("accepted") { event -> LocalInvitation? in
                if case .localInvitation(let invitation, .acceptedByRemote) = event { return invitation }
                return nil
            }
            #expect(accepted === invitation)
            #expect(invitation.response == "on my way")
            _ = try await bobEvents.next("accepted on the callee side") { event -> Bool? in
                if case .remoteInvitation(_, .accepted) = event { return true }
                return nil
            }
            #expect(remote.state == .accepted)

            // Refused, and canceled.
            let second = alice.callManager.createLocalInvitation(calleeID: "bob")
            try await alice.callManager.send(second)
            let secondRemote = try await bobEvents.next("second invitation") { event -> RemoteInvitation? in
                if case .remoteInvitation(let invitation, .invitationReceived) = event { return invitation }
                return nil
            }
            try await bob.callManager.refuse(secondRemote)
            _ = try await aliceEvents.next("refused") { event -> Bool? in
                if case .localInvitation(_, .refusedByRemote) = event { return true }
                return nil
            }
            #expect(secondRemote.state == .refused)
            let third = alice.callManager.createLocalInvitation(calleeID: "bob")
            try await alice.callManager.send(third)
            let thirdRemote = try await bobEvents.next("third invitation") { event -> RemoteInvitation? in
                if case .remoteInvitation(let invitation, .invitationReceived) = event { return invitation }
                return nil
            }
            try await alice.callManager.cancel(third)
            _ = try await bobEvents.next("canceled") { event -> Bool? in
                if case .remoteInvitation(_, .canceled) = event { return true }
                return nil
            }
            #expect(thirdRemote.state == .canceled)
            #expect(third.state == .canceled)

            // A callee who is offline, with require_peer_online: the invitation fails at once.
            let offline = alice.callManager.createLocalInvitation(calleeID: "nobody")
            try await alice.callManager.send(offline, requirePeerOnline: true)
            _ = try await aliceEvents.next("failure") { event -> Bool? in
                if case .localInvitation(let invitation, .failure) = event, invitation === offline { return true }
                return nil
            }
            #expect(offline.error == .peerOffline)
            #expect(offline.isEnded)

            // DTMF of the legacy surface.
            try await alice.sendDTMF("123#", to: "bob", channelID: "call")
            let dtmf = try await bobEvents.next("dtmf") { event -> String? in
                if case .invitationMessage(_, "alice", let data, _) = event { return data }
                return nil
            }
            #expect(dtmf == "123#")
            await alice.close()
            await bob.close()
        }
    }

    /// A token that warns at once and is renewed with a minute to spare, so that no step races a busy machine. How the
    /// client takes an expiry is tested against a scripted server (`aTokenExpiryAbortsWithoutReconnecting`).
    @Test func tokenRenewal() async throws {
        let configuration = liveConfiguration(tokenless: false) { $0.engine.timers.tokenWillExpireLeadMs = 59_000 }
        try await withLiveServer(.tcp, configuration) { address in
            let now = Int64(Date().timeIntervalSince1970)
            func token(_ user: String, _ seconds: Int64) async throws -> String {
                try await TokenMinter.mint(
                    appID: liveAppID,
                    userID: user,
                    secret: liveSecret,
                    issuedAt: now,
                    lifetimeSeconds: seconds
                )
            }
            let (alice, aliceEvents) = try await liveClient(address, "alice", token: try await token("alice", 60))
            #expect(await alice.tokenExpiresMs == (now + 60) * 1000)
            let warned = try await aliceEvents.next("will expire") { event -> Int64? in
                if case .tokenPrivilegeWillExpire(let expires) = event { return expires }
                return nil
            }
            #expect(warned == (now + 60) * 1000)
            let renewed = try await alice.renewToken(try await token("alice", 120))
            #expect(renewed == (now + 120) * 1000)
            #expect(await alice.tokenExpiresMs == (now + 120) * 1000)

            #expect(await alice.connectionState == .connected)
            await alice.close()
        }
    }

    /// A 2-second token expires in a live session. On a machine so busy that it has expired before the login is
    /// processed, the login fails with `LOGIN_RESULT_TOKEN_EXPIRED` (6) instead: either way the expiry reaches the app
    /// as the spec says, and nothing waits on the machine's speed.
    @Test func tokenExpiry() async throws {
        try await withLiveServer(.tcp, liveConfiguration(tokenless: false)) { address in
            let token = try await TokenMinter.mint(
                appID: liveAppID,
                userID: "bob",
                secret: liveSecret,
                issuedAt: Int64(Date().timeIntervalSince1970),
                lifetimeSeconds: 2
            )
            var configuration = HeraldClient.Configuration(address: address, appID: liveAppID)
            configuration.requestTimeoutMs = 30_000
            let bob = HeraldClient(configuration: configuration)
            let events = await EventRecorder(bob)
            do {
                try await bob.login(userID: "bob", token: token)
            } catch {
                #expect((error as? HeraldClientError)?.result?.value == 6)
                return
            }
            let reason = try await events.next("aborted") { event -> ConnectionChangeReason? in
                if case .connectionStateChanged(.aborted, let reason) = event { return reason }
                return nil
            }
            #expect(reason == .tokenExpired)
            let refused = await #expect(throws: HeraldClientError.self) {
                try await bob.send(HeraldMessage(text: "x"), toPeer: "alice")
            }
            #expect(refused?.code == .notLoggedIn)
            await bob.close()
        }
    }

    @Test func reconnectsAfterAServerRestartAndRejoins() async throws {
        let first = liveConfiguration { $0.webSocket = nil }
        var port = 0
        var configuration = HeraldClient.Configuration(
            address: ServerAddress(scheme: .tcp, host: "127.0.0.1"),
            appID: liveAppID
        )
        configuration.reconnectInitialDelayMs = 50
        configuration.reconnectMaximumDelayMs = 200
        var clientBox: (HeraldClient, EventRecorder)?
        try await HeraldServer.withRunningServer(configuration: first, logger: quietLogger()) { _, listeners in
            port = listeners[0].port
            configuration.address = ServerAddress(scheme: .tcp, host: "127.0.0.1", port: port)
            let client = HeraldClient(configuration: configuration)
            let events = await EventRecorder(client)
            try await client.login(userID: "alice")
            try await client.channel("room").join()
            try await client.subscribePeersOnlineStatus(["bob"])
            clientBox = (client, events)
        }
        let (client, events) = try #require(clientBox)
        // The server shut down (Disconnect SERVER_SHUTDOWN): the client reconnects when it is back.
        _ = try await events.next("reconnecting") { event -> Bool? in
            if case .connectionStateChanged(.reconnecting, .interrupted) = event { return true }
            return nil
        }
        let pending = await #expect(throws: HeraldClientError.self) {
            try await client.send(HeraldMessage(text: "x"), toPeer: "bob")
        }
        #expect(pending?.code == .notLoggedIn)
        let second = liveConfiguration {
            $0.webSocket = nil
            $0.tcp = ListenAddress(host: "127.0.0.1", port: port)
        }
        try await HeraldServer.withRunningServer(configuration: second, logger: quietLogger()) { _, _ in
            let restoration = try await events.next("restored") { event -> Restoration? in
                if case .restored(let restoration) = event { return restoration }
                return nil
            }
            #expect(!restoration.resumed)
            #expect(restoration.rejoinedChannels == ["room"])
            #expect(restoration.lostChannels.isEmpty)
            #expect(restoration.subscriptionsRestored)
            #expect(await client.connectionState == .connected)
            #expect(try await client.channel("room").members() == ["alice"])
            #expect(try await client.querySubscribedPeers() == ["bob"])
            await client.close()
        }
    }
}

import HeraldClient
import HeraldMessages
import HeraldWire
import NIOCore
import Synchronization
import Testing

/// The client's protocol duties against a scripted server and a manual clock: nothing here sleeps.
@Suite struct ClientProtocolTests {
    @Test func handshakeAndLoginSendWhatTheSpecAsks() async throws {
        let connector = ScriptedConnector()
        var configuration = HeraldClient.Configuration(address: ServerAddress(scheme: .tcp, host: "h"), appID: "app")
        configuration.clientName = "test-client"
        let client = HeraldClient(configuration: configuration, connector: connector, clock: ManualClientClock())
        let recorder = await EventRecorder(client)
        let login = Task { try await client.login(userID: "alice", token: "tok") }
        let server = try await connector.nextConnection()
        let hello = try await server.handshake()
        #expect(hello.versions == [1])
        #expect(hello.clientName == "test-client")
        #expect(hello.maxPayloadLength == 65536)
        let request = try await server.acceptLogin(sessionID: "s-1")
        #expect(request.appID == "app")
        #expect(request.userID == "alice")
        #expect(request.token == "tok")
        try await bounded(login)
        #expect(await client.connectionState == .connected)
        #expect(await client.sessionID == "s-1")
        let first = try await recorder.next("connecting") { event -> ConnectionState? in
            if case .connectionStateChanged(let state, _) = event { return state }
            return nil
        }
        #expect(first == .connecting)
        let second = try await recorder.next("connected") { event -> ConnectionChangeReason? in
            if case .connectionStateChanged(.connected, let reason) = event { return reason }
            return nil
        }
        #expect(second == .loginSuccess)
    }

    @Test func aFailedLoginThrowsItsResultWithAgorasNumber() async throws {
        let connector = ScriptedConnector()
        let client = HeraldClient(
            configuration: .init(address: ServerAddress(scheme: .tcp, host: "h"), appID: "app"),
            connector: connector,
            clock: ManualClientClock()
        )
        let login = Task { try await client.login(userID: "alice", token: "bad") }
        let server = try await connector.nextConnection()
        try await server.handshake()
        try await server.acceptLogin(result: .invalidToken)
        let error = await #expect(throws: HeraldClientError.self) { try await bounded(login) }
        #expect(error?.code == .operationFailed)
        #expect(error?.result == HeraldClientError.Result(name: "LOGIN_RESULT_INVALID_TOKEN", value: 5))
        #expect(await client.connectionState == .disconnected)
        #expect(await client.connectionChangeReason == .loginFailure)
        #expect(server.isClosed)
    }

    @Test func aWelcomeWithAnotherVersionClosesWithoutAnotherFrame() async throws {
        let connector = ScriptedConnector()
        let client = HeraldClient(
            configuration: .init(address: ServerAddress(scheme: .tcp, host: "h"), appID: "app"),
            connector: connector,
            clock: ManualClientClock()
        )
        let login = Task { try await client.login(userID: "alice") }
        let server = try await connector.nextConnection()
        try await server.handshake { $0.version = 2 }
        let error = await #expect(throws: HeraldClientError.self) { try await bounded(login) }
        #expect(error?.code == .handshakeFailed)
        #expect(server.isClosed)
        #expect(server.sent.isEmpty)  // HS-13: no LoginRequest
    }

    @Test func pingsAfterTheHeartbeatIntervalOfSilence() async throws {
        let (client, _, server, clock) = try await scriptedClient()
        clock.advance(byMs: 4999)
        await client.tick()
        #expect(server.sent.isEmpty)
        clock.advance(byMs: 1)
        await client.tick()
        let (frame, ping) = try await server.expect(Herald_V1_Ping.self)
        #expect(frame.requestID != 0)
        #expect(ping.clientTimeMs == clock.nowMs())
        // The Pong is consumed by the client, and another Ping follows only after another silent interval.
        var pong = Herald_V1_Pong()
        pong.clientTimeMs = ping.clientTimeMs
        try server.send(pong, requestID: frame.requestID)
        clock.advance(byMs: 4999)
        await client.tick()
        #expect(server.sent.isEmpty)
    }

    @Test func closesAConnectionThatStaysSilent() async throws {
        let (client, _, server, clock) = try await scriptedClient { $0.reconnects = false }
        let recorder = await EventRecorder(client)
        for _ in 0..<5 {
            clock.advance(byMs: 5000)
            await client.tick()
        }
        #expect(!server.isClosed)
        clock.advance(byMs: 5000)
        await client.tick()
        #expect(server.isClosed)  // HS-44 after idle_timeout_ms of silence
        let reason = try await recorder.next("disconnected") { event -> ConnectionChangeReason? in
            if case .connectionStateChanged(.disconnected, let reason) = event { return reason }
            return nil
        }
        #expect(reason == .interrupted)
    }

    @Test func aRequestWithoutAnswerTimesOut() async throws {
        let (client, _, server, clock) = try await scriptedClient()
        let sent = Task { try await client.send(HeraldMessage(text: "hi"), toPeer: "bob") }
        _ = try await server.expect(Herald_V1_SendPeerMessageRequest.self)
        clock.advance(byMs: 10_000)
        await client.tick()
        let error = await #expect(throws: HeraldClientError.self) { try await bounded(sent) }
        #expect(error?.code == .timeout)
    }

    @Test func responsesAreMatchedByRequestIDNotByOrder() async throws {
        let (client, _, server, _) = try await scriptedClient()
        let first = Task { try await client.send(HeraldMessage(text: "1"), toPeer: "bob") }
        let (frame1, _) = try await server.expect(Herald_V1_SendPeerMessageRequest.self)
        let second = Task { try await client.send(HeraldMessage(text: "2"), toPeer: "carol") }
        let (frame2, _) = try await server.expect(Herald_V1_SendPeerMessageRequest.self)
        #expect(frame1.requestID != frame2.requestID)  // HS-31
        var response = Herald_V1_SendPeerMessageResponse()
        response.messageID = 2
        try server.send(response, requestID: frame2.requestID)
        response.messageID = 1
        try server.send(response, requestID: frame1.requestID)
        #expect(try await bounded(first).messageID == 1)
        #expect(try await bounded(second).messageID == 2)
    }

    @Test func aProtocolErrorNamingTheRequestAnswersIt() async throws {
        let (client, _, server, _) = try await scriptedClient()
        let sent = Task { try await client.send(HeraldMessage(text: "hi"), toPeer: "bob") }
        let (frame, _) = try await server.expect(Herald_V1_SendPeerMessageRequest.self)
        var error = Herald_V1_ProtocolError()
        error.code = "malformed-payload"
        error.requestID = frame.requestID
        error.opcode = UInt32(frame.opcode.rawValue)
        try server.send(error)  // header request id 0 (HS-73)
        let thrown = await #expect(throws: HeraldClientError.self) { try await bounded(sent) }
        #expect(thrown?.code == .protocolError)
    }

    @Test func acknowledgesAnEventOnceTheAppHasIt() async throws {
        let (client, _, server, _) = try await scriptedClient()
        let recorder = await EventRecorder(client)
        var message = Herald_V1_PeerMessage()
        message.fromUserID = "bob"
        message.message.type = .text
        message.message.text = "hello"
        message.seq = 1
        try server.send(message, requestID: 77, flags: .ackRequired)
        let received = try await recorder.next("peer message") { event -> ReceivedPeerMessage? in
            if case .peerMessage(let message) = event { return message }
            return nil
        }
        #expect(received.fromUserID == "bob")
        #expect(received.message.text == "hello")
        let (frame, ack) = try await server.expect(Herald_V1_DeliveryAck.self)
        #expect(frame.requestID == 77)
        #expect(ack.result == .accepted)
        // A message type the client does not know is acknowledged as incompatible (HS-48), not handed over.
        message.message.type = Herald_V1_MessageType(rawValue: 9)!
        message.seq = 2
        try server.send(message, requestID: 78, flags: .ackRequired)
        let (frame2, ack2) = try await server.expect(Herald_V1_DeliveryAck.self)
        #expect(frame2.requestID == 78)
        #expect(ack2.result == .incompatible)
        // An event without ACK_REQUIRED gets no acknowledgement (HS-50).
        message.message.type = .text
        message.seq = 3
        try server.send(message)
        _ = try await recorder.next("third message") { event -> Bool? in
            if case .peerMessage = event { return true }
            return nil
        }
        #expect(server.sent.isEmpty)
    }

    @Test func aSeqGapIsReportedAndEndsTheConnection() async throws {
        let (client, _, server, _) = try await scriptedClient { $0.reconnects = false }
        let recorder = await EventRecorder(client)
        var message = Herald_V1_PeerMessage()
        message.fromUserID = "bob"
        message.message.type = .text
        message.seq = 1
        try server.send(message)
        message.seq = 3
        try server.send(message)
        let fault = try await recorder.next("protocol fault") { event -> String? in
            if case .protocolFault(let why) = event { return why }
            return nil
        }
        #expect(fault.contains("EXT-29"))
        #expect(server.isClosed)
    }

    @Test func malformedEventsEndTheConnection() async throws {
        let (client, _, server, _) = try await scriptedClient { $0.reconnects = false }
        let recorder = await EventRecorder(client)
        let header = HeraldFrameHeader(opcode: .peerMessage, requestID: 0, payloadLength: 2)
        server.deliver([HeraldFrame(header: header, payload: ByteBuffer(bytes: [0x0A, 0x05]))])
        let fault = try await recorder.next("protocol fault") { event -> String? in
            if case .protocolFault(let why) = event { return why }
            return nil
        }
        #expect(fault.contains("does not decode"))
        #expect(server.isClosed)
    }

    @Test func anUngrantedCapabilityIsRefusedWithoutSending() async throws {
        let connector = ScriptedConnector()
        let client = HeraldClient(
            configuration: .init(address: ServerAddress(scheme: .tcp, host: "h"), appID: "app"),
            connector: connector,
            clock: ManualClientClock()
        )
        let login = Task { try await client.login(userID: "alice") }
        let server = try await connector.nextConnection()
        try await server.handshake { $0.capabilities = ["core", "peer-messages"] }
        try await server.acceptLogin()
        try await bounded(login)
        let invitation = client.callManager.createLocalInvitation(calleeID: "bob")
        let error = await #expect(throws: HeraldClientError.self) { try await client.callManager.send(invitation) }
        #expect(error?.code == .capabilityNotGranted)
        #expect(server.sent.isEmpty)
    }

    @Test func aLostConnectionFailsRequestsReconnectsAndRejoins() async throws {
        let (client, connector, server, clock) = try await scriptedClient()
        let recorder = await EventRecorder(client)
        let joined = Task { try await client.channel("room").join() }
        let (joinFrame, _) = try await server.expect(Herald_V1_JoinChannelRequest.self)
        var joinResponse = Herald_V1_JoinChannelResponse()
        joinResponse.channelID = "room"
        try server.send(joinResponse, requestID: joinFrame.requestID)
        try await bounded(joined)
        // A query in flight fails; a message in flight is sent again after the reconnection, with its key.
        let query = Task { try await client.queryPeersOnlineStatus(["bob"]) }
        _ = try await server.expect(Herald_V1_QueryPeersOnlineStatusRequest.self)
        let sent = Task { try await client.send(HeraldMessage(text: "in flight"), toPeer: "bob") }
        let (firstSend, firstRequest) = try await server.expect(Herald_V1_SendPeerMessageRequest.self)
        #expect(firstRequest.idempotencyKey.count == 36)  // EXT-17: a random UUID
        server.drop()
        let error = await #expect(throws: HeraldClientError.self) { try await bounded(query) }
        #expect(error?.code == .connectionLost)
        _ = try await recorder.next("reconnecting") { event -> Bool? in
            if case .connectionStateChanged(.reconnecting, .interrupted) = event { return true }
            return nil
        }
        clock.advance(byMs: 600)  // past the first, jittered delay (250 to 500 ms)
        let second = try await connector.nextConnection()
        try await second.handshake()
        let login = try await second.acceptLogin(sessionID: "s2")
        #expect(login.userID == "alice")
        let (rejoin, request) = try await second.expect(Herald_V1_JoinChannelRequest.self)
        #expect(request.channelID == "room")
        try second.send(joinResponse, requestID: rejoin.requestID)
        let restoration = try await recorder.next("restored") { event -> Restoration? in
            if case .restored(let restoration) = event { return restoration }
            return nil
        }
        #expect(restoration.resumed == false)
        #expect(restoration.rejoinedChannels == ["room"])
        #expect(await client.connectionState == .connected)
        let (retryFrame, retry) = try await second.expect(Herald_V1_SendPeerMessageRequest.self)
        #expect(retry == firstRequest)  // EXT-18: identical, with the same key
        #expect(retryFrame.payload == firstSend.payload)
        var response = Herald_V1_SendPeerMessageResponse()
        response.messageID = 41
        try second.send(response, requestID: retryFrame.requestID)
        #expect(try await bounded(sent).messageID == 41)
        #expect(await client.retriedRequests == 1)
    }

    @Test func noReconnectionAfterARemoteLogin() async throws {
        let (client, connector, server, clock) = try await scriptedClient()
        let recorder = await EventRecorder(client)
        var disconnect = Herald_V1_Disconnect()
        disconnect.reason = .remoteLogin
        try server.send(disconnect)
        server.drop()
        let reason = try await recorder.next("aborted") { event -> ConnectionChangeReason? in
            if case .connectionStateChanged(.aborted, let reason) = event { return reason }
            return nil
        }
        #expect(reason == .remoteLogin)
        clock.advance(byMs: 60_000)
        await client.tick()
        #expect(await client.connectionState == .aborted)
        #expect(connector.connections.isEmpty)
        // HS-58: nothing was sent after the Disconnect.
        #expect(server.sent.isEmpty)
    }

    @Test func theCallersInvitationFollowsTheCallerStateMachine() async throws {
        let (client, _, server, _) = try await scriptedClient()
        let calls = client.callManager
        let invitation = calls.createLocalInvitation(calleeID: "bob", channelID: "call-1", invitationID: "inv-1")
        invitation.content = "ring"
        #expect(invitation.state == .idle)
        let sent = Task { try await calls.send(invitation) }
        let (frame, request) = try await server.expect(Herald_V1_SendInvitationRequest.self)
        #expect(request.invitationID == "inv-1")
        #expect(request.content == "ring")
        var response = Herald_V1_SendInvitationResponse()
        response.invitationID = "inv-1"
        var received = Herald_V1_LocalInvitationReceivedByPeer()
        received.invitationID = "inv-1"
        received.calleeID = "bob"
        received.seq = 1
        // The event follows the response in the same read: the state must still end up RECEIVED_BY_REMOTE.
        server.deliver([
            try HeraldFrame(requestID: frame.requestID, message: response),
            try HeraldFrame(message: received),
        ])
        try await bounded(sent)
        #expect(invitation.state == .receivedByRemote)
        var accepted = Herald_V1_LocalInvitationAccepted()
        accepted.invitationID = "inv-1"
        accepted.response = "yes"
        accepted.seq = 2
        try server.send(accepted, requestID: 9, flags: .ackRequired)
        let (ackFrame, _) = try await server.expect(Herald_V1_DeliveryAck.self)
        #expect(ackFrame.requestID == 9)
        #expect(invitation.state == .acceptedByRemote)
        #expect(invitation.response == "yes")
        // A final invitation cannot be sent again.
        let error = await #expect(throws: HeraldClientError.self) { try await calls.send(invitation) }
        #expect(error?.code == .invalidState)
    }

    @Test func theCalleesInvitationFailsWhenItExpires() async throws {
        let (client, _, server, _) = try await scriptedClient()
        let recorder = await EventRecorder(client)
        var received = Herald_V1_RemoteInvitationReceived()
        received.invitationID = "inv-9"
        received.callerID = "bob"
        received.content = "ring"
        received.seq = 1
        try server.send(received, requestID: 5, flags: .ackRequired)
        let invitation = try await recorder.next("invitation") { event -> RemoteInvitation? in
            if case .remoteInvitation(let invitation, .invitationReceived) = event { return invitation }
            return nil
        }
        #expect(invitation.callerID == "bob")
        #expect(invitation.content == "ring")
        var failure = Herald_V1_RemoteInvitationFailure()
        failure.invitationID = "inv-9"
        failure.error = .invitationExpire
        failure.seq = 2
        try server.send(failure)
        _ = try await recorder.next("failure") { event -> Bool? in
            if case .remoteInvitation(_, .failure) = event { return true }
            return nil
        }
        #expect(invitation.state == .failure)
        #expect(invitation.error == .invitationExpire)
        // Answering an ended invitation is the server's to refuse; the client still sends it.
        let answer = Task { try await client.callManager.accept(invitation) }
        let (frame, _) = try await server.expect(Herald_V1_DeliveryAck.self)
        #expect(frame.requestID == 5)
        let (acceptFrame, accept) = try await server.expect(Herald_V1_AcceptInvitationRequest.self)
        #expect(accept.invitationID == "inv-9")
        var response = Herald_V1_AcceptInvitationResponse()
        response.result = .alreadyEnd
        response.invitationID = "inv-9"
        try server.send(response, requestID: acceptFrame.requestID)
        let error = await #expect(throws: HeraldClientError.self) { try await bounded(answer) }
        #expect(error?.result == HeraldClientError.Result(name: "INVITATION_API_CALL_RESULT_ALREADY_END", value: 3))
    }

    /// A delegate that keeps what it is given.
    final class Collector: HeraldClientDelegate {
        let events = AwaitQueue<HeraldClientEvent>()
        func handle(_ event: HeraldClientEvent, from client: HeraldClient) async { self.events.push(event) }
    }

    @Test func aDelegateReceivesEveryEventAndFilteredStreamsTheirShare() async throws {
        let (client, _, server, _) = try await scriptedClient()
        let collector = Collector()
        await client.setDelegate(collector)
        let onlyTokens = await client.events(where: { event in
            if case .tokenPrivilegeWillExpire = event { return true }
            return false
        })
        var message = Herald_V1_PeerMessage()
        message.fromUserID = "bob"
        message.message.type = .text
        message.seq = 1
        try server.send(message)
        var warning = Herald_V1_TokenPrivilegeWillExpire()
        warning.tokenExpiresMs = 42
        try server.send(warning)
        guard case .peerMessage = await collector.events.next() else { throw HarnessFailure("no peer message") }
        guard case .tokenPrivilegeWillExpire(42) = await collector.events.next() else {
            throw HarnessFailure("no token warning")
        }
        var iterator = onlyTokens.makeAsyncIterator()
        guard case .tokenPrivilegeWillExpire(42) = await iterator.next() else {
            throw HarnessFailure("the filtered stream missed the token warning")
        }
        await client.setDelegate(nil)
        // The protocol's one requirement, called directly.
        await collector.handle(.protocolFault("direct"), from: client)
        guard case .protocolFault("direct") = await collector.events.next() else { throw HarnessFailure("lost") }
    }

    @Test func aRetryGivesUpAtTheRequestDeadline() async throws {
        let (client, connector, server, clock) = try await scriptedClient()
        let recorder = await EventRecorder(client)
        let sent = Task { try await client.send(HeraldMessage(text: "in flight"), toPeer: "bob") }
        _ = try await server.expect(Herald_V1_SendPeerMessageRequest.self)
        connector.refuse.withLock { $0 = true }
        server.drop()
        _ = try await recorder.next("reconnecting") { event -> Bool? in
            if case .connectionStateChanged(.reconnecting, _) = event { return true }
            return nil
        }
        // Reconnection attempts fail; the request ends with an error at its deadline, not never.
        for _ in 0..<25 {
            clock.advance(byMs: 500)
            await client.tick()
        }
        let error = await #expect(throws: HeraldClientError.self) { try await bounded(sent) }
        #expect(error?.code == .connectionLost)
        #expect(await client.connectionState == .reconnecting)
        await client.close()
    }

    @Test func anUnmatchedResponseIsIgnoredAndARequestFromTheServerIsAFault() async throws {
        let (client, _, server, _) = try await scriptedClient { $0.reconnects = false }
        let recorder = await EventRecorder(client)
        // A response nobody asked for (a late answer, say) changes nothing.
        try server.send(Herald_V1_SendPeerMessageResponse(), requestID: 999)
        let query = Task { try await client.querySubscribedPeers() }
        let (frame, _) = try await server.expect(Herald_V1_QueryPeersBySubscriptionOptionRequest.self)
        var response = Herald_V1_QueryPeersBySubscriptionOptionResponse()
        response.peerIds = ["bob"]
        try server.send(response, requestID: frame.requestID)
        #expect(try await bounded(query) == ["bob"])
        // A request kind of frame from the server is not something a client accepts (HS-38's mirror).
        var login = Herald_V1_LoginRequest()
        login.userID = "mallory"
        try server.send(login, requestID: 3)
        let fault = try await recorder.next("protocol fault") { event -> String? in
            if case .protocolFault(let why) = event { return why }
            return nil
        }
        #expect(fault.contains("request"))
        #expect(server.isClosed)
    }

    @Test func aResumedSessionKeepsItsStreamsAndReportsWhatItMissed() async throws {
        let connector = ScriptedConnector()
        let clock = ManualClientClock()
        let client = HeraldClient(
            configuration: .init(address: ServerAddress(scheme: .tcp, host: "h"), appID: "app"),
            connector: connector,
            clock: clock
        )
        let recorder = await EventRecorder(client)
        let login = Task { try await client.login(userID: "alice") }
        let server = try await connector.nextConnection()
        try await server.handshake()
        try await server.acceptLogin(sessionID: "s1", resumeHandle: "handle-1")
        try await bounded(login)
        var message = Herald_V1_PeerMessage()
        message.fromUserID = "bob"
        message.message.type = .text
        for seq in [UInt64(1), 2] {
            message.seq = seq
            try server.send(message)
        }
        server.drop()
        _ = try await recorder.next("reconnecting") { event -> Bool? in
            if case .connectionStateChanged(.reconnecting, _) = event { return true }
            return nil
        }
        clock.advance(byMs: 600)
        let second = try await connector.nextConnection()
        try await second.handshake()
        let request = try await second.acceptLogin(sessionID: "s1", resumeHandle: "handle-2")
        #expect(request.resumeHandle == "handle-1")  // the handle the server offered
        let restoration = try await recorder.next("restored") { event -> Restoration? in
            if case .restored(let restoration) = event { return restoration }
            return nil
        }
        #expect(restoration.resumed)
        // The stream continues: events 3 and 4 were sent while the client was away.
        message.seq = 5
        try second.send(message)
        let missed = try await recorder.next("missed events") { event -> ClosedRange<UInt64>? in
            if case .missedEvents("user", let range) = event { return range }
            if case .protocolFault(let why) = event { Issue.record("a fault instead: \(why)") }
            return nil
        }
        #expect(missed == 3...4)
        _ = try await recorder.next("the message") { event -> Bool? in
            if case .peerMessage = event { return true }
            return nil
        }
        // After the first event, the stream is checked as usual again.
        message.seq = 7
        try second.send(message)
        _ = try await recorder.next("a fault") { event -> Bool? in
            if case .protocolFault = event { return true }
            return nil
        }
    }

    @Test func invitationsOfALostSessionEndWhenANewSessionBegins() async throws {
        let (client, connector, server, clock) = try await scriptedClient()
        let recorder = await EventRecorder(client)
        let invitation = client.callManager.createLocalInvitation(calleeID: "bob", invitationID: "inv-1")
        let sent = Task { try await client.callManager.send(invitation) }
        let (frame, _) = try await server.expect(Herald_V1_SendInvitationRequest.self)
        var response = Herald_V1_SendInvitationResponse()
        response.invitationID = "inv-1"
        try server.send(response, requestID: frame.requestID)
        try await bounded(sent)
        #expect(invitation.state == .sentToRemote)
        server.drop()
        _ = try await recorder.next("reconnecting") { event -> Bool? in
            if case .connectionStateChanged(.reconnecting, _) = event { return true }
            return nil
        }
        clock.advance(byMs: 600)
        let second = try await connector.nextConnection()
        try await second.handshake()
        try await second.acceptLogin(sessionID: "s2")
        _ = try await recorder.next("failure") { event -> Bool? in
            if case .localInvitation(let failed, .failure) = event, failed === invitation { return true }
            return nil
        }
        #expect(invitation.error == .notLoggedIn)
        #expect(invitation.isEnded)
    }

    @Test func aTokenExpiryAbortsWithoutReconnecting() async throws {
        let (client, connector, server, clock) = try await scriptedClient()
        let recorder = await EventRecorder(client)
        var expired = Herald_V1_TokenExpired()
        expired.tokenExpiresMs = 42
        var change = Herald_V1_ConnectionStateChanged()
        change.state = .aborted
        change.reason = .tokenExpired
        var disconnect = Herald_V1_Disconnect()
        disconnect.reason = .tokenExpired
        // As the reference server sends them (Spec/15-tokens.md), in one read, then the close.
        server.deliver([
            try HeraldFrame(message: expired),
            try HeraldFrame(message: change),
            try HeraldFrame(message: disconnect),
        ])
        server.drop()
        let expiry = try await recorder.next("token expired") { event -> Int64? in
            if case .tokenExpired(let expires) = event { return expires }
            return nil
        }
        #expect(expiry == 42)
        let reason = try await recorder.next("aborted") { event -> ConnectionChangeReason? in
            if case .connectionStateChanged(.aborted, let reason) = event { return reason }
            return nil
        }
        #expect(reason == .tokenExpired)
        let refused = await #expect(throws: HeraldClientError.self) {
            try await client.send(HeraldMessage(text: "x"), toPeer: "bob")
        }
        #expect(refused?.code == .notLoggedIn)
        clock.advance(byMs: 60_000)
        await client.tick()
        #expect(connector.connections.isEmpty)  // HS-60: no login without a new token
    }
}

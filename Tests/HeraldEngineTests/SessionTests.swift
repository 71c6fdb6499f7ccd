import HeraldEngine
import HeraldMessages
import HeraldWire
import NIOCore
import SwiftProtobuf
import Testing

private func loginRequest(_ user: String, app: String = testAppID, token: String = "") -> Herald_V1_LoginRequest {
    Herald_V1_LoginRequest.with {
        $0.appID = app
        $0.userID = user
        $0.token = token
    }
}

private func mint(_ user: String, app: String = "strict", at seconds: Int64, lifetime: Int64) async throws -> String {
    try await TokenMinter.mint(
        appID: app,
        userID: user,
        secret: testSecret,
        issuedAt: seconds,
        lifetimeSeconds: lifetime
    )
}

@Suite("Handshake (Spec/04-handshake.md)")
struct HandshakeTests {
    @Test("HS-14, HS-15, HS-22, HS-23, HS-29, HS-30: Welcome advertises version, capabilities, limits, timers, rates")
    func welcomeAdvertisesEverything() async throws {
        let harness = try EngineHarness()
        let client = await harness.connect()
        let welcome: Herald_V1_Welcome = client.welcome
        #expect(welcome.version == 1)
        #expect(Set(welcome.capabilities) == Set(Capability.allV1.map(\.name)))
        #expect(welcome.capabilities.count == Capability.allV1.count)
        #expect(welcome.limits == EngineLimits().wire)
        #expect(welcome.timers == EngineTimers().wire)
        #expect(welcome.rateLimits.count == 13)
        #expect(welcome.rateLimits.allSatisfy { $0.count > 0 && $0.windowMs > 0 })
        #expect(welcome.serverTimeMs == harness.now)
        let other = await harness.connect()
        #expect(!welcome.connectionID.isEmpty && welcome.connectionID != other.welcome.connectionID)
    }

    @Test("HS-16, HS-17: requested capabilities are closed over prerequisites; unknown names ignored")
    func capabilityNegotiation() async throws {
        let harness = try EngineHarness { $0.offeredCapabilities.remove(.invitations) }
        let client = await harness.connect(
            hello: .with {
                $0.versions = [1]
                $0.capabilities = ["channel-messages", "com.example.unknown", "legacy-signaling"]
            }
        )
        // legacy-signaling needs invitations, which the server does not offer: it cannot be granted.
        #expect(Set(client.welcome.capabilities) == ["core", "channels", "channel-messages"])
        let all = await harness.connect(hello: .with { $0.versions = [1] })
        #expect(!all.welcome.capabilities.contains("invitations"))
        #expect(!all.welcome.capabilities.contains("legacy-signaling"))
    }

    @Test("HS-10, HS-11, HS-12: version negotiation")
    func versions() async throws {
        let harness = try EngineHarness()
        let empty = await harness.connect(hello: Herald_V1_Hello())
        #expect(empty.welcome.version == 1)
        let preferring = await harness.connect(hello: .with { $0.versions = [7, 1] })
        #expect(preferring.welcome.version == 1)
        let unsupported = await harness.connect(hello: nil)
        await unsupported.send(Herald_V1_Hello.with { $0.versions = [2, 3] })
        let frames = unsupported.drain()
        #expect(frames.map(\.opcode) == [.disconnect])
        #expect(try frames[0].decodeMessage(as: Herald_V1_Disconnect.self).reason == .unsupportedVersion)
        #expect(unsupported.sink.isClosed)
    }

    @Test("HS-2: a first frame other than Hello gets handshake-required, Disconnect and close")
    func handshakeRequired() async throws {
        let harness = try EngineHarness()
        let client = await harness.connect(hello: nil)
        await client.send(Herald_V1_Ping())
        let frames = client.drain()
        #expect(frames.map(\.opcode) == [.protocolError, .disconnect])
        #expect(try frames[0].decodeMessage(as: Herald_V1_ProtocolError.self).code == "handshake-required")
        #expect(try frames[1].decodeMessage(as: Herald_V1_Disconnect.self).reason == .protocolError)
        #expect(client.sink.isClosed)
    }

    @Test("HS-3: a malformed Hello is a framing failure before the handshake")
    func malformedHello() async throws {
        let harness = try EngineHarness()
        let client = await harness.connect(hello: nil)
        let header = HeraldFrameHeader(opcode: .hello, requestID: 1, payloadLength: 2)
        await client.send(frame: HeraldFrame(header: header, payload: ByteBuffer(bytes: [0x0A, 0x05])))
        let frames = client.drain()
        #expect(frames.map(\.opcode) == [.protocolError, .disconnect])
        #expect(try frames[0].decodeMessage(as: Herald_V1_ProtocolError.self).code == "malformed-payload")
    }

    @Test("HS-4: no Hello within the handshake timeout")
    func handshakeTimeout() async throws {
        let harness = try EngineHarness { $0.timers.handshakeTimeoutMs = 500 }
        let client = await harness.connect(hello: nil)
        await harness.advance(by: 499)
        client.expectNothing()
        await harness.advance(by: 1)
        let disconnect = client.expect(Herald_V1_Disconnect.self).message
        #expect(disconnect.reason == .handshakeTimeout)
        #expect(client.sink.isClosed)
    }

    @Test("HS-8: a second Hello gets already-handshaken and changes nothing")
    func secondHello() async throws {
        let harness = try EngineHarness()
        let client = await harness.connect()
        let id = await client.send(Herald_V1_Hello.with { $0.capabilities = ["core"] })
        let error = client.expect(Herald_V1_ProtocolError.self).message
        #expect(error.code == "already-handshaken")
        #expect(error.opcode == 1 && error.requestID == id)
        client.expectNothing()
        #expect(!client.sink.isClosed)
    }

    @Test("HS-20: a request of a capability not granted gets capability-not-granted")
    func capabilityNotGranted() async throws {
        let harness = try EngineHarness()
        let client = await harness.connect(hello: .with { $0.capabilities = ["presence"] })
        let id = await client.send(Herald_V1_JoinChannelRequest.with { $0.channelID = "c" })
        let error = client.expect(Herald_V1_ProtocolError.self).message
        #expect(error.code == "capability-not-granted")
        #expect(error.opcode == UInt32(Herald_V1_Opcode.joinChannelRequest.rawValue) && error.requestID == id)
        client.expectNothing()
    }

    @Test("HS-32: a request id still in flight gets duplicate-request-id; the first is still answered")
    func duplicateRequestID() async throws {
        let harness = try EngineHarness { $0.timers.peerAckTimeoutMs = 1000 }
        let alice = await harness.login("alice")
        _ = await harness.login("bob")
        // A peer message in ACK_MODE_PEER stays in flight until the receiver acknowledges.
        let message = Herald_V1_SendPeerMessageRequest.with {
            $0.peerID = "bob"
            $0.message = .with {
                $0.type = .text
                $0.text = "hi"
            }
        }
        await alice.send(message, requestID: 77)
        await alice.send(Herald_V1_Ping(), requestID: 77)
        let error = alice.expect(Herald_V1_ProtocolError.self).message
        #expect(error.code == "duplicate-request-id" && error.requestID == 77)
        await harness.advance(by: 1000)
        let response = alice.expect(Herald_V1_SendPeerMessageResponse.self)
        #expect(response.frame.requestID == 77)
        #expect(response.message.result == .sentTimeout)
    }

    @Test("HS-39: response and event opcodes from a client get unexpected-frame")
    func unexpectedFrame() async throws {
        let harness = try EngineHarness()
        let client = await harness.connect()
        await client.send(Herald_V1_Pong(), requestID: 5)
        await client.send(Herald_V1_MemberJoined(), requestID: 0)
        let errors = client.all(Herald_V1_ProtocolError.self)
        #expect(errors.map(\.code) == ["unexpected-frame", "unexpected-frame"])
        #expect(errors[0].requestID == 5)
        #expect(!client.sink.isClosed)
    }

    @Test("HS-40: Ping gets Pong with both times, with or without a session")
    func ping() async throws {
        let harness = try EngineHarness()
        let client = await harness.connect()
        let pong = await client.request(Herald_V1_Ping.with { $0.clientTimeMs = 42 }, expecting: Herald_V1_Pong.self)
        #expect(pong.clientTimeMs == 42 && pong.serverTimeMs == harness.now)
    }

    @Test("HS-42, HS-43: nothing received for idle_timeout_ms closes the connection; any frame resets the timer")
    func idleTimeout() async throws {
        let harness = try EngineHarness {
            $0.timers.idleTimeoutMs = 1000
            $0.timers.heartbeatIntervalMs = 400
            $0.timers.presenceUnreachableMs = 800
            $0.timers.loginTimeoutMs = 100_000
        }
        let client = await harness.connect()
        await harness.advance(by: 900)
        _ = await client.request(Herald_V1_Ping(), expecting: Herald_V1_Pong.self)
        await harness.advance(by: 999)
        client.expectNothing()
        await harness.advance(by: 1)
        #expect(client.expect(Herald_V1_Disconnect.self).message.reason == .idleTimeout)
        #expect(client.sink.isClosed)
    }

    @Test("HS-51, HS-52: a DeliveryAck for no outstanding delivery is ignored and reported")
    func unknownDelivery() async throws {
        let harness = try EngineHarness()
        let client = await harness.login("alice")
        await client.send(Herald_V1_DeliveryAck(), requestID: 999)
        let error = client.expect(Herald_V1_ProtocolError.self).message
        #expect(error.code == "unknown-delivery" && error.opcode == 0x80 && error.requestID == 999)
        client.expectNothing()
    }

    @Test("HS-64: a malformed payload on a handshaken connection gets ProtocolError and the connection stays")
    func malformedPayload() async throws {
        let harness = try EngineHarness()
        let client = await harness.login("alice")
        let header = HeraldFrameHeader(opcode: .joinChannelRequest, requestID: 9, payloadLength: 2)
        await client.send(frame: HeraldFrame(header: header, payload: ByteBuffer(bytes: [0x0A, 0x05])))
        let error = client.expect(Herald_V1_ProtocolError.self).message
        #expect(error.code == "malformed-payload" && error.requestID == 9)
        _ = await client.request(Herald_V1_Ping(), expecting: Herald_V1_Pong.self)
        #expect(!client.sink.isClosed)
    }

    @Test("HS-63, HS-66, HS-68: a header failure closes only the offending connection")
    func headerFailure() async throws {
        let harness = try EngineHarness()
        let bad = await harness.login("alice")
        let good = await harness.login("bob")
        await harness.engine.receiveFailure(WireError(.badMagic, "test"), header: (0x0101, 3), on: bad.id)
        let frames = bad.drain()
        #expect(frames.map(\.opcode) == [.protocolError, .disconnect])
        let error = try frames[0].decodeMessage(as: Herald_V1_ProtocolError.self)
        #expect(error.code == "bad-magic" && error.opcode == 0 && error.requestID == 0)
        #expect(bad.sink.isClosed)
        _ = await good.request(Herald_V1_Ping(), expecting: Herald_V1_Pong.self)
        #expect(!good.sink.isClosed)
    }

    @Test("HS-57: shutdown sends Disconnect SERVER_SHUTDOWN everywhere")
    func shutdown() async throws {
        let harness = try EngineHarness()
        let one = await harness.login("alice")
        let two = await harness.connect()
        await harness.engine.shutdown()
        #expect(one.expect(Herald_V1_Disconnect.self).message.reason == .serverShutdown)
        #expect(two.expect(Herald_V1_Disconnect.self).message.reason == .serverShutdown)
        #expect(one.sink.isClosed && two.sink.isClosed)
        let late = await harness.connect(hello: nil)
        #expect(late.expect(Herald_V1_Disconnect.self).message.reason == .serverShutdown)
    }

    @Test("LIM-14, LIM-15: a full outbound queue ends the connection with slow-consumer")
    func slowConsumer() async throws {
        let harness = try EngineHarness { $0.limits.maxOutboundQueueFrames = 4 }
        let client = await harness.connect()
        client.sink.setQueued(4)
        await client.send(Herald_V1_Ping())
        let frames = client.drain()
        #expect(frames.map(\.opcode) == [.protocolError, .disconnect])
        #expect(try frames[0].decodeMessage(as: Herald_V1_ProtocolError.self).code == "slow-consumer")
        #expect(try frames[1].decodeMessage(as: Herald_V1_Disconnect.self).reason == .slowConsumer)
        #expect(client.sink.isClosed)
    }
}

@Suite("Sessions (Spec/05-session.md)")
struct SessionLifecycleTests {
    @Test("SES-8, SES-9: login answers OK with a session id, then CONNECTED/LOGIN_SUCCESS")
    func login() async throws {
        let harness = try EngineHarness()
        let client = await harness.connect()
        let response = await client.request(loginRequest("alice"), expecting: Herald_V1_LoginResponse.self)
        #expect(response.result == .ok)
        #expect(!response.sessionID.isEmpty && response.resumeHandle.isEmpty)
        #expect(response.serverTimeMs == harness.now && response.tokenExpiresMs == 0)
        let frames = client.drain()
        #expect(frames.map(\.opcode) == [.connectionStateChanged])
        let state = try frames[0].decodeMessage(as: Herald_V1_ConnectionStateChanged.self)
        #expect(state.state == .connected && state.reason == .loginSuccess)
        let again = await harness.connect()
        let second = await again.request(loginRequest("bob"), expecting: Herald_V1_LoginResponse.self)
        #expect(second.sessionID != response.sessionID)
    }

    @Test(
        "SES-3: login checks in order",
        arguments: [
            ("", testAppID, Herald_V1_LoginResult.invalidArgument),
            ("null", testAppID, .invalidArgument),
            ("has/slash", testAppID, .invalidArgument),
            (String(repeating: "u", count: 65), testAppID, .invalidArgument),
            (String(repeating: "u", count: 64), testAppID, .ok),
            ("ok user", "", .invalidAppID),
            ("ok user", "no-such-app", .invalidAppID),
            ("ok user", "strict", .invalidToken),
        ]
    )
    func loginChecks(user: String, app: String, expected: Herald_V1_LoginResult) async throws {
        let harness = try EngineHarness()
        let client = await harness.connect()
        let response = await client.request(loginRequest(user, app: app), expecting: Herald_V1_LoginResponse.self)
        #expect(response.result == expected)
        if expected != .ok {
            #expect(response.sessionID.isEmpty)
            client.expectNothing()  // SES-6: no ConnectionStateChanged
        }
    }

    @Test("SES-3 check 1: a second login on the same connection is ALREADY_LOGGED_IN")
    func alreadyLoggedIn() async throws {
        let harness = try EngineHarness()
        let client = await harness.login("alice")
        let response = await client.request(loginRequest("bob"), expecting: Herald_V1_LoginResponse.self)
        #expect(response.result == .alreadyLoggedIn)
    }

    @Test("SES-37: the login rate limit is per connection and counts failed logins")
    func loginTooOften() async throws {
        let harness = try EngineHarness()
        let client = await harness.connect()
        let first = await client.request(loginRequest("null"), expecting: Herald_V1_LoginResponse.self)
        let second = await client.request(loginRequest("null"), expecting: Herald_V1_LoginResponse.self)
        let third = await client.request(loginRequest("alice"), expecting: Herald_V1_LoginResponse.self)
        #expect([first.result, second.result, third.result] == [.invalidArgument, .invalidArgument, .tooOften])
        await harness.advance(by: 1000)
        let fourth = await client.request(loginRequest("alice"), expecting: Herald_V1_LoginResponse.self)
        #expect(fourth.result == .ok)
    }

    @Test(
        "SES-10: requests without a session get their 102 result",
        arguments: [
            Herald_V1_Opcode.logoutRequest, .renewTokenRequest, .sendPeerMessageRequest, .queryPeersOnlineStatusRequest,
            .subscribePeersOnlineStatusRequest, .setLocalUserAttributesRequest, .getUserAttributesRequest,
            .joinChannelRequest, .leaveChannelRequest, .getMembersRequest, .getChannelMemberCountRequest,
            .sendChannelMessageRequest, .setChannelAttributesRequest, .sendInvitationRequest, .acceptInvitationRequest,
            .sendChannelMessageExternalRequest, .sendDtmfRequest, .queryChannelUsersRequest,
        ]
    )
    func notLoggedIn(opcode: Herald_V1_Opcode) async throws {
        let harness = try EngineHarness()
        let client = await harness.connect()
        let frame = HeraldFrame(header: HeraldFrameHeader(opcode: opcode, requestID: 4), payload: ByteBuffer())
        await client.send(frame: frame)
        let frames = client.drain()
        #expect(frames.count == 1)
        #expect(frames.first?.opcode.rawValue == opcode.rawValue + 1 && frames.first?.requestID == 4)
        // Every response's field 1 is its result; 102 is USER_NOT_LOGGED_IN in every enum.
        #expect(frames.first.map { Array($0.payload.readableBytesView) } == [0x08, 0x66])
    }

    @Test("SES-12: a connection without a session is closed after login_timeout_ms")
    func loginTimeout() async throws {
        let harness = try EngineHarness { $0.timers.loginTimeoutMs = 2000 }
        let idle = await harness.connect()
        let loggedOut = await harness.login("alice")
        _ = await loggedOut.request(Herald_V1_LogoutRequest(), expecting: Herald_V1_LogoutResponse.self)
        _ = loggedOut.drain()
        await harness.advance(by: 1999)
        idle.expectNothing()
        await harness.advance(by: 1)
        #expect(idle.expect(Herald_V1_Disconnect.self).message.reason == .idleTimeout)
        await harness.advance(by: 1000)
        #expect(loggedOut.expect(Herald_V1_Disconnect.self).message.reason == .logout)
    }

    @Test("SES-13 … SES-15: logout answers OK, then DISCONNECTED/LOGOUT; the connection may log in again")
    func logout() async throws {
        let harness = try EngineHarness()
        let client = await harness.login("alice")
        let response = await client.request(Herald_V1_LogoutRequest(), expecting: Herald_V1_LogoutResponse.self)
        #expect(response.result == .ok)
        let state = client.expect(Herald_V1_ConnectionStateChanged.self).message
        #expect(state.state == .disconnected && state.reason == .logout)
        client.expectNothing()
        let again = await client.request(loginRequest("alice"), expecting: Herald_V1_LoginResponse.self)
        #expect(again.result == .ok)
        #expect(await harness.engine.counts().sessions == 1)
    }

    @Test("SES-20, SES-21: a second login of the same user aborts the first session")
    func remoteLogin() async throws {
        let harness = try EngineHarness()
        let first = await harness.login("alice")
        let second = await harness.connect()
        let response = await second.request(loginRequest("alice"), expecting: Herald_V1_LoginResponse.self)
        #expect(response.result == .ok)
        let frames = first.drain()
        #expect(frames.map(\.opcode) == [.connectionStateChanged, .disconnect])
        let state = try frames[0].decodeMessage(as: Herald_V1_ConnectionStateChanged.self)
        #expect(state.state == .aborted && state.reason == .remoteLogin)
        #expect(try frames[1].decodeMessage(as: Herald_V1_Disconnect.self).reason == .remoteLogin)
        #expect(first.sink.isClosed)
        #expect(await harness.engine.counts() == (connections: 1, sessions: 1))
    }

    @Test("SES-25, SES-26: an operator ban aborts the session and refuses later logins")
    func ban() async throws {
        let harness = try EngineHarness()
        let client = await harness.login("alice")
        await harness.engine.ban(UserKey(appID: testAppID, userID: "alice"))
        let frames = client.drain()
        #expect(frames.map(\.opcode) == [.connectionStateChanged, .disconnect])
        #expect(try frames[0].decodeMessage(as: Herald_V1_ConnectionStateChanged.self).reason == .bannedByServer)
        #expect(try frames[1].decodeMessage(as: Herald_V1_Disconnect.self).reason == .banned)
        let again = await harness.connect()
        let response = await again.request(loginRequest("alice"), expecting: Herald_V1_LoginResponse.self)
        #expect(response.result == .rejected)
    }
}

@Suite("Tokens (Spec/15-tokens.md)")
struct SessionTokenTests {
    @Test("TOK-7, TOK-11: a valid token logs in with its expiry; other users and expired tokens are refused")
    func loginWithToken() async throws {
        let harness = try EngineHarness()
        let nowSeconds = harness.now / 1000
        let token = try await mint("alice", at: nowSeconds, lifetime: 3600)
        let client = await harness.connect()
        let ok = await client.request(
            loginRequest("alice", app: "strict", token: token),
            expecting: Herald_V1_LoginResponse.self
        )
        #expect(ok.result == .ok && ok.tokenExpiresMs == (nowSeconds + 3600) * 1000)
        let other = await harness.connect()
        let wrongUser = await other.request(
            loginRequest("bob", app: "strict", token: token),
            expecting: Herald_V1_LoginResponse.self
        )
        #expect(wrongUser.result == .notAuthorized)
        let old = try await mint("carol", at: nowSeconds - 7200, lifetime: 3600)
        let expired = await other.request(
            loginRequest("carol", app: "strict", token: old),
            expecting: Herald_V1_LoginResponse.self
        )
        #expect(expired.result == .tokenExpired)
    }

    @Test("TOK-18, TOK-20, TOK-21: will-expire notice at exp − lead, then expiry ends the session at exp")
    func expiry() async throws {
        let harness = try EngineHarness {
            $0.timers.tokenWillExpireLeadMs = 10_000
            $0.timers.idleTimeoutMs = 600_000
        }
        let nowSeconds = harness.now / 1000
        let token = try await mint("alice", at: nowSeconds, lifetime: 60)
        let client = await harness.connect()
        _ = await client.request(
            loginRequest("alice", app: "strict", token: token),
            expecting: Herald_V1_LoginResponse.self
        )
        _ = client.drain()
        let expiresMs = (nowSeconds + 60) * 1000
        await harness.advance(by: expiresMs - 10_000 - harness.now - 1)
        client.expectNothing()
        await harness.advance(by: 1)
        #expect(client.expect(Herald_V1_TokenPrivilegeWillExpire.self).message.tokenExpiresMs == expiresMs)
        // Keep the connection alive meanwhile.
        await harness.advance(by: 9_998)
        _ = await client.request(Herald_V1_Ping(), expecting: Herald_V1_Pong.self)
        client.expectNothing()
        await harness.advance(by: 2)
        let frames = client.drain()
        try #require(frames.map(\.opcode) == [.tokenExpired, .connectionStateChanged, .disconnect])
        #expect(try frames[0].decodeMessage(as: Herald_V1_TokenExpired.self).tokenExpiresMs == expiresMs)
        let state = try frames[1].decodeMessage(as: Herald_V1_ConnectionStateChanged.self)
        #expect(state.state == .aborted && state.reason == .tokenExpired)
        #expect(try frames[2].decodeMessage(as: Herald_V1_Disconnect.self).reason == .tokenExpired)
        #expect(client.sink.isClosed)
    }

    @Test("TOK-19: a token with less than the lead left is warned about right after login")
    func shortTokenWarnedAtOnce() async throws {
        let harness = try EngineHarness()
        let nowSeconds = harness.now / 1000
        let token = try await mint("alice", at: nowSeconds, lifetime: 10)
        let client = await harness.connect()
        _ = await client.request(
            loginRequest("alice", app: "strict", token: token),
            expecting: Herald_V1_LoginResponse.self
        )
        let frames = client.drain()
        #expect(frames.map(\.opcode) == [.connectionStateChanged, .tokenPrivilegeWillExpire])
    }

    @Test("TOK-17, TOK-26: a session without a token gets no expiry events, also after renewing to no token")
    func sessionWithoutTokenNeverExpires() async throws {
        let harness = try EngineHarness { $0.timers.tokenWillExpireLeadMs = 1000 }
        let nowSeconds = harness.now / 1000
        let tokenless = await harness.connect()
        let first = await tokenless.request(loginRequest("alice"), expecting: Herald_V1_LoginResponse.self)
        #expect(first.result == .ok && first.tokenExpiresMs == 0)
        _ = tokenless.drain()
        let renewed = await harness.connect()
        let token = try await mint("bob", app: testAppID, at: nowSeconds, lifetime: 10)
        let second = await renewed.request(loginRequest("bob", token: token), expecting: Herald_V1_LoginResponse.self)
        #expect(second.result == .ok && second.tokenExpiresMs == (nowSeconds + 10) * 1000)
        let renewal = await renewed.request(
            Herald_V1_RenewTokenRequest.with { $0.token = "_no_need_token" },
            expecting: Herald_V1_RenewTokenResponse.self
        )
        #expect(renewal.result == .ok && renewal.tokenExpiresMs == 0 && renewal.token == "_no_need_token")
        _ = renewed.drain()
        // Well past the old token's warning and expiry.
        for _ in 0..<6 {
            await harness.advance(by: 4000)
            _ = await tokenless.request(Herald_V1_Ping(), expecting: Herald_V1_Pong.self)
            _ = await renewed.request(Herald_V1_Ping(), expecting: Herald_V1_Pong.self)
        }
        tokenless.expectNothing()
        renewed.expectNothing()
        #expect(!tokenless.sink.isClosed && !renewed.sink.isClosed)
    }

    @Test("TOK-23 … TOK-27: renewal results and the new expiry")
    func renewal() async throws {
        let harness = try EngineHarness { $0.timers.tokenWillExpireLeadMs = 1000 }
        let nowSeconds = harness.now / 1000
        let client = await harness.connect()
        let first = try await mint("alice", at: nowSeconds, lifetime: 60)
        _ = await client.request(
            loginRequest("alice", app: "strict", token: first),
            expecting: Herald_V1_LoginResponse.self
        )
        _ = client.drain()
        let empty = await client.request(Herald_V1_RenewTokenRequest(), expecting: Herald_V1_RenewTokenResponse.self)
        #expect(empty.result == .invalidArgument)
        await harness.advance(by: 1000)
        let garbage = await client.request(
            Herald_V1_RenewTokenRequest.with { $0.token = "not.a.token" },
            expecting: Herald_V1_RenewTokenResponse.self
        )
        #expect(garbage.result == .invalidToken && garbage.token == "not.a.token")
        let bobs = try await mint("bob", at: nowSeconds, lifetime: 600)
        await harness.advance(by: 1000)
        let rejected = await client.request(
            Herald_V1_RenewTokenRequest.with { $0.token = bobs },
            expecting: Herald_V1_RenewTokenResponse.self
        )
        #expect(rejected.result == .rejected)
        let second = try await mint("alice", at: nowSeconds, lifetime: 600)
        let ok = await client.request(
            Herald_V1_RenewTokenRequest.with { $0.token = second },
            expecting: Herald_V1_RenewTokenResponse.self
        )
        #expect(ok.result == .ok && ok.tokenExpiresMs == (nowSeconds + 600) * 1000 && ok.token == second)
        let tooOften = await client.request(
            Herald_V1_RenewTokenRequest.with { $0.token = second },
            expecting: Herald_V1_RenewTokenResponse.self
        )
        #expect(tooOften.result == .tooOften)
        // The old expiry no longer applies.
        for _ in 0..<3 {
            await harness.advance(by: 20_000)
            _ = await client.request(Herald_V1_Ping(), expecting: Herald_V1_Pong.self)
        }
        client.expectNothing()
        #expect(!client.sink.isClosed)
    }
}

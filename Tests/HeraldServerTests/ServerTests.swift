import HeraldEngine
import HeraldMessages
import HeraldServer
import HeraldWire
import Logging
import NIOCore
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The app of the live tests: tokenless logins allowed, and a secret for tests that mint tokens.
let testAppID = "test-app"
let testSecret = Array("herald-server-tests-secret-0123456789".utf8)

/// The transports every live test runs on.
let liveTransports: [HeraldTransport] = [.tcp, .ws]

/// A logger that only reports errors, unless `HERALD_TEST_LOG_LEVEL` asks for more.
func testLogger() -> Logger {
    var logger = Logger(label: "herald.server.tests")
    let level = ProcessInfo.processInfo.environment["HERALD_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
    logger.logLevel = level ?? .error
    return logger
}

/// A server configuration on 127.0.0.1 port 0 (TCP and WebSocket), offline messages in memory.
func testConfiguration(
    apps: [AppCredentials] = [AppCredentials(appID: testAppID, secrets: [testSecret], allowsTokenlessLogin: true)],
    _ configure: (inout HeraldServerConfiguration) -> Void = { _ in }
) -> HeraldServerConfiguration {
    var configuration = HeraldServerConfiguration(engine: EngineConfiguration(apps: apps))
    // The whole test suite runs at once on two cores and can stall a server's loop for seconds; a test that does not
    // test the handshake timeout must not fail on it.
    configuration.engine.timers.handshakeTimeoutMs = 60_000
    configuration.tcp = ListenAddress(host: "127.0.0.1", port: 0)
    configuration.webSocket = ListenAddress(host: "127.0.0.1", port: 0)
    configure(&configuration)
    return configuration
}

/// The bound listeners of a test server.
struct TestListeners: Sendable {
    let all: [BoundListener]

    func listener(_ transport: HeraldTransport) throws -> BoundListener {
        guard let listener = self.all.first(where: { $0.transport == transport }) else {
            throw TestFailure("no \(transport) listener")
        }
        return listener
    }

    /// A new connection on `transport`.
    func connect(_ transport: HeraldTransport) async throws -> TestClient {
        try await TestClient.connect(to: try self.listener(transport))
    }

    /// A new connection on `transport` that has said Hello and logged `user` in.
    func loggedIn(_ user: String, on transport: HeraldTransport) async throws -> TestClient {
        let client = try await self.connect(transport)
        try await client.hello()
        let response = try await client.login(user)
        guard response.result == .ok else { throw TestFailure("login of \(user) failed: \(response.result)") }
        return client
    }
}

/// Runs `body` against a live server on port 0 and shuts it down gracefully afterwards.
func withTestServer<Result: Sendable>(
    _ configuration: HeraldServerConfiguration = testConfiguration(),
    _ body: (HeraldServer, TestListeners) async throws -> Result
) async throws -> Result {
    try await HeraldServer.withRunningServer(configuration: configuration, logger: testLogger()) { server, listeners in
        try await body(server, TestListeners(all: listeners))
    }
}

func textBody(_ text: String) -> Herald_V1_MessageBody {
    var body = Herald_V1_MessageBody()
    body.type = .text
    body.text = text
    return body
}

@Suite("Live server")
struct ServerTests {
    @Test("Hello, Welcome and login", arguments: liveTransports)
    func handshakeAndLogin(transport: HeraldTransport) async throws {
        try await withTestServer { _, listeners in
            let client = try await listeners.connect(transport)
            if transport == .ws {
                #expect(client.subprotocol == "herald.v1")  // TRN-18
            }
            let welcome = try await client.hello()
            #expect(welcome.version == 1)
            #expect(welcome.capabilities.contains("core"))
            #expect(welcome.limits.maxPayloadLength == 65_536)
            #expect(welcome.timers.handshakeTimeoutMs == 60_000)  // as configured
            #expect(!welcome.connectionID.isEmpty)
            let response = try await client.login("alice")
            #expect(response.result == .ok)
            #expect(!response.sessionID.isEmpty)
            try await client.ping()
            await client.close()
        }
    }

    @Test("Several clients at once", arguments: liveTransports)
    func severalClients(transport: HeraldTransport) async throws {
        try await withTestServer { server, listeners in
            let clients = try await withThrowingTaskGroup(of: TestClient.self) { group in
                for index in 0..<12 {
                    group.addTask { try await listeners.loggedIn("user\(index)", on: transport) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(clients.count == 12)
            let counts = await server.engine.counts()
            #expect(counts.sessions == 12)
            for client in clients {
                try await client.ping()
            }
            for client in clients {
                await client.close()
            }
        }
    }

    @Test("Pipelined frames are answered in order", arguments: liveTransports)
    func pipelinedFrames(transport: HeraldTransport) async throws {
        try await withTestServer { _, listeners in
            let client = try await listeners.connect(transport)
            try await client.hello()
            // Logged in, so that the login timeout (SES-12) cannot end the connection on a busy machine.
            #expect(try await client.login("pipeliner").result == .ok)
            let count = 300
            if transport == .tcp {
                // All the pings in one write: the server decodes and processes them one by one, in order.
                var bytes = ByteBuffer()
                for index in 1...count {
                    var ping = Herald_V1_Ping()
                    ping.clientTimeMs = Int64(index)
                    try HeraldFrame(requestID: client.takeRequestID(), message: ping).encode(into: &bytes)
                }
                try await client.sendRaw(bytes)
            } else {
                for index in 1...count {
                    var ping = Herald_V1_Ping()
                    ping.clientTimeMs = Int64(index)
                    try await client.send(ping)
                }
            }
            for index in 1...count {
                let (_, pong) = try await client.expect(Herald_V1_Pong.self)
                #expect(pong.clientTimeMs == Int64(index))
            }
            await client.close()
        }
    }

    @Test("A peer message is answered after the receiver's DeliveryAck", arguments: liveTransports)
    func peerMessage(transport: HeraldTransport) async throws {
        try await withTestServer { _, listeners in
            let alice = try await listeners.loggedIn("alice", on: transport)
            let bob = try await listeners.loggedIn("bob", on: transport)
            var request = Herald_V1_SendPeerMessageRequest()
            request.peerID = "bob"
            request.message = textBody("hello bob")
            request.ackMode = .peer
            let requestID = try await alice.send(request)

            let (delivery, message) = try await bob.expect(Herald_V1_PeerMessage.self)
            #expect(delivery.flags.contains(.ackRequired))
            #expect(delivery.requestID != 0)
            #expect(message.fromUserID == "alice")
            #expect(message.message.text == "hello bob")
            #expect(!message.isOffline)

            // PEER-25: no answer before the DeliveryAck. The Pong proves the server has processed later frames.
            try await alice.ping()
            #expect(!alice.stashed.contains { $0.opcode == .sendPeerMessageResponse })

            try await bob.acknowledge(delivery)
            let response = try await alice.response(to: requestID, as: Herald_V1_SendPeerMessageResponse.self)
            #expect(response.result == .ok)
            #expect(response.messageID == message.messageID)
            #expect(response.serverReceivedMs == message.serverReceivedMs)
            await alice.close()
            await bob.close()
        }
    }

    @Test("A channel message reaches every other member and is not echoed", arguments: liveTransports)
    func channelFanOut(transport: HeraldTransport) async throws {
        try await withTestServer { _, listeners in
            var members: [TestClient] = []
            for user in ["alice", "bob", "carol", "dave"] {
                let client = try await listeners.loggedIn(user, on: transport)
                var join = Herald_V1_JoinChannelRequest()
                join.channelID = "room"
                let response = try await client.request(join, expecting: Herald_V1_JoinChannelResponse.self)
                #expect(response.result == .ok, "join of \(user)")
                members.append(client)
            }
            let sender = members[0]
            var send = Herald_V1_SendChannelMessageRequest()
            send.channelID = "room"
            send.message = textBody("hello room")
            let response = try await sender.request(send, expecting: Herald_V1_SendChannelMessageResponse.self)
            #expect(response.result == .ok)
            for receiver in members.dropFirst() {
                let (_, message) = try await receiver.expect(Herald_V1_ChannelMessage.self)
                #expect(message.channelID == "room")
                #expect(message.fromUserID == "alice")
                #expect(message.message.text == "hello room")
                #expect(message.messageID == response.messageID)
            }
            try await sender.ping()
            #expect(!sender.stashed.contains { $0.opcode == .channelMessage })
            for member in members {
                await member.close()
            }
        }
    }

    @Test("An invitation from send to accepted", arguments: liveTransports)
    func invitationLifecycle(transport: HeraldTransport) async throws {
        try await withTestServer { _, listeners in
            let caller = try await listeners.loggedIn("caller", on: transport)
            let callee = try await listeners.loggedIn("callee", on: transport)

            var invite = Herald_V1_SendInvitationRequest()
            invite.calleeID = "callee"
            invite.channelID = "call-1"
            invite.content = "join me"
            invite.invitationID = "inv-1"
            let sent = try await caller.request(invite, expecting: Herald_V1_SendInvitationResponse.self)
            #expect(sent.result == .ok)
            #expect(sent.invitationID == "inv-1")

            let (receivedFrame, received) = try await callee.expect(Herald_V1_RemoteInvitationReceived.self)
            #expect(receivedFrame.flags.contains(.ackRequired))
            #expect(received.callerID == "caller")
            #expect(received.channelID == "call-1")
            #expect(received.content == "join me")
            try await callee.acknowledge(receivedFrame)

            let (_, byPeer) = try await caller.expect(Herald_V1_LocalInvitationReceivedByPeer.self)
            #expect(byPeer.invitationID == "inv-1")
            #expect(byPeer.calleeID == "callee")

            var accept = Herald_V1_AcceptInvitationRequest()
            accept.invitationID = received.invitationID
            accept.response = "on my way"
            let accepted = try await callee.request(accept, expecting: Herald_V1_AcceptInvitationResponse.self)
            #expect(accepted.result == .ok)

            let (acceptedFrame, localAccepted) = try await caller.expect(Herald_V1_LocalInvitationAccepted.self)
            #expect(acceptedFrame.flags.contains(.ackRequired))
            #expect(localAccepted.invitationID == "inv-1")
            #expect(localAccepted.response == "on my way")
            try await caller.acknowledge(acceptedFrame)

            let (_, remoteAccepted) = try await callee.expect(Herald_V1_RemoteInvitationAccepted.self)
            #expect(remoteAccepted.invitationID == received.invitationID)
            await caller.close()
            await callee.close()
        }
    }

    @Test("A session ends when its token expires", arguments: liveTransports)
    func tokenExpiry(transport: HeraldTransport) async throws {
        let strict = AppCredentials(appID: testAppID, secrets: [testSecret], allowsTokenlessLogin: false)
        let configuration = testConfiguration(apps: [strict]) { $0.engine.timers.tokenWillExpireLeadMs = 1000 }
        try await withTestServer(configuration) { _, listeners in
            let client = try await listeners.connect(transport)
            try await client.hello()
            let now = SystemEngineClock().nowMilliseconds() / 1000
            let token = try await TokenMinter.mint(
                appID: testAppID,
                userID: "alice",
                secret: testSecret,
                issuedAt: now,
                lifetimeSeconds: 2
            )
            let login = try await client.login("alice", token: token)
            #expect(login.result == .ok)
            #expect(login.tokenExpiresMs == (now + 2) * 1000)

            let warning = try await client.nextFrame(timeout: .seconds(5))
            #expect(warning.opcode == .tokenPrivilegeWillExpire)
            let expired = try await client.nextFrame(timeout: .seconds(5))
            #expect(expired.opcode == .tokenExpired)
            #expect(try expired.decodeMessage(as: Herald_V1_TokenExpired.self).tokenExpiresMs == (now + 2) * 1000)
            let state = try await client.nextFrame()
            let change = try state.decodeMessage(as: Herald_V1_ConnectionStateChanged.self)
            #expect(change.state == .aborted)
            #expect(change.reason == .tokenExpired)
            let disconnect = try await client.nextFrame()
            #expect(try disconnect.decodeMessage(as: Herald_V1_Disconnect.self).reason == .tokenExpired)
            let code = try await client.expectClose()
            if transport == .ws {
                #expect(code == 4005)  // TRN-23: 4000 + DISCONNECT_REASON_TOKEN_EXPIRED
            }
        }
    }

    @Test("Bad input only affects its own connection", arguments: liveTransports)
    func malformedInputIsConfined(transport: HeraldTransport) async throws {
        try await withTestServer { _, listeners in
            let bystander = try await listeners.loggedIn("bystander", on: transport)
            let sloppy = try await listeners.loggedIn("sloppy", on: transport)
            let broken = try await listeners.loggedIn("broken", on: transport)

            // A valid header with a payload that is not a Ping: malformed-payload, and the connection stays (HS-64).
            var header = ByteBuffer()
            HeraldFrameHeader(opcode: .ping, requestID: 77, payloadLength: 3).write(to: &header)
            header.writeBytes([0xFF, 0xFF, 0xFF])
            try await sloppy.sendRaw(header)
            let (_, malformed) = try await sloppy.expect(Herald_V1_ProtocolError.self)
            #expect(malformed.code == "malformed-payload")
            #expect(malformed.opcode == 0x0003)
            #expect(malformed.requestID == 77)
            try await sloppy.ping()

            // Bad magic: ProtocolError with opcode and request id 0 (HS-66), Disconnect, close (HS-63).
            try await broken.sendRaw(Array("XR".utf8) + [1, 0, 0, 3, 0, 0, 0, 9, 0, 0, 0, 0])
            let (_, badMagic) = try await broken.expect(Herald_V1_ProtocolError.self)
            #expect(badMagic.code == "bad-magic")
            #expect(badMagic.opcode == 0)
            #expect(badMagic.requestID == 0)
            let (_, disconnect) = try await broken.expect(Herald_V1_Disconnect.self)
            #expect(disconnect.reason == .protocolError)
            let code = try await broken.expectClose()
            if transport == .ws {
                #expect(code == 4003)
            }

            // The others are unaffected.
            try await bystander.ping()
            var request = Herald_V1_SendPeerMessageRequest()
            request.peerID = "sloppy"
            request.message = textBody("still there?")
            request.ackMode = .server
            let response = try await bystander.request(request, expecting: Herald_V1_SendPeerMessageResponse.self)
            #expect(response.result == .ok)
            let (delivery, _) = try await sloppy.expect(Herald_V1_PeerMessage.self)
            try await sloppy.acknowledge(delivery)
            await bystander.close()
            await sloppy.close()
        }
    }

    @Test("A frame longer than max_payload_length is refused from its header", arguments: liveTransports)
    func frameTooLarge(transport: HeraldTransport) async throws {
        try await withTestServer { _, listeners in
            let client = try await listeners.loggedIn("big", on: transport)
            var bytes = ByteBuffer()
            HeraldFrameHeader(opcode: .ping, requestID: 5, payloadLength: 65_537).write(to: &bytes)
            // Only the header is sent: the server decides from it alone (FRM-9).
            try await client.sendRaw(bytes)
            // Over WebSocket the message ends after the header, but the header check comes first (FRM-22).
            let (_, error) = try await client.expect(Herald_V1_ProtocolError.self)
            #expect(error.code == "frame-too-large")
            #expect(error.opcode == 0x0003)  // HS-65
            #expect(error.requestID == 5)
            let (_, disconnect) = try await client.expect(Herald_V1_Disconnect.self)
            #expect(disconnect.reason == .protocolError)
            try await client.expectClose()
        }
    }

    @Test("A WebSocket text message gets Disconnect and close code 1003")
    func webSocketTextMessage() async throws {
        try await withTestServer { server, listeners in
            let client = try await listeners.loggedIn("texter", on: .ws)
            try await client.sendText("hello?")
            let (_, disconnect) = try await client.expect(Herald_V1_Disconnect.self)
            #expect(disconnect.reason == .protocolError)
            let code = try await client.expectClose()
            #expect(code == 1003)  // TRN-21
            #expect(await server.engine.counts().sessions == 0)
        }
    }

    @Test("A WebSocket upgrade must name the path and offer herald.v1")
    func webSocketRefusals() async throws {
        try await withTestServer { _, listeners in
            let listener = try listeners.listener(.ws)
            await #expect(throws: TestFailure.self) {
                _ = try await TestClient.connect(to: listener, path: "/elsewhere")
            }
            await #expect(throws: TestFailure.self) {
                _ = try await TestClient.connect(to: listener, subprotocols: ["chat"])
            }
            let client = try await TestClient.connect(to: listener, subprotocols: ["chat", "herald.v1"])
            #expect(client.subprotocol == "herald.v1")
            try await client.hello()
            await client.close()
        }
    }

    @Test("Graceful shutdown sends Disconnect SERVER_SHUTDOWN", arguments: liveTransports)
    func gracefulShutdown(transport: HeraldTransport) async throws {
        try await withTestServer { server, listeners in
            let loggedIn = try await listeners.loggedIn("alice", on: transport)
            let handshaken = try await listeners.connect(transport)
            try await handshaken.hello()
            async let stopped: Void = server.shutdown()
            for client in [loggedIn, handshaken] {
                let (_, disconnect) = try await client.expect(Herald_V1_Disconnect.self)
                #expect(disconnect.reason == .serverShutdown)
                let code = try await client.expectClose()
                if transport == .ws {
                    #expect(code == 4001)
                }
            }
            await stopped
            #expect(await server.engine.counts().connections == 0)
        }
    }
}

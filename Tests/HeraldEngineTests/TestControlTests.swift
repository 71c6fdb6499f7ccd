import HeraldEngine
import HeraldMessages
import HeraldWire
import SwiftProtobuf
import Testing

private let key = "test-control-key"

private func harness() throws -> EngineHarness {
    try EngineHarness { $0.testControlKey = Array(key.utf8) }
}

private let adminHello = Herald_V1_Hello.with {
    $0.versions = [1]
    $0.capabilities = ["herald.test-control"]
}

private func loginRequest(_ user: String, app: String = testAppID, token: String = "") -> Herald_V1_LoginRequest {
    Herald_V1_LoginRequest.with {
        $0.appID = app
        $0.userID = user
        $0.token = token
    }
}

extension TestClient {
    /// Sends a `TestControlRequest` and returns its response.
    fileprivate func control(
        _ configure: (inout Herald_V1_TestControlRequest) -> Void,
        key: String = key,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async -> Herald_V1_TestControlResponse {
        var request = Herald_V1_TestControlRequest()
        request.key = key
        configure(&request)
        let id = self.takeRequestID()
        await self.send(
            frame: try! HeraldFrame(
                extensionOpcode: HeraldOpcodeTable.testControlRequest,
                requestID: id,
                message: request
            )
        )
        self.pull()
        guard let index = self.inbox.firstIndex(where: { $0.requestID == id }) else {
            Issue.record("no TestControlResponse; got \(self.describe())", sourceLocation: sourceLocation)
            return Herald_V1_TestControlResponse()
        }
        let frame = self.inbox.remove(at: index)
        #expect(frame.opcode.rawValue == 0xF002, sourceLocation: sourceLocation)
        return (try? frame.decodeMessage(as: Herald_V1_TestControlResponse.self)) ?? Herald_V1_TestControlResponse()
    }
}

@Suite("Test control (Spec/18-test-control.md)")
struct TestControlTests {
    @Test("TCTL-1: granted only to a Hello that names it, and only with a key")
    func grant() async throws {
        let h = try harness()
        #expect(!(await h.connect()).welcome.capabilities.contains("herald.test-control"))
        #expect((await h.connect(hello: adminHello)).welcome.capabilities == ["core", "herald.test-control"])
        let off = try EngineHarness()
        #expect(!(await off.connect(hello: adminHello)).welcome.capabilities.contains("herald.test-control"))
    }

    @Test("TCTL-2: 0xF001 without the capability is unknown-opcode, Disconnect and close")
    func notGranted() async throws {
        let h = try harness()
        let alice = await h.connect()
        await alice.send(
            frame: try HeraldFrame(
                extensionOpcode: HeraldOpcodeTable.testControlRequest,
                requestID: 7,
                message: Herald_V1_TestControlRequest.with { $0.key = key }
            )
        )
        let frames = alice.drain()
        #expect(frames.map(\.opcode) == [.protocolError, .disconnect])
        #expect(try frames[0].decodeMessage(as: Herald_V1_ProtocolError.self).code == "unknown-opcode")
        #expect(alice.sink.isClosed)
    }

    @Test("TCTL-3, TCTL-4: a wrong key is refused without effect; a request without action is invalid")
    func keyAndArguments() async throws {
        let h = try harness()
        let alice = await h.login("alice")
        let admin = await h.connect(hello: adminHello)
        let refused = await admin.control(
            {
                $0.removeUser.userID = "alice"
                $0.removeUser.appID = testAppID
            },
            key: "x"
        )
        #expect(refused.result == .notAuthorized)
        #expect(alice.drain().isEmpty && !alice.sink.isClosed)
        #expect(await admin.control { _ in }.result == .invalidArgument)
        #expect(await admin.control { $0.removeUser.appID = testAppID }.result == .invalidArgument)
    }

    @Test("TCTL-5, TCTL-6, SES-25: remove_user answers first, then removes; the user may log in again")
    func removeUser() async throws {
        let h = try harness()
        let admin = await h.login("admin", hello: adminHello)
        let response = await admin.control {
            $0.removeUser.appID = testAppID
            $0.removeUser.userID = "admin"
        }
        #expect(response.result == .ok)
        #expect(admin.drain().map(\.opcode) == [.connectionStateChanged, .disconnect])
        let again = await h.connect(hello: adminHello)
        #expect(await again.request(loginRequest("admin"), expecting: Herald_V1_LoginResponse.self).result == .ok)
        let missing = await again.control {
            $0.removeUser.appID = testAppID
            $0.removeUser.userID = "nobody"
        }
        #expect(missing.result == .userNotLoggedIn)
    }

    @Test("TCTL-7, TCTL-8, SES-26: bans reject logins until lifted or until their duration ends")
    func bans() async throws {
        let h = try harness()
        let admin = await h.connect(hello: adminHello)
        #expect(
            await admin.control {
                $0.banUser.appID = testAppID
                $0.banUser.userID = "bob"
                $0.banUser.durationMs = 1000
            }.result == .ok
        )
        #expect(
            await admin.control {
                $0.banUser.appID = testAppID
                $0.banUser.userID = "carol"
            }.result == .ok
        )
        let bob = await h.connect()
        #expect(await bob.request(loginRequest("bob"), expecting: Herald_V1_LoginResponse.self).result == .rejected)
        await h.advance(by: 999)
        let bob2 = await h.connect()
        #expect(await bob2.request(loginRequest("bob"), expecting: Herald_V1_LoginResponse.self).result == .rejected)
        await h.advance(by: 1)
        let bob3 = await h.connect()
        #expect(await bob3.request(loginRequest("bob"), expecting: Herald_V1_LoginResponse.self).result == .ok)
        await h.advance(by: 5000)
        let carol = await h.connect()
        #expect(await carol.request(loginRequest("carol"), expecting: Herald_V1_LoginResponse.self).result == .rejected)
        #expect(
            await admin.control {
                $0.liftBan.appID = testAppID
                $0.liftBan.userID = "carol"
            }.result == .ok
        )
        let carol2 = await h.connect()
        #expect(await carol2.request(loginRequest("carol"), expecting: Herald_V1_LoginResponse.self).result == .ok)
    }

    @Test("TCTL-10, SES-5, SES-4: armed login failures answer UNKNOWN at once and TIMEOUT after login_timeout_ms, once")
    func loginFailures() async throws {
        let h = try harness()
        let admin = await h.login("admin", hello: adminHello)
        for (user, failure) in [("alice", Herald_V1_TestControlFailure.internal), ("bob", .overrun)] {
            let armed = await admin.control {
                $0.failNext.appID = testAppID
                $0.failNext.userID = user
                $0.failNext.operation = .login
                $0.failNext.failure = failure
            }
            #expect(armed.result == .ok)
        }
        let alice = await h.connect()
        #expect(await alice.request(loginRequest("alice"), expecting: Herald_V1_LoginResponse.self).result == .unknown)
        #expect(alice.drain().isEmpty)
        #expect(await alice.request(loginRequest("alice"), expecting: Herald_V1_LoginResponse.self).result == .ok)

        let bob = await h.connect()
        _ = await bob.send(loginRequest("bob"))
        await h.advance(by: 9999)  // login_timeout_ms is the default 10000
        #expect(bob.drain().isEmpty)
        await h.advance(by: 1)
        let frames = bob.drain()
        #expect(frames.map(\.opcode) == [.loginResponse])
        #expect(try frames.first?.decodeMessage(as: Herald_V1_LoginResponse.self).result == .timeout)
        #expect(await bob.request(loginRequest("bob"), expecting: Herald_V1_LoginResponse.self).result == .ok)
    }

    @Test("TCTL-10, TOK-24: an armed renewal failure answers FAILURE and keeps the token; TCTL-9 expires it")
    func renewalFailureAndExpiry() async throws {
        let h = try harness()
        let seconds = h.now / 1000
        let token = try await TokenMinter.mint(
            appID: "strict",
            userID: "alice",
            secret: testSecret,
            issuedAt: seconds,
            lifetimeSeconds: 3600
        )
        let alice = await h.connect()
        let login = await alice.request(
            loginRequest("alice", app: "strict", token: token),
            expecting: Herald_V1_LoginResponse.self
        )
        #expect(login.result == .ok)
        _ = alice.drain()
        let admin = await h.connect(hello: adminHello)
        #expect(
            await admin.control {
                $0.failNext.appID = "strict"
                $0.failNext.userID = "alice"
                $0.failNext.operation = .renewToken
                $0.failNext.failure = .internal
            }.result == .ok
        )
        #expect(
            await admin.control {
                $0.failNext.appID = "strict"
                $0.failNext.userID = "alice"
                $0.failNext.operation = .renewToken
                $0.failNext.failure = .overrun
            }.result == .unsupported
        )
        let longer = try await TokenMinter.mint(
            appID: "strict",
            userID: "alice",
            secret: testSecret,
            issuedAt: seconds,
            lifetimeSeconds: 7200
        )
        let renewal = await alice.request(
            Herald_V1_RenewTokenRequest.with { $0.token = longer },
            expecting: Herald_V1_RenewTokenResponse.self
        )
        #expect(renewal.result == .failure && renewal.token == longer)
        #expect(
            await admin.control {
                $0.expireToken.appID = "strict"
                $0.expireToken.userID = "alice"
            }.result == .ok
        )
        let frames = alice.drain()
        #expect(frames.map(\.opcode) == [.tokenExpired, .connectionStateChanged, .disconnect])
        #expect(try frames[0].decodeMessage(as: Herald_V1_TokenExpired.self).tokenExpiresMs == login.tokenExpiresMs)
    }

    @Test("TCTL-11: restart is unsupported without a host")
    func restartWithoutHost() async throws {
        let h = try harness()
        let admin = await h.connect(hello: adminHello)
        #expect(await admin.control { $0.restart.mode = .crash }.result == .unsupported)
        #expect(await admin.control { $0.restart.mode = .unspecified }.result == .invalidArgument)
    }

    @Test("TCTL-11: restart hands the mode to the host after writing the response")
    func restartRequest() async throws {
        var configuration = EngineConfiguration(apps: [
            AppCredentials(appID: testAppID, secrets: [], allowsTokenlessLogin: true)
        ])
        configuration.testControlKey = Array(key.utf8)
        let (requests, continuation) = AsyncStream.makeStream(of: TestControlRestartMode.self)
        let engine = try HeraldEngine(
            configuration: configuration,
            clock: ManualEngineClock(),
            inbox: MemoryOfflineInbox(),
            restartRequests: continuation
        )
        let sink = TestSink()
        let id = await engine.connect(sink: sink, transport: "test")
        await engine.receive(try HeraldFrame(requestID: 1, message: adminHello), on: id)
        var request = Herald_V1_TestControlRequest()
        request.key = key
        request.restart.mode = .graceful
        await engine.receive(
            try HeraldFrame(extensionOpcode: HeraldOpcodeTable.testControlRequest, requestID: 2, message: request),
            on: id
        )
        continuation.finish()
        var modes: [TestControlRestartMode] = []
        for await mode in requests { modes.append(mode) }
        #expect(modes == [.graceful])
        #expect(sink.drain().map(\.opcode.rawValue) == [Herald_V1_Opcode.welcome.rawValue, 0xF002])
    }

    @Test("TCTL-12: crash closes every transport without a frame and ignores later inputs")
    func crash() async throws {
        let h = try harness()
        let alice = await h.login("alice")
        let bob = await h.login("bob")
        await h.engine.crash()
        #expect(alice.drain().isEmpty && bob.drain().isEmpty)
        #expect(alice.sink.isClosed && bob.sink.isClosed)
        await h.engine.transportClosed(alice.id)
        #expect(bob.drain().isEmpty)
        let late = TestSink()
        _ = await h.engine.connect(sink: late, transport: "test")
        #expect(late.isClosed && late.drain().isEmpty)
        #expect(await h.engine.counts() == (connections: 0, sessions: 2))
    }
}

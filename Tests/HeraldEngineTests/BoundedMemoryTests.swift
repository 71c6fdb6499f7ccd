import HeraldEngine
import HeraldMessages
import HeraldWire
import SwiftProtobuf
import Testing

/// Accepts every token, expiring at a fixed time: the engine's timers, not token verification, are under test.
private struct FixedExpiryVerifier: TokenVerifying {
    let expiresMs: Int64

    func verifyLogin(token: String, appID: String, userID: String, nowMs: Int64) -> TokenVerdict {
        .verified(VerifiedToken(expiresMs: self.expiresMs))
    }

    func verifyRenewal(token: String, appID: String, userID: String, nowMs: Int64) -> TokenVerdict {
        .verified(VerifiedToken(expiresMs: self.expiresMs))
    }
}

@Suite("Bounded memory: timers and tables end with what they belong to (LIM-32)")
struct BoundedMemoryTests {
    static let cycles = 100_000

    /// A harness without rate limits (the cycles come faster than a client may send them) whose tokens expire in
    /// about 31,700 years, the far-future `exp` that kept every token timer alive before LIM-32.
    static func harness() throws -> EngineHarness {
        try EngineHarness(verifier: FixedExpiryVerifier(expiresMs: 1_000_000_000_000_000)) { $0.rateLimits = [:] }
    }

    /// The heap may hold cancelled entries until it is compacted: at most 64, or half of its size.
    static func expectBack(
        to baseline: [String: Int],
        _ sizes: [String: Int],
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        var tables = sizes
        var base = baseline
        let heap = tables.removeValue(forKey: "timerHeap") ?? 0
        base["timerHeap"] = nil
        #expect(tables == base, sourceLocation: sourceLocation)
        #expect(heap <= max(64, 2 * (sizes["timers"] ?? 0)), "timer heap \(heap)", sourceLocation: sourceLocation)
    }

    static func login(_ client: TestClient, token: String = "t") async {
        let response = await client.request(
            Herald_V1_LoginRequest.with {
                $0.appID = "strict"
                $0.userID = "alice"
                $0.token = token
            },
            expecting: Herald_V1_LoginResponse.self
        )
        #expect(response.result == .ok)
    }

    static func renew(_ client: TestClient) async {
        let response = await client.request(
            Herald_V1_RenewTokenRequest.with { $0.token = "renewed" },
            expecting: Herald_V1_RenewTokenResponse.self
        )
        #expect(response.result == .ok)
    }

    @Test("100,000 login, renewal and logout cycles leave the timer heap and every table at their baseline")
    func loginLogoutCycles() async throws {
        let harness = try Self.harness()
        let client = await harness.connect()
        let baseline = await harness.engine.debugSizes()
        for _ in 0..<Self.cycles {
            await Self.login(client)
            await Self.renew(client)
            let logout = await client.request(Herald_V1_LogoutRequest(), expecting: Herald_V1_LogoutResponse.self)
            #expect(logout.result == .ok)
            _ = client.drain()
        }
        Self.expectBack(to: baseline, await harness.engine.debugSizes())
    }

    @Test("100,000 renewals of one session leave the timer heap and every table as after the login")
    func renewalsOnly() async throws {
        let harness = try Self.harness()
        let client = await harness.connect()
        await Self.login(client)
        _ = client.drain()
        let baseline = await harness.engine.debugSizes()
        #expect(baseline["timers"] == 4, "idle, presence-free session: idle, token warning, token expiry, purge")
        for _ in 0..<Self.cycles {
            await Self.renew(client)
            _ = client.drain()
        }
        Self.expectBack(to: baseline, await harness.engine.debugSizes())
    }

    @Test("10,000 connections that log in, renew and close leave nothing behind")
    func connectionChurn() async throws {
        let harness = try Self.harness()
        let baseline = await harness.engine.debugSizes()
        for _ in 0..<10_000 {
            let client = await harness.connect()
            await Self.login(client)
            await Self.renew(client)
            await client.drop()
        }
        // Connections that close before their Hello, and after a failed login, too.
        for _ in 0..<1000 {
            let silent = await harness.connect(hello: nil)
            await silent.drop()
            let failed = await harness.connect()
            _ = await failed.request(
                Herald_V1_LoginRequest.with {
                    $0.appID = "no-such-app"
                    $0.userID = "bob"
                },
                expecting: Herald_V1_LoginResponse.self
            )
            await failed.drop()
        }
        Self.expectBack(to: baseline, await harness.engine.debugSizes())
    }
}

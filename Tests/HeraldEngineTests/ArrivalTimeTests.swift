import HeraldEngine
import HeraldMessages
import HeraldWire
import SwiftProtobuf
import Testing

extension TestClient {
    /// Sends a request stamped as having arrived at `arrivedAtMs` (the engine processes it at the clock's current
    /// time) and returns its response.
    fileprivate func request<M: SwiftProtobuf.Message, R: SwiftProtobuf.Message>(
        _ message: M,
        arrivedAtMs: Int64,
        expecting: R.Type,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async -> R {
        let id = self.takeRequestID()
        let frame = try! HeraldFrame(requestID: id, message: message)
        await self.engine.receive(frame, on: self.id, arrivedAtMs: arrivedAtMs)
        // A login's answer waits for the read of the cached messages (PEER-51): run the store's batches.
        await self.harness.settle()
        self.pull()
        guard let index = self.inbox.firstIndex(where: { $0.requestID == id && $0.opcodeInfo?.kind == .response })
        else {
            Issue.record("no response to request \(id); got \(self.describe())", sourceLocation: sourceLocation)
            return R()
        }
        return (try? self.inbox.remove(at: index).decodeMessage(as: R.self)) ?? R()
    }

    /// A peer message to `bob` (who is offline: the answer is `PEER_UNREACHABLE`, and it counts) stamped with its
    /// arrival time; returns the result.
    fileprivate func sendPeer(arrivedAtMs: Int64) async -> Herald_V1_PeerMessageResult {
        let request = Herald_V1_SendPeerMessageRequest.with {
            $0.peerID = "bob"
            $0.message = Herald_V1_MessageBody.with {
                $0.type = .text
                $0.text = "x"
            }
            $0.ackMode = .server
        }
        return await self.request(
            request,
            arrivedAtMs: arrivedAtMs,
            expecting: Herald_V1_SendPeerMessageResponse.self
        ).result
    }
}

@Suite("Rate limits count at arrival (Spec/14-limits.md LIM-24)", .timeLimit(.minutes(1)))
struct ArrivalTimeTests {
    @Test("Requests that arrived within the limit and are processed late in a burst are not refused")
    func lateBurstWithinLimit() async throws {
        let h = try EngineHarness { $0.rateLimits[.messages] = RateLimitValue(count: 2, windowMs: 1000) }
        let alice = await h.login("alice")
        let start = h.now
        // The engine was stalled: the three requests arrived 600 ms apart and are all processed 1300 ms later.
        h.clock.advance(by: 1300)
        #expect(await alice.sendPeer(arrivedAtMs: start) == .peerUnreachable)
        #expect(await alice.sendPeer(arrivedAtMs: start + 600) == .peerUnreachable)
        #expect(await alice.sendPeer(arrivedAtMs: start + 1200) == .peerUnreachable)
        // At 1300 the window (300, 1300] holds the requests of 600 and 1200: one more arriving now is too often.
        #expect(await alice.sendPeer(arrivedAtMs: start + 1300) == .tooOften)
    }

    @Test("Requests that arrived over the limit are refused, however late they are processed")
    func lateBurstOverLimit() async throws {
        let h = try EngineHarness { $0.rateLimits[.messages] = RateLimitValue(count: 2, windowMs: 1000) }
        let alice = await h.login("alice")
        let start = h.now
        h.clock.advance(by: 5000)
        #expect(await alice.sendPeer(arrivedAtMs: start) == .peerUnreachable)
        #expect(await alice.sendPeer(arrivedAtMs: start + 100) == .peerUnreachable)
        #expect(await alice.sendPeer(arrivedAtMs: start + 200) == .tooOften)
        // The window of a request arriving at 1100 holds only the one of 100 (the refused one did not count).
        #expect(await alice.sendPeer(arrivedAtMs: start + 1100) == .peerUnreachable)
    }

    @Test("A request stamped earlier than the one counted before it is counted at that one's time")
    func countedTimesNeverGoBack() async throws {
        let h = try EngineHarness { $0.rateLimits[.messages] = RateLimitValue(count: 2, windowMs: 1000) }
        let alice = await h.login("alice")
        let start = h.now
        #expect(await alice.sendPeer(arrivedAtMs: start) == .peerUnreachable)
        h.clock.advance(by: 1005)
        #expect(await alice.sendPeer(arrivedAtMs: start + 1005) == .peerUnreachable)
        // Stamped 999, before the request counted at 1005: checked and counted at 1005, where the window
        // (5, 1005] holds one request; at 999 the window (-1, 999] would still hold the one of 0.
        #expect(await alice.sendPeer(arrivedAtMs: start + 999) == .peerUnreachable)
        // Both now count at 1005.
        #expect(await alice.sendPeer(arrivedAtMs: start + 2004) == .tooOften)
        h.clock.advance(by: 1000)
        #expect(await alice.sendPeer(arrivedAtMs: start + 2005) == .peerUnreachable)
    }

    @Test("An arrival stamp later than the engine's clock counts at the clock's time")
    func stampAfterNow() async throws {
        let h = try EngineHarness { $0.rateLimits[.messages] = RateLimitValue(count: 1, windowMs: 1000) }
        let alice = await h.login("alice")
        let start = h.now
        // A stamp from the future is taken as now (start): a request 999 ms later is still inside its window.
        #expect(await alice.sendPeer(arrivedAtMs: start + 5000) == .peerUnreachable)
        h.clock.advance(by: 999)
        #expect(await alice.sendPeer(arrivedAtMs: start + 999) == .tooOften)
        h.clock.advance(by: 1)
        #expect(await alice.sendPeer(arrivedAtMs: start + 1000) == .peerUnreachable)
    }

    @Test("Joins and logins count at arrival too")
    func joinAndLoginRates() async throws {
        let h = try EngineHarness {
            $0.rateLimits[.join] = RateLimitValue(count: 2, windowMs: 1000)
            $0.rateLimits[.login] = RateLimitValue(count: 1, windowMs: 1000)
        }
        let alice = await h.login("alice")
        let start = h.now
        h.clock.advance(by: 1300)
        for (offset, channel) in [(Int64(0), "a"), (600, "b"), (1200, "c")] {
            let response = await alice.request(
                Herald_V1_JoinChannelRequest.with { $0.channelID = channel },
                arrivedAtMs: start + offset,
                expecting: Herald_V1_JoinChannelResponse.self
            )
            #expect(response.result == .ok, "join of \(channel)")
        }
        let refused = await alice.request(
            Herald_V1_JoinChannelRequest.with { $0.channelID = "d" },
            arrivedAtMs: start + 1300,
            expecting: Herald_V1_JoinChannelResponse.self
        )
        #expect(refused.result == .tooOften)

        // The login rate, per connection: the first login arrived long before the second, which the engine
        // processes right after it.
        let bob = await h.connect()
        let loginStart = h.now
        let first = await bob.request(
            Herald_V1_LoginRequest.with {
                $0.appID = testAppID
                $0.userID = "bob"
            },
            arrivedAtMs: loginStart - 2000,
            expecting: Herald_V1_LoginResponse.self
        )
        #expect(first.result == .ok)
        _ = bob.drain()
        _ = await bob.request(
            Herald_V1_LogoutRequest(),
            arrivedAtMs: loginStart,
            expecting: Herald_V1_LogoutResponse.self
        )
        let second = await bob.request(
            Herald_V1_LoginRequest.with {
                $0.appID = testAppID
                $0.userID = "bob"
            },
            arrivedAtMs: loginStart,
            expecting: Herald_V1_LoginResponse.self
        )
        #expect(second.result == .ok)
    }
}

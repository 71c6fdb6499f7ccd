import HeraldMessages
import Testing

@testable import HeraldBench

/// The soak's end-of-run accounting finds each kind of fault in a ledger built by hand.
@Suite struct SoakAccountingTests {
    private static let second: UInt64 = 1_000_000_000

    private static func send(
        _ sequence: UInt64,
        outcome: SoakLedger.Outcome,
        mode: SoakLedger.Mode = .peerOffline,
        at time: UInt64,
        id: UInt64
    ) -> SoakLedger.PeerSend {
        SoakLedger.PeerSend(
            sender: 1,
            receiver: 2,
            sequence: sequence,
            mode: mode,
            outcome: outcome,
            sentAt: time,
            answeredAt: time + 1000,
            messageID: id
        )
    }

    private static func receipt(
        _ sequence: UInt64,
        id: UInt64,
        at time: UInt64,
        connection: Int32 = 1,
        offline: Bool = false
    ) -> SoakLedger.PeerReceipt {
        SoakLedger.PeerReceipt(
            receiver: 2,
            sender: 1,
            sequence: sequence,
            messageID: id,
            isOffline: offline,
            connection: connection,
            at: time
        )
    }

    @Test func aCleanLedgerHasNoFault() {
        var ledger = SoakLedger()
        ledger.peerSends = [Self.send(1, outcome: .ok, at: 1, id: 11), Self.send(2, outcome: .cached, at: 2, id: 12)]
        ledger.peerReceipts = [Self.receipt(1, id: 11, at: 5), Self.receipt(2, id: 12, at: 9, connection: 2)]
        let accounting = SoakAccounting(ledger, graceNanoseconds: 2 * Self.second)
        #expect(accounting.lost == 0)
        #expect(accounting.duplicated == 0)
        #expect(accounting.reordered == 0)
        #expect(accounting.cached == 1)
    }

    @Test func aCachedMessageNeverReceivedIsLost() {
        var ledger = SoakLedger()
        ledger.peerSends = [Self.send(1, outcome: .cached, at: 1, id: 11)]
        #expect(SoakAccounting(ledger, graceNanoseconds: 0).lost == 1)
    }

    @Test func duplicatesRedeliveriesAndReordering() {
        var ledger = SoakLedger()
        ledger.peerSends = (1...3).map { Self.send(UInt64($0), outcome: .ok, at: UInt64($0), id: 10 + UInt64($0)) }
        ledger.peerReceipts = [
            Self.receipt(2, id: 12, at: 10),
            Self.receipt(1, id: 11, at: 11),  // before 2 was sent first: reordered
            Self.receipt(2, id: 12, at: 12),  // same connection again: duplicated
            Self.receipt(3, id: 13, at: 13),
            Self.receipt(3, id: 13, at: 20, connection: 2, offline: true),  // PEER-41 redelivery
        ]
        let accounting = SoakAccounting(ledger, graceNanoseconds: 0)
        #expect(accounting.reordered == 1)
        #expect(accounting.duplicated == 1)
        #expect(accounting.redelivered == 1)
        #expect(accounting.lost == 0)
    }

    @Test func aServerModeOKInFlightAtAKillIsNotLost() {
        var ledger = SoakLedger()
        let killedAt = 100 * Self.second
        ledger.peerSends = [
            Self.send(1, outcome: .ok, mode: .serverOffline, at: killedAt - Self.second, id: 11),
            Self.send(2, outcome: .ok, mode: .serverOffline, at: killedAt - 30 * Self.second, id: 12),
        ]
        ledger.severances = (0..<20).map { SoakLedger.Severance(client: $0 == 0 ? 2 : Int32(100 + $0), at: killedAt) }
        let accounting = SoakAccounting(ledger, graceNanoseconds: 2 * Self.second)
        #expect(accounting.killedAt == killedAt)
        #expect(accounting.inFlightAtKill == 1)
        #expect(accounting.lost == 1)  // answered 30 s before the kill: owed
    }

    @Test func channelMessagesOwedToStableMembers() {
        var ledger = SoakLedger()
        ledger.channelSends = [
            SoakLedger.ChannelSend(channel: 0, sender: 1, sequence: 1, outcome: .ok, sentAt: 10, answeredAt: 11),
            SoakLedger.ChannelSend(channel: 0, sender: 1, sequence: 2, outcome: .ok, sentAt: 20, answeredAt: 21),
        ]
        ledger.memberships = [SoakLedger.Membership(member: 2, channel: 0, from: 5, to: UInt64.max)]
        ledger.channelReceipts = [SoakLedger.ChannelReceipt(receiver: 2, channel: 0, sender: 1, sequence: 1)]
        #expect(SoakAccounting(ledger, graceNanoseconds: 0).channelLost == 1)
    }

    @Test func theRateGateKeepsBelowTheAdvertisedLimit() {
        var limit = Herald_V1_RateLimit()
        limit.rateClass = .messages
        limit.count = 3
        limit.windowMs = 1000
        var gate = RateGate([limit])
        let taken = [
            gate.take(.messages, now: 0), gate.take(.messages, now: 1), gate.take(.messages, now: 2),
            gate.take(.messages, now: 1_200_000_001), gate.take(.join, now: 0),
        ]
        #expect(taken == [true, true, false, true, true])
    }

    @Test func bodiesRoundTrip() throws {
        let body = BenchBody(sender: 7, sequence: 1 << 40)
        #expect(BenchBody(body.message(size: 64)) == body)
        #expect(body.message(size: 64).raw.count == 64)
    }

    @Test func targets() throws {
        #expect(try BenchTarget(url: "tcp://127.0.0.1:7420") == BenchTarget(host: "127.0.0.1", port: 7420))
        #expect(try BenchTarget(url: "tcp://[::1]:9") == BenchTarget(host: "::1", port: 9))
        #expect(throws: BenchError.self) { try BenchTarget(url: "ws://127.0.0.1:7421/herald") }
        #expect(throws: BenchError.self) { try BenchTarget(url: "tcp://127.0.0.1") }
    }
}

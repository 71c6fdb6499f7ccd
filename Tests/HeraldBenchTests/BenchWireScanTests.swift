import Testing

@testable import HeraldBench

/// ``BenchWireScan`` reads a `ChannelMessage`'s `seq` and numbered body from its bytes, and ``BenchOrderCheck``
/// tells in-order, late and skipped numbers apart.
@Suite struct BenchWireScanTests {
    /// A `ChannelMessage` (channels.proto) encoded by hand: channel_id, from_user_id, message (type RAW, raw =
    /// 16-byte body + 4 bytes padding), message_id, server_received_ms, seq.
    private static func channelMessage(channel: String = "fo1", sender: UInt8 = 3, sequence: UInt8 = 7) -> [UInt8] {
        let raw: [UInt8] = [0, 0, 0, 0, 0, 0, 0, sender, 0, 0, 0, 0, 0, 0, 0, sequence, 0, 0, 0, 0]
        let body: [UInt8] = [0x08, 0x02, 0x1a, UInt8(raw.count)] + raw
        return [0x0a, UInt8(channel.utf8.count)] + Array(channel.utf8)
            + [0x12, 0x05] + Array("alice".utf8)
            + [0x1a, UInt8(body.count)] + body
            + [0x20, 0x96, 0x01]  // message_id 150
            + [0x28, 0x80, 0x80, 0x80, 0x80, 0x10]  // server_received_ms, a five-byte varint
            + [0x30, 0xac, 0x02]  // seq 300
    }

    private static func scan(_ bytes: [UInt8], channel: String = "fo1") -> BenchWireScan.ChannelMessageFields? {
        bytes.withUnsafeBytes { BenchWireScan.channelMessage($0, channelID: Array(channel.utf8)) }
    }

    @Test func readsSeqAndBody() throws {
        let fields = try #require(Self.scan(Self.channelMessage()))
        #expect(fields.seq == 300)
        #expect(fields.body == BenchBody(sender: 3, sequence: 7))
    }

    @Test func skipsUnknownFieldsOfEveryWireType() throws {
        // Field 9 as 64-bit, field 10 as 32-bit, field 11 length-delimited: skipped.
        let extra: [UInt8] = [0x49] + Array(repeating: 1, count: 8) + [0x55, 1, 2, 3, 4] + [0x5a, 0x02, 9, 9]
        let fields = try #require(Self.scan(extra + Self.channelMessage()))
        #expect(fields.seq == 300)
    }

    @Test func refusesAnotherChannelAndMalformedBytes() {
        #expect(Self.scan(Self.channelMessage(channel: "fo2")) == nil)
        #expect(Self.scan(Self.channelMessage(), channel: "fo") == nil)
        let truncated = Array(Self.channelMessage().dropLast(1))
        #expect(Self.scan(truncated) == nil)
        // Wire type 3 (group start) is not used by proto3.
        #expect(Self.scan(Self.channelMessage() + [0x3b]) == nil)
        // A TEXT body carries no BenchBody.
        var text = Self.channelMessage()
        text[text.firstIndex(of: 0x08)! + 1] = 0x01
        #expect(Self.scan(text) == nil)
    }

    @Test func ordersNumbers() {
        var check = BenchOrderCheck()
        #expect(check.receive(1) == .inOrder)
        #expect(check.receive(2) == .inOrder)
        #expect(check.receive(2) == .late)
        #expect(check.receive(5) == .gap(skipped: 2))
        #expect(check.receive(3) == .late)
        #expect(check.receive(6) == .inOrder)
        #expect(check.expected == 7)
    }

    @Test func countsOrderProblems() {
        var stats = BenchStats()
        var check = BenchOrderCheck()
        for sequence: UInt64 in [1, 2, 4, 4, 5] { stats.receive(sequence, &check, who: "r") }
        #expect(stats["received"] == 5)
        #expect(stats["received.gap"] == 1)
        #expect(stats["received.out-of-order"] == 1)
    }
}

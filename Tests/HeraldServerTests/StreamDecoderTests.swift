import HeraldEngine
import HeraldMessages
import HeraldWire
import NIOCore
import NIOEmbedded
import Testing

@testable import HeraldServer

/// How ``HeraldStreamDecoder`` hands on a read: all its complete frames as one event, a failure after the frames
/// before it and nothing after (HS-63), leftovers at end of stream as truncation errors (FRM-14, FRM-15).
@Suite struct StreamDecoderTests {
    private let clock = ManualEngineClock()

    private func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            ByteToMessageHandler(HeraldStreamDecoder(maximumPayloadLength: 65_536, clock: self.clock))
        )
        return channel
    }

    private func ping(_ requestID: UInt32) throws -> ByteBuffer {
        try frameBytes(Herald_V1_Ping(), requestID: requestID)
    }

    private func events(_ channel: EmbeddedChannel) throws -> [InboundEvent] {
        var events: [InboundEvent] = []
        while let event = try channel.readInbound(as: InboundEvent.self) { events.append(event) }
        return events
    }

    /// The request ids of a `.frames` event, or `nil` for any other event.
    private func requestIDs(_ event: InboundEvent?) -> [UInt32]? {
        guard case .frames(let frames, _) = event else { return nil }
        return frames.map(\.requestID)
    }

    @Test func aReadOfSeveralFramesIsOneEvent() throws {
        let channel = try self.channel()
        var bytes = try self.ping(1)
        var second = try self.ping(2)
        var third = try self.ping(3)
        bytes.writeBuffer(&second)
        bytes.writeBuffer(&third)
        try channel.writeInbound(bytes)
        let events = try self.events(channel)
        #expect(events.count == 1)
        guard case .frames(let frames, let arrivedAtMs) = events.first else {
            Issue.record("expected frames, got \(events)")
            return
        }
        #expect(frames.map(\.requestID) == [1, 2, 3])
        #expect(arrivedAtMs == self.clock.nowMilliseconds())
        _ = try channel.finish()
    }

    @Test func aFrameSplitAcrossReadsComesWhole() throws {
        let channel = try self.channel()
        var bytes = try self.ping(1)
        var second = try self.ping(2)
        bytes.writeBuffer(&second)
        let first = bytes.readSlice(length: bytes.readableBytes - 3)!
        try channel.writeInbound(first)
        try channel.writeInbound(bytes)
        #expect(try self.events(channel).map { self.requestIDs($0) } == [[1], [2]])
        _ = try channel.finish()
    }

    @Test func framesBeforeAFailureGoFirstAndNothingAfterIt() throws {
        let channel = try self.channel()
        var bytes = try self.ping(1)
        var second = try self.ping(2)
        var bad = try self.ping(3)
        bad.setInteger(UInt8(0x00), at: bad.readerIndex)  // not the magic
        var after = try self.ping(4)
        bytes.writeBuffer(&second)
        bytes.writeBuffer(&bad)
        bytes.writeBuffer(&after)
        try channel.writeInbound(bytes)
        try channel.writeInbound(try self.ping(5))
        let events = try self.events(channel)
        #expect(events.count == 2)
        #expect(self.requestIDs(events.first) == [1, 2], "\(events)")
        if events.count > 1, case .failure(let error, let header) = events[1] {
            #expect(error.code == .badMagic)
            #expect(header?.requestID == 3)
        } else {
            Issue.record("expected the failure second, got \(events)")
        }
        _ = try channel.finish()
    }

    @Test func leftoverBytesAtEndOfStreamAreTruncation() throws {
        let channel = try self.channel()
        var bytes = try self.ping(1)
        var partial = try self.ping(2)
        bytes.writeBuffer(&partial)
        bytes.moveWriterIndex(to: bytes.writerIndex - 1)
        try channel.writeInbound(bytes)
        channel.pipeline.fireChannelInactive()
        let events = try self.events(channel)
        #expect(events.count == 2)
        #expect(self.requestIDs(events.first) == [1], "\(events)")
        if events.count > 1, case .failure(let error, _) = events[1] {
            #expect(error.code == .truncatedPayload || error.code == .truncatedHeader)
        } else {
            Issue.record("expected a truncation failure, got \(events)")
        }
    }
}

// Codec benchmarks. Deterministic metrics (malloc counts, instructions) are what a 2-core CI machine can gate on;
// wall-clock numbers are for local comparison only.
import Benchmark
import Foundation
import HeraldMessages
import HeraldWire
import NIOCore

/// A delivered peer message carrying `size` raw bytes, the shape of the hottest server-to-client frame.
private func peerMessageFrame(rawSize size: Int) -> HeraldFrame {
    var message = Herald_V1_PeerMessage()
    message.fromUserID = "alice"
    message.message.type = .raw
    message.message.raw = Data((0..<size).map { UInt8(truncatingIfNeeded: $0) })
    message.messageID = 42
    message.serverReceivedMs = 1_763_000_000_000
    message.seq = 7
    // A delivery that needs an ack carries ACK_REQUIRED and a non-zero request id (Spec/04-handshake.md).
    return try! HeraldFrame(opcode: .peerMessage, requestID: 1, flags: .ackRequired, message: message)
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .instructions, .throughput],
        maxDuration: .seconds(2),
        maxIterations: 1_000_000
    )

    let frame1K = peerMessageFrame(rawSize: 1024)
    let bytes1K = try! frame1K.encodedBytes()
    let buffer1K = ByteBuffer(bytes: bytes1K)

    Benchmark("Decode 1 KiB frame, header only (x1000)") { benchmark in
        for _ in benchmark.scaledIterations {
            var reader = HeraldFrameReader()
            for _ in 0..<1000 {
                blackHole(try reader.append(buffer1K))
            }
        }
    }

    Benchmark("Decode 1 KiB frame with payload (x1000)") { benchmark in
        for _ in benchmark.scaledIterations {
            var reader = HeraldFrameReader()
            for _ in 0..<1000 {
                for frame in try reader.append(buffer1K) {
                    blackHole(try frame.decodeMessage(as: Herald_V1_PeerMessage.self))
                }
            }
        }
    }

    // Made outside the measured closure, which the harness times as a whole.
    let singleBytes = bytes1K.map { ByteBuffer(bytes: [$0]) }
    Benchmark("Decode 1 KiB frame drip-fed one byte at a time") { benchmark in
        for _ in benchmark.scaledIterations {
            var reader = HeraldFrameReader()
            for byte in singleBytes {
                blackHole(try reader.append(byte))
            }
        }
    }

    var message1K = Herald_V1_PeerMessage()
    message1K.fromUserID = "alice"
    message1K.message.type = .raw
    message1K.message.raw = Data(repeating: 0x5A, count: 1024)
    message1K.seq = 7

    Benchmark("Encode 1 KiB PeerMessage frame (x1000)") { benchmark in
        var out = ByteBufferAllocator().buffer(capacity: 1100)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            for _ in 0..<1000 {
                out.clear()
                let frame = try HeraldFrame(opcode: .peerMessage, requestID: 1, flags: .ackRequired, message: message1K)
                try frame.encode(into: &out)
                blackHole(out)
            }
        }
    }

    Benchmark("Fan-out: encode once, write to 1000 receivers") { benchmark in
        var channelMessage = Herald_V1_ChannelMessage()
        channelMessage.channelID = "lobby"
        channelMessage.fromUserID = "alice"
        channelMessage.message.type = .text
        channelMessage.message.text = String(repeating: "h", count: 256)
        var receivers = (0..<1000).map { _ in ByteBufferAllocator().buffer(capacity: 512) }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let frame = try HeraldFrame(opcode: .channelMessage, message: channelMessage)
            var encoded = ByteBufferAllocator().buffer(capacity: 512)
            try frame.encode(into: &encoded)
            for index in receivers.indices {
                receivers[index].clear()
                receivers[index].writeImmutableBuffer(encoded)
            }
            // Observe one count, not the array: holding a copy of the buffers would make the next
            // iteration's writes copy-on-write and count allocations the server would not make.
            blackHole(receivers[receivers.count - 1].readableBytes)
        }
    }
}

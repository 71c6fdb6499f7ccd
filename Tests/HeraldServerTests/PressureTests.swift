import HeraldEngine
import HeraldMessages
import HeraldServer
import HeraldWire
import NIOCore
import NIOPosix
import SwiftProtobuf
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Frames of `count` requests built by `make` (given each request id), encoded back to back so that they leave in one
/// write and arrive in as few reads as the network allows.
private func batch<M: SwiftProtobuf.Message>(
    on client: TestClient,
    count: Int,
    _ make: () -> M
) throws -> ByteBuffer {
    var buffer = ByteBuffer()
    for _ in 0..<count {
        let frame = try HeraldFrame(requestID: client.takeRequestID(), message: make())
        try frame.encode(into: &buffer, maximumPayloadLength: 0x00FF_FFFF)
    }
    return buffer
}

/// Reads `count` responses of type `R` (ignoring other frames except trouble) and returns their results.
private func readResponses<R: SwiftProtobuf.Message>(
    _ client: TestClient,
    count: Int,
    as type: R.Type,
    who: String
) async throws -> [R] {
    guard let info = HeraldOpcodeTable.info(forMessageName: R.protoMessageName) else {
        throw TestFailure("\(R.protoMessageName) has no opcode")
    }
    var responses: [R] = []
    while responses.count < count {
        let frame = try await client.nextFrame(timeout: .seconds(15))
        switch frame.opcode {
        case info.opcode:
            responses.append(try frame.decodeMessage(as: R.self))
        case .protocolError:
            let error = try frame.decodeMessage(as: Herald_V1_ProtocolError.self)
            throw TestFailure("\(who) got ProtocolError \(error.code)")
        case .disconnect:
            let disconnect = try frame.decodeMessage(as: Herald_V1_Disconnect.self)
            throw TestFailure("\(who) got Disconnect \(disconnect.reason)")
        default:
            continue
        }
    }
    return responses
}

@Suite("Server under pressure (Spec/14-limits.md §14.5)")
struct PressureTests {
    /// What the receiver of ``busyEventLoop()`` saw.
    struct ReceiverCounts: Sendable {
        var peerMessages = 0
        var channelMessages = 0
    }

    @Test("A busy event loop disconnects no one who reads and acknowledges promptly (LIM-20, LIM-22)")
    func busyEventLoop() async throws {
        // One event loop serves every connection, and a test task blocks it for 300 ms at a time while four clients
        // flood channel messages to a receiver that also gets acknowledged peer messages: the engine goes on
        // producing the receiver's frames while the loop cannot write them. A small queue limit makes the effect of
        // counting those frames (or of not reading the receiver's acknowledgements) visible quickly.
        let serverLoops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let configuration = testConfiguration {
            $0.webSocket = nil
            $0.engine.limits.maxOutboundQueueFrames = 32
            $0.engine.rateLimits[.messages] = RateLimitValue(count: 1_000_000, windowMs: 1000)
        }
        let flooderCount = 4
        let peerWindow = 16  // < 32: the sender never has more deliveries outstanding than LIM-17 allows
        let floodBatch = 32
        do {
            try await HeraldServer.withRunningServer(
                configuration: configuration,
                logger: testLogger(),
                eventLoopGroup: serverLoops
            ) { server, bound in
                let listeners = TestListeners(all: bound)
                let receiver = try await listeners.loggedIn("receiver", on: .tcp)
                let sender = try await listeners.loggedIn("sender", on: .tcp)
                var flooders: [TestClient] = []
                for index in 0..<flooderCount {
                    let join = Herald_V1_JoinChannelRequest.with { $0.channelID = "room\(index)" }
                    #expect(
                        try await receiver.request(join, expecting: Herald_V1_JoinChannelResponse.self).result == .ok
                    )
                    let flooder = try await listeners.loggedIn("flooder\(index)", on: .tcp)
                    #expect(
                        try await flooder.request(join, expecting: Herald_V1_JoinChannelResponse.self).result == .ok
                    )
                    flooders.append(flooder)
                }
                let sentinel = receiver.takeRequestID()

                // The receiver reads everything at once and acknowledges every delivery, until the Pong of the
                // sentinel Ping sent when the senders are done.
                async let received: ReceiverCounts = {
                    var counts = ReceiverCounts()
                    while true {
                        let frame = try await receiver.nextFrame(timeout: .seconds(15))
                        switch frame.opcode {
                        case .peerMessage:
                            counts.peerMessages += 1
                            if frame.flags.contains(.ackRequired) {
                                try await receiver.acknowledge(frame)
                            }
                        case .channelMessage:
                            counts.channelMessages += 1
                        case .pong where frame.requestID == sentinel:
                            return counts
                        case .protocolError:
                            let error = try frame.decodeMessage(as: Herald_V1_ProtocolError.self)
                            throw TestFailure("the receiver got ProtocolError \(error.code)")
                        case .disconnect:
                            let disconnect = try frame.decodeMessage(as: Herald_V1_Disconnect.self)
                            throw TestFailure("the receiver got Disconnect \(disconnect.reason)")
                        default:
                            continue
                        }
                    }
                }()

                let deadline = ContinuousClock.now + .seconds(3)
                let (peerSent, channelSent) = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                    group.addTask {
                        // The server's only event loop is busy for 300 ms, six times.
                        for _ in 0..<6 {
                            try await Task.sleep(for: .milliseconds(200))
                            serverLoops.next().execute { usleep(300_000) }
                            try await Task.sleep(for: .milliseconds(300))
                        }
                        return (0, 0)
                    }
                    group.addTask {
                        var sent = 0
                        while ContinuousClock.now < deadline {
                            try await sender.sendRaw(
                                try batch(on: sender, count: peerWindow) {
                                    Herald_V1_SendPeerMessageRequest.with {
                                        $0.peerID = "receiver"
                                        $0.message = textBody("peer \(sent)")
                                        $0.ackMode = .peer
                                    }
                                }
                            )
                            let responses = try await readResponses(
                                sender,
                                count: peerWindow,
                                as: Herald_V1_SendPeerMessageResponse.self,
                                who: "the sender"
                            )
                            for response in responses where response.result != .ok {
                                throw TestFailure("the sender got \(response.result)")
                            }
                            sent += peerWindow
                        }
                        return (sent, 0)
                    }
                    for (index, flooder) in flooders.enumerated() {
                        group.addTask {
                            var sent = 0
                            while ContinuousClock.now < deadline {
                                try await flooder.sendRaw(
                                    try batch(on: flooder, count: floodBatch) {
                                        Herald_V1_SendChannelMessageRequest.with {
                                            $0.channelID = "room\(index)"
                                            $0.message = textBody("flood")
                                        }
                                    }
                                )
                                let responses = try await readResponses(
                                    flooder,
                                    count: floodBatch,
                                    as: Herald_V1_SendChannelMessageResponse.self,
                                    who: "flooder \(index)"
                                )
                                for response in responses where response.result != .ok {
                                    throw TestFailure("flooder \(index) got \(response.result)")
                                }
                                sent += floodBatch
                            }
                            return (0, sent)
                        }
                    }
                    return try await group.reduce((0, 0)) { ($0.0 + $1.0, $0.1 + $1.1) }
                }
                try await receiver.send(Herald_V1_Ping.with { $0.clientTimeMs = 1 }, requestID: sentinel)
                let counts = try await received
                #expect(peerSent > 0 && channelSent > 0)
                #expect(counts.peerMessages == peerSent)
                #expect(counts.channelMessages == channelSent)
                #expect(await server.engine.counts().sessions == 2 + flooderCount)
                for client in [receiver, sender] + flooders {
                    try await client.ping()
                    await client.close()
                }
            }
        } catch {
            try await serverLoops.shutdownGracefully()
            throw error
        }
        try await serverLoops.shutdownGracefully()
    }
}

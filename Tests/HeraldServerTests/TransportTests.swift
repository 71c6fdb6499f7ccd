import Foundation
import HeraldEngine
import HeraldMessages
import HeraldProcess
import HeraldServer
import HeraldWire
import NIOCore
import NIOSSL
import NIOWebSocket
import SwiftProtobuf
import Testing

/// The bytes of a frame carrying `message`.
func frameBytes<M: SwiftProtobuf.Message>(_ message: M, requestID: UInt32) throws -> ByteBuffer {
    var buffer = ByteBuffer()
    try HeraldFrame(requestID: requestID, message: message).encode(into: &buffer)
    return buffer
}

/// An `openssl` executable, if the machine has one (for the TLS test's throw-away certificate).
let opensslPath: String? = ["/usr/bin/openssl", "/usr/local/bin/openssl", "/opt/homebrew/bin/openssl"].first {
    FileManager.default.isExecutableFile(atPath: $0)
}

/// Makes a throw-away self-signed P-256 certificate for `localhost` (valid one day) with `openssl` in `directory`.
func makeTestCertificate(in directory: String) throws -> TLSFiles {
    let certificate = directory + "/cert.pem"
    let key = directory + "/key.pem"
    let openssl = ChildProcess()
    openssl.executableURL = URL(fileURLWithPath: opensslPath ?? "openssl")
    openssl.arguments = [
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key, "-out", certificate, "-days", "1", "-subj", "/CN=localhost",
        "-addext", "subjectAltName=DNS:localhost",
    ]
    openssl.standardOutput = FileHandle.nullDevice
    openssl.standardError = FileHandle.nullDevice
    try openssl.run()
    openssl.waitUntilExit()
    guard openssl.terminationStatus == 0 else {
        throw TestFailure("openssl req failed with status \(openssl.terminationStatus)")
    }
    return TLSFiles(certificateChainPath: certificate, privateKeyPath: key)
}

@Suite("Transports")
struct TransportTests {
    @Test("WebSocket pings are answered and do not count as activity (HS-43)")
    func webSocketPingsAreNotActivity() async throws {
        let configuration = testConfiguration {
            // Short, but long enough for a first ping round trip while other suites load both cores.
            $0.engine.timers.heartbeatIntervalMs = 1000
            $0.engine.timers.presenceUnreachableMs = 1500
            $0.engine.timers.idleTimeoutMs = 2000
        }
        try await withTestServer(configuration) { _, listeners in
            let client = try await listeners.connect(.ws)
            try await client.hello()
            // Ping as fast as the pongs come back: the server still closes the connection as idle.
            var pongs = 0
            var disconnect: Herald_V1_Disconnect?
            while disconnect == nil {
                let data = Array("ping \(pongs)".utf8)
                // The server may close between two pings; the Disconnect is then already on its way.
                try? await client.sendWebSocketFrame(.ping, data: ByteBuffer(bytes: data))
                switch try await client.nextEvent() {
                case .webSocketPong(let echoed):
                    #expect(echoed == data)
                    pongs += 1
                case .frame(let frame):
                    disconnect = try frame.decodeMessage(as: Herald_V1_Disconnect.self)
                case let other:
                    throw TestFailure("unexpected \(other)")
                }
            }
            #expect(pongs > 0)
            #expect(disconnect?.reason == .idleTimeout)
            #expect(try await client.expectClose() == 4002)
        }
    }

    @Test("A fragmented WebSocket message carries one frame, with control frames in between")
    func fragmentedMessage() async throws {
        try await withTestServer { _, listeners in
            let client = try await listeners.connect(.ws)
            var hello = Herald_V1_Hello()
            hello.versions = [1]
            hello.clientName = String(repeating: "fragmented ", count: 10)
            var bytes = try frameBytes(hello, requestID: 1)
            let first = bytes.readSlice(length: 5)!
            let second = bytes.readSlice(length: 40)!
            try await client.sendWebSocketFrame(.binary, fin: false, data: first)
            try await client.sendWebSocketFrame(.ping, data: ByteBuffer(string: "between"))
            try await client.sendWebSocketFrame(.continuation, fin: false, data: second)
            try await client.sendWebSocketFrame(.continuation, fin: true, data: bytes)
            let welcome = try await client.response(to: 1, as: Herald_V1_Welcome.self)
            #expect(welcome.version == 1)
            try await client.ping()
            await client.close()
        }
    }

    @Test("A WebSocket message must hold exactly one frame (FRM-21)")
    func webSocketMessageBoundaries() async throws {
        try await withTestServer { _, listeners in
            var ping = Herald_V1_Ping()
            ping.clientTimeMs = 3

            let twoFrames = try await listeners.loggedIn("two", on: .ws)
            var bytes = try frameBytes(ping, requestID: 41)
            var secondFrame = try frameBytes(ping, requestID: 42)
            bytes.writeBuffer(&secondFrame)
            try await twoFrames.sendRaw(bytes)
            let (_, trailing) = try await twoFrames.expect(Herald_V1_ProtocolError.self)
            #expect(trailing.code == "trailing-bytes")
            #expect(trailing.opcode == 0x0003)
            #expect(trailing.requestID == 41)
            #expect(try await twoFrames.expect(Herald_V1_Disconnect.self).message.reason == .protocolError)
            #expect(try await twoFrames.expectClose() == 4003)

            let short = try await listeners.loggedIn("short", on: .ws)
            var truncated = try frameBytes(ping, requestID: 43)
            truncated.moveWriterIndex(to: truncated.writerIndex - 1)
            try await short.sendRaw(truncated)
            #expect(try await short.expect(Herald_V1_ProtocolError.self).message.code == "truncated-payload")
            try await short.expect(Herald_V1_Disconnect.self)
            try await short.expectClose()

            let tiny = try await listeners.loggedIn("tiny", on: .ws)
            try await tiny.sendRaw([0x48, 0x52, 0x01])
            #expect(try await tiny.expect(Herald_V1_ProtocolError.self).message.code == "truncated-header")
            try await tiny.expect(Herald_V1_Disconnect.self)
            try await tiny.expectClose()
        }
    }

    @Test("A WebSocket frame longer than the largest Herald frame is refused")
    func oversizedWebSocketFrame() async throws {
        try await withTestServer { _, listeners in
            let client = try await listeners.loggedIn("huge", on: .ws)
            var bytes = ByteBuffer()
            HeraldFrameHeader(opcode: .ping, requestID: 9, payloadLength: 65_537).write(to: &bytes)
            bytes.writeRepeatingByte(0, count: 65_537)
            try await client.sendRaw(bytes)
            let (_, error) = try await client.expect(Herald_V1_ProtocolError.self)
            #expect(error.code == "frame-too-large")
            #expect(try await client.expect(Herald_V1_Disconnect.self).message.reason == .protocolError)
            #expect(try await client.expectClose() == 4003)
        }
    }

    @Test("After Disconnect over TCP the server half-closes, then closes (TRN-27)")
    func halfCloseAfterDisconnect() async throws {
        try await withTestServer { _, listeners in
            let client = try await TestClient.connect(to: try listeners.listener(.tcp), allowHalfClosure: true)
            try await client.hello()
            // The clock starts before the bad bytes are sent, so the server's linger (2 s from its half-close,
            // which comes after it reads them) is always inside the measured time, however late this client sees
            // the half-close on a busy machine: the lower bound follows from causality, not from scheduling.
            let start = ContinuousClock.now
            try await client.sendRaw(Array("no frame here".utf8) + [0])
            #expect(try await client.expect(Herald_V1_ProtocolError.self).message.code == "bad-magic")
            #expect(try await client.expect(Herald_V1_Disconnect.self).message.reason == .protocolError)
            guard case .inputClosed = try await client.nextEvent() else {
                throw TestFailure("expected the server to close only its sending direction first")
            }
            // The server still reads (and discards) what the client sends, then closes about 2 s after its
            // half-close: a write after that is answered with a reset, which closes the client's connection.
            var closed = false
            while !closed && ContinuousClock.now - start < .seconds(30) {
                try? await client.sendRaw([0])
                if case .closed = try? await client.nextEvent(timeout: .milliseconds(100)) {
                    closed = true
                }
            }
            #expect(closed)
            #expect(ContinuousClock.now - start > .milliseconds(1500))
        }
    }

    @Test("A client that does not read is disconnected as a slow consumer (LIM-14, LIM-15)")
    func slowConsumer() async throws {
        let configuration = testConfiguration {
            $0.engine.limits.maxOutboundQueueFrames = 8
            $0.engine.rateLimits[.messages] = RateLimitValue(count: 1_000_000, windowMs: 1000)
        }
        try await withTestServer(configuration) { server, listeners in
            let slow = try await listeners.loggedIn("slow", on: .tcp)
            let sender = try await listeners.loggedIn("sender", on: .tcp)
            try await slow.channel.setOption(.autoRead, value: false).get()

            var request = Herald_V1_SendPeerMessageRequest()
            request.peerID = "slow"
            request.message = textBody(String(repeating: "x", count: 32_768))
            request.ackMode = .server
            var delivered = 0
            var unreachable = false
            batches: for _ in 0..<100 {
                var ids: [UInt32] = []
                for _ in 0..<32 {
                    ids.append(try await sender.send(request))
                }
                for id in ids {
                    let response = try await sender.response(to: id, as: Herald_V1_SendPeerMessageResponse.self)
                    switch response.result {
                    case .ok: delivered += 1
                    case .peerUnreachable: unreachable = true
                    default: throw TestFailure("unexpected result \(response.result)")
                    }
                }
                if unreachable { break batches }
            }
            #expect(unreachable, "the receiver was never disconnected")
            #expect(await server.engine.counts().sessions == 1)

            // Reading again, the client gets what was queued, then ProtocolError and Disconnect, then the close.
            try await slow.channel.setOption(.autoRead, value: true).get()
            var peerMessages = 0
            var last: [Herald_V1_Opcode] = []
            while true {
                let frame: HeraldFrame
                do {
                    frame = try await slow.nextFrame(timeout: .seconds(10))
                } catch {
                    break
                }
                if frame.opcode == .peerMessage { peerMessages += 1 } else { last.append(frame.opcode) }
            }
            #expect(last.suffix(2) == [.protocolError, .disconnect])
            #expect(peerMessages <= delivered)
            await sender.close()
        }
    }

    @Test("TLS and WebSocket over TLS", .enabled(if: opensslPath != nil))
    func tls() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let files = try makeTestCertificate(in: directory)
        let certificate = files.certificateChainPath

        let configuration = testConfiguration {
            $0.tls = files
            $0.webSocket = nil
            $0.secureWebSocket = ListenAddress(host: "127.0.0.1", port: 0)
        }
        func clientContext(alpn: [String]) throws -> NIOSSLContext {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(certificate))
            tls.applicationProtocols = alpn
            return try NIOSSLContext(configuration: tls)
        }
        try await withTestServer(configuration) { _, listeners in
            #expect(listeners.all.map(\.transport) == [.tls, .wss])
            let alice = try await TestClient.connect(
                to: try listeners.listener(.tls),
                tls: try clientContext(alpn: ["herald/1"])
            )
            guard case .tlsReady(let alpn) = try await alice.nextEvent() else {
                throw TestFailure("no TLS handshake")
            }
            #expect(alpn == "herald/1")  // TRN-11
            try await alice.hello()
            try await alice.login("alice")

            let bob = try await TestClient.connect(
                to: try listeners.listener(.wss),
                tls: try clientContext(alpn: ["http/1.1"])
            )
            #expect(bob.subprotocol == "herald.v1")
            try await bob.hello()
            try await bob.login("bob")

            var request = Herald_V1_SendPeerMessageRequest()
            request.peerID = "bob"
            request.message = textBody("over TLS")
            let id = try await alice.send(request)
            let (delivery, message) = try await bob.expect(Herald_V1_PeerMessage.self)
            #expect(message.message.text == "over TLS")
            try await bob.acknowledge(delivery)
            #expect(try await alice.response(to: id, as: Herald_V1_SendPeerMessageResponse.self).result == .ok)
            await alice.close()
            await bob.close()
        }
    }
}

import HeraldEngine
import HeraldWire
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// The WebSocket subprotocol of Herald v1 (TRN-17, TRN-18).
let heraldWebSocketSubprotocol = "herald.v1"

/// Whether an opening handshake offers `herald.v1` in `Sec-WebSocket-Protocol` (a comma-separated list, possibly
/// over several header lines).
func offersHeraldSubprotocol(_ headers: HTTPHeaders) -> Bool {
    headers["Sec-WebSocket-Protocol"].contains { line in
        line.split(separator: ",").contains { $0.trimmingSpaces == heraldWebSocketSubprotocol }
    }
}

/// The path of a request target, without query or fragment.
func requestPath(_ uri: String) -> Substring {
    uri.prefix { $0 != "?" && $0 != "#" }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var text = self
        while text.first == " " || text.first == "\t" { text.removeFirst() }
        while text.last == " " || text.last == "\t" { text.removeLast() }
        return text
    }
}

/// Herald over a WebSocket connection, after the upgrade (Spec/02-transports.md §2.4, Spec/03-framing.md §3.10).
///
/// - Binary messages, possibly fragmented, are reassembled and decoded as exactly one frame each
///   (``HeraldWire/decodeSingleFrame(_:maximumPayloadLength:)-(ByteBuffer,_)``). The header is checked as soon as
///   its 14 bytes have arrived and a message longer than its frame is refused at once, so no more than one frame
///   (plus one WebSocket frame) is ever buffered (FRM-9, FRM-22, FRM-26).
/// - A text message is refused with `Disconnect` and close code 1003 (TRN-21); WebSocket protocol errors with
///   `Disconnect` and 1002.
/// - Pings are answered with pongs here; neither reaches the engine, so they never count as activity (HS-43).
/// - Close frames are answered, and the connection closed, as RFC 6455 §5.5.1 asks.
final class HeraldWebSocketHandler: ChannelDuplexHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = InboundEvent
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let maximumPayloadLength: Int
    /// The binary message being reassembled.
    private var message: ByteBuffer?
    /// The size of the message's frame, once its header has been read.
    private var expectedSize: Int?
    /// Set after a failure or violation: further data frames are ignored.
    private var stopped = false
    private var closeSent = false

    /// Extension opcodes accepted besides the v1 opcodes (the test-control pair when test control is enabled).
    private let acceptedExtensions: [HeraldOpcodeInfo]
    /// The engine's clock, read once per socket read for the arrival time of its frames (LIM-24).
    private let clock: any EngineClock
    /// The arrival time of the frames of the current read, from its first complete frame until `channelReadComplete`.
    private var readStamp: Int64?

    init(maximumPayloadLength: Int, acceptedExtensions: [HeraldOpcodeInfo] = [], clock: any EngineClock) {
        self.maximumPayloadLength = maximumPayloadLength
        self.acceptedExtensions = acceptedExtensions
        self.clock = clock
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        if frame.rsv1 || frame.rsv2 || frame.rsv3 {
            self.violation(context: context, .protocolError, "reserved bits set and no extension negotiated")
            return
        }
        guard frame.maskKey != nil else {
            // RFC 6455 §5.1: a server closes the connection on an unmasked client frame.
            self.violation(context: context, .protocolError, "client frames must be masked")
            return
        }
        switch frame.opcode {
        case .ping:
            if !self.closeSent {
                let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
                context.writeAndFlush(Self.wrapOutboundOut(pong), promise: nil)
            }
        case .pong:
            break
        case .connectionClose:
            self.stopped = true
            if self.closeSent {
                context.close(promise: nil)
            } else {
                // Echo the status code (RFC 6455 §5.5.1), then close: the server closes the TCP connection first.
                var payload = frame.unmaskedData
                let code = payload.readSlice(length: 2) ?? ByteBuffer()
                self.closeSent = true
                let reply = WebSocketFrame(fin: true, opcode: .connectionClose, data: code)
                let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
                context.writeAndFlush(Self.wrapOutboundOut(reply)).whenComplete { _ in
                    loopBoundContext.value.close(promise: nil)
                }
            }
        case .text:
            guard !self.stopped else { return }
            if self.message != nil {
                self.violation(context: context, .protocolError, "a new message began inside a fragmented message")
            } else {
                self.violation(context: context, .unacceptableData, "Herald frames travel in binary messages")
            }
        case .binary:
            guard !self.stopped else { return }
            guard self.message == nil else {
                self.violation(context: context, .protocolError, "a new message began inside a fragmented message")
                return
            }
            self.message = context.channel.allocator.buffer(capacity: frame.length)
            self.expectedSize = nil
            self.append(frame, context: context)
        case .continuation:
            guard !self.stopped else { return }
            guard self.message != nil else {
                self.violation(context: context, .protocolError, "a continuation frame without a message")
                return
            }
            self.append(frame, context: context)
        default:
            self.violation(context: context, .protocolError, "unknown WebSocket opcode")
        }
    }

    private func append(_ frame: WebSocketFrame, context: ChannelHandlerContext) {
        var data = frame.unmaskedData
        self.message!.writeBuffer(&data)
        let message = self.message!
        if self.expectedSize == nil && message.readableBytes >= HeraldFrameHeader.size {
            do {
                // FRM-9, FRM-22: the header is checked before any more of the payload is buffered.
                if let header = try HeraldFrameHeader.peek(
                    from: message,
                    maximumPayloadLength: self.maximumPayloadLength,
                    acceptedExtensions: self.acceptedExtensions
                ) {
                    self.expectedSize = HeraldFrameHeader.size + header.payloadLength
                }
            } catch {
                self.fail(error, message: message, context: context)
                return
            }
        }
        if let expected = self.expectedSize, message.readableBytes > expected {
            self.fail(
                WireError(
                    .trailingBytes,
                    "the message holds more than its frame of \(expected) bytes; a message carries exactly one frame"
                ),
                message: message,
                context: context
            )
            return
        }
        guard frame.fin else { return }
        self.message = nil
        self.expectedSize = nil
        do {
            let decoded = try HeraldWire.decodeSingleFrame(
                message,
                maximumPayloadLength: self.maximumPayloadLength,
                acceptedExtensions: self.acceptedExtensions
            )
            let stamp = self.readStamp ?? self.clock.nowMilliseconds()
            self.readStamp = stamp
            context.fireChannelRead(Self.wrapInboundOut(.frame(decoded, arrivedAtMs: stamp)))
        } catch {
            self.fail(error, message: message, context: context)
        }
    }

    private func fail(_ error: WireError, message: ByteBuffer, context: ChannelHandlerContext) {
        self.stopped = true
        self.message = nil
        self.expectedSize = nil
        context.fireChannelRead(Self.wrapInboundOut(.failure(error, header: rawHeaderFields(message))))
    }

    private func violation(context: ChannelHandlerContext, _ code: WebSocketErrorCode, _ text: String) {
        guard !self.stopped else { return }
        self.stopped = true
        self.message = nil
        context.fireChannelRead(Self.wrapInboundOut(.violation(closeCode: code, message: text)))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.readStamp = nil
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? NIOWebSocketError {
            switch error {
            case .invalidFrameLength:
                // A WebSocket frame longer than the largest Herald frame accepted (14 + max payload length).
                guard !self.stopped else { return }
                self.stopped = true
                self.message = nil
                let failure = WireError(
                    .frameTooLarge,
                    "a WebSocket frame exceeds 14 + \(self.maximumPayloadLength) bytes, the largest frame accepted"
                )
                context.fireChannelRead(Self.wrapInboundOut(.failure(failure, header: nil)))
            default:
                self.violation(context: context, .protocolError, "WebSocket protocol error: \(error)")
            }
            context.fireChannelReadComplete()
            return
        }
        if self.stopped, case .dataReceivedInErrorState = error as? ByteToMessageDecoderError {
            // Bytes after a WebSocket decoding error cannot be parsed, not even the client's close frame: they are
            // discarded until the client closes or the sink's linger ends. Closing at once, with unread bytes
            // pending, would reset the connection and could destroy the Disconnect (TRN-27).
            return
        }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = Self.unwrapOutboundIn(data)
        if frame.opcode == .connectionClose {
            if self.closeSent {
                promise?.succeed()
                return
            }
            self.closeSent = true
        } else if self.closeSent && frame.opcode != .pong {
            // Nothing may follow a close frame (RFC 6455 §5.5.1).
            promise?.fail(ChannelError.outputClosed)
            return
        }
        context.write(data, promise: promise)
    }
}

/// The request head of a WebSocket listener's connection, kept for ``WebSocketRefusalHandler``: after a refused
/// upgrade, NIO does not replay the request to the handlers added for plain HTTP.
final class RequestRecord {
    var head: HTTPRequestHead?
}

/// Records the first request head of a connection, then leaves the pipeline.
final class RequestHeadRecorder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    private let record: RequestRecord

    init(record: RequestRecord) {
        self.record = record
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = Self.unwrapInboundIn(data) {
            self.record.head = head
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        context.fireChannelRead(data)
    }
}

/// Answers an HTTP request that did not become a Herald WebSocket, then closes the connection: 404 for another
/// path, 400 for an upgrade that does not offer `herald.v1` (TRN-19), 426 for a plain HTTP request.
final class WebSocketRefusalHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let path: String
    private let head: HTTPRequestHead?

    init(path: String, head: HTTPRequestHead?) {
        self.path = path
        self.head = head
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let status: HTTPResponseStatus
        let text: String
        var headers = HTTPHeaders()
        if let head = self.head, requestPath(head.uri) != self.path {
            status = .notFound
            text = "Herald is served at \(self.path)\n"
        } else if let head = self.head, !head.headers["Upgrade"].contains(where: { $0.lowercased() == "websocket" }) {
            status = .upgradeRequired
            text = "Herald speaks WebSocket here, with the subprotocol \(heraldWebSocketSubprotocol).\n"
            headers.add(name: "Upgrade", value: "websocket")
        } else {
            status = .badRequest
            text =
                "A WebSocket opening handshake (version 13) offering the subprotocol "
                + "\(heraldWebSocketSubprotocol) is expected.\n"
        }
        let body = context.channel.allocator.buffer(string: text)
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Connection", value: "close")
        let response = HTTPResponseHead(version: .http1_1, status: status, headers: headers)
        context.write(Self.wrapOutboundOut(.head(response)), promise: nil)
        context.write(Self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(Self.wrapOutboundOut(.end(nil))).whenComplete { _ in
            loopBoundContext.value.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // The request was answered in handlerAdded; replayed parts are ignored.
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

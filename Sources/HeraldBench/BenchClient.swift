import HeraldMessages
import HeraldWire
import NIOCore
import NIOPosix
import SwiftProtobuf

/// How a ``BenchClient`` answers deliveries flagged `ACK_REQUIRED` (Spec/06-peer-messages.md PEER-21).
public enum BenchAckPolicy: Sendable, Hashable {
    /// Answer each with `DeliveryAck` `DELIVERY_ACK_RESULT_ACCEPTED` at once.
    case ack
    /// Never acknowledge ("never ack" mode): the server's outstanding deliveries to this client only grow.
    case never
}

/// The answer to one request of a ``BenchClient``.
public struct BenchAnswer {
    /// The response frame (opcode = request opcode + 1, same request id), if one arrived.
    public var frame: HeraldFrame?
    /// The `ProtocolError` naming the request (HS-76), if that arrived instead.
    public var protocolError: Herald_V1_ProtocolError?
    /// Time from writing the request to reading its answer, in nanoseconds.
    public var elapsedNanoseconds: UInt64

    /// `true` when neither arrived: the connection closed first.
    public var connectionClosed: Bool {
        self.frame == nil && self.protocolError == nil
    }

    /// Decodes the response as `type`; `nil` when there is no response or it does not decode.
    public func decode<M: SwiftProtobuf.Message>(_ type: M.Type) -> M? {
        guard let frame else { return nil }
        return try? BenchClient.leanDecode(type, frame.payload)
    }
}

/// A stream of numbered events (Spec/17-extensibility.md §17.7).
public enum BenchStream: Hashable, Sendable {
    /// The session's user stream.
    case user
    /// The stream of one joined channel.
    case channel(String)
}

/// Statistics of one event loop, shared by its clients; used only on that loop.
public final class BenchLoopStats {
    /// The statistics.
    public var stats = BenchStats()

    /// Creates empty statistics.
    public init() {}
}

/// A lean load-client connection to a Herald server over TCP, confined to one event loop.
///
/// It does the handshake (Hello/Welcome), sends requests with request ids and pairs each with its response by
/// opcode and request id, or with a `ProtocolError` carrying the request id (HS-74, HS-76); sends a `Ping` when it
/// has sent nothing for the heartbeat interval (HS-41); acknowledges `ACK_REQUIRED` deliveries unless its
/// ``ackPolicy`` is ``BenchAckPolicy/never``; checks the `seq` of every stream event (EXT-25, EXT-26); and counts
/// every `ProtocolError` and `Disconnect` with its reason into ``stats``.
///
/// Frames written during one event-loop tick or one read burst go out in a single write and flush. Every method
/// must be called on ``eventLoop``; the type is deliberately not `Sendable` (many clients share a loop, no locks).
public final class BenchClient {
    /// The event loop the connection lives on.
    public let eventLoop: any EventLoop
    /// A label for notes, usually the user id.
    public let name: String
    /// The statistics this client records into (its loop's).
    public let loopStats: BenchLoopStats
    /// How deliveries are acknowledged.
    public var ackPolicy: BenchAckPolicy = .ack
    /// Prepended to the names of the problems this client counts (`protocol-error.…`, `disconnect.…`, `seq.…`),
    /// so that clients expected to be cut off or to provoke errors are counted apart.
    public var counterPrefix = ""
    /// The capabilities asked for in Hello.
    public var capabilities: [String] = [
        "core", "peer-messages", "offline-messages", "presence", "user-attributes", "channels", "channel-messages",
        "channel-attributes", "invitations",
    ]
    /// The server's Welcome, once received.
    public private(set) var welcome: Herald_V1_Welcome?
    /// Whether a session is logged in on this connection.
    public private(set) var loggedIn = false
    /// Whether this side closed the connection (``close()``).
    public private(set) var closedByClient = false
    /// The server's `Disconnect`, if one arrived on this connection.
    public private(set) var lastDisconnect: Herald_V1_Disconnect?
    /// Whether the TCP connection is open.
    public var isConnected: Bool { self.channel != nil }

    /// Called for every stream event after its `seq` was checked, and for other events (with `nil` stream).
    public var onEvent: ((BenchClient, HeraldFrame, any SwiftProtobuf.Message, BenchStream?) -> Void)?
    /// Called first for every event frame not flagged `ACK_REQUIRED`, before it is decoded: a client that reads
    /// many events can take the ones it knows by their bytes (see ``BenchWireScan``) and return `true`, and must
    /// then check their `seq` with ``advance(_:to:)`` itself; `false` hands the frame on to decoding and ``onEvent``.
    public var onRawEvent: ((BenchClient, HeraldFrame) -> Bool)?
    /// Called when the server sends `Disconnect`.
    public var onDisconnect: ((BenchClient, Herald_V1_Disconnect) -> Void)?
    /// Called when a `ProtocolError` arrives (after it is matched to a request, if it names one).
    public var onProtocolError: ((BenchClient, Herald_V1_ProtocolError) -> Void)?
    /// Called once when the connection closes.
    public var onClosed: ((BenchClient) -> Void)?

    private var channel: (any Channel)?
    private var logoutSent = false
    private var outbound: ByteBuffer
    private var flushScheduled = false
    private var nextRequestID: UInt32 = 1
    private var pending: [UInt32: Pending] = [:]
    /// The ids and opcodes of the last answered requests, to tell a second response from a stray one.
    private var recentlyAnswered: [(UInt32, Herald_V1_Opcode)] = []
    private var welcomeWaiter: ((Result<Herald_V1_Welcome, BenchError>) -> Void)?
    private var lastSentNanoseconds: UInt64 = 0
    private var heartbeat: RepeatedTask?
    private var streams: [BenchStream: UInt64] = [:]
    private var maximumPayloadLength = HeraldFrameHeader.defaultMaximumPayloadLength

    private struct Pending {
        var opcode: Herald_V1_Opcode
        var sentAt: UInt64
        var answer: ((BenchAnswer) -> Void)?
    }

    /// Creates a client on `eventLoop` recording into `loopStats` (which must belong to the same loop).
    public init(name: String, eventLoop: any EventLoop, loopStats: BenchLoopStats) {
        self.name = name
        self.eventLoop = eventLoop
        self.loopStats = loopStats
        self.outbound = ByteBufferAllocator().buffer(capacity: 0)
    }

    /// Shorthand for the loop's statistics.
    public var stats: BenchStats {
        get { self.loopStats.stats }
        _modify { yield &self.loopStats.stats }
    }

    // MARK: Connecting

    /// Opens a TCP connection to `target`, sends Hello and calls `completion` with the Welcome (or an error).
    ///
    /// With `sendHello` false nothing is sent and `completion` is called with an empty Welcome once the TCP
    /// connection is open (for fuzzing the handshake).
    public func connect(
        to target: BenchTarget,
        sendHello: Bool = true,
        completion: @escaping (Result<Herald_V1_Welcome, BenchError>) -> Void
    ) {
        self.eventLoop.preconditionInEventLoop()
        let bound = NIOLoopBound(self, eventLoop: self.eventLoop)
        let connecting = ClientBootstrap(group: self.eventLoop)
            .connectTimeout(.seconds(10))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Known before the connect completes, so that a close racing the completion is still seen.
                    bound.value.channel = channel
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(
                            HeraldFrameDecoder(maximumPayloadLength: HeraldFrameHeader.defaultMaximumPayloadLength)
                        )
                    )
                    try channel.pipeline.syncOperations.addHandler(BenchChannelHandler(client: bound.value))
                }
            }
            .connect(host: target.host, port: target.port)
        connecting.assumeIsolated().whenComplete { result in
            let client = bound.value
            switch result {
            case .failure(let error):
                client.channel = nil
                client.stats.count(client.counterPrefix + "connect.failed")
                completion(.failure(BenchError(.unreachable, "cannot connect to \(target): \(error)")))
            case .success:
                guard client.channel != nil else {
                    completion(.failure(BenchError(.unreachable, "the connection to \(target) closed at once")))
                    return
                }
                guard sendHello else {
                    completion(.success(Herald_V1_Welcome()))
                    return
                }
                client.welcomeWaiter = completion
                var hello = Herald_V1_Hello()
                hello.versions = [1]
                hello.clientName = "herald-bench"
                hello.capabilities = client.capabilities
                client.send(opcode: .hello, hello, answer: nil)
            }
        }
    }

    /// Logs in as `userID` with `token` in `appID` and calls `completion` with the answer.
    public func login(appID: String, userID: String, token: String, completion: @escaping (BenchAnswer) -> Void) {
        var request = Herald_V1_LoginRequest()
        request.appID = appID
        request.userID = userID
        request.token = token
        self.send(opcode: .loginRequest, request, answer: completion)
    }

    /// Stops reading from the socket (a client that never reads), or resumes.
    public func setAutoRead(_ enabled: Bool) {
        self.channel?.setOption(.autoRead, value: enabled).whenComplete { _ in }
    }

    /// Closes the connection (a client going away without logging out).
    public func close() {
        self.closedByClient = true
        self.flushNow()
        self.channel?.close(promise: nil)
    }

    // MARK: Sending

    /// Sends a request (or a notice, when `answer` is `nil` and the opcode is not a request) and returns its id.
    ///
    /// The frame joins the connection's pending output, which is written and flushed once per tick.
    @discardableResult
    public func send(
        opcode: Herald_V1_Opcode,
        _ message: some SwiftProtobuf.Message,
        flags: HeraldFrameFlags = [],
        requestID explicitID: UInt32? = nil,
        answer: ((BenchAnswer) -> Void)?
    ) -> UInt32 {
        let isRequest = HeraldOpcodeTable.info(for: opcode)?.kind == .request
        let requestID: UInt32
        if let explicitID {
            requestID = explicitID
        } else if isRequest {
            requestID = self.takeRequestID()
        } else {
            requestID = 0
        }
        guard self.channel != nil else {
            self.stats.count(self.counterPrefix + "send.after-close")
            answer?(BenchAnswer(frame: nil, protocolError: nil, elapsedNanoseconds: 0))
            return requestID
        }
        do {
            let frame = try HeraldFrame(opcode: opcode, requestID: requestID, flags: flags, message: message)
            try frame.encode(into: &self.outbound, maximumPayloadLength: self.maximumPayloadLength)
        } catch {
            self.stats.problem(self.counterPrefix + "send.encode-failed", "\(self.name): \(opcode): \(error)")
            answer?(BenchAnswer(frame: nil, protocolError: nil, elapsedNanoseconds: 0))
            return requestID
        }
        let now = NIODeadline.now().uptimeNanoseconds
        self.lastSentNanoseconds = now
        if opcode == .logoutRequest { self.logoutSent = true }
        if isRequest {
            self.pending[requestID] = Pending(opcode: opcode, sentAt: now, answer: answer)
        }
        self.scheduleFlush()
        return requestID
    }

    /// Sends bytes as they are (fuzzing): no framing, no request tracking.
    public func sendRaw(_ bytes: ByteBuffer) {
        guard self.channel != nil else { return }
        var bytes = bytes
        self.outbound.writeBuffer(&bytes)
        self.lastSentNanoseconds = NIODeadline.now().uptimeNanoseconds
        self.scheduleFlush()
    }

    /// The number of requests waiting for an answer.
    public var inFlight: Int { self.pending.count }

    private func takeRequestID() -> UInt32 {
        repeat {
            let id = self.nextRequestID
            self.nextRequestID = id == UInt32.max ? 1 : id + 1
            if self.pending[id] == nil { return id }
        } while true
    }

    private func scheduleFlush() {
        guard !self.flushScheduled else { return }
        self.flushScheduled = true
        self.eventLoop.assumeIsolated().execute { [self] in
            self.flushNow()
        }
    }

    /// Writes and flushes the pending output now.
    func flushNow() {
        self.flushScheduled = false
        guard self.outbound.readableBytes > 0, let channel = self.channel else { return }
        let buffer = self.outbound
        self.outbound = channel.allocator.buffer(capacity: 0)
        channel.writeAndFlush(buffer, promise: nil)
    }

    // MARK: Receiving

    func received(_ frame: HeraldFrame) {
        // Frames the decoder still hands over after this side closed the connection are not looked at.
        guard self.channel != nil else { return }
        let opcode = frame.opcode
        switch opcode {
        case .welcome:
            self.receivedWelcome(frame)
            return
        case .protocolError:
            guard let error = try? frame.decodeMessage(as: Herald_V1_ProtocolError.self) else {
                self.stats.problem(self.counterPrefix + "frame.undecodable", "\(self.name): ProtocolError payload")
                return
            }
            // A DeliveryAck sent after this client's own LogoutRequest, for a delivery read before the
            // LogoutResponse, names a delivery the logout ended (HS-51, HS-52): a race of the client, counted apart.
            let race = self.logoutSent && error.code == "unknown-delivery" ? "after-logout." : ""
            self.stats.problem(
                self.counterPrefix + race + "protocol-error.\(error.code)",
                "\(self.name): \(error.code): \(error.message)"
            )
            if error.requestID != 0, Self.answeringCodes.contains(error.code),
                let pending = self.pending[error.requestID],
                error.opcode == 0 || error.opcode == UInt32(pending.opcode.rawValue)
            {
                self.pending.removeValue(forKey: error.requestID)
                pending.answer?(
                    BenchAnswer(
                        frame: nil,
                        protocolError: error,
                        elapsedNanoseconds: self.elapsed(since: pending.sentAt)
                    )
                )
            }
            self.onProtocolError?(self, error)
            return
        case .disconnect:
            let message = (try? frame.decodeMessage(as: Herald_V1_Disconnect.self)) ?? Herald_V1_Disconnect()
            self.lastDisconnect = message
            self.stats.problem(
                self.counterPrefix + "disconnect.\(Self.reasonName(message.reason))",
                "\(self.name): \(message.message)"
            )
            self.onDisconnect?(self, message)
            return
        default:
            break
        }
        guard let info = frame.opcodeInfo else {
            self.stats.problem(self.counterPrefix + "frame.unknown-opcode", "\(self.name): \(opcode.rawValue)")
            return
        }
        if info.kind == .response {
            self.receivedResponse(frame)
            return
        }
        if let onRawEvent = self.onRawEvent, !frame.flags.contains(.ackRequired), onRawEvent(self, frame) {
            return
        }
        let message: any SwiftProtobuf.Message
        do {
            message = try Self.leanDecode(info.messageType, frame.payload)
        } catch {
            self.stats.problem(self.counterPrefix + "frame.undecodable", "\(self.name): \(info.name): \(error)")
            return
        }
        if frame.flags.contains(.ackRequired) && self.ackPolicy == .ack {
            self.send(opcode: .deliveryAck, Herald_V1_DeliveryAck(), requestID: frame.requestID, answer: nil)
        }
        let stream = self.checkSequence(message)
        self.onEvent?(self, frame, message, stream)
    }

    private func receivedWelcome(_ frame: HeraldFrame) {
        guard let waiter = self.welcomeWaiter else {
            self.stats.problem(self.counterPrefix + "frame.unexpected-welcome", self.name)
            return
        }
        self.welcomeWaiter = nil
        self.pending.removeValue(forKey: frame.requestID)
        guard let welcome = try? frame.decodeMessage(as: Herald_V1_Welcome.self) else {
            waiter(.failure(BenchError(.unreachable, "the server's Welcome does not decode")))
            return
        }
        self.welcome = welcome
        if welcome.limits.maxPayloadLength > 0 {
            self.maximumPayloadLength = Int(welcome.limits.maxPayloadLength)
        }
        self.startHeartbeat(intervalMs: Int64(welcome.timers.heartbeatIntervalMs))
        waiter(.success(welcome))
    }

    private func receivedResponse(_ frame: HeraldFrame) {
        guard let pending = self.pending.removeValue(forKey: frame.requestID) else {
            let payload = (try? frame.decodeMessage()).map { ProtoText.short($0) } ?? "undecodable"
            let name = frame.opcodeInfo?.name ?? "?"
            if let earlier = self.recentlyAnswered.first(where: { $0.0 == frame.requestID }) {
                self.stats.problem(
                    self.counterPrefix + "response.second",
                    "\(self.name): a second \(name) for #\(frame.requestID) (\(earlier.1)): \(payload)"
                )
            } else {
                self.stats.problem(
                    self.counterPrefix + "response.unmatched",
                    "\(self.name): \(name) #\(frame.requestID) (ids issued on this connection: 1 to "
                        + "\(self.nextRequestID - 1), \(self.pending.count) in flight): \(payload)"
                )
            }
            return
        }
        if self.recentlyAnswered.count >= 64 { self.recentlyAnswered.removeFirst(16) }
        self.recentlyAnswered.append((frame.requestID, pending.opcode))
        guard frame.opcode.rawValue == pending.opcode.rawValue + 1 else {
            self.stats.problem(
                "response.wrong-opcode",
                "\(self.name): #\(frame.requestID) answered with \(frame.opcodeInfo?.name ?? "?") for \(pending.opcode)"
            )
            pending.answer?(BenchAnswer(frame: nil, protocolError: nil, elapsedNanoseconds: 0))
            return
        }
        self.trackStreams(frame)
        pending.answer?(
            BenchAnswer(frame: frame, protocolError: nil, elapsedNanoseconds: self.elapsed(since: pending.sentAt))
        )
    }

    /// Opens and closes streams as sessions and memberships begin and end (EXT-25, EXT-28).
    private func trackStreams(_ frame: HeraldFrame) {
        switch frame.opcode {
        case .loginResponse:
            if let response = try? frame.decodeMessage(as: Herald_V1_LoginResponse.self), response.result == .ok {
                self.loggedIn = true
                self.logoutSent = false
                self.streams = [.user: 0]
            }
        case .logoutResponse:
            self.loggedIn = false
            self.streams = [:]
        case .joinChannelResponse:
            if let response = try? frame.decodeMessage(as: Herald_V1_JoinChannelResponse.self), response.result == .ok {
                self.streams[.channel(response.channelID)] = 0
            }
        case .leaveChannelResponse:
            if let response = try? frame.decodeMessage(as: Herald_V1_LeaveChannelResponse.self), response.result == .ok
            {
                self.streams.removeValue(forKey: .channel(response.channelID))
            }
        default:
            break
        }
    }

    /// Checks the event's `seq` against its stream: no gap, no repeat (EXT-26, EXT-27).
    private func checkSequence(_ message: any SwiftProtobuf.Message) -> BenchStream? {
        guard let (stream, seq) = Self.streamPosition(of: message) else { return nil }
        self.advance(stream, to: seq, event: type(of: message).protoMessageName)
        return stream
    }

    /// Checks an event's `seq` against its stream and moves the stream on: the next number is in order, a
    /// smaller one counts `seq.repeat`, a larger one `seq.gap`, and an event on a stream that is not open (no
    /// session, or not a member) `seq.outside-stream` (EXT-25 to EXT-28).
    public func advance(_ stream: BenchStream, to seq: UInt64, event: @autoclosure () -> String = "event") {
        guard let last = self.streams[stream] else {
            self.stats.problem(self.counterPrefix + "seq.outside-stream", "\(self.name): \(event()) on \(stream)")
            return
        }
        if seq == last + 1 {
            self.streams[stream] = seq
        } else if seq <= last {
            self.stats.problem(self.counterPrefix + "seq.repeat", "\(self.name): \(stream) seq \(seq) after \(last)")
        } else {
            self.stats.problem(self.counterPrefix + "seq.gap", "\(self.name): \(stream) seq \(seq) after \(last)")
            self.streams[stream] = seq
        }
    }

    /// The stream and `seq` of a stream event (Spec/17-extensibility.md §17.7), `nil` for other messages.
    static func streamPosition(of message: any SwiftProtobuf.Message) -> (BenchStream, UInt64)? {
        switch message {
        case let event as Herald_V1_PeerMessage: (.user, event.seq)
        case let event as Herald_V1_PeersOnlineStatusChanged: (.user, event.seq)
        case let event as Herald_V1_LocalInvitationReceivedByPeer: (.user, event.seq)
        case let event as Herald_V1_LocalInvitationAccepted: (.user, event.seq)
        case let event as Herald_V1_LocalInvitationRefused: (.user, event.seq)
        case let event as Herald_V1_LocalInvitationCanceled: (.user, event.seq)
        case let event as Herald_V1_LocalInvitationFailure: (.user, event.seq)
        case let event as Herald_V1_RemoteInvitationReceived: (.user, event.seq)
        case let event as Herald_V1_RemoteInvitationCanceled: (.user, event.seq)
        case let event as Herald_V1_RemoteInvitationAccepted: (.user, event.seq)
        case let event as Herald_V1_RemoteInvitationRefused: (.user, event.seq)
        case let event as Herald_V1_RemoteInvitationFailure: (.user, event.seq)
        case let event as Herald_V1_InvitationMessage: (.user, event.seq)
        case let event as Herald_V1_MemberJoined: (.channel(event.channelID), event.seq)
        case let event as Herald_V1_MemberLeft: (.channel(event.channelID), event.seq)
        case let event as Herald_V1_MemberCountUpdated: (.channel(event.channelID), event.seq)
        case let event as Herald_V1_ChannelMessage: (.channel(event.channelID), event.seq)
        case let event as Herald_V1_ChannelAttributesUpdated: (.channel(event.channelID), event.seq)
        case let event as Herald_V1_ChannelMemberList: (.channel(event.channelID), event.seq)
        default: nil
        }
    }

    // MARK: Heartbeat and closing

    private func startHeartbeat(intervalMs: Int64) {
        guard intervalMs > 0, self.heartbeat == nil else { return }
        let interval = intervalMs * 1_000_000
        let idleLimit = UInt64(interval / 2)
        let period = TimeAmount.nanoseconds(max(interval / 4, 50_000_000))
        let bound = NIOLoopBound(self, eventLoop: self.eventLoop)
        self.heartbeat = self.eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
            let client = bound.value
            client.heartbeatTick(idleLimit: idleLimit)
        }
    }

    private func heartbeatTick(idleLimit: UInt64) {
        guard self.channel != nil, self.elapsed(since: self.lastSentNanoseconds) >= idleLimit else { return }
        var ping = Herald_V1_Ping()
        ping.clientTimeMs = Int64(NIODeadline.now().uptimeNanoseconds / 1_000_000)
        self.send(opcode: .ping, ping, answer: nil)
        self.stats.count("heartbeat.ping")
    }

    /// How many transport errors (for example `ECONNRESET`) this connection had.
    public private(set) var transportErrorCount = 0

    func transportFailed(_ error: any Error) {
        self.transportErrorCount += 1
        self.stats.problem(self.counterPrefix + "transport.error", "\(self.name): \(error)")
    }

    func closed() {
        guard self.channel != nil else { return }
        self.channel = nil
        self.loggedIn = false
        self.streams = [:]
        self.heartbeat?.cancel()
        self.heartbeat = nil
        if let waiter = self.welcomeWaiter {
            self.welcomeWaiter = nil
            waiter(.failure(BenchError(.unreachable, "the server closed the connection before Welcome")))
        }
        let pending = self.pending
        self.pending = [:]
        for (_, request) in pending.sorted(by: { $0.key < $1.key }) {
            request.answer?(BenchAnswer(frame: nil, protocolError: nil, elapsedNanoseconds: 0))
        }
        self.outbound.clear()
        self.onClosed?(self)
    }

    private func elapsed(since start: UInt64) -> UInt64 {
        let now = NIODeadline.now().uptimeNanoseconds
        return now > start ? now - start : 0
    }

    /// Decodes a payload with SwiftProtobuf alone, without the wire codec's extra canonical-encoding checks (the
    /// conformance suite's job): a load client decodes every frame, and must not be the bottleneck.
    static func leanDecode<M: SwiftProtobuf.Message>(_ type: M.Type, _ payload: ByteBuffer) throws -> M {
        try M(serializedBytes: payload.readableBytesSpan)
    }

    /// The `ProtocolError` codes that answer the request named in their payload (HS-76).
    static let answeringCodes: Set<String> = ["malformed-payload", "capability-not-granted", "already-handshaken"]

    /// The reason's name without its prefix, for example `slow-consumer`.
    public static func reasonName(_ reason: Herald_V1_DisconnectReason) -> String {
        switch reason {
        case .unspecified: "unspecified"
        case .serverShutdown: "server-shutdown"
        case .idleTimeout: "idle-timeout"
        case .protocolError: "protocol-error"
        case .remoteLogin: "remote-login"
        case .tokenExpired: "token-expired"
        case .unsupportedVersion: "unsupported-version"
        case .handshakeTimeout: "handshake-timeout"
        case .slowConsumer: "slow-consumer"
        case .logout: "logout"
        case .banned: "banned"
        case .UNRECOGNIZED(let value): "reason-\(value)"
        }
    }
}

/// The pipeline handler of a ``BenchClient``: hands decoded frames to the client and flushes its output once per
/// read burst.
final class BenchChannelHandler: ChannelInboundHandler {
    typealias InboundIn = HeraldFrame

    private let client: BenchClient

    init(client: BenchClient) {
        self.client = client
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.client.received(Self.unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.client.flushNow()
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.client.transportFailed(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.client.closed()
        context.fireChannelInactive()
    }
}

/// Short renderings of messages for notes.
enum ProtoText {
    /// The message in protobuf text format on one line, at most 160 characters.
    static func short(_ message: any SwiftProtobuf.Message) -> String {
        let text = message.textFormatString().split(separator: "\n").joined(separator: " ")
        return text.count > 160 ? String(text.prefix(160)) + "…" : text
    }
}

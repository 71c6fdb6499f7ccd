import Foundation
import HeraldMessages
import HeraldWire
import NIOCore
import NIOPosix
import SwiftProtobuf
import Synchronization

// Deliberately wrong servers: a frame-level TCP proxy that breaks one rule of the protocol in front of a correct
// Herald server. Used by MutantServerTests (in process) and by the herald-mutant tool (as its own process, for
// Scripts/mutant-field-run.sh).

// MARK: - Mutations

/// The rule a ``MutantProxy`` breaks.
public enum ProxyMutation: String, Sendable, CaseIterable {
    /// CMSG-11: after a `SendChannelMessageResponse` OK, also deliver the message to its sender as a
    /// `ChannelMessage`, numbered in the sender's channel stream as the next `seq`.
    case echoChannelMessages = "echo-channel-messages"
    /// PEER-25: answer every `SendPeerMessageRequest` in `ACK_MODE_PEER` (the default mode) with
    /// `SendPeerMessageResponse` OK at once, before the receiver acknowledged anything; the server's own answer for
    /// that request id is dropped later.
    case earlyPeerAck = "early-peer-ack"
    /// CHAN-16 / SES-28: drop every `MemberLeft` on its way to a client (later events of the channel stream are
    /// renumbered so that the stream has no gap: the server simply never sends `MemberLeft`).
    case dropMemberLeft = "drop-member-left"
}

/// What the mutants did, attributed to the user logged in on the affected connection (empty when none was).
///
/// The tests use it to tell cases in which the mutant actually misbehaved from cases it left alone.
public final class MutationLog: Sendable {
    /// One deviation from the reference behaviour.
    public struct Entry: Sendable, Hashable {
        /// The user id of the session on the connection that saw the deviation, or empty.
        public var userID: String
        /// What was done, for diagnostics.
        public var what: String

        /// An entry for a deviation `what` seen on the connection of `userID`.
        public init(userID: String, what: String) {
            self.userID = userID
            self.what = what
        }
    }

    private let state = Mutex<[Entry]>([])

    /// An empty log.
    public init() {}

    /// Records a deviation.
    public func record(userID: String, _ what: String) {
        self.state.withLock { $0.append(Entry(userID: userID, what: what)) }
    }

    /// Everything recorded so far.
    public var entries: [Entry] {
        self.state.withLock { $0 }
    }
}

// MARK: - Proxy

/// A TCP proxy (by default on a free port of `127.0.0.1`) in front of a Herald server that relays frames both ways
/// and applies a ``ProxyMutation``.
///
/// Bytes are relayed as they come; only frames the mutation needs to see are held until complete and decoded. Bytes
/// that are not frames (framing tests) switch that direction of the connection to plain relaying, so the server
/// judges them itself. Each client connection gets its own upstream connection on the same event loop; all state
/// of a connection lives on that loop.
public final class MutantProxy: Sendable {
    /// The host (address) the proxy listens on.
    public let host: String
    /// The port the proxy listens on (the one actually bound when it was asked for port 0).
    public let port: Int
    /// The rule the proxy breaks.
    public let mutation: ProxyMutation
    /// What the mutation did.
    public let log: MutationLog

    private let listener: any Channel
    private let tracker: ChannelTracker

    private init(
        host: String,
        port: Int,
        mutation: ProxyMutation,
        log: MutationLog,
        listener: any Channel,
        tracker: ChannelTracker
    ) {
        self.host = host
        self.port = port
        self.mutation = mutation
        self.log = log
        self.listener = listener
        self.tracker = tracker
    }

    /// Starts a proxy to `upstreamHost:upstreamPort` listening on `listenHost:listenPort` (port 0: a free port),
    /// runs `body` with it, and closes it and every connection.
    public static func withRunning<Result: Sendable>(
        upstreamHost: String,
        upstreamPort: Int,
        listenHost: String = "127.0.0.1",
        listenPort: Int = 0,
        mutation: ProxyMutation,
        _ body: (MutantProxy) async throws -> Result
    ) async throws -> Result {
        let proxy = try await Self.start(
            upstreamHost: upstreamHost,
            upstreamPort: upstreamPort,
            listenHost: listenHost,
            listenPort: listenPort,
            mutation: mutation
        )
        let result: Swift.Result<Result, any Error>
        do {
            result = .success(try await body(proxy))
        } catch {
            result = .failure(error)
        }
        await proxy.stop()
        return try result.get()
    }

    /// Starts a proxy to `upstreamHost:upstreamPort` listening on `listenHost:listenPort` (port 0: a free port).
    ///
    /// The proxy runs on `MultiThreadedEventLoopGroup.singleton` until ``stop()``. The server is connected to once
    /// per client connection, when the client connects; a client whose server connection fails is disconnected.
    public static func start(
        upstreamHost: String,
        upstreamPort: Int,
        listenHost: String = "127.0.0.1",
        listenPort: Int = 0,
        mutation: ProxyMutation
    ) async throws -> MutantProxy {
        let log = MutationLog()
        let tracked = ChannelTracker()
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                tracked.add(channel)
                let link = ProxyLink(client: channel, mutator: FrameMutator(mutation: mutation, log: log))
                do {
                    try channel.pipeline.syncOperations.addHandler(ClientSideHandler(link: link))
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
                link.connectUpstream(host: upstreamHost, port: upstreamPort, tracker: tracked)
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: listenHost, port: listenPort)
            .get()
        guard let port = listener.localAddress?.port else {
            try? await listener.close()
            throw ChannelError.unknownLocalAddress
        }
        return MutantProxy(
            host: listenHost,
            port: port,
            mutation: mutation,
            log: log,
            listener: listener,
            tracker: tracked
        )
    }

    /// Closes the listener and every connection the proxy opened.
    public func stop() async {
        try? await self.listener.close()
        for channel in self.tracker.channels {
            try? await channel.close()
        }
    }
}

/// The open channels of a proxy, closed when it stops (a channel is forgotten once closed, so that a long-running
/// proxy does not keep every connection it ever relayed).
private final class ChannelTracker: Sendable {
    private let open = Mutex<[ObjectIdentifier: any Channel]>([:])

    /// The channels open now.
    var channels: [any Channel] {
        self.open.withLock { Array($0.values) }
    }

    func add(_ channel: any Channel) {
        let key = ObjectIdentifier(channel)
        self.open.withLock { $0[key] = channel }
        channel.closeFuture.whenComplete { _ in
            self.open.withLock { _ = $0.removeValue(forKey: key) }
        }
    }
}

/// One proxied connection: the client's channel, its upstream channel and the mutation state. Confined to the
/// client channel's event loop (the upstream channel uses the same loop).
private final class ProxyLink {
    let client: any Channel
    let mutator: FrameMutator
    private var upstream: (any Channel)?
    private var waitingForUpstream: [ByteBuffer] = []
    private var fromClient = FrameSplitter()
    private var fromUpstream = FrameSplitter()
    private var clientClosed = false
    private var upstreamClosed = false

    init(client: any Channel, mutator: FrameMutator) {
        self.client = client
        self.mutator = mutator
    }

    func connectUpstream(host: String, port: Int, tracker: ChannelTracker) {
        let loop = self.client.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                tracker.add(channel)
                do {
                    try channel.pipeline.syncOperations.addHandler(UpstreamSideHandler(link: bound.value))
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .connect(host: host, port: port)
            .whenComplete { result in
                let link = bound.value
                switch result {
                case .success(let channel):
                    link.upstreamConnected(channel)
                case .failure:
                    link.upstreamClosed = true
                    link.client.close(promise: nil)
                }
            }
    }

    private func upstreamConnected(_ channel: any Channel) {
        self.upstream = channel
        for buffer in self.waitingForUpstream {
            channel.write(buffer, promise: nil)
        }
        self.waitingForUpstream.removeAll()
        channel.flush()
        if self.clientClosed {
            Self.close(channel, after: self.fromClient.finish())
        }
    }

    // MARK: Client → server

    func clientRead(_ bytes: ByteBuffer) {
        let pieces = self.fromClient.append(bytes) { self.mutator.wantsFromClient($0) }
        var toClient: [HeraldFrame] = []
        for piece in pieces {
            switch piece {
            case .bytes(let raw):
                self.writeUpstream(raw)
            case .frame(let frame):
                let (server, client) = self.mutator.fromClient(frame)
                for frame in server { self.writeUpstream(Self.encode(frame)) }
                toClient += client
            }
        }
        self.upstream?.flush()
        if !toClient.isEmpty && !self.clientClosed {
            for frame in toClient { self.client.write(Self.encode(frame), promise: nil) }
            self.client.flush()
        }
    }

    func clientInactive() {
        guard !self.clientClosed else { return }
        self.clientClosed = true
        if let upstream = self.upstream, !self.upstreamClosed {
            Self.close(upstream, after: self.fromClient.finish())
        }
    }

    private func writeUpstream(_ buffer: ByteBuffer) {
        if let upstream = self.upstream {
            upstream.write(buffer, promise: nil)
        } else {
            self.waitingForUpstream.append(buffer)
        }
    }

    // MARK: Server → client

    func upstreamRead(_ bytes: ByteBuffer) {
        guard !self.clientClosed else { return }
        let pieces = self.fromUpstream.append(bytes) { self.mutator.wantsFromServer($0) }
        for piece in pieces {
            switch piece {
            case .bytes(let raw):
                self.client.write(raw, promise: nil)
            case .frame(let frame):
                for frame in self.mutator.fromServer(frame) {
                    self.client.write(Self.encode(frame), promise: nil)
                }
            }
        }
        self.client.flush()
    }

    func upstreamInactive() {
        guard !self.upstreamClosed else { return }
        self.upstreamClosed = true
        if !self.clientClosed {
            Self.close(self.client, after: self.fromUpstream.finish())
        }
    }

    // MARK: Helpers

    /// Writes the last bytes, then closes once everything written before has gone out.
    private static func close(_ channel: any Channel, after leftover: ByteBuffer) {
        channel.writeAndFlush(leftover).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    private static func encode(_ frame: HeraldFrame) -> ByteBuffer {
        var buffer = ByteBuffer()
        // The proxy only re-encodes frames whose header it validated or that it built itself.
        try? frame.encode(into: &buffer, maximumPayloadLength: HeraldFrameHeader.absoluteMaximumPayloadLength)
        return buffer
    }
}

private final class ClientSideHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let link: ProxyLink

    init(link: ProxyLink) {
        self.link = link
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.link.clientRead(Self.unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.link.clientInactive()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

private final class UpstreamSideHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let link: ProxyLink

    init(link: ProxyLink) {
        self.link = link
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.link.upstreamRead(Self.unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.link.upstreamInactive()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

// MARK: - Frame splitting

/// Splits one direction of a connection into relayed bytes and whole frames the mutation wants to see.
///
/// A frame the mutation does not want is relayed as its bytes arrive (a large or slow frame is not held back);
/// a wanted frame is held until complete. After bytes that do not start a valid header, everything is relayed
/// unchanged.
private struct FrameSplitter {
    enum Piece {
        case bytes(ByteBuffer)
        case frame(HeraldFrame)
    }

    /// The largest wanted frame held back; a larger one is relayed unchanged.
    static let largestHeldPayload = HeraldFrameHeader.defaultMaximumPayloadLength

    private var buffer = ByteBuffer()
    private var relayRemaining = 0
    private var relayEverything = false

    mutating func append(_ bytes: ByteBuffer, wants: (Herald_V1_Opcode) -> Bool) -> [Piece] {
        var bytes = bytes
        self.buffer.writeBuffer(&bytes)
        var pieces: [Piece] = []
        while self.buffer.readableBytes > 0 {
            if self.relayEverything {
                pieces.append(.bytes(self.buffer.readSlice(length: self.buffer.readableBytes)!))
                break
            }
            if self.relayRemaining > 0 {
                let count = min(self.relayRemaining, self.buffer.readableBytes)
                pieces.append(.bytes(self.buffer.readSlice(length: count)!))
                self.relayRemaining -= count
                continue
            }
            let header: HeraldFrameHeader
            do {
                let peeked = try HeraldFrameHeader.peek(
                    from: self.buffer,
                    maximumPayloadLength: HeraldFrameHeader.absoluteMaximumPayloadLength
                )
                guard let peeked else { break }
                header = peeked
            } catch {
                self.relayEverything = true
                continue
            }
            let length = HeraldFrameHeader.size + header.payloadLength
            guard wants(header.opcode), header.payloadLength <= Self.largestHeldPayload else {
                self.relayRemaining = length
                continue
            }
            guard self.buffer.readableBytes >= length else { break }
            self.buffer.moveReaderIndex(forwardBy: HeraldFrameHeader.size)
            let payload = self.buffer.readSlice(length: header.payloadLength)!
            pieces.append(.frame(HeraldFrame(header: header, payload: payload)))
        }
        self.buffer.discardReadBytes()
        return pieces
    }

    /// The bytes still held (an incomplete frame) at the end of the stream.
    mutating func finish() -> ByteBuffer {
        defer { self.buffer.clear() }
        return self.buffer.readSlice(length: self.buffer.readableBytes) ?? ByteBuffer()
    }
}

// MARK: - Mutation logic

/// The events of a channel stream (Spec/17-extensibility.md §17.7): all carry `channel_id` and `seq`.
private protocol ChannelStreamEvent: SwiftProtobuf.Message {
    var channelID: String { get }
    var seq: UInt64 { get set }
}

extension Herald_V1_MemberJoined: ChannelStreamEvent {}
extension Herald_V1_MemberLeft: ChannelStreamEvent {}
extension Herald_V1_MemberCountUpdated: ChannelStreamEvent {}
extension Herald_V1_ChannelMessage: ChannelStreamEvent {}
extension Herald_V1_ChannelAttributesUpdated: ChannelStreamEvent {}
extension Herald_V1_ChannelMemberList: ChannelStreamEvent {}

/// The mutation state of one connection. Confined to the connection's event loop.
private final class FrameMutator {
    /// The numbering of one channel stream as the client sees it.
    private struct Stream {
        /// Added to the server's `seq` (events injected minus events dropped).
        var offset: Int64 = 0
        /// The last `seq` the client got.
        var last: UInt64 = 0
    }

    private static let channelStreamOpcodes: Set<Herald_V1_Opcode> = [
        .memberJoined, .memberLeft, .memberCountUpdated, .channelMessage, .channelAttributesUpdated,
        .channelMemberList,
    ]

    let mutation: ProxyMutation
    private let log: MutationLog
    /// The user of the session on this connection, once a login succeeded.
    private var userID = ""
    private var loginRequests: [UInt32: String] = [:]
    private var channelSends: [UInt32: Herald_V1_SendChannelMessageRequest] = [:]
    private var earlyAnswered: Set<UInt32> = []
    private var streams: [String: Stream] = [:]
    private var nextFakeMessageID: UInt64 = 0

    init(mutation: ProxyMutation, log: MutationLog) {
        self.mutation = mutation
        self.log = log
    }

    func wantsFromClient(_ opcode: Herald_V1_Opcode) -> Bool {
        switch self.mutation {
        case .echoChannelMessages: opcode == .loginRequest || opcode == .sendChannelMessageRequest
        case .earlyPeerAck: opcode == .loginRequest || opcode == .sendPeerMessageRequest
        case .dropMemberLeft: opcode == .loginRequest
        }
    }

    func wantsFromServer(_ opcode: Herald_V1_Opcode) -> Bool {
        switch self.mutation {
        case .echoChannelMessages:
            opcode == .loginResponse || opcode == .sendChannelMessageResponse || opcode == .joinChannelResponse
                || Self.channelStreamOpcodes.contains(opcode)
        case .earlyPeerAck:
            opcode == .loginResponse || opcode == .sendPeerMessageResponse
        case .dropMemberLeft:
            opcode == .loginResponse || opcode == .joinChannelResponse || Self.channelStreamOpcodes.contains(opcode)
        }
    }

    /// A frame from the client: what goes on to the server, and what goes straight back to the client.
    func fromClient(_ frame: HeraldFrame) -> (toServer: [HeraldFrame], toClient: [HeraldFrame]) {
        switch frame.opcode {
        case .loginRequest:
            if let request = try? frame.decodeMessage(as: Herald_V1_LoginRequest.self) {
                self.loginRequests[frame.requestID] = request.userID
            }
        case .sendChannelMessageRequest:
            if let request = try? frame.decodeMessage(as: Herald_V1_SendChannelMessageRequest.self) {
                self.channelSends[frame.requestID] = request
            }
        case .sendPeerMessageRequest:
            guard let request = try? frame.decodeMessage(as: Herald_V1_SendPeerMessageRequest.self),
                request.ackMode == .peer
            else { break }
            let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
            self.nextFakeMessageID += 1
            let answer = Herald_V1_SendPeerMessageResponse.with {
                $0.result = .ok
                $0.messageID = UInt64(nowMs) * 1000 + 500 + self.nextFakeMessageID
                $0.serverReceivedMs = nowMs
            }
            guard let response = try? HeraldFrame(requestID: frame.requestID, message: answer) else { break }
            self.earlyAnswered.insert(frame.requestID)
            self.log.record(userID: self.userID, "answered a peer message to \(request.peerID) before its DeliveryAck")
            return ([frame], [response])
        default:
            break
        }
        return ([frame], [])
    }

    /// A frame from the server: what the client gets instead.
    func fromServer(_ frame: HeraldFrame) -> [HeraldFrame] {
        switch frame.opcode {
        case .loginResponse:
            let userID = self.loginRequests.removeValue(forKey: frame.requestID)
            if let response = try? frame.decodeMessage(as: Herald_V1_LoginResponse.self), response.result == .ok,
                let userID
            {
                self.userID = userID
            }
            return [frame]
        case .joinChannelResponse:
            if let response = try? frame.decodeMessage(as: Herald_V1_JoinChannelResponse.self), response.result == .ok {
                // A successful join starts a new channel stream at seq 1 (EXT-28).
                self.streams[response.channelID] = Stream()
            }
            return [frame]
        case .sendChannelMessageResponse:
            guard let request = self.channelSends.removeValue(forKey: frame.requestID),
                let response = try? frame.decodeMessage(as: Herald_V1_SendChannelMessageResponse.self),
                response.result == .ok
            else { return [frame] }
            var stream = self.streams[request.channelID] ?? Stream()
            stream.last += 1
            stream.offset += 1
            self.streams[request.channelID] = stream
            let echo = Herald_V1_ChannelMessage.with {
                $0.channelID = request.channelID
                $0.fromUserID = self.userID
                $0.message = request.message
                $0.messageID = response.messageID
                $0.serverReceivedMs = response.serverReceivedMs
                $0.seq = stream.last
            }
            guard let event = try? HeraldFrame(message: echo) else { return [frame] }
            self.log.record(userID: self.userID, "echoed a channel message to its sender")
            return [frame, event]
        case .sendPeerMessageResponse:
            if self.earlyAnswered.remove(frame.requestID) != nil {
                return []
            }
            return [frame]
        case .memberJoined: return self.renumber(frame, as: Herald_V1_MemberJoined.self)
        case .memberLeft:
            return self.renumber(frame, as: Herald_V1_MemberLeft.self, drop: self.mutation == .dropMemberLeft)
        case .memberCountUpdated: return self.renumber(frame, as: Herald_V1_MemberCountUpdated.self)
        case .channelMessage: return self.renumber(frame, as: Herald_V1_ChannelMessage.self)
        case .channelAttributesUpdated: return self.renumber(frame, as: Herald_V1_ChannelAttributesUpdated.self)
        case .channelMemberList: return self.renumber(frame, as: Herald_V1_ChannelMemberList.self)
        default:
            return [frame]
        }
    }

    /// Keeps the client's channel stream gap-free around injected and dropped events (EXT-25, EXT-26).
    private func renumber<Event: ChannelStreamEvent>(
        _ frame: HeraldFrame,
        as type: Event.Type,
        drop: Bool = false
    ) -> [HeraldFrame] {
        guard var event = try? frame.decodeMessage(as: type) else { return [frame] }
        var stream = self.streams[event.channelID] ?? Stream()
        defer { self.streams[event.channelID] = stream }
        if drop {
            stream.offset -= 1
            self.log.record(userID: self.userID, "dropped \(frame.opcodeInfo?.name ?? "an event")")
            return []
        }
        let seq = UInt64(max(1, Int64(event.seq) + stream.offset))
        stream.last = seq
        guard seq != event.seq else { return [frame] }
        event.seq = seq
        guard let renumbered = try? HeraldFrame(requestID: frame.requestID, flags: frame.flags, message: event) else {
            return [frame]
        }
        return [renumbered]
    }
}

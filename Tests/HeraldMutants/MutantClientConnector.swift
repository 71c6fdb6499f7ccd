import Foundation
import HeraldClient
import HeraldMessages
import HeraldWire
import NIOCore
import SwiftProtobuf
import Synchronization

// Deliberately wrong clients: HeraldClient behind a connector that breaks one rule of the protocol between the
// client and the network, like MutantProxy does for servers. The herald-mutant-client tool runs them as adapters of
// `herald conform client`, to show that the client suite catches each one (issue 15's proof that it can fail).

/// The rule a ``MutantClientConnector`` breaks.
public enum ClientMutation: String, Sendable, CaseIterable {
    /// HS-41: never sends `Ping` (the client's heartbeats are dropped on their way out).
    case noHeartbeat = "no-heartbeat"
    /// HS-48 / PEER-22: acknowledges every `ACK_REQUIRED` event with `DELIVERY_ACK_RESULT_ACCEPTED` as it arrives,
    /// before the client (let alone the app) has looked at it; the client sees the event without the flag.
    case earlyAck = "early-ack"
    /// EXT-29: renumbers the `seq` of `PeerMessage` and `ChannelMessage` so that the client never sees a gap.
    case ignoreSeqGaps = "ignore-seq-gaps"
    /// EXT-18: gives every request that carries an idempotency key the same key.
    case reuseIdempotencyKey = "reuse-idempotency-key"
    /// TRN-8: does not verify the server's certificate (so a certificate for another host is accepted).
    case acceptWrongHost = "accept-wrong-host"
    /// EXT-13: closes the connection when a frame holds an enum value the schema does not define.
    case unknownEnumFatal = "unknown-enum-fatal"
}

/// A connector that opens real connections with ``NIOClientConnector`` and applies a ``ClientMutation`` to the
/// frames in between.
public struct MutantClientConnector: ClientConnector {
    private let mutation: ClientMutation
    private let inner: NIOClientConnector

    /// Creates a connector for `mutation`, with the TLS options the adapter was given.
    public init(mutation: ClientMutation, tls: ClientTLSOptions) {
        self.mutation = mutation
        var options = tls
        if mutation == .acceptWrongHost { options.insecure = true }
        self.inner = NIOClientConnector(tls: options)
    }

    /// Opens a connection through the mutation.
    public func connect(
        to address: ServerAddress,
        maximumPayloadLength: Int,
        events: @escaping @Sendable (ClientTransportEvent) -> Void
    ) async throws(HeraldClientError) -> any ClientTransport {
        let mutation = self.mutation
        let box = TransportBox()
        let seq = SeqStreams()
        let transport = try await self.inner.connect(to: address, maximumPayloadLength: maximumPayloadLength) {
            event in
            guard case .frames(let frames) = event else {
                events(event)
                return
            }
            var passed: [HeraldFrame] = []
            var acks: [HeraldFrame] = []
            for frame in frames {
                switch mutation {
                case .earlyAck where frame.flags.contains(.ackRequired):
                    if let ack = try? HeraldFrame(
                        opcode: .deliveryAck,
                        requestID: frame.requestID,
                        message: Herald_V1_DeliveryAck()
                    ) {
                        acks.append(ack)
                    }
                    var header = frame.header
                    header.flags.remove(.ackRequired)
                    passed.append(HeraldFrame(header: header, payload: frame.payload))
                case .ignoreSeqGaps:
                    passed.append(Self.renumbered(frame, seq))
                case .unknownEnumFatal:
                    if let message = try? frame.decodeMessage(), Self.holdsUnknownEnum(message) {
                        box.transport?.close()
                        return
                    }
                    passed.append(frame)
                default:
                    passed.append(frame)
                }
            }
            if !acks.isEmpty { box.transport?.send(acks) }
            events(.frames(passed))
        }
        box.transport = transport
        return MutantTransport(inner: transport, mutation: mutation)
    }

    /// A `PeerMessage` or `ChannelMessage` whose `seq` follows the last one delivered on its stream.
    private static func renumbered(
        _ frame: HeraldFrame,
        _ streams: SeqStreams
    ) -> HeraldFrame {
        func next(_ stream: String, _ seq: UInt64) -> UInt64 {
            streams.state.withLock { streams in
                var entry = streams[stream] ?? (0, 0)
                entry.received = seq
                entry.delivered += 1
                streams[stream] = entry
                return entry.delivered
            }
        }
        if frame.opcode == .peerMessage, var message = try? frame.decodeMessage(as: Herald_V1_PeerMessage.self) {
            message.seq = next("user", message.seq)
            return
                (try? HeraldFrame(
                    opcode: frame.opcode,
                    requestID: frame.requestID,
                    flags: frame.flags,
                    message: message
                ))
                ?? frame
        }
        if frame.opcode == .channelMessage, var message = try? frame.decodeMessage(as: Herald_V1_ChannelMessage.self) {
            message.seq = next("channel:" + message.channelID, message.seq)
            return
                (try? HeraldFrame(
                    opcode: frame.opcode,
                    requestID: frame.requestID,
                    flags: frame.flags,
                    message: message
                ))
                ?? frame
        }
        if frame.opcode == .joinChannelResponse,
            let response = try? frame.decodeMessage(as: Herald_V1_JoinChannelResponse.self)
        {
            streams.state.withLock { $0["channel:" + response.channelID] = nil }
        }
        return frame
    }

    /// Whether a message (or a message inside it) holds an enum value its type does not define.
    static func holdsUnknownEnum(_ message: any SwiftProtobuf.Message) -> Bool {
        var visitor = UnknownEnumVisitor()
        try? message.traverse(visitor: &visitor)
        return visitor.found
    }
}

/// The last `seq` received and delivered per stream, for ``ClientMutation/ignoreSeqGaps``.
private final class SeqStreams: Sendable {
    let state = Mutex<[String: (received: UInt64, delivered: UInt64)]>([:])
}

/// Holds the transport once it exists, for the receive callback.
private final class TransportBox: @unchecked Sendable {
    private let lock = Mutex<(any ClientTransport)?>(nil)
    var transport: (any ClientTransport)? {
        get { self.lock.withLock { $0 } }
        set { self.lock.withLock { $0 = newValue } }
    }
}

/// Applies the outbound mutations.
private final class MutantTransport: ClientTransport {
    private let inner: any ClientTransport
    private let mutation: ClientMutation

    init(inner: any ClientTransport, mutation: ClientMutation) {
        self.inner = inner
        self.mutation = mutation
    }

    func send(_ frames: [HeraldFrame]) {
        switch self.mutation {
        case .noHeartbeat:
            let kept = frames.filter { $0.opcode != .ping }
            if !kept.isEmpty { self.inner.send(kept) }
        case .reuseIdempotencyKey:
            self.inner.send(frames.map(Self.withFixedKey))
        default:
            self.inner.send(frames)
        }
    }

    func close() {
        self.inner.close()
    }

    /// The frame with field 15 (`idempotency_key` in every request that has one) set to one fixed key.
    static func withFixedKey(_ frame: HeraldFrame) -> HeraldFrame {
        let fixed = Array("00000000-0000-4000-8000-000000000000".utf8)
        var input = frame.payload
        var output = ByteBuffer()
        var changed = false
        while input.readableBytes > 0 {
            guard let tag = Self.readVarint(&input) else { return frame }
            let wireType = tag & 7
            switch wireType {
            case 0:
                guard let value = Self.readVarint(&input) else { return frame }
                Self.writeVarint(tag, &output)
                Self.writeVarint(value, &output)
            case 1, 5:
                guard let bytes = input.readSlice(length: wireType == 1 ? 8 : 4) else { return frame }
                Self.writeVarint(tag, &output)
                output.writeImmutableBuffer(bytes)
            case 2:
                guard let length = Self.readVarint(&input), let bytes = input.readSlice(length: Int(length)) else {
                    return frame
                }
                Self.writeVarint(tag, &output)
                if tag >> 3 == 15, bytes.readableBytes > 0 {
                    Self.writeVarint(UInt64(fixed.count), &output)
                    output.writeBytes(fixed)
                    changed = true
                } else {
                    Self.writeVarint(length, &output)
                    output.writeImmutableBuffer(bytes)
                }
            default:
                return frame
            }
        }
        guard changed else { return frame }
        var header = frame.header
        header.payloadLength = output.readableBytes
        return HeraldFrame(header: header, payload: output)
    }

    private static func readVarint(_ buffer: inout ByteBuffer) -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while let byte = buffer.readInteger(as: UInt8.self) {
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
            if shift > 63 { return nil }
        }
        return nil
    }

    private static func writeVarint(_ value: UInt64, _ buffer: inout ByteBuffer) {
        var value = value
        while value >= 0x80 {
            buffer.writeInteger(UInt8(value & 0x7F | 0x80))
            value >>= 7
        }
        buffer.writeInteger(UInt8(value))
    }
}

/// Finds enum values a message's types do not define (`UNRECOGNIZED`), in nested messages too.
private struct UnknownEnumVisitor: SwiftProtobuf.Visitor {
    var found = false

    mutating func visitSingularEnumField<E: SwiftProtobuf.Enum>(value: E, fieldNumber: Int) throws {
        if String(describing: value).hasPrefix("UNRECOGNIZED") { self.found = true }
    }

    mutating func visitRepeatedEnumField<E: SwiftProtobuf.Enum>(value: [E], fieldNumber: Int) throws {
        for element in value { try self.visitSingularEnumField(value: element, fieldNumber: fieldNumber) }
    }

    mutating func visitPackedEnumField<E: SwiftProtobuf.Enum>(value: [E], fieldNumber: Int) throws {
        try self.visitRepeatedEnumField(value: value, fieldNumber: fieldNumber)
    }

    mutating func visitSingularMessageField<M: SwiftProtobuf.Message>(value: M, fieldNumber: Int) throws {
        try value.traverse(visitor: &self)
    }

    mutating func visitRepeatedMessageField<M: SwiftProtobuf.Message>(value: [M], fieldNumber: Int) throws {
        for element in value { try element.traverse(visitor: &self) }
    }

    mutating func visitSingularGroupField<G: SwiftProtobuf.Message>(value: G, fieldNumber: Int) throws {}
    mutating func visitSingularDoubleField(value: Double, fieldNumber: Int) throws {}
    mutating func visitSingularInt64Field(value: Int64, fieldNumber: Int) throws {}
    mutating func visitSingularUInt64Field(value: UInt64, fieldNumber: Int) throws {}
    mutating func visitSingularBoolField(value: Bool, fieldNumber: Int) throws {}
    mutating func visitSingularStringField(value: String, fieldNumber: Int) throws {}
    mutating func visitSingularBytesField(value: Data, fieldNumber: Int) throws {}
    mutating func visitUnknown(bytes: Data) throws {}

    mutating func visitMapField<KeyType, ValueType: MapValueType>(
        fieldType: _ProtobufMap<KeyType, ValueType>.Type,
        value: _ProtobufMap<KeyType, ValueType>.BaseType,
        fieldNumber: Int
    ) throws {}

    mutating func visitMapField<KeyType, ValueType>(
        fieldType: _ProtobufEnumMap<KeyType, ValueType>.Type,
        value: _ProtobufEnumMap<KeyType, ValueType>.BaseType,
        fieldNumber: Int
    ) throws where ValueType.RawValue == Int {}

    mutating func visitMapField<KeyType, ValueType>(
        fieldType: _ProtobufMessageMap<KeyType, ValueType>.Type,
        value: _ProtobufMessageMap<KeyType, ValueType>.BaseType,
        fieldNumber: Int
    ) throws {}
}

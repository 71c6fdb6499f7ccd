import HeraldMessages
import NIOCore
import SwiftProtobuf

/// One Herald frame: a validated header and its still-serialized protobuf payload (Spec/03-framing.md).
///
/// Frames produced by ``HeraldFrameDecoder`` keep their payload as a slice of the inbound buffer (no copy).
/// Decode the payload with ``decodeMessage()`` or ``decodeMessage(as:)`` when you need it.
///
/// Two frames are equal when their headers are equal and their payload bytes are equal.
public struct HeraldFrame: Hashable, Sendable {
    /// The frame header. ``HeraldFrameHeader/payloadLength`` always equals `payload.readableBytes`.
    public var header: HeraldFrameHeader {
        didSet {
            self.header.payloadLength = self.payload.readableBytes
        }
    }

    /// The payload bytes: the protobuf binary encoding of the opcode's message type.
    ///
    /// Setting the payload updates ``HeraldFrameHeader/payloadLength``.
    public var payload: ByteBuffer {
        didSet {
            self.header.payloadLength = self.payload.readableBytes
        }
    }

    /// Creates a frame from a header and payload bytes, without validating either.
    ///
    /// The header's ``HeraldFrameHeader/payloadLength`` is set to `payload.readableBytes`.
    /// Validation happens when the frame is encoded (``encode(into:maximumPayloadLength:)``) or its message
    /// decoded (``decodeMessage()``).
    ///
    /// - Parameters:
    ///   - header: The header.
    ///   - payload: The payload bytes.
    public init(header: HeraldFrameHeader, payload: ByteBuffer) {
        var header = header
        header.payloadLength = payload.readableBytes
        self.header = header
        self.payload = payload
    }

    /// Creates a frame carrying `message`, serialized canonically with SwiftProtobuf (FRM-18).
    ///
    /// - Parameters:
    ///   - opcode: The opcode; its table entry must name `message`'s type.
    ///   - requestID: The request id; must follow the rule for the opcode's kind (FRM-7).
    ///   - flags: The flags; ``HeraldFrameFlags/ackRequired`` is allowed only on events (FRM-6).
    ///   - message: The payload message.
    /// - Throws: ``WireError`` with ``WireError/Code/unknownOpcode``, ``WireError/Code/reservedFlags``,
    ///   ``WireError/Code/invalidFlags``, ``WireError/Code/invalidRequestID``,
    ///   ``WireError/Code/lengthOutOfRange`` (payload above 16 MiB − 1), or ``WireError/Code/malformedPayload``
    ///   when `message` is not the opcode's message type or cannot be serialized.
    public init(
        opcode: Herald_V1_Opcode,
        requestID: UInt32 = 0,
        flags: HeraldFrameFlags = [],
        message: some SwiftProtobuf.Message
    ) throws(WireError) {
        guard let info = HeraldOpcodeTable.info(for: opcode) else {
            throw WireError(.unknownOpcode, "opcode \(opcode) is not in the v1 opcode table")
        }
        let payload = try Self.payload(of: message, as: info)
        let header = HeraldFrameHeader(
            flags: flags,
            opcode: opcode,
            requestID: requestID,
            payloadLength: payload.readableBytes
        )
        try header.validate(maximumPayloadLength: HeraldFrameHeader.absoluteMaximumPayloadLength)
        self.init(header: header, payload: payload)
    }

    /// Creates a frame carrying `message`, with the opcode looked up from the message's type.
    ///
    /// - Parameters:
    ///   - requestID: The request id; must follow the rule for the opcode's kind (FRM-7).
    ///   - flags: The flags; ``HeraldFrameFlags/ackRequired`` is allowed only on events (FRM-6).
    ///   - message: The payload message; its type must be the payload type of a v1 opcode.
    /// - Throws: ``WireError`` as ``init(opcode:requestID:flags:message:)`` does, and
    ///   ``WireError/Code/unknownOpcode`` when no opcode carries `message`'s type.
    public init(
        requestID: UInt32 = 0,
        flags: HeraldFrameFlags = [],
        message: some SwiftProtobuf.Message
    ) throws(WireError) {
        let messageName = type(of: message).protoMessageName
        guard let info = HeraldOpcodeTable.info(forMessageName: messageName) else {
            throw WireError(.unknownOpcode, "no v1 opcode carries \(messageName)")
        }
        try self.init(opcode: info.opcode, requestID: requestID, flags: flags, message: message)
    }

    /// The header's opcode.
    public var opcode: Herald_V1_Opcode {
        self.header.opcode
    }

    /// The header's request id.
    public var requestID: UInt32 {
        self.header.requestID
    }

    /// The header's flags.
    public var flags: HeraldFrameFlags {
        self.header.flags
    }

    /// The opcode table entry of the frame's opcode, or `nil` if the opcode is neither defined in v1 nor one of
    /// ``HeraldOpcodeTable/extensions`` (a frame with an extension opcode exists only where a decoder accepted it,
    /// ``HeraldFrameDecoder/acceptedExtensions``, or a sender built it).
    public var opcodeInfo: HeraldOpcodeInfo? {
        self.header.opcodeInfo ?? HeraldOpcodeTable.infoIncludingExtensions(for: self.header.opcode)
    }

    /// Creates a frame with an extension opcode (Spec/17-extensibility.md §17.3) carrying `message`.
    ///
    /// - Parameters:
    ///   - extensionOpcode: An entry of ``HeraldOpcodeTable/extensions``; its message type must be `message`'s.
    ///   - requestID: The request id; must follow the rule for the opcode's kind (FRM-7).
    ///   - message: The payload message.
    /// - Throws: ``WireError`` as ``init(opcode:requestID:flags:message:)`` does.
    public init(
        extensionOpcode info: HeraldOpcodeInfo,
        requestID: UInt32,
        message: some SwiftProtobuf.Message
    ) throws(WireError) {
        let payload = try Self.payload(of: message, as: info)
        let header = HeraldFrameHeader(opcode: info.opcode, requestID: requestID, payloadLength: payload.readableBytes)
        try header.validate(
            maximumPayloadLength: HeraldFrameHeader.absoluteMaximumPayloadLength,
            acceptedExtensions: [info]
        )
        self.init(header: header, payload: payload)
    }

    /// Serializes `message` canonically (FRM-18) as the payload of a frame whose opcode entry is `info`.
    ///
    /// - Throws: ``WireError/Code/malformedPayload`` when `message` is not `info`'s message type or cannot be
    ///   serialized.
    private static func payload(
        of message: some SwiftProtobuf.Message,
        as info: HeraldOpcodeInfo
    ) throws(WireError)
        -> ByteBuffer
    {
        // Comparing the types, not their names, keeps this check free of string building on every frame.
        guard ObjectIdentifier(type(of: message)) == ObjectIdentifier(info.messageType) else {
            throw WireError(
                .malformedPayload,
                "\(info.name) frames carry \(info.fullMessageName), not \(type(of: message).protoMessageName)"
            )
        }
        do {
            let serialized: ByteBufferPayload = try message.serializedBytes()
            return serialized.buffer
        } catch {
            throw WireError(.malformedPayload, "cannot serialize \(info.fullMessageName)", cause: error)
        }
    }

    /// Decodes the payload as the opcode's message type (FRM-11 to FRM-13).
    ///
    /// Decoding uses `BinaryDecodingOptions` with the nesting limit of FRM-29 (100 levels below the top-level
    /// message) and keeps unknown fields.
    /// A known field sent with the wrong wire type is rejected, although SwiftProtobuf alone would keep it
    /// as an unknown field; so are a 10-byte varint that does not fit in 64 bits (FRM-27), which SwiftProtobuf
    /// alone would truncate, and a length prefix longer than 5 bytes (FRM-28), which it would accept.
    ///
    /// - Returns: The message, for example a `Herald_V1_LoginRequest`.
    /// - Throws: ``WireError`` with ``WireError/Code/malformedPayload`` (the SwiftProtobuf error is the
    ///   ``WireError/cause``), or ``WireError/Code/unknownOpcode`` for a hand-built frame with an opcode
    ///   outside the table.
    public func decodeMessage() throws(WireError) -> any SwiftProtobuf.Message {
        guard let info = self.opcodeInfo else {
            throw WireError(.unknownOpcode, "opcode \(self.opcode) is not in the v1 opcode table")
        }
        return try PayloadDecoding.decode(info.messageType, from: self.payload)
    }

    /// Decodes the payload as the opcode's message type, optionally dropping unknown fields.
    ///
    /// The payload is checked exactly as ``decodeMessage()`` checks it; FRM-12 then lets a receiver either keep
    /// the well-formed unknown fields or drop them. A message decoded with `discardingUnknownFields: true`
    /// re-encodes without them, at every depth.
    ///
    /// - Parameter discardingUnknownFields: `true` to drop unknown fields, `false` to keep them (the same as
    ///   ``decodeMessage()``).
    /// - Returns: The message.
    /// - Throws: ``WireError`` as ``decodeMessage()`` does.
    public func decodeMessage(discardingUnknownFields: Bool) throws(WireError) -> any SwiftProtobuf.Message {
        guard discardingUnknownFields else { return try self.decodeMessage() }
        guard let info = self.opcodeInfo else {
            throw WireError(.unknownOpcode, "opcode \(self.opcode) is not in the v1 opcode table")
        }
        return try PayloadDecoding.decodeDiscardingUnknownFields(info.messageType, from: self.payload)
    }

    /// Decodes the payload as `type`, which must be the opcode's message type.
    ///
    /// - Parameter type: The expected message type, for example `Herald_V1_LoginRequest.self`.
    /// - Returns: The message.
    /// - Throws: ``WireError`` as ``decodeMessage()`` does, and ``WireError/Code/malformedPayload`` when
    ///   `type` is not the opcode's message type.
    public func decodeMessage<M: SwiftProtobuf.Message>(as type: M.Type) throws(WireError) -> M {
        guard let info = self.opcodeInfo else {
            throw WireError(.unknownOpcode, "opcode \(self.opcode) is not in the v1 opcode table")
        }
        guard ObjectIdentifier(M.self) == ObjectIdentifier(info.messageType) else {
            throw WireError(
                .malformedPayload,
                "\(info.name) frames carry \(info.fullMessageName), not \(M.protoMessageName)"
            )
        }
        return try PayloadDecoding.decodeTyped(M.self, from: self.payload)
    }

    /// Validates the header against `maximumPayloadLength` and appends the frame's bytes to `buffer`.
    ///
    /// Nothing is written when validation fails, so the sender never emits a frame the receiver must reject
    /// (FRM-19).
    ///
    /// - Parameters:
    ///   - buffer: The buffer to append to.
    ///   - maximumPayloadLength: The receiver's maximum payload length.
    /// - Throws: ``WireError`` with the code of the first failing header check (FRM-3 to FRM-9), for example
    ///   ``WireError/Code/frameTooLarge``.
    public func encode(
        into buffer: inout ByteBuffer,
        maximumPayloadLength: Int = HeraldFrameHeader.defaultMaximumPayloadLength
    ) throws(WireError) {
        var header = self.header
        header.payloadLength = self.payload.readableBytes
        try header.validate(maximumPayloadLength: maximumPayloadLength)
        buffer.reserveCapacity(minimumWritableBytes: HeraldFrameHeader.size + header.payloadLength)
        header.write(to: &buffer)
        buffer.writeImmutableBuffer(self.payload)
    }

    /// Validates and encodes the frame into a new byte array.
    ///
    /// - Parameter maximumPayloadLength: The receiver's maximum payload length.
    /// - Returns: The 14 header bytes followed by the payload.
    /// - Throws: ``WireError`` as ``encode(into:maximumPayloadLength:)`` does.
    public func encodedBytes(
        maximumPayloadLength: Int = HeraldFrameHeader.defaultMaximumPayloadLength
    ) throws(WireError) -> [UInt8] {
        var buffer = ByteBuffer()
        try self.encode(into: &buffer, maximumPayloadLength: maximumPayloadLength)
        return buffer.readBytes(length: buffer.readableBytes) ?? []
    }
}

import HeraldMessages
import NIOCore

/// The 14-byte header of a Herald frame (Spec/03-framing.md, FRM-1).
///
/// ```
/// offset 0  magic      2 bytes  0x48 0x52 ("HR")
/// offset 2  version    u8       1
/// offset 3  flags      u8       bit 0 = ACK_REQUIRED, bits 1-7 reserved (zero)
/// offset 4  opcode     u16      big-endian
/// offset 6  request id u32      big-endian
/// offset 10 length     u32      big-endian, payload length in bytes
/// offset 14 payload    `length` bytes
/// ```
///
/// The magic is not stored: every header value has the magic ``magic``.
public struct HeraldFrameHeader: Hashable, Sendable {
    /// The header size in bytes: 14.
    public static let size = 14
    /// The magic bytes at offset 0: `0x48 0x52` ("HR") (FRM-2).
    public static let magic: (UInt8, UInt8) = (0x48, 0x52)
    /// The protocol version this codec speaks: 1 (FRM-3).
    public static let currentVersion: UInt8 = 1
    /// The absolute protocol cap on the payload length: `0x00FFFFFF` (16 MiB − 1) (FRM-8).
    public static let absoluteMaximumPayloadLength = 0x00FF_FFFF
    /// The default maximum payload length, which every implementation must accept: 65536 (FRM-20).
    public static let defaultMaximumPayloadLength = 65_536

    /// The version byte (offset 2).
    public var version: UInt8
    /// The flags byte (offset 3).
    public var flags: HeraldFrameFlags
    /// The opcode (offset 4), naming the payload's message type.
    public var opcode: Herald_V1_Opcode
    /// The request id (offset 6).
    public var requestID: UInt32
    /// The payload length in bytes (offset 10).
    public var payloadLength: Int

    /// Creates a header.
    ///
    /// - Parameters:
    ///   - version: The version byte; defaults to ``currentVersion``.
    ///   - flags: The flags.
    ///   - opcode: The opcode.
    ///   - requestID: The request id.
    ///   - payloadLength: The payload length in bytes.
    public init(
        version: UInt8 = HeraldFrameHeader.currentVersion,
        flags: HeraldFrameFlags = [],
        opcode: Herald_V1_Opcode,
        requestID: UInt32 = 0,
        payloadLength: Int = 0
    ) {
        self.version = version
        self.flags = flags
        self.opcode = opcode
        self.requestID = requestID
        self.payloadLength = payloadLength
    }

    /// The opcode table entry of ``opcode``, or `nil` if the opcode is not defined in v1.
    public var opcodeInfo: HeraldOpcodeInfo? {
        HeraldOpcodeTable.info(for: self.opcode)
    }

    /// Reads and validates a header from the start of `buffer` without consuming anything.
    ///
    /// The checks run in the order of FRM-10 (magic, version, reserved flags, opcode, flags, request id,
    /// protocol length cap, `maximumPayloadLength`); the first failing check is thrown.
    ///
    /// - Parameters:
    ///   - buffer: Bytes starting at a frame boundary.
    ///   - maximumPayloadLength: The receiver's maximum payload length.
    /// - Returns: The header, or `nil` if fewer than ``size`` bytes are readable.
    /// - Throws: ``WireError`` with a header error code.
    public static func peek(
        from buffer: ByteBuffer,
        maximumPayloadLength: Int = HeraldFrameHeader.defaultMaximumPayloadLength
    ) throws(WireError) -> HeraldFrameHeader? {
        try Self.peek(from: buffer, maximumPayloadLength: maximumPayloadLength, acceptedExtensions: [])
    }

    /// Reads and validates a header as ``peek(from:maximumPayloadLength:)`` does, accepting the extension opcodes
    /// of `acceptedExtensions` as well as the v1 opcodes (Spec/17-extensibility.md §17.3).
    ///
    /// - Parameters:
    ///   - buffer: Bytes starting at a frame boundary.
    ///   - maximumPayloadLength: The receiver's maximum payload length.
    ///   - acceptedExtensions: Extension opcodes the receiver accepts (entries of ``HeraldOpcodeTable/extensions``).
    /// - Returns: The header, or `nil` if fewer than ``size`` bytes are readable.
    /// - Throws: ``WireError`` with a header error code.
    public static func peek(
        from buffer: ByteBuffer,
        maximumPayloadLength: Int,
        acceptedExtensions: [HeraldOpcodeInfo]
    ) throws(WireError) -> HeraldFrameHeader? {
        let start = buffer.readerIndex
        guard buffer.readableBytes >= Self.size,
            let magic0 = buffer.getInteger(at: start, as: UInt8.self),
            let magic1 = buffer.getInteger(at: start + 1, as: UInt8.self),
            let version = buffer.getInteger(at: start + 2, as: UInt8.self),
            let flags = buffer.getInteger(at: start + 3, as: UInt8.self),
            let opcode = buffer.getInteger(at: start + 4, as: UInt16.self),
            let requestID = buffer.getInteger(at: start + 6, as: UInt32.self),
            let length = buffer.getInteger(at: start + 10, as: UInt32.self)
        else {
            return nil
        }
        guard magic0 == Self.magic.0, magic1 == Self.magic.1 else {
            throw WireError(.badMagic, "magic is 0x\(hex(magic0))\(hex(magic1)), expected 0x4852 (\"HR\")")
        }
        // On 32-bit platforms a length above Int.max clamps to Int.max, which still fails FRM-8 in order.
        let payloadLength = Int(clamping: length)
        let header = HeraldFrameHeader(
            version: version,
            flags: HeraldFrameFlags(rawValue: flags),
            opcode: Herald_V1_Opcode(rawValue: Int(opcode)) ?? .UNRECOGNIZED(Int(opcode)),
            requestID: requestID,
            payloadLength: payloadLength
        )
        try header.validate(maximumPayloadLength: maximumPayloadLength, acceptedExtensions: acceptedExtensions)
        return header
    }

    /// Applies the header checks FRM-3 to FRM-9 to this header in the order of FRM-10.
    ///
    /// Senders use this to make sure they never emit a frame the receiver must reject (FRM-19).
    ///
    /// - Parameter maximumPayloadLength: The receiver's maximum payload length.
    /// - Throws: ``WireError`` with the first failing check's code.
    public func validate(
        maximumPayloadLength: Int = HeraldFrameHeader.defaultMaximumPayloadLength
    ) throws(WireError) {
        try self.validate(maximumPayloadLength: maximumPayloadLength, acceptedExtensions: [])
    }

    /// Applies the header checks as ``validate(maximumPayloadLength:)`` does, accepting the extension opcodes of
    /// `acceptedExtensions` as well as the v1 opcodes.
    ///
    /// - Parameters:
    ///   - maximumPayloadLength: The receiver's maximum payload length.
    ///   - acceptedExtensions: Extension opcodes the receiver accepts (entries of ``HeraldOpcodeTable/extensions``).
    /// - Throws: ``WireError`` with the first failing check's code.
    public func validate(
        maximumPayloadLength: Int,
        acceptedExtensions: [HeraldOpcodeInfo]
    ) throws(WireError) {
        guard self.version == Self.currentVersion else {
            throw WireError(.unsupportedVersion, "version \(self.version) is not supported (only 1)")
        }
        guard !self.flags.hasReservedBits else {
            throw WireError(.reservedFlags, "reserved flag bits set: 0x\(hex(self.flags.rawValue))")
        }
        guard
            let info = self.opcodeInfo
                ?? acceptedExtensions.first(where: { $0.opcode.rawValue == self.opcode.rawValue })
        else {
            throw WireError(.unknownOpcode, "opcode 0x\(hex16(self.opcode.rawValue)) is not in the v1 opcode table")
        }
        try Self.checkFlagsAndRequestID(kind: info.kind, flags: self.flags, requestID: self.requestID, info: info)
        guard self.payloadLength >= 0, self.payloadLength <= Self.absoluteMaximumPayloadLength else {
            throw WireError(
                .lengthOutOfRange,
                "payload length \(self.payloadLength) exceeds the protocol cap \(Self.absoluteMaximumPayloadLength)"
            )
        }
        guard self.payloadLength <= maximumPayloadLength else {
            throw WireError(
                .frameTooLarge,
                "payload length \(self.payloadLength) exceeds the maximum payload length \(maximumPayloadLength)"
            )
        }
    }

    /// Checks FRM-6 (ACK_REQUIRED only on events) and FRM-7 (request-id rule).
    static func checkFlagsAndRequestID(
        kind: HeraldOpcodeKind,
        flags: HeraldFrameFlags,
        requestID: UInt32,
        info: HeraldOpcodeInfo
    ) throws(WireError) {
        let ackRequired = flags.contains(.ackRequired)
        guard !ackRequired || kind == .event else {
            throw WireError(.invalidFlags, "ACK_REQUIRED set on \(info.name), a \(kind.rawValue), not an event")
        }
        switch kind {
        case .request, .response, .notice:
            guard requestID != 0 else {
                throw WireError(.invalidRequestID, "\(info.name) is a \(kind.rawValue) and needs a non-zero request id")
            }
        case .event:
            if ackRequired {
                guard requestID != 0 else {
                    throw WireError(
                        .invalidRequestID,
                        "\(info.name) has ACK_REQUIRED and needs a non-zero request id"
                    )
                }
            } else {
                guard requestID == 0 else {
                    throw WireError(
                        .invalidRequestID,
                        "\(info.name) is an event without ACK_REQUIRED and needs request id 0, not \(requestID)"
                    )
                }
            }
        }
    }

    /// Writes the 14 header bytes (without validating them).
    ///
    /// - Parameter buffer: The buffer to append to.
    public func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(Self.magic.0)
        buffer.writeInteger(Self.magic.1)
        buffer.writeInteger(self.version)
        buffer.writeInteger(self.flags.rawValue)
        buffer.writeInteger(UInt16(truncatingIfNeeded: self.opcode.rawValue))
        buffer.writeInteger(self.requestID)
        buffer.writeInteger(UInt32(truncatingIfNeeded: self.payloadLength))
    }
}

private func hex(_ byte: UInt8) -> String {
    let digits = String(byte, radix: 16)
    return byte < 0x10 ? "0" + digits : digits
}

private func hex16(_ value: Int) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}

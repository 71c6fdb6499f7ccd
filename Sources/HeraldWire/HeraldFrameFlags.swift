/// The flags byte of a Herald frame header (offset 3; Spec/03-framing.md).
///
/// Only bit 0 (``ackRequired``) is defined in protocol version 1. The other bits are reserved and
/// MUST be zero (FRM-4); a receiver rejects a frame with any of them set with
/// ``WireError/Code/reservedFlags``.
public struct HeraldFrameFlags: OptionSet, Hashable, Sendable {
    /// The flags byte as it appears on the wire.
    public var rawValue: UInt8

    /// Creates a flag set from the wire byte. Reserved bits are kept so that they can be validated.
    ///
    /// - Parameter rawValue: The flags byte.
    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// `ACK_REQUIRED`, wire value `0x01`: the receiver must answer this event with a `DeliveryAck` notice
    /// carrying the frame's request id. Allowed only on event frames (FRM-6).
    public static let ackRequired = HeraldFrameFlags(rawValue: 0x01)

    /// The bits defined by protocol version 1 (`0x01`).
    public static let defined: HeraldFrameFlags = [.ackRequired]

    /// The reserved bits, wire mask `0xFE`; they MUST be zero (FRM-4).
    public static let reserved = HeraldFrameFlags(rawValue: 0xFE)

    /// Whether any reserved bit is set.
    public var hasReservedBits: Bool {
        !self.isDisjoint(with: .reserved)
    }
}

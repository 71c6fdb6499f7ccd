import HeraldMessages

/// A capability of the Herald protocol: a named, optional part of the protocol (Spec/01-overview.md §1.4).
public struct Capability: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The capability's name on the wire, as listed in `Hello.capabilities` and `Welcome.capabilities`.
    public var name: String

    /// Creates a capability from its wire name.
    public init(_ name: String) {
        self.name = name
    }

    /// The wire name.
    public var description: String { self.name }

    /// Orders capabilities by name.
    public static func < (lhs: Capability, rhs: Capability) -> Bool { lhs.name < rhs.name }

    /// Handshake, liveness, login, logout and tokens.
    public static let core = Capability("core")
    /// Peer-to-peer messages.
    public static let peerMessages = Capability("peer-messages")
    /// Offline caching of peer messages.
    public static let offlineMessages = Capability("offline-messages")
    /// Online status queries and subscriptions.
    public static let presence = Capability("presence")
    /// User attributes.
    public static let userAttributes = Capability("user-attributes")
    /// Channels, membership and member events.
    public static let channels = Capability("channels")
    /// Channel messages.
    public static let channelMessages = Capability("channel-messages")
    /// Channel attributes.
    public static let channelAttributes = Capability("channel-attributes")
    /// Call invitations.
    public static let invitations = Capability("invitations")
    /// The legacy Signaling operations.
    public static let legacySignaling = Capability("legacy-signaling")

    /// Test control (Spec/18-test-control.md): an extension for conformance testing, granted only to a `Hello`
    /// that names it and only by a server started with a test-control key.
    public static let testControl = Capability("herald.test-control")

    /// Every capability Herald v1 defines.
    public static let allV1: [Capability] = [
        .core, .peerMessages, .offlineMessages, .presence, .userAttributes, .channels, .channelMessages,
        .channelAttributes, .invitations, .legacySignaling,
    ]

    /// The capabilities a capability needs (Spec/04-handshake.md §4.4).
    public var prerequisites: [Capability] {
        switch self {
        case .offlineMessages: return [.peerMessages]
        case .channelMessages, .channelAttributes: return [.channels]
        case .legacySignaling: return [.channels, .channelMessages, .invitations]
        default: return []
        }
    }

    /// The capability an opcode belongs to (Spec/03-framing.md opcode table), or `nil` for opcodes that are not
    /// requests or events of a capability.
    public static func of(_ opcode: Herald_V1_Opcode) -> Capability? {
        Self.index(of: opcode).map { Self.allV1[$0] }
    }

    /// The bit of the capability an opcode belongs to (``of(_:)``) in a connection's granted capabilities (bit `n`
    /// for ``allV1```[n]`), or 0 for an opcode that belongs to none: the check every frame makes, without a name.
    static func maskBit(of opcode: Herald_V1_Opcode) -> UInt32 {
        Self.index(of: opcode).map { UInt32(1) << UInt32($0) } ?? 0
    }

    /// The position in ``allV1`` of the capability an opcode belongs to, from the opcode's group (Spec/03-framing.md
    /// opcode table), or `nil` for opcodes that are not requests or events of a capability.
    private static func index(of opcode: Herald_V1_Opcode) -> Int? {
        if opcode == .channelMemberList { return 9 }  // legacy-signaling
        switch opcode.rawValue >> 8 {
        case 0x00, 0x01: return 0  // core
        case 0x02: return 1  // peer-messages
        case 0x03: return 3  // presence
        case 0x04: return 4  // user-attributes
        case 0x05: return 5  // channels
        case 0x06: return 6  // channel-messages
        case 0x07: return 7  // channel-attributes
        case 0x08: return 8  // invitations
        case 0x09: return 9  // legacy-signaling
        default: return nil
        }
    }

    /// The closure of a set of names: the set together with every prerequisite, repeated until nothing is added.
    public static func closure(of capabilities: some Sequence<Capability>) -> Set<Capability> {
        var result = Set<Capability>()
        var pending = Array(capabilities)
        while let next = pending.popLast() {
            if result.insert(next).inserted {
                pending.append(contentsOf: next.prerequisites)
            }
        }
        return result
    }
}

import HeraldMessages
import HeraldWire
import SwiftProtobuf

/// Identifies one transport connection of a ``HeraldEngine``.
public struct ConnectionID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The engine-wide number of the connection, starting at 1.
    public let rawValue: UInt64

    /// Creates an identifier.
    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// Orders identifiers by creation.
    public static func < (lhs: ConnectionID, rhs: ConnectionID) -> Bool { lhs.rawValue < rhs.rawValue }

    /// `c` followed by the number.
    public var description: String { "c\(self.rawValue)" }
}

/// A user: the pair of app id and user id (Spec/05-session.md §5.1).
public struct UserKey: Hashable, Sendable, CustomStringConvertible {
    /// The app.
    public var appID: String
    /// The user id within the app.
    public var userID: String

    /// Creates a user key.
    public init(appID: String, userID: String) {
        self.appID = appID
        self.userID = userID
    }

    /// `appID/userID`.
    public var description: String { "\(self.appID)/\(self.userID)" }
}

/// A channel: the pair of app id and channel id.
public struct ChannelKey: Hashable, Sendable, CustomStringConvertible {
    /// The app.
    public var appID: String
    /// The channel id within the app.
    public var channelID: String

    /// Creates a channel key.
    public init(appID: String, channelID: String) {
        self.appID = appID
        self.channelID = channelID
    }

    /// `appID#channelID`.
    public var description: String { "\(self.appID)#\(self.channelID)" }
}

/// Why a session ended (Spec/05-session.md §5.8).
enum SessionEndCause: Hashable, Sendable {
    case logout
    case disconnect
    case remoteLogin
    case tokenExpiry
    case banned

    /// The reason other members see in `MemberLeft`.
    var memberLeftReason: Herald_V1_MemberLeftReason {
        switch self {
        case .logout: return .logout
        case .disconnect, .banned: return .disconnected
        case .remoteLogin: return .remoteLogin
        case .tokenExpiry: return .tokenExpired
        }
    }
}

/// The transport-level phase of a connection.
enum ConnectionPhase: Hashable, Sendable {
    /// Waiting for `Hello`.
    case awaitingHello
    /// `Welcome` sent.
    case handshaken
    /// `Disconnect` queued or the transport closed: nothing more is processed or sent.
    case closed
}

/// A request waiting for its response, possibly after the current input has been processed.
struct PendingResponse: Hashable, Sendable {
    var connectionID: ConnectionID
    var requestID: UInt32
    var requestOpcode: Herald_V1_Opcode
}

/// What an outstanding `ACK_REQUIRED` delivery is for (Spec/04-handshake.md §4.8).
enum DeliveryPurpose: Sendable {
    case peer(PeerDelivery)
    case invitation(InvitationDelivery)
}

/// An outstanding `ACK_REQUIRED` delivery on a connection.
struct OutstandingDelivery: Sendable {
    var purpose: DeliveryPurpose
    /// The serial of the session the delivery belongs to.
    var sessionSerial: UInt64
}

/// Every timer the engine runs. Feature timers carry their feature's own key types.
///
/// The cases with large payloads are `indirect`, so that a timer action takes 24 bytes: the engine keeps a few timers
/// for every connection and session (Issue 13: the memory of an idle connection).
enum TimerAction: Hashable, Sendable {
    case handshakeTimeout(ConnectionID)
    case idleCheck(ConnectionID)
    case loginTimeout(ConnectionID, generation: UInt64)
    case tokenWillExpire(sessionSerial: UInt64, generation: UInt64)
    case tokenExpiry(sessionSerial: UInt64, generation: UInt64)
    case offlinePurge
    case peer(PeerTimer)
    case presence(PresenceTimer)
    indirect case channel(ChannelTimer)
    case invitation(InvitationTimer)
    /// The checks of a login stalled by test control overran `login_timeout_ms` (SES-4).
    indirect case testControlLoginOverrun(PendingResponse)
    /// A connection with `max_outbound_queue_frames` deliveries outstanding and messages held for it may have
    /// acknowledged nothing for ``HeraldEngine/ackStallMs`` (LIM-34).
    case ackStall(ConnectionID)
}

/// The first frame that did not fit a connection's receive limit (HS-79).
struct ReceiveLimitOverrun: Hashable, Sendable {
    var opcode: UInt16
    var requestID: UInt32
    var payloadLength: Int
}

/// The capabilities granted on a connection: one bit for each capability this engine knows (no set and no strings
/// for each connection, Issue 13), and a set only for a capability it does not know.
struct GrantedCapabilities {
    private var bits: UInt16 = 0
    private var others: Set<Capability>?

    /// No capability.
    init() {}

    /// The capabilities of `set`.
    init(_ set: Set<Capability>) {
        for capability in set {
            self.insert(capability)
        }
    }

    /// The bit of a capability this engine knows, by name.
    private static func bit(of capability: Capability) -> UInt16? {
        switch capability.name {
        case Capability.core.name: return 1 << 0
        case Capability.peerMessages.name: return 1 << 1
        case Capability.offlineMessages.name: return 1 << 2
        case Capability.presence.name: return 1 << 3
        case Capability.userAttributes.name: return 1 << 4
        case Capability.channels.name: return 1 << 5
        case Capability.channelMessages.name: return 1 << 6
        case Capability.channelAttributes.name: return 1 << 7
        case Capability.invitations.name: return 1 << 8
        case Capability.legacySignaling.name: return 1 << 9
        case Capability.testControl.name: return 1 << 10
        default: return nil
        }
    }

    /// Adds a capability.
    mutating func insert(_ capability: Capability) {
        if let bit = Self.bit(of: capability) {
            self.bits |= bit
        } else {
            self.others = (self.others ?? []).union([capability])
        }
    }

    /// Whether the capability of an opcode is one of them, given the opcode's ``Capability/maskBit(of:)`` (0 for
    /// an opcode of no capability, which is always allowed): the check made on every frame, without a name.
    func allows(opcodeBit bit: UInt32) -> Bool {
        bit == 0 || UInt32(self.bits) & bit != 0
    }

    /// Whether `capability` is one of them.
    func contains(_ capability: Capability) -> Bool {
        if let bit = Self.bit(of: capability) {
            return self.bits & bit != 0
        }
        return self.others?.contains(capability) ?? false
    }
}

/// The ids of a connection's requests not yet answered (HS-32): one inline, more in a set. Most connections have at
/// most one request in flight, and an idle one none: it then holds no set storage (Issue 13).
struct InFlightRequests {
    private var single: UInt32?
    private var more: Set<UInt32> = []

    /// No request.
    init() {}

    /// Whether `requestID` is in flight.
    func contains(_ requestID: UInt32) -> Bool {
        self.single == requestID || (!self.more.isEmpty && self.more.contains(requestID))
    }

    /// Adds a request id that is not in flight.
    mutating func insert(_ requestID: UInt32) {
        if self.single == nil {
            self.single = requestID
        } else {
            self.more.insert(requestID)
        }
    }

    /// Removes a request id; returns it if it was in flight.
    mutating func remove(_ requestID: UInt32) -> UInt32? {
        if self.single == requestID {
            self.single = nil
            return requestID
        }
        guard !self.more.isEmpty, let removed = self.more.remove(requestID) else { return nil }
        if self.more.isEmpty {
            self.more = []
        }
        return removed
    }

    /// Removes every request id.
    mutating func removeAll() {
        self.single = nil
        self.more = []
    }
}

/// One transport connection. Owned by the engine actor; never leaves it.
final class Connection {
    let id: ConnectionID
    let sink: any EngineConnectionSink
    /// A name for the transport, for logs (`tcp`, `tls`, `ws`, `wss`, `test`).
    let transport: String
    /// The random part of ``publicID``, kept instead of the string: an idle connection should cost little (Issue 13).
    let publicIDBits: UInt64
    /// The value of `Welcome.connection_id`: the connection's id and 6 random bytes in hex.
    var publicID: String { "\(self.id)-\(HeraldEngine.hex(self.publicIDBits, bytes: 6))" }
    // What every frame sent to the connection reads comes first, so that a fan-out reaches one cache line of
    // each receiver's connection.
    var phase: ConnectionPhase = .awaitingHello
    var granted = GrantedCapabilities()
    /// The connection exceeded its outbound queue (LIM-14) and is closed once the current input is processed.
    var slowConsumer = false
    /// The connection is in the engine's list of connections to flush.
    var isDirty = false
    /// A frame did not fit the client's receive limit (HS-79): the connection is closed once the current input is
    /// processed, and nothing else is queued for it.
    var receiveLimitOverrun: ReceiveLimitOverrun?
    /// Frames produced while processing the current input, written when it has been processed.
    var pending = OutboundBytes()
    /// The client's receive limit (HS-28).
    var clientMaxPayloadLength = HeraldFrameHeader.defaultMaximumPayloadLength
    var session: Session?
    /// Whether the connection's last session ended by logout (SES-12).
    var lastSessionEndedByLogout = false
    /// A `LoginRequest` is being processed (stops the login timer, SES-12).
    var loginInProgress = false
    var loginTimerGeneration: UInt64 = 0
    /// The connection's timers (the handshake, idle and login timers), cancelled when it closes (LIM-32).
    var handshakeTimer: UInt64?
    var idleTimer: UInt64?
    var loginTimer: UInt64?
    /// The LIM-34 check, while messages are held for this connection's session (cancelled when it closes).
    var ackStallTimer: UInt64?
    /// When the engine last processed a `DeliveryAck` of this connection, or when its current session started if later
    /// (LIM-34).
    var lastAckMs: Int64
    /// How many receivers hold this connection's requests back (LIM-35); the host is asked to hold them while
    /// this is above zero.
    var peerHolds = 0
    var loginRate: RateCounter?
    /// Request ids received and not yet answered (HS-32).
    var inFlight = InFlightRequests()
    /// When the last complete frame arrived (HS-42).
    var lastReceivedMs: Int64
    var nextDeliveryID: UInt32 = 1
    var outstanding: [UInt32: OutstandingDelivery] = [:]
    /// Which rule made the connection a slow consumer, for the log: LIM-14 (queued frames) or LIM-17 (outstanding
    /// deliveries), with the count.
    var slowConsumerRule = ""
    /// Inputs of this connection waiting for its session's login read of cached messages (PEER-51, SES-38), in
    /// arrival order. The host is asked to hold the connection's requests meanwhile (``peerHolds``), so only what
    /// was already on its way and `DeliveryAck`s and `Ping`s (LIM-22) queue here.
    var queuedInputs: [ConnectionInput] = []

    /// Whether the connection's inputs wait: its session's cached messages are being read (PEER-51).
    var isInputBlocked: Bool { self.session?.peer.cacheRead != nil }

    init(id: ConnectionID, sink: any EngineConnectionSink, transport: String, publicIDBits: UInt64, now: Int64) {
        self.id = id
        self.sink = sink
        self.transport = transport
        self.publicIDBits = publicIDBits
        self.lastReceivedMs = now
        self.lastAckMs = now
    }

    /// Whether a capability was granted on this connection.
    func has(_ capability: Capability) -> Bool {
        self.granted.contains(capability)
    }

    /// A new delivery id, unique among the outstanding ones (HS-45, HS-46).
    func allocateDeliveryID() -> UInt32 {
        while true {
            let id = self.nextDeliveryID
            self.nextDeliveryID = id == UInt32.max ? 1 : id + 1
            if self.outstanding[id] == nil { return id }
        }
    }
}

/// A logged-in user on a connection (Spec/05-session.md). Owned by the engine actor.
final class Session {
    /// Engine-wide serial number, never reused.
    let serial: UInt64
    let user: UserKey
    /// The random part of ``sessionID``, kept instead of the string (Issue 13).
    let sessionIDBits: UInt64
    /// The session id sent in `LoginResponse`: the serial and 8 random bytes in hex.
    var sessionID: String { "s-\(self.serial)-\(HeraldEngine.hex(self.sessionIDBits, bytes: 8))" }
    /// The session's connection (the reference cycle is broken when the session ends).
    let connection: Connection
    let startedMs: Int64
    /// The current token's expiry in Unix milliseconds, or `nil` for a session without a token.
    var tokenExpiresMs: Int64?
    /// Bumped on each accepted token so stale token timers do nothing.
    var tokenGeneration: UInt64 = 0
    /// The handles of the current token's timers (TOK-18, TOK-20): the about-to-expire notice and the expiry,
    /// cancelled at renewal and at the end of the session (LIM-32). Two fields rather than an array (Issue 13).
    var tokenWillExpireTimer: UInt64?
    var tokenExpiryTimer: UInt64?
    /// The session has ended; nothing more is sent for it.
    var ended = false
    /// The last `seq` of the user stream (Spec/17-extensibility.md §17.7).
    var userSeq: UInt64 = 0
    /// Rate counters by class (LIM-8: they start empty with the session).
    var rates: [Herald_V1_RateClass: RateCounter] = [:]
    /// Peer-message state of this session.
    var peer = PeerSessionState()
    /// Presence state of this session.
    var presence = PresenceSessionState()
    /// User attributes of this session's user.
    var attributes = UserAttributesSessionState()
    /// Invitation state of this session.
    var invitations = InvitationSessionState()

    init(serial: UInt64, user: UserKey, sessionIDBits: UInt64, connection: Connection, startedMs: Int64) {
        self.serial = serial
        self.user = user
        self.sessionIDBits = sessionIDBits
        self.connection = connection
        self.startedMs = startedMs
    }
}

/// The context of one request being processed.
struct RequestContext {
    let connection: Connection
    /// The session, if the connection has one (handlers of operations other than login can rely on it).
    let session: Session?
    let requestID: UInt32
    let opcode: Herald_V1_Opcode
    let now: Int64
    /// When the request arrived (at most `now`): the time its rate limits count it at (Spec/14-limits.md LIM-24).
    let arrivedMs: Int64

    /// The response this request is waiting for, to answer later.
    var pending: PendingResponse {
        PendingResponse(connectionID: self.connection.id, requestID: self.requestID, requestOpcode: self.opcode)
    }
}

/// An input of a connection, as it waits in ``Connection/queuedInputs``.
enum ConnectionInput {
    /// A complete frame and when it arrived (`nil`: when it is processed).
    case frame(HeraldFrame, arrivedAtMs: Int64?)
    /// A framing failure (Spec/03-framing.md).
    case failure(WireError, header: (opcode: UInt16, requestID: UInt32)?)
    /// The transport closed.
    case closed
}

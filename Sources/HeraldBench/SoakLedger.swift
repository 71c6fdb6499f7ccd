/// What the soak's clients on one event loop sent and received, for the end-of-run accounting.
///
/// Times are `NIODeadline.now().uptimeNanoseconds` values (one monotonic clock for all loops).
public struct SoakLedger: Sendable {
    /// How a peer message was sent.
    public enum Mode: UInt8, Sendable {
        /// `ACK_MODE_PEER`, `enable_offline_messaging` true.
        case peerOffline
        /// `ACK_MODE_SERVER`, `enable_offline_messaging` true.
        case serverOffline
        /// `ACK_MODE_PEER`, `enable_offline_messaging` false.
        case peerOnly
    }

    /// How a request was answered.
    public enum Outcome: UInt8, Sendable {
        /// `PEER_MESSAGE_RESULT_OK` / `CHANNEL_MESSAGE_RESULT_OK`.
        case ok
        /// `PEER_MESSAGE_RESULT_CACHED_BY_SERVER`.
        case cached
        /// `PEER_MESSAGE_RESULT_PEER_UNREACHABLE`.
        case unreachable
        /// `PEER_MESSAGE_RESULT_SENT_TIMEOUT`.
        case sentTimeout
        /// A `*_TOO_OFTEN` result.
        case tooOften
        /// Any other result or a `ProtocolError`.
        case other
        /// No answer: the connection closed first.
        case unanswered
    }

    /// One `SendPeerMessageRequest`.
    public struct PeerSend: Sendable {
        /// Sender and receiver (client indexes).
        public var sender: Int32
        /// The receiver.
        public var receiver: Int32
        /// The sequence number of the sender towards this receiver.
        public var sequence: UInt64
        /// How it was sent.
        public var mode: Mode
        /// How it was answered.
        public var outcome: Outcome
        /// When it was written.
        public var sentAt: UInt64
        /// When it was answered.
        public var answeredAt: UInt64
        /// The `message_id` of the answer.
        public var messageID: UInt64
    }

    /// One received `PeerMessage`.
    public struct PeerReceipt: Sendable {
        /// The receiver (client index).
        public var receiver: Int32
        /// The sender, from the body.
        public var sender: Int32
        /// The sequence number, from the body.
        public var sequence: UInt64
        /// Its `message_id`.
        public var messageID: UInt64
        /// Its `is_offline`.
        public var isOffline: Bool
        /// The receiver's connection number (1 for its first connection).
        public var connection: Int32
        /// When it was read.
        public var at: UInt64
    }

    /// One `SendChannelMessageRequest`.
    public struct ChannelSend: Sendable {
        /// The channel (index in the run's channel list).
        public var channel: Int32
        /// The sender.
        public var sender: Int32
        /// The sequence number of the sender in this channel.
        public var sequence: UInt64
        /// How it was answered.
        public var outcome: Outcome
        /// When it was written.
        public var sentAt: UInt64
        /// When it was answered.
        public var answeredAt: UInt64
    }

    /// One received `ChannelMessage`.
    public struct ChannelReceipt: Sendable, Hashable {
        /// The receiver.
        public var receiver: Int32
        /// The channel.
        public var channel: Int32
        /// The sender.
        public var sender: Int32
        /// The sequence number.
        public var sequence: UInt64
    }

    /// A time a client was a member of its stable channel: from the successful `JoinChannelResponse` to the end of
    /// the connection (`UInt64.max` while still joined at the end).
    public struct Membership: Sendable {
        /// The member.
        public var member: Int32
        /// The channel.
        public var channel: Int32
        /// When the join was answered.
        public var from: UInt64
        /// When the membership ended at the latest.
        public var to: UInt64
    }

    /// A connection of a reading client that the server closed without a `Disconnect` (the kill -9).
    public struct Severance: Sendable {
        /// The client.
        public var client: Int32
        /// When the close was seen.
        public var at: UInt64
    }

    /// Peer messages sent.
    public var peerSends: [PeerSend] = []
    /// Peer messages received.
    public var peerReceipts: [PeerReceipt] = []
    /// Channel messages sent.
    public var channelSends: [ChannelSend] = []
    /// Channel messages received.
    public var channelReceipts: [ChannelReceipt] = []
    /// Channel messages received out of order or twice within one membership (found as they arrive).
    public var channelOrderFaults = 0
    /// Stable-channel memberships.
    public var memberships: [Membership] = []
    /// Connections severed by the server without `Disconnect`.
    public var severances: [Severance] = []
    /// When connections that the server closed without `Disconnect` ended with a transport error (`ECONNRESET`:
    /// a killed process resets the connections with unread input).
    public var resets: [UInt64] = []

    /// Creates an empty ledger.
    public init() {}

    /// Appends `other`'s records.
    public mutating func merge(_ other: SoakLedger) {
        self.peerSends += other.peerSends
        self.peerReceipts += other.peerReceipts
        self.channelSends += other.channelSends
        self.channelReceipts += other.channelReceipts
        self.channelOrderFaults += other.channelOrderFaults
        self.memberships += other.memberships
        self.severances += other.severances
        self.resets += other.resets
    }
}

/// The end-of-run accounting of a soak (see Benchmarks/README.md for each rule).
public struct SoakAccounting: Sendable {
    /// Messages answered `CACHED_BY_SERVER`, `OK` in peer mode, or `OK` in server mode with offline caching, to
    /// reading clients, never received.
    public var lost = 0
    /// Server-mode `OK` messages not received whose receiver's connection was severed (kill -9) within the grace
    /// time after the answer: not lost (the spec promises durability only for `CACHED_BY_SERVER`).
    public var inFlightAtKill = 0
    /// Messages received twice on one connection, or under two message ids.
    public var duplicated = 0
    /// Cached messages delivered again on a later connection with the same `message_id` (PEER-41 allows it).
    public var redelivered = 0
    /// Messages received before an earlier message of the same sender to the same receiver.
    public var reordered = 0
    /// Messages answered `CACHED_BY_SERVER`.
    public var cached = 0
    /// Of them, answered before a severance of the receiver (kill -9) and delivered after it.
    public var cachedAcrossKill = 0
    /// When the server was killed: the first of at least 20 severances within 5 s; `nil` when there was none.
    public var killedAt: UInt64?
    /// Transport errors of connections the kill ended (within 5 s of ``killedAt``): not faults of the server.
    public var resetsAtKill = 0
    /// Messages answered `CACHED_BY_SERVER` before the kill.
    public var cachedBeforeKill = 0
    /// Of them, received (first) after the kill.
    public var cachedBeforeKillReceivedAfter = 0
    /// Of them, never received.
    public var cachedBeforeKillLost = 0
    /// Channel messages answered OK that a stable member should have received and did not.
    public var channelLost = 0
    /// Channel messages received twice or out of order.
    public var channelDuplicatedOrReordered = 0
    /// Peer messages by outcome.
    public var peerOutcomes: [String: Int] = [:]
    /// Channel messages by outcome.
    public var channelOutcomes: [String: Int] = [:]
    /// Examples of the faults above.
    public var notes: [String] = []

    /// Accounts `ledger`: `graceNanoseconds` is how long after its answer a message may still be in flight to a
    /// prompt reader.
    public init(_ ledger: SoakLedger, graceNanoseconds: UInt64) {
        func note(_ text: @autoclosure () -> String) {
            if self.notes.count < 30 { self.notes.append(text()) }
        }
        struct PairKey: Hashable {
            var receiver: Int32
            var sender: Int32
        }
        struct MessageKey: Hashable {
            var receiver: Int32
            var sender: Int32
            var sequence: UInt64
        }
        let times = ledger.severances.map(\.at).sorted()
        if times.count >= 20 {
            for (index, time) in times.enumerated() where index + 19 < times.count {
                if times[index + 19] - time <= 5_000_000_000 {
                    self.killedAt = time
                    break
                }
            }
        }
        if let killedAt = self.killedAt {
            self.resetsAtKill =
                ledger.resets.filter {
                    $0 + 5_000_000_000 >= killedAt && $0 <= killedAt + 5_000_000_000
                }.count
        }
        var severances: [Int32: [UInt64]] = [:]
        for severance in ledger.severances { severances[severance.client, default: []].append(severance.at) }
        func severed(_ client: Int32, between start: UInt64, and end: UInt64) -> Bool {
            severances[client]?.contains { $0 >= start && $0 <= end } ?? false
        }
        // Receipts: duplicates, redeliveries, order.
        var firstSeen: [MessageKey: (messageID: UInt64, connection: Int32, at: UInt64)] = [:]
        var lastSequence: [PairKey: UInt64] = [:]
        for receipt in ledger.peerReceipts.sorted(by: { $0.at < $1.at }) {
            let key = MessageKey(receiver: receipt.receiver, sender: receipt.sender, sequence: receipt.sequence)
            if let seen = firstSeen[key] {
                if seen.messageID == receipt.messageID && seen.connection != receipt.connection && receipt.isOffline {
                    self.redelivered += 1
                } else {
                    self.duplicated += 1
                    note(
                        "duplicate: \(receipt.sender)->\(receipt.receiver) #\(receipt.sequence) id \(receipt.messageID)"
                    )
                }
                continue
            }
            firstSeen[key] = (receipt.messageID, receipt.connection, receipt.at)
            let pair = PairKey(receiver: receipt.receiver, sender: receipt.sender)
            if let last = lastSequence[pair], receipt.sequence < last {
                self.reordered += 1
                note("reordered: \(receipt.sender)->\(receipt.receiver) #\(receipt.sequence) after #\(last)")
            } else {
                lastSequence[pair] = receipt.sequence
            }
        }
        // Sends: every accepted message to a reading client arrives.
        for send in ledger.peerSends {
            self.peerOutcomes["\(send.mode).\(send.outcome)", default: 0] += 1
            let key = MessageKey(receiver: send.receiver, sender: send.sender, sequence: send.sequence)
            let received = firstSeen[key]
            switch send.outcome {
            case .cached:
                self.cached += 1
                if let killedAt = self.killedAt, send.answeredAt < killedAt {
                    self.cachedBeforeKill += 1
                    if let received {
                        if received.at > killedAt { self.cachedBeforeKillReceivedAfter += 1 }
                    } else {
                        self.cachedBeforeKillLost += 1
                    }
                }
                if let received {
                    if severed(send.receiver, between: send.answeredAt, and: received.at) { self.cachedAcrossKill += 1 }
                } else {
                    self.lost += 1
                    note("lost: \(send.sender)->\(send.receiver) #\(send.sequence) answered CACHED_BY_SERVER")
                }
            case .ok:
                guard received == nil else { continue }
                if send.mode == .serverOffline
                    && severed(send.receiver, between: send.sentAt, and: send.answeredAt &+ graceNanoseconds)
                {
                    self.inFlightAtKill += 1
                } else {
                    self.lost += 1
                    note("lost: \(send.sender)->\(send.receiver) #\(send.sequence) answered OK (\(send.mode))")
                }
            default:
                break
            }
        }
        // Channels: stable members receive every message answered OK while they were joined.
        var channelReceived = Set<SoakLedger.ChannelReceipt>()
        for receipt in ledger.channelReceipts {
            if !channelReceived.insert(receipt).inserted { self.channelDuplicatedOrReordered += 1 }
        }
        self.channelDuplicatedOrReordered += ledger.channelOrderFaults
        var members: [Int32: [SoakLedger.Membership]] = [:]
        for membership in ledger.memberships { members[membership.channel, default: []].append(membership) }
        for send in ledger.channelSends {
            self.channelOutcomes["\(send.outcome)", default: 0] += 1
            guard send.outcome == .ok else { continue }
            for membership in members[send.channel] ?? [] where membership.member != send.sender {
                guard membership.from <= send.sentAt, membership.to >= send.answeredAt &+ graceNanoseconds else {
                    continue
                }
                let receipt = SoakLedger.ChannelReceipt(
                    receiver: membership.member,
                    channel: send.channel,
                    sender: send.sender,
                    sequence: send.sequence
                )
                if !channelReceived.contains(receipt) {
                    self.channelLost += 1
                    note("channel lost: ch\(send.channel) \(send.sender)->\(membership.member) #\(send.sequence)")
                }
            }
        }
    }
}

/// The largest payload of each server frame whose size clients control, as a function of the limits (HS-78).
///
/// Every client may announce the default receive limit of 65536 bytes (FRM-20, HS-28), so a configuration in which one
/// of these bounds exceeds it would let one client's accepted content become a frame another client cannot receive.
/// ``EngineConfiguration/validate()`` refuses such a configuration. The bounds count protobuf encoding exactly: a tag
/// byte per field (every field number is below 16), the shortest varint for lengths, and the longest encoding of
/// every number the server fills in (10 bytes for a 64-bit value).
///
/// Responses that echo a field of the request (a `channel_id`, a `user_id`, a renewal's `token`) are not listed:
/// they are at most a few bytes longer than the request, whose size the requester chooses; HS-79 covers them.
public struct ServerFrameBound: Sendable, Hashable {
    /// The frame, by message name (for example `PeerMessage`).
    public var frame: String
    /// The largest payload the frame can have under the limits, in bytes.
    public var payloadBytes: Int
    /// The ``EngineLimits`` properties the bound grows with, by name (for example `maxMessageBytes`).
    public var limits: [String]
}

/// One frame whose bound exceeds the default receive limit, with how far each limit it depends on could go.
public struct ReceiveLimitViolation: Sendable, Hashable {
    /// A limit the frame's bound grows with, its configured value, and the largest value that keeps every bound within
    /// the default receive limit while the other limits stay as configured (`nil` when no positive value does).
    public struct Fit: Sendable, Hashable {
        /// The ``EngineLimits`` property, by name.
        public var limit: String
        /// Its configured value.
        public var value: Int
        /// The largest value that fits, the other limits unchanged.
        public var largestFitting: Int?
    }

    /// The frame and its bound.
    public var bound: ServerFrameBound
    /// The limits the bound depends on.
    public var fits: [Fit]

    /// What is wrong and what would fit, showing each limit and its value with `name` (as a wire name or as a
    /// command-line flag).
    public func description(naming name: (_ limit: String, _ value: Int) -> String) -> String {
        let fitting = self.fits.map { fit in
            let largest = fit.largestFitting.map { "at most \($0) fits" } ?? "no value fits"
            return "\(name(fit.limit, fit.value)): \(largest)"
        }
        return "a \(self.bound.frame) could have a \(self.bound.payloadBytes)-byte payload, more than the "
            + "\(EngineLimits.defaultReceiveLimit) bytes every client may announce as its receive limit (HS-28, HS-78); "
            + "lower one of " + fitting.joined(separator: "; ")
    }

    /// `maxUserIDBytes` as `max_user_id_bytes`, the name of the `ServerLimits` field.
    public static func wireName(ofLimit limit: String) -> String {
        let characters = Array(limit)
        var result = ""
        for (index, character) in characters.enumerated() {
            if character.isUppercase && index > 0 {
                let previous = characters[index - 1]
                let next = index + 1 < characters.count ? characters[index + 1] : nil
                if previous.isLowercase || (previous.isUppercase && next?.isLowercase == true) {
                    result.append("_")
                }
            }
            result.append(contentsOf: character.lowercased())
        }
        return result
    }
}

extension EngineLimits {
    /// The receive limit every client may announce: the default of FRM-20 (HS-28).
    public static let defaultReceiveLimit = 65_536

    /// The limits by property name, for ``serverFrameBounds()`` and the fits of ``receiveLimitViolations()``.
    static var limitKeyPaths: [String: WritableKeyPath<EngineLimits, Int>] {
        [
            "maxUserIDBytes": \.maxUserIDBytes, "maxChannelIDBytes": \.maxChannelIDBytes,
            "maxMessageBytes": \.maxMessageBytes, "maxMembersListed": \.maxMembersListed,
            "maxQueryPeers": \.maxQueryPeers, "maxSubscriptions": \.maxSubscriptions,
            "maxMemberCountChannels": \.maxMemberCountChannels, "maxAttributeKeyBytes": \.maxAttributeKeyBytes,
            "maxAttributeValueBytes": \.maxAttributeValueBytes, "maxUserAttributesBytes": \.maxUserAttributesBytes,
            "maxChannelAttributesBytes": \.maxChannelAttributesBytes, "maxAttributesCount": \.maxAttributesCount,
            "maxInvitationContentBytes": \.maxInvitationContentBytes, "maxLegacyMemberList": \.maxLegacyMemberList,
        ]
    }

    /// The longest invitation id (INV-1); fixed by the protocol, not a limit.
    static let invitationIDBytes = 64

    /// The bound of every server frame that carries content clients control, largest first (HS-78).
    public func serverFrameBounds() -> [ServerFrameBound] {
        // Values beyond 2^28 exceed every receive limit anyway; clamping keeps the arithmetic far from overflow.
        var limits = self
        for path in Self.limitKeyPaths.values {
            limits[keyPath: path] = min(max(limits[keyPath: path], 0), 1 << 28)
        }
        return limits.unclampedServerFrameBounds()
    }

    private func unclampedServerFrameBounds() -> [ServerFrameBound] {
        let uid = self.maxUserIDBytes
        let cid = self.maxChannelIDBytes
        let invitation = Self.invitationIDBytes
        let content = self.maxInvitationContentBytes
        typealias B = FrameSize
        func bound(_ frame: String, _ bytes: Int, _ limits: [String]) -> ServerFrameBound {
            ServerFrameBound(frame: frame, payloadBytes: bytes, limits: limits)
        }
        let body = B.message(B.messageBody(contentBytes: self.maxMessageBytes))
        let userAttributes = B.attributeList(
            count: self.maxAttributesCount,
            keyBytes: self.maxAttributeKeyBytes,
            valueBytes: self.maxAttributeValueBytes,
            totalBytes: self.maxUserAttributesBytes,
            extraPerEntry: 0
        )
        let channelAttributes = B.attributeList(
            count: self.maxAttributesCount,
            keyBytes: self.maxAttributeKeyBytes,
            valueBytes: self.maxAttributeValueBytes,
            totalBytes: self.maxChannelAttributesBytes,
            extraPerEntry: B.string(uid) + B.int64
        )
        let userAttributeLimits = [
            "maxUserIDBytes", "maxAttributesCount", "maxAttributeKeyBytes", "maxAttributeValueBytes",
            "maxUserAttributesBytes",
        ]
        let channelAttributeLimits = [
            "maxChannelIDBytes", "maxUserIDBytes", "maxAttributesCount", "maxAttributeKeyBytes",
            "maxAttributeValueBytes", "maxChannelAttributesBytes",
        ]
        let bounds = [
            bound(
                "PeerMessage",
                B.string(uid) + body + B.uint64 + B.int64 + B.bool + B.uint64,
                ["maxMessageBytes", "maxUserIDBytes"]
            ),
            bound(
                "ChannelMessage",
                B.string(cid) + B.string(uid) + body + B.uint64 + B.int64 + B.uint64,
                ["maxMessageBytes", "maxChannelIDBytes", "maxUserIDBytes"]
            ),
            bound(
                "GetUserAttributesResponse",
                B.enumeration + B.string(uid) + userAttributes,
                userAttributeLimits
            ),
            bound(
                "GetUserAttributesByKeysResponse",
                B.enumeration + B.string(uid) + userAttributes,
                userAttributeLimits
            ),
            bound(
                "GetChannelAttributesResponse",
                B.enumeration + B.string(cid) + channelAttributes,
                channelAttributeLimits
            ),
            bound(
                "GetChannelAttributesByKeysResponse",
                B.enumeration + B.string(cid) + channelAttributes,
                channelAttributeLimits
            ),
            bound(
                "ChannelAttributesUpdated",
                B.string(cid) + channelAttributes + B.enumeration
                    + self.maxAttributesCount * B.string(self.maxAttributeKeyBytes) + B.string(uid) + B.uint64,
                channelAttributeLimits
            ),
            bound(
                "GetMembersResponse",
                B.enumeration + B.string(cid) + self.maxMembersListed * B.string(uid),
                ["maxMembersListed", "maxUserIDBytes", "maxChannelIDBytes"]
            ),
            bound(
                "QueryChannelUsersResponse",
                B.enumeration + B.string(cid) + B.uint32 + self.maxMembersListed * B.string(uid) + B.bool,
                ["maxMembersListed", "maxUserIDBytes", "maxChannelIDBytes"]
            ),
            bound(
                "ChannelMemberList",
                B.string(cid) + self.maxLegacyMemberList * B.string(uid) + B.uint64,
                ["maxLegacyMemberList", "maxUserIDBytes", "maxChannelIDBytes"]
            ),
            bound(
                "GetChannelMemberCountResponse",
                B.enumeration + self.maxMemberCountChannels * B.message(B.string(cid) + B.uint32),
                ["maxMemberCountChannels", "maxChannelIDBytes"]
            ),
            bound(
                "QueryPeersOnlineStatusResponse",
                B.enumeration + self.maxQueryPeers * B.message(B.string(uid) + B.enumeration),
                ["maxQueryPeers", "maxUserIDBytes"]
            ),
            bound(
                "PeersOnlineStatusChanged",
                self.maxSubscriptions * B.message(B.string(uid) + B.enumeration) + B.uint64,
                ["maxSubscriptions", "maxUserIDBytes"]
            ),
            bound(
                "QueryPeersBySubscriptionOptionResponse",
                B.enumeration + self.maxSubscriptions * B.string(uid),
                ["maxSubscriptions", "maxUserIDBytes"]
            ),
            bound(
                "RemoteInvitationReceived",
                B.string(invitation) + B.string(uid) + B.string(cid) + B.string(content) + B.uint64,
                ["maxInvitationContentBytes", "maxUserIDBytes", "maxChannelIDBytes"]
            ),
            bound(
                "LocalInvitationReceivedByPeer",
                B.string(invitation) + B.string(uid) + B.string(cid) + B.uint64,
                ["maxUserIDBytes", "maxChannelIDBytes"]
            ),
            bound(
                "LocalInvitationAccepted",
                B.string(invitation) + B.string(content) + B.uint64,
                ["maxInvitationContentBytes"]
            ),
            bound(
                "LocalInvitationRefused",
                B.string(invitation) + B.string(content) + B.uint64,
                ["maxInvitationContentBytes"]
            ),
            bound(
                "RemoteInvitationCanceled",
                B.string(invitation) + B.string(content) + B.uint64,
                ["maxInvitationContentBytes"]
            ),
            bound(
                "InvitationMessage",
                B.string(cid) + B.string(uid) + B.enumeration + 2 * B.string(content) + B.uint64,
                ["maxInvitationContentBytes", "maxUserIDBytes", "maxChannelIDBytes"]
            ),
            bound(
                "MemberJoined",
                B.string(cid) + B.string(uid) + B.uint64,
                ["maxUserIDBytes", "maxChannelIDBytes"]
            ),
            bound(
                "MemberLeft",
                B.string(cid) + B.string(uid) + B.enumeration + B.uint64,
                ["maxUserIDBytes", "maxChannelIDBytes"]
            ),
        ]
        return bounds.sorted { $0.payloadBytes > $1.payloadBytes }
    }

    /// The frames whose bound exceeds ``defaultReceiveLimit``, each with the largest value of every limit it depends
    /// on that would fit (HS-78); empty when the limits keep every frame receivable by every client.
    public func receiveLimitViolations() -> [ReceiveLimitViolation] {
        self.serverFrameBounds().filter { $0.payloadBytes > Self.defaultReceiveLimit }.map { bound in
            let fits = bound.limits.compactMap { name -> ReceiveLimitViolation.Fit? in
                guard let path = Self.limitKeyPaths[name] else { return nil }
                return ReceiveLimitViolation.Fit(
                    limit: name,
                    value: self[keyPath: path],
                    largestFitting: self.largestFitting(path)
                )
            }
            return ReceiveLimitViolation(bound: bound, fits: fits)
        }
    }

    /// The largest value of one limit, the others unchanged, for which every frame stays within the default receive
    /// limit.
    private func largestFitting(_ path: WritableKeyPath<EngineLimits, Int>) -> Int? {
        func fits(_ value: Int) -> Bool {
            var limits = self
            limits[keyPath: path] = value
            return limits.serverFrameBounds().allSatisfy { $0.payloadBytes <= Self.defaultReceiveLimit }
        }
        guard fits(1) else { return nil }
        var low = 1  // fits
        var high = self[keyPath: path]  // does not fit
        while high - low > 1 {
            let middle = low + (high - low) / 2
            if fits(middle) { low = middle } else { high = middle }
        }
        return low
    }
}

/// Upper bounds of protobuf encodings, for ``EngineLimits/serverFrameBounds()``. Every field number in Herald's
/// messages is below 16, so each tag is one byte.
enum FrameSize {
    /// The length of the shortest varint of `value`.
    static func varint(_ value: Int) -> Int {
        var length = 1
        var rest = UInt64(value) >> 7
        while rest != 0 {
            length += 1
            rest >>= 7
        }
        return length
    }

    /// A present string or bytes field of at most `bytes` bytes.
    static func string(_ bytes: Int) -> Int { 1 + Self.varint(bytes) + bytes }

    /// A present sub-message field whose encoding is at most `bytes` bytes.
    static func message(_ bytes: Int) -> Int { 1 + Self.varint(bytes) + bytes }

    /// A `uint64` field (any value).
    static let uint64 = 11
    /// An `int64` field (any value; a negative one takes 10 bytes).
    static let int64 = 11
    /// A `uint32` field (any value).
    static let uint32 = 6
    /// A `bool` field.
    static let bool = 2
    /// An enum field holding one of Herald's values (all below 128).
    static let enumeration = 2

    /// The encoding of a `MessageBody` whose text and raw bytes together hold at most `contentBytes` bytes (PEER-6):
    /// the type, and both fields at their longest length prefixes.
    static func messageBody(contentBytes: Int) -> Int {
        Self.enumeration + 2 * (1 + Self.varint(contentBytes)) + contentBytes
    }

    /// A repeated `Attribute` (or `ChannelAttribute`, whose writer and time add `extraPerEntry`) field of at most
    /// `count` entries, keys of at most `keyBytes`, values of at most `valueBytes`, keys and values of all entries
    /// together at most `totalBytes`.
    static func attributeList(count: Int, keyBytes: Int, valueBytes: Int, totalBytes: Int, extraPerEntry: Int) -> Int {
        let keyAndValue = min(totalBytes, keyBytes + valueBytes)
        let longestEntry = 2 + Self.varint(keyBytes) + Self.varint(valueBytes) + keyAndValue + extraPerEntry
        let overheadPerEntry =
            1 + Self.varint(longestEntry) + 2 + Self.varint(keyBytes) + Self.varint(valueBytes)
            + extraPerEntry
        let content = min(totalBytes, count * (keyBytes + valueBytes))
        return count * overheadPerEntry + content
    }
}

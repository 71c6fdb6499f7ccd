import Foundation
// The schema's enums are the client's state and reason types (typealiased below): an app that imports
// HeraldClient can write `.connected` or `.peer` without importing the generated module itself.
@_exported import HeraldMessages

/// The connection state the app sees (RTM's `AgoraRtmConnectionState`, Signaling's `getStatus`).
public typealias ConnectionState = Herald_V1_ConnectionState
/// Why the connection state changed (RTM's `AgoraRtmConnectionChangeReason`).
public typealias ConnectionChangeReason = Herald_V1_ConnectionChangeReason
/// Who acknowledges a peer message: the receiving client (`ACK_MODE_PEER`) or the server (`ACK_MODE_SERVER`).
public typealias AckMode = Herald_V1_AckMode
/// A peer's online state (RTM's `AgoraRtmPeerOnlineState`).
public typealias PeerOnlineState = Herald_V1_PeerOnlineState
/// Why a member left a channel.
public typealias MemberLeftReason = Herald_V1_MemberLeftReason
/// The state of an invitation the app sent (RTM's `AgoraRtmLocalInvitationState`).
public typealias LocalInvitationState = Herald_V1_LocalInvitationState
/// The state of an invitation the app received (RTM's `AgoraRtmRemoteInvitationState`).
public typealias RemoteInvitationState = Herald_V1_RemoteInvitationState
/// Why an invitation the app sent failed.
public typealias LocalInvitationError = Herald_V1_LocalInvitationError
/// Why an invitation the app received failed.
public typealias RemoteInvitationError = Herald_V1_RemoteInvitationError
/// What kind of change a `ChannelAttributesUpdated` reports.
public typealias ChannelAttributesUpdateKind = Herald_V1_ChannelAttributesUpdateKind
/// Why the server ended the connection.
public typealias DisconnectReason = Herald_V1_DisconnectReason

/// A message: text or raw bytes (RTM's `AgoraRtmMessage` and `AgoraRtmRawMessage`; the client-side message object of
/// mapping rows 10 and 85).
public struct HeraldMessage: Sendable, Hashable {
    /// What the message carries.
    public enum Content: Sendable, Hashable {
        /// UTF-8 text.
        case text(String)
        /// Bytes, with an optional description (RTM's raw message).
        case raw(Data, description: String)
    }

    /// The content.
    public var content: Content

    /// Creates a text message (`initWithText`, `createMessage`).
    public init(text: String) { self.content = .text(text) }

    /// Creates a raw message (`initWithRawData:description:`).
    public init(raw: Data, description: String = "") { self.content = .raw(raw, description: description) }

    /// The text, or a raw message's description.
    public var text: String {
        switch self.content {
        case .text(let text): text
        case .raw(_, let description): description
        }
    }

    /// A raw message's bytes; `nil` for text.
    public var raw: Data? {
        if case .raw(let data, _) = self.content { return data }
        return nil
    }

    var body: Herald_V1_MessageBody {
        var body = Herald_V1_MessageBody()
        switch self.content {
        case .text(let text):
            body.type = .text
            body.text = text
        case .raw(let data, let description):
            body.type = .raw
            body.raw = data
            body.text = description
        }
        return body
    }

    /// The message of `body`; `nil` for a message type this client does not know (acknowledged as incompatible).
    init?(_ body: Herald_V1_MessageBody) {
        switch body.type {
        case .text: self.init(text: body.text)
        case .raw: self.init(raw: body.raw, description: body.text)
        default: return nil
        }
    }
}

/// Options of a peer message (RTM's `AgoraRtmSendMessageOptions`).
public struct PeerMessageOptions: Sendable, Hashable {
    /// Keep the message for an offline receiver (capability `offline-messages`).
    public var enableOfflineMessaging: Bool
    /// Keep the message in the server's history, where it has one.
    public var enableHistoricalMessaging: Bool
    /// Who acknowledges it: with `.peer` (the default) the result says whether the receiver's client got it.
    public var ackMode: AckMode

    /// Creates options.
    public init(enableOfflineMessaging: Bool = false, enableHistoricalMessaging: Bool = false, ackMode: AckMode = .peer)
    {
        self.enableOfflineMessaging = enableOfflineMessaging
        self.enableHistoricalMessaging = enableHistoricalMessaging
        self.ackMode = ackMode
    }
}

/// A message the server accepted.
public struct SentMessage: Sendable, Hashable {
    /// The server's id of the message.
    public var messageID: UInt64
    /// When the server received it, in Unix milliseconds.
    public var serverReceivedMs: Int64
    /// Whether the receiver was offline and the server keeps it (`PEER_MESSAGE_RESULT_CACHED_BY_SERVER`).
    public var cachedByServer: Bool
}

/// A peer message the client received (`messageReceived:fromPeer:`).
public struct ReceivedPeerMessage: Sendable, Hashable {
    /// The sender.
    public var fromUserID: String
    /// The message.
    public var message: HeraldMessage
    /// The server's id of the message.
    public var messageID: UInt64
    /// When the server received it, in Unix milliseconds.
    public var serverReceivedMs: Int64
    /// Whether it was kept while this user was offline.
    public var isOffline: Bool
}

/// A channel message the client received (`messageReceived:fromMember:`).
public struct ReceivedChannelMessage: Sendable, Hashable {
    /// The channel.
    public var channelID: String
    /// The sender.
    public var fromUserID: String
    /// The message.
    public var message: HeraldMessage
    /// The server's id of the message.
    public var messageID: UInt64
    /// When the server received it, in Unix milliseconds.
    public var serverReceivedMs: Int64
}

/// A key and value of user or channel attributes.
public struct Attribute: Sendable, Hashable {
    /// The key.
    public var key: String
    /// The value.
    public var value: String

    /// Creates an attribute.
    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }

    var proto: Herald_V1_Attribute {
        var attribute = Herald_V1_Attribute()
        attribute.key = self.key
        attribute.value = self.value
        return attribute
    }
}

/// A channel attribute with who set it last and when (`AgoraRtmChannelAttribute`).
public struct ChannelAttribute: Sendable, Hashable {
    /// The key.
    public var key: String
    /// The value.
    public var value: String
    /// The user who set it last.
    public var lastUpdatedBy: String
    /// When it was set last, in Unix milliseconds.
    public var lastUpdatedMs: Int64

    init(_ proto: Herald_V1_ChannelAttribute) {
        self.key = proto.key
        self.value = proto.value
        self.lastUpdatedBy = proto.lastUpdatedBy
        self.lastUpdatedMs = proto.lastUpdatedMs
    }
}

/// Options of a channel-attribute change (`AgoraRtmChannelAttributeOptions`).
public struct ChannelAttributeOptions: Sendable, Hashable {
    /// Tell the channel's members with `ChannelAttributesUpdated`.
    public var notifyMembers: Bool

    /// Creates options.
    public init(notifyMembers: Bool = false) { self.notifyMembers = notifyMembers }
}

/// The answer to a channel-users query of the legacy Signaling API (`channelQueryUserNum`, `channelQueryUserIsIn`).
public struct ChannelUsers: Sendable, Hashable {
    /// The number of members.
    public var memberCount: Int
    /// Some or all members.
    public var userIDs: [String]
    /// Whether the user asked about is a member.
    public var isMember: Bool
}

/// What the client could not restore after a reconnection, and which events it missed.
public struct Restoration: Sendable, Hashable {
    /// Whether the server resumed the session (its streams continued); otherwise the client logged in anew and
    /// rejoined its channels.
    public var resumed: Bool
    /// The channels the client is in again.
    public var rejoinedChannels: [String]
    /// The channels it could not rejoin, with why.
    public var lostChannels: [String: HeraldClientError]
    /// Whether the presence subscriptions were restored.
    public var subscriptionsRestored: Bool
}

/// Something that happened, delivered through ``HeraldClient/events()``.
public enum HeraldClientEvent: Sendable {
    /// The connection state changed (`connectionStateChanged`, `onConnectionStateChanged`).
    case connectionStateChanged(ConnectionState, reason: ConnectionChangeReason)
    /// A peer message arrived (`messageReceived:fromPeer:`).
    case peerMessage(ReceivedPeerMessage)
    /// Subscribed peers changed their online state (`peersOnlineStatusChanged`).
    case peersOnlineStatusChanged([String: PeerOnlineState])
    /// The token expires soon (`tokenPrivilegeWillExpire`): renew it with ``HeraldClient/renewToken(_:)``.
    case tokenPrivilegeWillExpire(expiresMs: Int64)
    /// The token expired (`tokenExpired`).
    case tokenExpired(expiresMs: Int64)
    /// A member joined a channel (`memberJoined`).
    case memberJoined(channelID: String, userID: String)
    /// A member left a channel (`memberLeft`).
    case memberLeft(channelID: String, userID: String, reason: MemberLeftReason)
    /// A channel's member count (`memberCountUpdated`).
    case memberCountUpdated(channelID: String, count: Int)
    /// The member list sent on join to a legacy Signaling client (`onChannelUserList`).
    case channelMemberList(channelID: String, userIDs: [String])
    /// A channel message arrived (`messageReceived:fromMember:`).
    case channelMessage(ReceivedChannelMessage)
    /// A channel's attributes changed (`attributeUpdate`): the whole set after the change.
    case channelAttributesUpdated(
        channelID: String,
        attributes: [ChannelAttribute],
        kind: ChannelAttributesUpdateKind,
        changedKeys: [String],
        updatedBy: String
    )
    /// An invitation the app sent changed state (`localInvitationReceivedByPeer`, `…Accepted`, …).
    case localInvitation(LocalInvitation, LocalInvitationState)
    /// An invitation arrived or one the app received changed state (`remoteInvitationReceived`, …).
    case remoteInvitation(RemoteInvitation, RemoteInvitationState)
    /// A DTMF or other invitation message of the legacy Signaling API (`onInviteMsg`).
    case invitationMessage(channelID: String, fromUserID: String, data: String, extra: String)
    /// The server ended the connection with `Disconnect`.
    case disconnected(DisconnectReason, message: String)
    /// After a reconnection: what was restored. A new session starts every stream at 1 and what happened while
    /// the client was away is unknown: refresh the members and attributes of the channels.
    case restored(Restoration)
    /// A resumed session's stream skipped these `seq` positions: events sent while the client was detached, which
    /// it missed (EXT-41). `stream` is `"user"` or `"channel:<id>"`.
    case missedEvents(stream: String, seq: ClosedRange<UInt64>)
    /// The server broke the protocol (a seq gap, an unexpected or malformed frame); the client closed the
    /// connection and reconnects (HS-69, EXT-29).
    case protocolFault(String)
}

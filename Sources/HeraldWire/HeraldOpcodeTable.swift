import HeraldMessages
import SwiftProtobuf

/// The kind of an opcode, which fixes direction, flags and request-id rules (Spec/03-framing.md).
public enum HeraldOpcodeKind: String, Sendable, CaseIterable {
    /// Client to server; the server answers with exactly one response carrying the same non-zero request id.
    case request
    /// Server to client; answers the request with the same non-zero request id.
    case response
    /// Server to client, unsolicited. Request id 0, unless `ACK_REQUIRED` is set: then a non-zero id that the
    /// client echoes in its `DeliveryAck`.
    case event
    /// Client to server, never answered (only `DeliveryAck` in v1). Request id non-zero.
    case notice
}

/// What the v1 opcode table says about one opcode.
public struct HeraldOpcodeInfo: Sendable, CustomStringConvertible {
    /// The opcode.
    public let opcode: Herald_V1_Opcode
    /// The opcode's kind.
    public let kind: HeraldOpcodeKind
    /// The generated message type of the payload, for example `Herald_V1_LoginRequest.self`.
    public let messageType: any SwiftProtobuf.Message.Type
    /// The response opcode (request opcode + 1) for requests; `nil` for other kinds.
    public let responseOpcode: Herald_V1_Opcode?
    /// The protobuf message name without package, for example `"LoginRequest"`.
    public let name: String

    private init(_ opcode: Herald_V1_Opcode, _ kind: HeraldOpcodeKind, _ messageType: any SwiftProtobuf.Message.Type) {
        self.opcode = opcode
        self.kind = kind
        self.messageType = messageType
        self.name = String(messageType.protoMessageName.dropFirst(HeraldOpcodeInfo.packagePrefix.count))
        self.responseOpcode = kind == .request ? Herald_V1_Opcode(rawValue: opcode.rawValue + 1) : nil
    }

    /// The protobuf package prefix of every payload message name.
    static let packagePrefix = "herald.v1."

    static func request(_ opcode: Herald_V1_Opcode, _ messageType: any SwiftProtobuf.Message.Type) -> Self {
        Self(opcode, .request, messageType)
    }

    static func response(_ opcode: Herald_V1_Opcode, _ messageType: any SwiftProtobuf.Message.Type) -> Self {
        Self(opcode, .response, messageType)
    }

    static func event(_ opcode: Herald_V1_Opcode, _ messageType: any SwiftProtobuf.Message.Type) -> Self {
        Self(opcode, .event, messageType)
    }

    static func notice(_ opcode: Herald_V1_Opcode, _ messageType: any SwiftProtobuf.Message.Type) -> Self {
        Self(opcode, .notice, messageType)
    }

    /// The opcode's value in the frame header, for example `0x0101`.
    public var wireValue: UInt16 {
        UInt16(truncatingIfNeeded: self.opcode.rawValue)
    }

    /// The fully qualified protobuf message name, for example `"herald.v1.LoginRequest"`.
    public var fullMessageName: String {
        HeraldOpcodeInfo.packagePrefix + self.name
    }

    /// The opcode's enum value name in `opcode.proto`: `OPCODE_` followed by ``name`` in UPPER_SNAKE_CASE,
    /// for example `"OPCODE_LOGIN_REQUEST"`.
    public var opcodeName: String {
        var result = "OPCODE_"
        var previous: Character?
        for character in self.name {
            if character.isUppercase, let previous, previous.isLowercase || previous.isNumber {
                result.append("_")
            }
            result.append(contentsOf: character.uppercased())
            previous = character
        }
        return result
    }

    /// For a response, the request opcode it answers (response opcode − 1); otherwise `nil`.
    public var requestOpcode: Herald_V1_Opcode? {
        guard self.kind == .response else {
            return nil
        }
        return Herald_V1_Opcode(rawValue: self.opcode.rawValue - 1)
    }

    /// A short description such as `0x0101 LoginRequest (request)`.
    public var description: String {
        let hex = String(self.wireValue, radix: 16)
        return "0x" + String(repeating: "0", count: 4 - hex.count) + hex + " \(self.name) (\(self.kind.rawValue))"
    }
}

/// The Herald v1 opcode table: every defined opcode with its kind and payload message type
/// (Spec/03-framing.md, `Spec/proto/herald/v1/opcode.proto`).
///
/// An opcode that is not in this table is rejected with ``WireError/Code/unknownOpcode`` (FRM-5).
public enum HeraldOpcodeTable {
    /// All 93 v1 opcodes in ascending opcode order.
    public static let all: [HeraldOpcodeInfo] = [
        // 0x00xx: Handshake and connection (Spec/04-handshake.md)
        .request(.hello, Herald_V1_Hello.self),
        .response(.welcome, Herald_V1_Welcome.self),
        .request(.ping, Herald_V1_Ping.self),
        .response(.pong, Herald_V1_Pong.self),
        .event(.disconnect, Herald_V1_Disconnect.self),
        .event(.protocolError, Herald_V1_ProtocolError.self),
        .notice(.deliveryAck, Herald_V1_DeliveryAck.self),
        // 0x01xx: Session (Spec/05-session.md, Spec/15-tokens.md)
        .request(.loginRequest, Herald_V1_LoginRequest.self),
        .response(.loginResponse, Herald_V1_LoginResponse.self),
        .request(.logoutRequest, Herald_V1_LogoutRequest.self),
        .response(.logoutResponse, Herald_V1_LogoutResponse.self),
        .request(.renewTokenRequest, Herald_V1_RenewTokenRequest.self),
        .response(.renewTokenResponse, Herald_V1_RenewTokenResponse.self),
        .event(.connectionStateChanged, Herald_V1_ConnectionStateChanged.self),
        .event(.tokenPrivilegeWillExpire, Herald_V1_TokenPrivilegeWillExpire.self),
        .event(.tokenExpired, Herald_V1_TokenExpired.self),
        // 0x02xx: Peer messages (Spec/06-peer-messages.md)
        .request(.sendPeerMessageRequest, Herald_V1_SendPeerMessageRequest.self),
        .response(.sendPeerMessageResponse, Herald_V1_SendPeerMessageResponse.self),
        .event(.peerMessage, Herald_V1_PeerMessage.self),
        // 0x03xx: Presence (Spec/07-presence.md)
        .request(.queryPeersOnlineStatusRequest, Herald_V1_QueryPeersOnlineStatusRequest.self),
        .response(.queryPeersOnlineStatusResponse, Herald_V1_QueryPeersOnlineStatusResponse.self),
        .request(.subscribePeersOnlineStatusRequest, Herald_V1_SubscribePeersOnlineStatusRequest.self),
        .response(.subscribePeersOnlineStatusResponse, Herald_V1_SubscribePeersOnlineStatusResponse.self),
        .request(.unsubscribePeersOnlineStatusRequest, Herald_V1_UnsubscribePeersOnlineStatusRequest.self),
        .response(.unsubscribePeersOnlineStatusResponse, Herald_V1_UnsubscribePeersOnlineStatusResponse.self),
        .request(.queryPeersBySubscriptionOptionRequest, Herald_V1_QueryPeersBySubscriptionOptionRequest.self),
        .response(.queryPeersBySubscriptionOptionResponse, Herald_V1_QueryPeersBySubscriptionOptionResponse.self),
        .event(.peersOnlineStatusChanged, Herald_V1_PeersOnlineStatusChanged.self),
        // 0x04xx: User attributes (Spec/08-user-attributes.md)
        .request(.setLocalUserAttributesRequest, Herald_V1_SetLocalUserAttributesRequest.self),
        .response(.setLocalUserAttributesResponse, Herald_V1_SetLocalUserAttributesResponse.self),
        .request(.addOrUpdateLocalUserAttributesRequest, Herald_V1_AddOrUpdateLocalUserAttributesRequest.self),
        .response(.addOrUpdateLocalUserAttributesResponse, Herald_V1_AddOrUpdateLocalUserAttributesResponse.self),
        .request(.deleteLocalUserAttributesByKeysRequest, Herald_V1_DeleteLocalUserAttributesByKeysRequest.self),
        .response(.deleteLocalUserAttributesByKeysResponse, Herald_V1_DeleteLocalUserAttributesByKeysResponse.self),
        .request(.clearLocalUserAttributesRequest, Herald_V1_ClearLocalUserAttributesRequest.self),
        .response(.clearLocalUserAttributesResponse, Herald_V1_ClearLocalUserAttributesResponse.self),
        .request(.getUserAttributesRequest, Herald_V1_GetUserAttributesRequest.self),
        .response(.getUserAttributesResponse, Herald_V1_GetUserAttributesResponse.self),
        .request(.getUserAttributesByKeysRequest, Herald_V1_GetUserAttributesByKeysRequest.self),
        .response(.getUserAttributesByKeysResponse, Herald_V1_GetUserAttributesByKeysResponse.self),
        // 0x05xx: Channels (Spec/09-channels.md)
        .request(.joinChannelRequest, Herald_V1_JoinChannelRequest.self),
        .response(.joinChannelResponse, Herald_V1_JoinChannelResponse.self),
        .request(.leaveChannelRequest, Herald_V1_LeaveChannelRequest.self),
        .response(.leaveChannelResponse, Herald_V1_LeaveChannelResponse.self),
        .request(.getMembersRequest, Herald_V1_GetMembersRequest.self),
        .response(.getMembersResponse, Herald_V1_GetMembersResponse.self),
        .request(.getChannelMemberCountRequest, Herald_V1_GetChannelMemberCountRequest.self),
        .response(.getChannelMemberCountResponse, Herald_V1_GetChannelMemberCountResponse.self),
        .event(.memberJoined, Herald_V1_MemberJoined.self),
        .event(.memberLeft, Herald_V1_MemberLeft.self),
        .event(.memberCountUpdated, Herald_V1_MemberCountUpdated.self),
        .event(.channelMemberList, Herald_V1_ChannelMemberList.self),
        // 0x06xx: Channel messages (Spec/10-channel-messages.md)
        .request(.sendChannelMessageRequest, Herald_V1_SendChannelMessageRequest.self),
        .response(.sendChannelMessageResponse, Herald_V1_SendChannelMessageResponse.self),
        .event(.channelMessage, Herald_V1_ChannelMessage.self),
        // 0x07xx: Channel attributes (Spec/11-channel-attributes.md)
        .request(.setChannelAttributesRequest, Herald_V1_SetChannelAttributesRequest.self),
        .response(.setChannelAttributesResponse, Herald_V1_SetChannelAttributesResponse.self),
        .request(.addOrUpdateChannelAttributesRequest, Herald_V1_AddOrUpdateChannelAttributesRequest.self),
        .response(.addOrUpdateChannelAttributesResponse, Herald_V1_AddOrUpdateChannelAttributesResponse.self),
        .request(.deleteChannelAttributesByKeysRequest, Herald_V1_DeleteChannelAttributesByKeysRequest.self),
        .response(.deleteChannelAttributesByKeysResponse, Herald_V1_DeleteChannelAttributesByKeysResponse.self),
        .request(.clearChannelAttributesRequest, Herald_V1_ClearChannelAttributesRequest.self),
        .response(.clearChannelAttributesResponse, Herald_V1_ClearChannelAttributesResponse.self),
        .request(.getChannelAttributesRequest, Herald_V1_GetChannelAttributesRequest.self),
        .response(.getChannelAttributesResponse, Herald_V1_GetChannelAttributesResponse.self),
        .request(.getChannelAttributesByKeysRequest, Herald_V1_GetChannelAttributesByKeysRequest.self),
        .response(.getChannelAttributesByKeysResponse, Herald_V1_GetChannelAttributesByKeysResponse.self),
        .event(.channelAttributesUpdated, Herald_V1_ChannelAttributesUpdated.self),
        // 0x08xx: Invitations (Spec/12-invitations.md)
        .request(.sendInvitationRequest, Herald_V1_SendInvitationRequest.self),
        .response(.sendInvitationResponse, Herald_V1_SendInvitationResponse.self),
        .request(.cancelInvitationRequest, Herald_V1_CancelInvitationRequest.self),
        .response(.cancelInvitationResponse, Herald_V1_CancelInvitationResponse.self),
        .request(.acceptInvitationRequest, Herald_V1_AcceptInvitationRequest.self),
        .response(.acceptInvitationResponse, Herald_V1_AcceptInvitationResponse.self),
        .request(.refuseInvitationRequest, Herald_V1_RefuseInvitationRequest.self),
        .response(.refuseInvitationResponse, Herald_V1_RefuseInvitationResponse.self),
        .event(.localInvitationReceivedByPeer, Herald_V1_LocalInvitationReceivedByPeer.self),
        .event(.localInvitationAccepted, Herald_V1_LocalInvitationAccepted.self),
        .event(.localInvitationRefused, Herald_V1_LocalInvitationRefused.self),
        .event(.localInvitationCanceled, Herald_V1_LocalInvitationCanceled.self),
        .event(.localInvitationFailure, Herald_V1_LocalInvitationFailure.self),
        .event(.remoteInvitationReceived, Herald_V1_RemoteInvitationReceived.self),
        .event(.remoteInvitationCanceled, Herald_V1_RemoteInvitationCanceled.self),
        .event(.remoteInvitationAccepted, Herald_V1_RemoteInvitationAccepted.self),
        .event(.remoteInvitationRefused, Herald_V1_RemoteInvitationRefused.self),
        .event(.remoteInvitationFailure, Herald_V1_RemoteInvitationFailure.self),
        // 0x09xx: Legacy Signaling (Spec/16-legacy-signaling.md)
        .request(.sendChannelMessageExternalRequest, Herald_V1_SendChannelMessageExternalRequest.self),
        .response(.sendChannelMessageExternalResponse, Herald_V1_SendChannelMessageExternalResponse.self),
        .request(.sendDtmfRequest, Herald_V1_SendDtmfRequest.self),
        .response(.sendDtmfResponse, Herald_V1_SendDtmfResponse.self),
        .request(.queryChannelUsersRequest, Herald_V1_QueryChannelUsersRequest.self),
        .response(.queryChannelUsersResponse, Herald_V1_QueryChannelUsersResponse.self),
        .event(.invitationMessage, Herald_V1_InvitationMessage.self),
    ]

    /// The capability that defines the test-control extension opcodes (Spec/18-test-control.md).
    public static let testControlCapability = "herald.test-control"

    /// `TestControlRequest`, opcode `0xF001` (Spec/18-test-control.md).
    public static let testControlRequest = HeraldOpcodeInfo.request(
        Herald_V1_Opcode(rawValue: 0xF001)!,
        Herald_V1_TestControlRequest.self
    )

    /// `TestControlResponse`, opcode `0xF002` (Spec/18-test-control.md).
    public static let testControlResponse = HeraldOpcodeInfo.response(
        Herald_V1_Opcode(rawValue: 0xF002)!,
        Herald_V1_TestControlResponse.self
    )

    /// The extension opcodes this package knows (Spec/17-extensibility.md §17.3), in ascending order: the
    /// test-control pair of ``testControlCapability``.
    ///
    /// They are not in ``all`` and none of the `info` lookups finds them: an extension opcode is unknown
    /// (FRM-5) unless the capability that defines it was granted on the connection (EXT-8), so a receiver accepts
    /// one only where it passes it explicitly (``HeraldFrameDecoder/acceptedExtensions``).
    public static let extensions: [HeraldOpcodeInfo] = [testControlRequest, testControlResponse]

    /// Looks up an opcode in ``all``, then in ``extensions``.
    ///
    /// - Parameter opcode: The opcode.
    /// - Returns: The table entry, or `nil` if the opcode is neither a v1 opcode nor a known extension opcode.
    public static func infoIncludingExtensions(for opcode: Herald_V1_Opcode) -> HeraldOpcodeInfo? {
        byOpcode[opcode.rawValue] ?? extensions.first { $0.opcode.rawValue == opcode.rawValue }
    }

    /// Looks up a payload message name (`"herald.v1.TestControlRequest"`) in ``all``, then in ``extensions``.
    ///
    /// - Parameter fullName: A fully qualified protobuf message name.
    /// - Returns: The table entry, or `nil` if no v1 or known extension opcode carries that message.
    public static func infoIncludingExtensions(forMessageName fullName: String) -> HeraldOpcodeInfo? {
        byMessageName[fullName] ?? extensions.first { $0.fullMessageName == fullName }
    }

    private static let byOpcode: [Int: HeraldOpcodeInfo] = Dictionary(
        uniqueKeysWithValues: all.map { ($0.opcode.rawValue, $0) }
    )

    private static let byMessageName: [String: HeraldOpcodeInfo] = Dictionary(
        uniqueKeysWithValues: all.map { ($0.fullMessageName, $0) }
    )

    private static let byOpcodeName: [String: HeraldOpcodeInfo] = Dictionary(
        uniqueKeysWithValues: all.map { ($0.opcodeName, $0) }
    )

    /// Looks up an opcode.
    ///
    /// - Parameter opcode: The opcode.
    /// - Returns: The table entry, or `nil` for `.unspecified`, `.UNRECOGNIZED` and anything else not in v1.
    public static func info(for opcode: Herald_V1_Opcode) -> HeraldOpcodeInfo? {
        byOpcode[opcode.rawValue]
    }

    /// Looks up an opcode by its 16-bit header value.
    ///
    /// - Parameter wireValue: The opcode field of a frame header.
    /// - Returns: The table entry, or `nil` if the value is not a v1 opcode.
    public static func info(forWireValue wireValue: UInt16) -> HeraldOpcodeInfo? {
        byOpcode[Int(wireValue)]
    }

    /// Looks up an opcode by its payload's fully qualified message name.
    ///
    /// - Parameter fullName: A protobuf message name such as `"herald.v1.LoginRequest"`.
    /// - Returns: The table entry, or `nil` if no opcode carries that message.
    public static func info(forMessageName fullName: String) -> HeraldOpcodeInfo? {
        byMessageName[fullName]
    }

    /// Looks up an opcode by its payload's message type.
    ///
    /// - Parameter messageType: A generated message type such as `Herald_V1_LoginRequest.self`.
    /// - Returns: The table entry, or `nil` if no opcode carries that message.
    public static func info(forMessageType messageType: any SwiftProtobuf.Message.Type) -> HeraldOpcodeInfo? {
        byMessageName[messageType.protoMessageName]
    }

    /// Looks up an opcode by its enum value name in `opcode.proto`.
    ///
    /// - Parameter opcodeName: A name such as `"OPCODE_LOGIN_REQUEST"`.
    /// - Returns: The table entry, or `nil` if no opcode has that name.
    public static func info(forOpcodeName opcodeName: String) -> HeraldOpcodeInfo? {
        byOpcodeName[opcodeName]
    }
}

import HeraldMessages
import SwiftProtobuf

/// Responses that the engine builds the same way for every operation: the session check (SES-10) and the rate
/// limit (LIM-4). Identifying fields of the request (channel id, user id, invitation id, token) are echoed.
enum GenericResponses {
    /// The rate class a request is counted against (Spec/14-limits.md §14.3), except `JoinChannelRequest`, whose
    /// two classes the channel operations check themselves (LIM-6).
    static func rateClass(of opcode: Herald_V1_Opcode) -> Herald_V1_RateClass? {
        switch opcode {
        case .renewTokenRequest: return .renewToken
        case .sendPeerMessageRequest, .sendChannelMessageRequest, .sendChannelMessageExternalRequest: return .messages
        case .getMembersRequest, .queryChannelUsersRequest: return .getMembers
        case .queryPeersOnlineStatusRequest: return .queryPresence
        case .subscribePeersOnlineStatusRequest, .unsubscribePeersOnlineStatusRequest,
            .queryPeersBySubscriptionOptionRequest:
            return .subscription
        case .setLocalUserAttributesRequest, .addOrUpdateLocalUserAttributesRequest,
            .deleteLocalUserAttributesByKeysRequest, .clearLocalUserAttributesRequest:
            return .userAttributesWrite
        case .getUserAttributesRequest, .getUserAttributesByKeysRequest: return .userAttributesRead
        case .setChannelAttributesRequest, .addOrUpdateChannelAttributesRequest,
            .deleteChannelAttributesByKeysRequest, .clearChannelAttributesRequest:
            return .channelAttributesWrite
        case .getChannelAttributesRequest, .getChannelAttributesByKeysRequest: return .channelAttributesRead
        case .getChannelMemberCountRequest: return .memberCount
        default: return nil
        }
    }

    /// The `*_USER_NOT_LOGGED_IN` response (value 102) to a request.
    static func notLoggedIn(_ request: any SwiftProtobuf.Message, opcode: Herald_V1_Opcode) -> any SwiftProtobuf.Message
    {
        Self.response(to: request, opcode: opcode, result: 102)
    }

    /// The `*_TOO_OFTEN` response to a request of a rate-limited operation.
    static func tooOften(_ request: any SwiftProtobuf.Message, opcode: Herald_V1_Opcode) -> any SwiftProtobuf.Message {
        let value: Int
        switch opcode {
        case .loginRequest: value = Herald_V1_LoginResult.tooOften.rawValue
        case .renewTokenRequest: value = Herald_V1_RenewTokenResult.tooOften.rawValue
        case .sendPeerMessageRequest: value = Herald_V1_PeerMessageResult.tooOften.rawValue
        case .sendChannelMessageRequest, .sendChannelMessageExternalRequest:
            value = Herald_V1_ChannelMessageResult.tooOften.rawValue
        case .getMembersRequest, .queryChannelUsersRequest: value = Herald_V1_GetMembersResult.tooOften.rawValue
        case .queryPeersOnlineStatusRequest: value = Herald_V1_QueryPeersOnlineStatusResult.tooOften.rawValue
        case .subscribePeersOnlineStatusRequest, .unsubscribePeersOnlineStatusRequest:
            value = Herald_V1_PeerSubscriptionStatusResult.tooOften.rawValue
        case .queryPeersBySubscriptionOptionRequest:
            value = Herald_V1_QueryPeersBySubscriptionOptionResult.tooOften.rawValue
        case .joinChannelRequest: value = Herald_V1_JoinChannelResult.tooOften.rawValue
        case .getChannelMemberCountRequest: value = Herald_V1_GetChannelMemberCountResult.tooOften.rawValue
        default: value = Herald_V1_AttributeOperationResult.tooOften.rawValue
        }
        return Self.response(to: request, opcode: opcode, result: value)
    }

    /// The response to `request` with the given numeric result and the request's identifying fields echoed.
    static func response(
        to request: any SwiftProtobuf.Message,
        opcode: Herald_V1_Opcode,
        result: Int
    ) -> any SwiftProtobuf.Message {
        switch opcode {
        case .loginRequest:
            return Herald_V1_LoginResponse.with { $0.result = .init(rawValue: result) ?? .unknown }
        case .logoutRequest:
            return Herald_V1_LogoutResponse.with { $0.result = .init(rawValue: result) ?? .rejected }
        case .renewTokenRequest:
            return Herald_V1_RenewTokenResponse.with {
                $0.result = .init(rawValue: result) ?? .failure
                $0.token = (request as? Herald_V1_RenewTokenRequest)?.token ?? ""
            }
        case .sendPeerMessageRequest:
            return Herald_V1_SendPeerMessageResponse.with { $0.result = .init(rawValue: result) ?? .failure }
        case .queryPeersOnlineStatusRequest:
            return Herald_V1_QueryPeersOnlineStatusResponse.with { $0.result = .init(rawValue: result) ?? .failure }
        case .subscribePeersOnlineStatusRequest:
            return Herald_V1_SubscribePeersOnlineStatusResponse.with { $0.result = .init(rawValue: result) ?? .failure }
        case .unsubscribePeersOnlineStatusRequest:
            return Herald_V1_UnsubscribePeersOnlineStatusResponse.with {
                $0.result = .init(rawValue: result) ?? .failure
            }
        case .queryPeersBySubscriptionOptionRequest:
            return Herald_V1_QueryPeersBySubscriptionOptionResponse.with {
                $0.result = .init(rawValue: result) ?? .failure
            }
        case .setLocalUserAttributesRequest:
            return Herald_V1_SetLocalUserAttributesResponse.with { $0.result = .init(rawValue: result) ?? .failure }
        case .addOrUpdateLocalUserAttributesRequest:
            return Herald_V1_AddOrUpdateLocalUserAttributesResponse.with {
                $0.result = .init(rawValue: result) ?? .failure
            }
        case .deleteLocalUserAttributesByKeysRequest:
            return Herald_V1_DeleteLocalUserAttributesByKeysResponse.with {
                $0.result = .init(rawValue: result) ?? .failure
            }
        case .clearLocalUserAttributesRequest:
            return Herald_V1_ClearLocalUserAttributesResponse.with { $0.result = .init(rawValue: result) ?? .failure }
        case .getUserAttributesRequest:
            return Herald_V1_GetUserAttributesResponse.with {
                $0.result = .init(rawValue: result) ?? .failure
                $0.userID = (request as? Herald_V1_GetUserAttributesRequest)?.userID ?? ""
            }
        case .getUserAttributesByKeysRequest:
            return Herald_V1_GetUserAttributesByKeysResponse.with {
                $0.result = .init(rawValue: result) ?? .failure
                $0.userID = (request as? Herald_V1_GetUserAttributesByKeysRequest)?.userID ?? ""
            }
        case .joinChannelRequest:
            return Herald_V1_JoinChannelResponse.with {
                $0.result = .init(rawValue: result) ?? .failure
                $0.channelID = (request as? Herald_V1_JoinChannelRequest)?.channelID ?? ""
            }
        case .leaveChannelRequest:
            return Herald_V1_LeaveChannelResponse.with {
                $0.result = .init(rawValue: result) ?? .failure
                $0.channelID = (request as? Herald_V1_LeaveChannelRequest)?.channelID ?? ""
            }
        case .getMembersRequest:
            return Herald_V1_GetMembersResponse.with {
                $0.result = .init(rawValue: result) ?? .failure
                $0.channelID = (request as? Herald_V1_GetMembersRequest)?.channelID ?? ""
            }
        case .getChannelMemberCountRequest:
            return Herald_V1_GetChannelMemberCountResponse.with { $0.result = .init(rawValue: result) ?? .failure }
        case .sendChannelMessageRequest:
            return Herald_V1_SendChannelMessageResponse.with { $0.result = .init(rawValue: result) ?? .failure }
        case .setChannelAttributesRequest:
            return Herald_V1_SetChannelAttributesResponse.with { $0.result = .init(rawValue: result) ?? .failure }
        case .addOrUpdateChannelAttributesRequest:
            return Herald_V1_AddOrUpdateChannelAttributesResponse.with {
                $0.result = .init(rawValue: result) ?? .failure
            }
        case .deleteChannelAttributesByKeysRequest:
            return Herald_V1_DeleteChannelAttributesByKeysResponse.with {
                $0.result = .init(rawValue: result) ?? .failure
            }
        case .clearChannelAttributesRequest:
            return Herald_V1_ClearChannelAttributesResponse.with { $0.result = .init(rawValue: result) ?? .failure }
        case .getChannelAttributesRequest:
            return Herald_V1_GetChannelAttributesResponse.with {
                $0.result = .init(rawValue: result) ?? .failure
                $0.channelID = (request as? Herald_V1_GetChannelAttributesRequest)?.channelID ?? ""
            }
        case .getChannelAttributesByKeysRequest:
            return Herald_V1_GetChannelAttributesByKeysResponse.with {
                $0.result = .init(rawValue: result) ?? .failure
                $0.channelID = (request as? Herald_V1_GetChannelAttributesByKeysRequest)?.channelID ?? ""
            }
        case .sendInvitationRequest:
            return Herald_V1_SendInvitationResponse.with {
                $0.result = .init(rawValue: result) ?? .invalidArgument
                $0.invitationID = (request as? Herald_V1_SendInvitationRequest)?.invitationID ?? ""
            }
        case .cancelInvitationRequest:
            return Herald_V1_CancelInvitationResponse.with {
                $0.result = .init(rawValue: result) ?? .invalidArgument
                $0.invitationID = (request as? Herald_V1_CancelInvitationRequest)?.invitationID ?? ""
            }
        case .acceptInvitationRequest:
            return Herald_V1_AcceptInvitationResponse.with {
                $0.result = .init(rawValue: result) ?? .invalidArgument
                $0.invitationID = (request as? Herald_V1_AcceptInvitationRequest)?.invitationID ?? ""
            }
        case .refuseInvitationRequest:
            return Herald_V1_RefuseInvitationResponse.with {
                $0.result = .init(rawValue: result) ?? .invalidArgument
                $0.invitationID = (request as? Herald_V1_RefuseInvitationRequest)?.invitationID ?? ""
            }
        case .sendChannelMessageExternalRequest:
            return Herald_V1_SendChannelMessageExternalResponse.with {
                $0.result = .init(rawValue: result) ?? .failure
            }
        case .sendDtmfRequest:
            return Herald_V1_SendDtmfResponse.with { $0.result = .init(rawValue: result) ?? .invalidArgument }
        case .queryChannelUsersRequest:
            return Herald_V1_QueryChannelUsersResponse.with {
                $0.result = .init(rawValue: result) ?? .failure
                $0.channelID = (request as? Herald_V1_QueryChannelUsersRequest)?.channelID ?? ""
            }
        default:
            preconditionFailure("\(opcode) has no generic response")
        }
    }
}

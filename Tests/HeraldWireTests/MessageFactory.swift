// Builds a message of every Herald v1 payload type with every field set (populated) or with random
// contents. Derived once from the generated types in Sources/HeraldMessages; when the schema gains a
// field, add it here (the round-trip tests then cover it).

import HeraldMessages
import SwiftProtobuf

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Makes payload messages for the round-trip tests.
enum MessageFactory {
    /// Makes a message of `type` (a Herald v1 message type) with the values drawn from `generator`.
    static func make(
        _ type: any SwiftProtobuf.Message.Type,
        using generator: inout ValueGenerator
    ) -> any SwiftProtobuf.Message {
        switch type.protoMessageName {
        case "herald.v1.AcceptInvitationRequest": makeAcceptInvitationRequest(using: &generator)
        case "herald.v1.AcceptInvitationResponse": makeAcceptInvitationResponse(using: &generator)
        case "herald.v1.AddOrUpdateChannelAttributesRequest": makeAddOrUpdateChannelAttributesRequest(using: &generator)
        case "herald.v1.AddOrUpdateChannelAttributesResponse":
            makeAddOrUpdateChannelAttributesResponse(using: &generator)
        case "herald.v1.AddOrUpdateLocalUserAttributesRequest":
            makeAddOrUpdateLocalUserAttributesRequest(using: &generator)
        case "herald.v1.AddOrUpdateLocalUserAttributesResponse":
            makeAddOrUpdateLocalUserAttributesResponse(using: &generator)
        case "herald.v1.Attribute": makeAttribute(using: &generator)
        case "herald.v1.CancelInvitationRequest": makeCancelInvitationRequest(using: &generator)
        case "herald.v1.CancelInvitationResponse": makeCancelInvitationResponse(using: &generator)
        case "herald.v1.ChannelAttribute": makeChannelAttribute(using: &generator)
        case "herald.v1.ChannelAttributesUpdated": makeChannelAttributesUpdated(using: &generator)
        case "herald.v1.ChannelMemberCount": makeChannelMemberCount(using: &generator)
        case "herald.v1.ChannelMemberList": makeChannelMemberList(using: &generator)
        case "herald.v1.ChannelMessage": makeChannelMessage(using: &generator)
        case "herald.v1.ClearChannelAttributesRequest": makeClearChannelAttributesRequest(using: &generator)
        case "herald.v1.ClearChannelAttributesResponse": makeClearChannelAttributesResponse(using: &generator)
        case "herald.v1.ClearLocalUserAttributesRequest": makeClearLocalUserAttributesRequest(using: &generator)
        case "herald.v1.ClearLocalUserAttributesResponse": makeClearLocalUserAttributesResponse(using: &generator)
        case "herald.v1.ConnectionStateChanged": makeConnectionStateChanged(using: &generator)
        case "herald.v1.DeleteChannelAttributesByKeysRequest":
            makeDeleteChannelAttributesByKeysRequest(using: &generator)
        case "herald.v1.DeleteChannelAttributesByKeysResponse":
            makeDeleteChannelAttributesByKeysResponse(using: &generator)
        case "herald.v1.DeleteLocalUserAttributesByKeysRequest":
            makeDeleteLocalUserAttributesByKeysRequest(using: &generator)
        case "herald.v1.DeleteLocalUserAttributesByKeysResponse":
            makeDeleteLocalUserAttributesByKeysResponse(using: &generator)
        case "herald.v1.DeliveryAck": makeDeliveryAck(using: &generator)
        case "herald.v1.Disconnect": makeDisconnect(using: &generator)
        case "herald.v1.GetChannelAttributesByKeysRequest": makeGetChannelAttributesByKeysRequest(using: &generator)
        case "herald.v1.GetChannelAttributesByKeysResponse": makeGetChannelAttributesByKeysResponse(using: &generator)
        case "herald.v1.GetChannelAttributesRequest": makeGetChannelAttributesRequest(using: &generator)
        case "herald.v1.GetChannelAttributesResponse": makeGetChannelAttributesResponse(using: &generator)
        case "herald.v1.GetChannelMemberCountRequest": makeGetChannelMemberCountRequest(using: &generator)
        case "herald.v1.GetChannelMemberCountResponse": makeGetChannelMemberCountResponse(using: &generator)
        case "herald.v1.GetMembersRequest": makeGetMembersRequest(using: &generator)
        case "herald.v1.GetMembersResponse": makeGetMembersResponse(using: &generator)
        case "herald.v1.GetUserAttributesByKeysRequest": makeGetUserAttributesByKeysRequest(using: &generator)
        case "herald.v1.GetUserAttributesByKeysResponse": makeGetUserAttributesByKeysResponse(using: &generator)
        case "herald.v1.GetUserAttributesRequest": makeGetUserAttributesRequest(using: &generator)
        case "herald.v1.GetUserAttributesResponse": makeGetUserAttributesResponse(using: &generator)
        case "herald.v1.Hello": makeHello(using: &generator)
        case "herald.v1.InvitationMessage": makeInvitationMessage(using: &generator)
        case "herald.v1.JoinChannelRequest": makeJoinChannelRequest(using: &generator)
        case "herald.v1.JoinChannelResponse": makeJoinChannelResponse(using: &generator)
        case "herald.v1.LeaveChannelRequest": makeLeaveChannelRequest(using: &generator)
        case "herald.v1.LeaveChannelResponse": makeLeaveChannelResponse(using: &generator)
        case "herald.v1.LocalInvitationAccepted": makeLocalInvitationAccepted(using: &generator)
        case "herald.v1.LocalInvitationCanceled": makeLocalInvitationCanceled(using: &generator)
        case "herald.v1.LocalInvitationFailure": makeLocalInvitationFailure(using: &generator)
        case "herald.v1.LocalInvitationReceivedByPeer": makeLocalInvitationReceivedByPeer(using: &generator)
        case "herald.v1.LocalInvitationRefused": makeLocalInvitationRefused(using: &generator)
        case "herald.v1.LoginRequest": makeLoginRequest(using: &generator)
        case "herald.v1.LoginResponse": makeLoginResponse(using: &generator)
        case "herald.v1.LogoutRequest": makeLogoutRequest(using: &generator)
        case "herald.v1.LogoutResponse": makeLogoutResponse(using: &generator)
        case "herald.v1.MemberCountUpdated": makeMemberCountUpdated(using: &generator)
        case "herald.v1.MemberJoined": makeMemberJoined(using: &generator)
        case "herald.v1.MemberLeft": makeMemberLeft(using: &generator)
        case "herald.v1.MessageBody": makeMessageBody(using: &generator)
        case "herald.v1.PeerMessage": makePeerMessage(using: &generator)
        case "herald.v1.PeerOnlineStatus": makePeerOnlineStatus(using: &generator)
        case "herald.v1.PeersOnlineStatusChanged": makePeersOnlineStatusChanged(using: &generator)
        case "herald.v1.Ping": makePing(using: &generator)
        case "herald.v1.Pong": makePong(using: &generator)
        case "herald.v1.ProtocolError": makeProtocolError(using: &generator)
        case "herald.v1.QueryChannelUsersRequest": makeQueryChannelUsersRequest(using: &generator)
        case "herald.v1.QueryChannelUsersResponse": makeQueryChannelUsersResponse(using: &generator)
        case "herald.v1.QueryPeersBySubscriptionOptionRequest":
            makeQueryPeersBySubscriptionOptionRequest(using: &generator)
        case "herald.v1.QueryPeersBySubscriptionOptionResponse":
            makeQueryPeersBySubscriptionOptionResponse(using: &generator)
        case "herald.v1.QueryPeersOnlineStatusRequest": makeQueryPeersOnlineStatusRequest(using: &generator)
        case "herald.v1.QueryPeersOnlineStatusResponse": makeQueryPeersOnlineStatusResponse(using: &generator)
        case "herald.v1.RateLimit": makeRateLimit(using: &generator)
        case "herald.v1.RefuseInvitationRequest": makeRefuseInvitationRequest(using: &generator)
        case "herald.v1.RefuseInvitationResponse": makeRefuseInvitationResponse(using: &generator)
        case "herald.v1.RemoteInvitationAccepted": makeRemoteInvitationAccepted(using: &generator)
        case "herald.v1.RemoteInvitationCanceled": makeRemoteInvitationCanceled(using: &generator)
        case "herald.v1.RemoteInvitationFailure": makeRemoteInvitationFailure(using: &generator)
        case "herald.v1.RemoteInvitationReceived": makeRemoteInvitationReceived(using: &generator)
        case "herald.v1.RemoteInvitationRefused": makeRemoteInvitationRefused(using: &generator)
        case "herald.v1.RenewTokenRequest": makeRenewTokenRequest(using: &generator)
        case "herald.v1.RenewTokenResponse": makeRenewTokenResponse(using: &generator)
        case "herald.v1.SendChannelMessageExternalRequest": makeSendChannelMessageExternalRequest(using: &generator)
        case "herald.v1.SendChannelMessageExternalResponse": makeSendChannelMessageExternalResponse(using: &generator)
        case "herald.v1.SendChannelMessageRequest": makeSendChannelMessageRequest(using: &generator)
        case "herald.v1.SendChannelMessageResponse": makeSendChannelMessageResponse(using: &generator)
        case "herald.v1.SendDtmfRequest": makeSendDtmfRequest(using: &generator)
        case "herald.v1.SendDtmfResponse": makeSendDtmfResponse(using: &generator)
        case "herald.v1.SendInvitationRequest": makeSendInvitationRequest(using: &generator)
        case "herald.v1.SendInvitationResponse": makeSendInvitationResponse(using: &generator)
        case "herald.v1.SendPeerMessageRequest": makeSendPeerMessageRequest(using: &generator)
        case "herald.v1.SendPeerMessageResponse": makeSendPeerMessageResponse(using: &generator)
        case "herald.v1.ServerLimits": makeServerLimits(using: &generator)
        case "herald.v1.ServerTimers": makeServerTimers(using: &generator)
        case "herald.v1.SetChannelAttributesRequest": makeSetChannelAttributesRequest(using: &generator)
        case "herald.v1.SetChannelAttributesResponse": makeSetChannelAttributesResponse(using: &generator)
        case "herald.v1.SetLocalUserAttributesRequest": makeSetLocalUserAttributesRequest(using: &generator)
        case "herald.v1.SetLocalUserAttributesResponse": makeSetLocalUserAttributesResponse(using: &generator)
        case "herald.v1.SubscribePeersOnlineStatusRequest": makeSubscribePeersOnlineStatusRequest(using: &generator)
        case "herald.v1.SubscribePeersOnlineStatusResponse": makeSubscribePeersOnlineStatusResponse(using: &generator)
        case "herald.v1.TokenExpired": makeTokenExpired(using: &generator)
        case "herald.v1.TokenPrivilegeWillExpire": makeTokenPrivilegeWillExpire(using: &generator)
        case "herald.v1.UnsubscribePeersOnlineStatusRequest": makeUnsubscribePeersOnlineStatusRequest(using: &generator)
        case "herald.v1.UnsubscribePeersOnlineStatusResponse":
            makeUnsubscribePeersOnlineStatusResponse(using: &generator)
        case "herald.v1.Welcome": makeWelcome(using: &generator)
        default: fatalError("MessageFactory does not know \(type.protoMessageName); add it")
        }
    }

    static func makeAcceptInvitationRequest(using generator: inout ValueGenerator) -> Herald_V1_AcceptInvitationRequest
    {
        var message = Herald_V1_AcceptInvitationRequest()
        message.invitationID = generator.string()
        message.response = generator.string()
        message.idempotencyKey = generator.string()
        return message
    }

    static func makeAcceptInvitationResponse(
        using generator: inout ValueGenerator
    ) -> Herald_V1_AcceptInvitationResponse {
        var message = Herald_V1_AcceptInvitationResponse()
        message.result = generator.enumValue(Herald_V1_InvitationApiCallResult.self)
        message.invitationID = generator.string()
        return message
    }

    static func makeAddOrUpdateChannelAttributesRequest(
        using generator: inout ValueGenerator
    ) -> Herald_V1_AddOrUpdateChannelAttributesRequest {
        var message = Herald_V1_AddOrUpdateChannelAttributesRequest()
        message.channelID = generator.string()
        message.attributes = generator.repeated { makeAttribute(using: &$0) }
        message.notifyMembers = generator.bool()
        message.idempotencyKey = generator.string()
        return message
    }

    static func makeAddOrUpdateChannelAttributesResponse(
        using generator: inout ValueGenerator
    ) -> Herald_V1_AddOrUpdateChannelAttributesResponse {
        var message = Herald_V1_AddOrUpdateChannelAttributesResponse()
        message.result = generator.enumValue(Herald_V1_AttributeOperationResult.self)
        return message
    }

    static func makeAddOrUpdateLocalUserAttributesRequest(
        using generator: inout ValueGenerator
    ) -> Herald_V1_AddOrUpdateLocalUserAttributesRequest {
        var message = Herald_V1_AddOrUpdateLocalUserAttributesRequest()
        message.attributes = generator.repeated { makeAttribute(using: &$0) }
        message.idempotencyKey = generator.string()
        return message
    }

    static func makeAddOrUpdateLocalUserAttributesResponse(
        using generator: inout ValueGenerator
    ) -> Herald_V1_AddOrUpdateLocalUserAttributesResponse {
        var message = Herald_V1_AddOrUpdateLocalUserAttributesResponse()
        message.result = generator.enumValue(Herald_V1_AttributeOperationResult.self)
        return message
    }

    static func makeAttribute(using generator: inout ValueGenerator) -> Herald_V1_Attribute {
        var message = Herald_V1_Attribute()
        message.key = generator.string()
        message.value = generator.string()
        return message
    }

    static func makeCancelInvitationRequest(using generator: inout ValueGenerator) -> Herald_V1_CancelInvitationRequest
    {
        var message = Herald_V1_CancelInvitationRequest()
        message.invitationID = generator.string()
        message.idempotencyKey = generator.string()
        return message
    }

    static func makeCancelInvitationResponse(
        using generator: inout ValueGenerator
    ) -> Herald_V1_CancelInvitationResponse {
        var message = Herald_V1_CancelInvitationResponse()
        message.result = generator.enumValue(Herald_V1_InvitationApiCallResult.self)
        message.invitationID = generator.string()
        return message
    }

    static func makeChannelAttribute(using generator: inout ValueGenerator) -> Herald_V1_ChannelAttribute {
        var message = Herald_V1_ChannelAttribute()
        message.key = generator.string()
        message.value = generator.string()
        message.lastUpdatedBy = generator.string()
        message.lastUpdatedMs = generator.int64()
        return message
    }

    static func makeChannelAttributesUpdated(
        using generator: inout ValueGenerator
    ) -> Herald_V1_ChannelAttributesUpdated {
        var message = Herald_V1_ChannelAttributesUpdated()
        message.channelID = generator.string()
        message.attributes = generator.repeated { makeChannelAttribute(using: &$0) }
        message.kind = generator.enumValue(Herald_V1_ChannelAttributesUpdateKind.self)
        message.changedKeys = generator.strings()
        message.updatedBy = generator.string()
        message.seq = generator.uint64()
        return message
    }

    static func makeChannelMemberCount(using generator: inout ValueGenerator) -> Herald_V1_ChannelMemberCount {
        var message = Herald_V1_ChannelMemberCount()
        message.channelID = generator.string()
        message.memberCount = generator.uint32()
        return message
    }

    static func makeChannelMemberList(using generator: inout ValueGenerator) -> Herald_V1_ChannelMemberList {
        var message = Herald_V1_ChannelMemberList()
        message.channelID = generator.string()
        message.userIds = generator.strings()
        message.seq = generator.uint64()
        return message
    }

    static func makeChannelMessage(using generator: inout ValueGenerator) -> Herald_V1_ChannelMessage {
        var message = Herald_V1_ChannelMessage()
        message.channelID = generator.string()
        message.fromUserID = generator.string()
        if generator.includeMessage() {
            message.message = makeMessageBody(using: &generator)
        }
        message.messageID = generator.uint64()
        message.serverReceivedMs = generator.int64()
        message.seq = generator.uint64()
        return message
    }

    static func makeClearChannelAttributesRequest(
        using generator: inout ValueGenerator
    ) -> Herald_V1_ClearChannelAttributesRequest {
        var message = Herald_V1_ClearChannelAttributesRequest()
        message.channelID = generator.string()
        message.notifyMembers = generator.bool()
        message.idempotencyKey = generator.string()
        return message
    }

    static func makeClearChannelAttributesResponse(
        using generator: inout ValueGenerator
    ) -> Herald_V1_ClearChannelAttributesResponse {
        var message = Herald_V1_ClearChannelAttributesResponse()
        message.result = generator.enumValue(Herald_V1_AttributeOperationResult.self)
        return message
    }

    static func makeClearLocalUserAttributesRequest(
        using generator: inout ValueGenerator
    ) -> Herald_V1_ClearLocalUserAttributesRequest {
        var message = Herald_V1_ClearLocalUserAttributesRequest()
        message.idempotencyKey = generator.string()
        return message
    }

    static func makeClearLocalUserAttributesResponse(
        using generator: inout ValueGenerator
    ) -> Herald_V1_ClearLocalUserAttributesResponse {
        var message = Herald_V1_ClearLocalUserAttributesResponse()
        message.result = generator.enumValue(Herald_V1_AttributeOperationResult.self)
        return message
    }

    static func makeConnectionStateChanged(using generator: inout ValueGenerator) -> Herald_V1_ConnectionStateChanged {
        var message = Herald_V1_ConnectionStateChanged()
        message.state = generator.enumValue(Herald_V1_ConnectionState.self)
        message.reason = generator.enumValue(Herald_V1_ConnectionChangeReason.self)
        return message
    }

    static func makeDeleteChannelAttributesByKeysRequest(
        using generator: inout ValueGenerator
    ) -> Herald_V1_DeleteChannelAttributesByKeysRequest {
        var message = Herald_V1_DeleteChannelAttributesByKeysRequest()
        message.channelID = generator.string()
        message.keys = generator.strings()
        message.notifyMembers = generator.bool()
        message.idempotencyKey = generator.string()
        return message
    }

    static func makeDeleteChannelAttributesByKeysResponse(
        using generator: inout ValueGenerator
    ) -> Herald_V1_DeleteChannelAttributesByKeysResponse {
        var message = Herald_V1_DeleteChannelAttributesByKeysResponse()
        message.result = generator.enumValue(Herald_V1_AttributeOperationResult.self)
        return message
    }

    static func makeDeleteLocalUserAttributesByKeysRequest(
        using generator: inout ValueGenerator
    ) -> Herald_V1_DeleteLocalUserAttributesByKeysRequest {
        var message = Herald_V1_DeleteLocalUserAttributesByKeysRequest()
        message.keys = generator.strings()
        message.idempotencyKey = generator.string()
        return message
    }

    static func makeDeleteLocalUserAttributesByKeysResponse(
        using generator: inout ValueGenerator
    ) -> Herald_V1_DeleteLocalUserAttributesByKeysResponse {
        var message = Herald_V1_DeleteLocalUserAttributesByKeysResponse()
        message.result = generator.enumValue(Herald_V1_AttributeOperationResult.self)
        return message
    }

    static func makeDeliveryAck(using generator: inout ValueGenerator) -> Herald_V1_DeliveryAck {
        var message = Herald_V1_DeliveryAck()
        message.result = generator.enumValue(Herald_V1_DeliveryAckResult.self)
        return message
    }

    static func makeDisconnect(using generator: inout ValueGenerator) -> Herald_V1_Disconnect {
        var message = Herald_V1_Disconnect()
        message.reason = generator.enumValue(Herald_V1_DisconnectReason.self)
        message.message = generator.string()
        return message
    }

    static func makeGetChannelAttributesByKeysRequest(
        using generator: inout ValueGenerator
    ) -> Herald_V1_GetChannelAttributesByKeysRequest {
        var message = Herald_V1_GetChannelAttributesByKeysRequest()
        message.channelID = generator.string()
        message.keys = generator.strings()
        return message
    }

    static func makeGetChannelAttributesByKeysResponse(
        using generator: inout ValueGenerator
    ) -> Herald_V1_GetChannelAttributesByKeysResponse {
        var message = Herald_V1_GetChannelAttributesByKeysResponse()
        message.result = generator.enumValue(Herald_V1_AttributeOperationResult.self)
        message.channelID = generator.string()
        message.attributes = generator.repeated { makeChannelAttribute(using: &$0) }
        return message
    }

    static func makeGetChannelAttributesRequest(
        using generator: inout ValueGenerator
    ) -> Herald_V1_GetChannelAttributesRequest {
        var message = Herald_V1_GetChannelAttributesRequest()
        message.channelID = generator.string()
        return message
    }

    static func makeGetChannelAttributesResponse(
        using generator: inout ValueGenerator
    ) -> Herald_V1_GetChannelAttributesResponse {
        var message = Herald_V1_GetChannelAttributesResponse()
        message.result = generator.enumValue(Herald_V1_AttributeOperationResult.self)
        message.channelID = generator.string()
        message.attributes = generator.repeated { makeChannelAttribute(using: &$0) }
        return message
    }

    static func makeGetChannelMemberCountRequest(
        using generator: inout ValueGenerator
    ) -> Herald_V1_GetChannelMemberCountRequest {
        var message = Herald_V1_GetChannelMemberCountRequest()
        message.channelIds = generator.strings()
        return message
    }

    static func makeGetChannelMemberCountResponse(
        using generator: inout ValueGenerator
    ) -> Herald_V1_GetChannelMemberCountResponse {
        var message = Herald_V1_GetChannelMemberCountResponse()
        message.result = generator.enumValue(Herald_V1_GetChannelMemberCountResult.self)
        message.counts = generator.repeated { makeChannelMemberCount(using: &$0) }
        return message
    }

    static func makeGetMembersRequest(using generator: inout ValueGenerator) -> Herald_V1_GetMembersRequest {
        var message = Herald_V1_GetMembersRequest()
        message.channelID = generator.string()
        return message
    }

    static func makeGetMembersResponse(using generator: inout ValueGenerator) -> Herald_V1_GetMembersResponse {
        var message = Herald_V1_GetMembersResponse()
        message.result = generator.enumValue(Herald_V1_GetMembersResult.self)
        message.channelID = generator.string()
        message.userIds = generator.strings()
        return message
    }

    static func makeGetUserAttributesByKeysRequest(
        using generator: inout ValueGenerator
    ) -> Herald_V1_GetUserAttributesByKeysRequest {
        var message = Herald_V1_GetUserAttributesByKeysRequest()
        message.userID = generator.string()
        message.keys = generator.strings()
        return message
    }

    static func makeGetUserAttributesByKeysResponse(
        using generator: inout ValueGenerator
    ) -> Herald_V1_GetUserAttributesByKeysResponse {
        var message = Herald_V1_GetUserAttributesByKeysResponse()
        message.result = generator.enumValue(Herald_V1_AttributeOperationResult.self)
        message.userID = generator.string()
        message.attributes = generator.repeated { makeAttribute(using: &$0) }
        return message
    }

    static func makeGetUserAttributesRequest(
        using generator: inout ValueGenerator
    ) -> Herald_V1_GetUserAttributesRequest {
        var message = Herald_V1_GetUserAttributesRequest()
        message.userID = generator.string()
        return message
    }

    static func makeGetUserAttributesResponse(
        using generator: inout ValueGenerator
    ) -> Herald_V1_GetUserAttributesResponse {
        var message = Herald_V1_GetUserAttributesResponse()
        message.result = generator.enumValue(Herald_V1_AttributeOperationResult.self)
        message.userID = generator.string()
        message.attributes = generator.repeated { makeAttribute(using: &$0) }
        return message
    }

    static func makeHello(using generator: inout ValueGenerator) -> Herald_V1_Hello {
        var message = Herald_V1_Hello()
        message.versions = generator.uint32s()
        message.clientName = generator.string()
        message.capabilities = generator.strings()
        message.maxPayloadLength = generator.uint32()
        return message
    }

    static func makeInvitationMessage(using generator: inout ValueGenerator) -> Herald_V1_InvitationMessage {
        var message = Herald_V1_InvitationMessage()
        message.channelID = generator.string()
        message.fromUserID = generator.string()
        message.type = generator.enumValue(Herald_V1_InvitationMessageType.self)
        message.data = generator.string()
        message.extra = generator.string()
        message.seq = generator.uint64()
        return message
    }

    static func makeJoinChannelRequest(using generator: inout ValueGenerator) -> Herald_V1_JoinChannelRequest {
        var message = Herald_V1_JoinChannelRequest()
        message.channelID = generator.string()
        message.legacyMemberList = generator.bool()
        message.idempotencyKey = generator.string()
        return message
    }

    static func makeJoinChannelResponse(using generator: inout ValueGenerator) -> Herald_V1_JoinChannelResponse {
        var message = Herald_V1_JoinChannelResponse()
        message.result = generator.enumValue(Herald_V1_JoinChannelResult.self)
        message.channelID = generator.string()
        return message
    }

    static func makeLeaveChannelRequest(using generator: inout ValueGenerator) -> Herald_V1_LeaveChannelRequest {
        var message = Herald_V1_LeaveChannelRequest()
        message.channelID = generator.string()
        message.idempotencyKey = generator.string()
        return message
    }

    static func makeLeaveChannelResponse(using generator: inout ValueGenerator) -> Herald_V1_LeaveChannelResponse {
        var message = Herald_V1_LeaveChannelResponse()
        message.result = generator.enumValue(Herald_V1_LeaveChannelResult.self)
        message.channelID = generator.string()
        return message
    }

    static func makeLocalInvitationAccepted(using generator: inout ValueGenerator) -> Herald_V1_LocalInvitationAccepted
    {
        var message = Herald_V1_LocalInvitationAccepted()
        message.invitationID = generator.string()
        message.response = generator.string()
        message.seq = generator.uint64()
        return message
    }

    static func makeLocalInvitationCanceled(using generator: inout ValueGenerator) -> Herald_V1_LocalInvitationCanceled
    {
        var message = Herald_V1_LocalInvitationCanceled()
        message.invitationID = generator.string()
        message.seq = generator.uint64()
        return message
    }

    static func makeLocalInvitationFailure(using generator: inout ValueGenerator) -> Herald_V1_LocalInvitationFailure {
        var message = Herald_V1_LocalInvitationFailure()
        message.invitationID = generator.string()
        message.error = generator.enumValue(Herald_V1_LocalInvitationError.self)
        message.seq = generator.uint64()
        return message
    }

    static func makeLocalInvitationReceivedByPeer(
        using generator: inout ValueGenerator
    ) -> Herald_V1_LocalInvitationReceivedByPeer {
        var message = Herald_V1_LocalInvitationReceivedByPeer()
        message.invitationID = generator.string()
        message.calleeID = generator.string()
        message.channelID = generator.string()
        message.seq = generator.uint64()
        return message
    }

    static func makeLocalInvitationRefused(using generator: inout ValueGenerator) -> Herald_V1_LocalInvitationRefused {
        var message = Herald_V1_LocalInvitationRefused()
        message.invitationID = generator.string()
        message.response = generator.string()
        message.seq = generator.uint64()
        return message
    }

    static func makeLoginRequest(using generator: inout ValueGenerator) -> Herald_V1_LoginRequest {
        var message = Herald_V1_LoginRequest()
        message.appID = generator.string()
        message.userID = generator.string()
        message.token = generator.string()
        message.resumeHandle = generator.string()
        message.idempotencyKey = generator.string()
        return message
    }

    static func makeLoginResponse(using generator: inout ValueGenerator) -> Herald_V1_LoginResponse {
        var message = Herald_V1_LoginResponse()
        message.result = generator.enumValue(Herald_V1_LoginResult.self)
        message.sessionID = generator.string()
        message.resumeHandle = generator.string()
        message.serverTimeMs = generator.int64()
        message.tokenExpiresMs = generator.int64()
        return message
    }

    static func makeLogoutRequest(using generator: inout ValueGenerator) -> Herald_V1_LogoutRequest {
        var message = Herald_V1_LogoutRequest()
        message.idempotencyKey = generator.string()
        return message
    }

    static func makeLogoutResponse(using generator: inout ValueGenerator) -> Herald_V1_LogoutResponse {
        var message = Herald_V1_LogoutResponse()
        message.result = generator.enumValue(Herald_V1_LogoutResult.self)
        return message
    }

    static func makeMemberCountUpdated(using generator: inout ValueGenerator) -> Herald_V1_MemberCountUpdated {
        var message = Herald_V1_MemberCountUpdated()
        message.channelID = generator.string()
        message.memberCount = generator.uint32()
        message.seq = generator.uint64()
        return message
    }

    static func makeMemberJoined(using generator: inout ValueGenerator) -> Herald_V1_MemberJoined {
        var message = Herald_V1_MemberJoined()
        message.channelID = generator.string()
        message.userID = generator.string()
        message.seq = generator.uint64()
        return message
    }

    static func makeMemberLeft(using generator: inout ValueGenerator) -> Herald_V1_MemberLeft {
        var message = Herald_V1_MemberLeft()
        message.channelID = generator.string()
        message.userID = generator.string()
        message.reason = generator.enumValue(Herald_V1_MemberLeftReason.self)
        message.seq = generator.uint64()
        return message
    }

    static func makeMessageBody(using generator: inout ValueGenerator) -> Herald_V1_MessageBody {
        var message = Herald_V1_MessageBody()
        message.type = generator.enumValue(Herald_V1_MessageType.self)
        message.text = generator.string()
        message.raw = generator.bytes()
        return message
    }

    static func makePeerMessage(using generator: inout ValueGenerator) -> Herald_V1_PeerMessage {
        var message = Herald_V1_PeerMessage()
        message.fromUserID = generator.string()
        if generator.includeMessage() {
            message.message = makeMessageBody(using: &generator)
        }
        message.messageID = generator.uint64()
        message.serverReceivedMs = generator.int64()
        message.isOffline = generator.bool()
        message.seq = generator.uint64()
        return message
    }

    static func makePeerOnlineStatus(using generator: inout ValueGenerator) -> Herald_V1_PeerOnlineStatus {
        var message = Herald_V1_PeerOnlineStatus()
        message.peerID = generator.string()
        message.state = generator.enumValue(Herald_V1_PeerOnlineState.self)
        return message
    }

    static func makePeersOnlineStatusChanged(
        using generator: inout ValueGenerator
    ) -> Herald_V1_PeersOnlineStatusChanged {
        var message = Herald_V1_PeersOnlineStatusChanged()
        message.statuses = generator.repeated { makePeerOnlineStatus(using: &$0) }
        message.seq = generator.uint64()
        return message
    }

    static func makePing(using generator: inout ValueGenerator) -> Herald_V1_Ping {
        var message = Herald_V1_Ping()
        message.clientTimeMs = generator.int64()
        return message
    }

    static func makePong(using generator: inout ValueGenerator) -> Herald_V1_Pong {
        var message = Herald_V1_Pong()
        message.clientTimeMs = generator.int64()
        message.serverTimeMs = generator.int64()
        return message
    }

    static func makeProtocolError(using generator: inout ValueGenerator) -> Herald_V1_ProtocolError {
        var message = Herald_V1_ProtocolError()
        message.code = generator.string()
        message.message = generator.string()
        message.opcode = generator.uint32()
        message.requestID = generator.uint32()
        return message
    }

    static func makeQueryChannelUsersRequest(
        using generator: inout ValueGenerator
    ) -> Herald_V1_QueryChannelUsersRequest {
        var message = Herald_V1_QueryChannelUsersRequest()
        message.channelID = generator.string()
        message.userID = generator.string()
        return message
    }

    static func makeQueryChannelUsersResponse(
        using generator: inout ValueGenerator
    ) -> Herald_V1_QueryChannelUsersResponse {
        var message = Herald_V1_QueryChannelUsersResponse()
        message.result = generator.enumValue(Herald_V1_GetMembersResult.self)
        message.channelID = generator.string()
        message.memberCount = generator.uint32()
        message.userIds = generator.strings()
        message.isMember = generator.bool()
        return message
    }

    static func makeQueryPeersBySubscriptionOptionRequest(
        using generator: inout ValueGenerator
    ) -> Herald_V1_QueryPeersBySubscriptionOptionRequest {
        var message = Herald_V1_QueryPeersBySubscriptionOptionRequest()
        message.option = generator.enumValue(Herald_V1_PeerSubscriptionOption.self)
        return message
    }

    static func makeQueryPeersBySubscriptionOptionResponse(
        using generator: inout ValueGenerator
    ) -> Herald_V1_QueryPeersBySubscriptionOptionResponse {
        var message = Herald_V1_QueryPeersBySubscriptionOptionResponse()
        message.result = generator.enumValue(Herald_V1_QueryPeersBySubscriptionOptionResult.self)
        message.peerIds = generator.strings()
        return message
    }

    static func makeQueryPeersOnlineStatusRequest(
        using generator: inout ValueGenerator
    ) -> Herald_V1_QueryPeersOnlineStatusRequest {
        var message = Herald_V1_QueryPeersOnlineStatusRequest()
        message.peerIds = generator.strings()
        return message
    }

    static func makeQueryPeersOnlineStatusResponse(
        using generator: inout ValueGenerator
    ) -> Herald_V1_QueryPeersOnlineStatusResponse {
        var message = Herald_V1_QueryPeersOnlineStatusResponse()
        message.result = generator.enumValue(Herald_V1_QueryPeersOnlineStatusResult.self)
        message.statuses = generator.repeated { makePeerOnlineStatus(using: &$0) }
        return message
    }

    static func makeRateLimit(using generator: inout ValueGenerator) -> Herald_V1_RateLimit {
        var message = Herald_V1_RateLimit()
        message.rateClass = generator.enumValue(Herald_V1_RateClass.self)
        message.count = generator.uint32()
        message.windowMs = generator.uint32()
        return message
    }

    static func makeRefuseInvitationRequest(using generator: inout ValueGenerator) -> Herald_V1_RefuseInvitationRequest
    {
        var message = Herald_V1_RefuseInvitationRequest()
        message.invitationID = generator.string()
        message.response = generator.string()
        message.idempotencyKey = generator.string()
        return message
    }

    static func makeRefuseInvitationResponse(
        using generator: inout ValueGenerator
    ) -> Herald_V1_RefuseInvitationResponse {
        var message = Herald_V1_RefuseInvitationResponse()
        message.result = generator.enumValue(Herald_V1_InvitationApiCallResult.self)
        message.invitationID = generator.string()
        return message
    }

    static func makeRemoteInvitationAccepted(
        using generator: inout ValueGenerator
    ) -> Herald_V1_RemoteInvitationAccepted {
        var message = Herald_V1_RemoteInvitationAccepted()
        message.invitationID = generator.string()
        message.seq = generator.uint64()
        return message
    }

    static func makeRemoteInvitationCanceled(
        using generator: inout ValueGenerator
    ) -> Herald_V1_RemoteInvitationCanceled {
        var message = Herald_V1_RemoteInvitationCanceled()
        message.invitationID = generator.string()
        message.content = generator.string()
        message.seq = generator.uint64()
        return message
    }

    static func makeRemoteInvitationFailure(using generator: inout ValueGenerator) -> Herald_V1_RemoteInvitationFailure
    {
        var message = Herald_V1_RemoteInvitationFailure()
        message.invitationID = generator.string()
        message.error = generator.enumValue(Herald_V1_RemoteInvitationError.self)
        message.seq = generator.uint64()
        return message
    }

    static func makeRemoteInvitationReceived(
        using generator: inout ValueGenerator
    ) -> Herald_V1_RemoteInvitationReceived {
        var message = Herald_V1_RemoteInvitationReceived()
        message.invitationID = generator.string()
        message.callerID = generator.string()
        message.channelID = generator.string()
        message.content = generator.string()
        message.seq = generator.uint64()
        return message
    }

    static func makeRemoteInvitationRefused(using generator: inout ValueGenerator) -> Herald_V1_RemoteInvitationRefused
    {
        var message = Herald_V1_RemoteInvitationRefused()
        message.invitationID = generator.string()
        message.seq = generator.uint64()
        return message
    }

    static func makeRenewTokenRequest(using generator: inout ValueGenerator) -> Herald_V1_RenewTokenRequest {
        var message = Herald_V1_RenewTokenRequest()
        message.token = generator.string()
        message.idempotencyKey = generator.string()
        return message
    }

    static func makeRenewTokenResponse(using generator: inout ValueGenerator) -> Herald_V1_RenewTokenResponse {
        var message = Herald_V1_RenewTokenResponse()
        message.result = generator.enumValue(Herald_V1_RenewTokenResult.self)
        message.token = generator.string()
        message.tokenExpiresMs = generator.int64()
        return message
    }

    static func makeSendChannelMessageExternalRequest(
        using generator: inout ValueGenerator
    ) -> Herald_V1_SendChannelMessageExternalRequest {
        var message = Herald_V1_SendChannelMessageExternalRequest()
        message.channelID = generator.string()
        if generator.includeMessage() {
            message.message = makeMessageBody(using: &generator)
        }
        message.idempotencyKey = generator.string()
        return message
    }

    static func makeSendChannelMessageExternalResponse(
        using generator: inout ValueGenerator
    ) -> Herald_V1_SendChannelMessageExternalResponse {
        var message = Herald_V1_SendChannelMessageExternalResponse()
        message.result = generator.enumValue(Herald_V1_ChannelMessageResult.self)
        message.messageID = generator.uint64()
        message.serverReceivedMs = generator.int64()
        return message
    }

    static func makeSendChannelMessageRequest(
        using generator: inout ValueGenerator
    ) -> Herald_V1_SendChannelMessageRequest {
        var message = Herald_V1_SendChannelMessageRequest()
        message.channelID = generator.string()
        if generator.includeMessage() {
            message.message = makeMessageBody(using: &generator)
        }
        message.enableHistoricalMessaging = generator.bool()
        message.idempotencyKey = generator.string()
        return message
    }

    static func makeSendChannelMessageResponse(
        using generator: inout ValueGenerator
    ) -> Herald_V1_SendChannelMessageResponse {
        var message = Herald_V1_SendChannelMessageResponse()
        message.result = generator.enumValue(Herald_V1_ChannelMessageResult.self)
        message.messageID = generator.uint64()
        message.serverReceivedMs = generator.int64()
        return message
    }

    static func makeSendDtmfRequest(using generator: inout ValueGenerator) -> Herald_V1_SendDtmfRequest {
        var message = Herald_V1_SendDtmfRequest()
        message.calleeID = generator.string()
        message.channelID = generator.string()
        message.digits = generator.string()
        message.extra = generator.string()
        message.idempotencyKey = generator.string()
        return message
    }

    static func makeSendDtmfResponse(using generator: inout ValueGenerator) -> Herald_V1_SendDtmfResponse {
        var message = Herald_V1_SendDtmfResponse()
        message.result = generator.enumValue(Herald_V1_InvitationApiCallResult.self)
        return message
    }

    static func makeSendInvitationRequest(using generator: inout ValueGenerator) -> Herald_V1_SendInvitationRequest {
        var message = Herald_V1_SendInvitationRequest()
        message.calleeID = generator.string()
        message.channelID = generator.string()
        message.content = generator.string()
        message.requirePeerOnline = generator.bool()
        message.invitationID = generator.string()
        message.idempotencyKey = generator.string()
        return message
    }

    static func makeSendInvitationResponse(using generator: inout ValueGenerator) -> Herald_V1_SendInvitationResponse {
        var message = Herald_V1_SendInvitationResponse()
        message.result = generator.enumValue(Herald_V1_InvitationApiCallResult.self)
        message.invitationID = generator.string()
        return message
    }

    static func makeSendPeerMessageRequest(using generator: inout ValueGenerator) -> Herald_V1_SendPeerMessageRequest {
        var message = Herald_V1_SendPeerMessageRequest()
        message.peerID = generator.string()
        if generator.includeMessage() {
            message.message = makeMessageBody(using: &generator)
        }
        message.enableOfflineMessaging = generator.bool()
        message.enableHistoricalMessaging = generator.bool()
        message.ackMode = generator.enumValue(Herald_V1_AckMode.self)
        message.idempotencyKey = generator.string()
        return message
    }

    static func makeSendPeerMessageResponse(using generator: inout ValueGenerator) -> Herald_V1_SendPeerMessageResponse
    {
        var message = Herald_V1_SendPeerMessageResponse()
        message.result = generator.enumValue(Herald_V1_PeerMessageResult.self)
        message.messageID = generator.uint64()
        message.serverReceivedMs = generator.int64()
        return message
    }

    static func makeServerLimits(using generator: inout ValueGenerator) -> Herald_V1_ServerLimits {
        var message = Herald_V1_ServerLimits()
        message.maxPayloadLength = generator.uint32()
        message.maxUserIDBytes = generator.uint32()
        message.maxChannelIDBytes = generator.uint32()
        message.maxMessageBytes = generator.uint32()
        message.maxChannelsJoined = generator.uint32()
        message.maxMembersListed = generator.uint32()
        message.maxMemberEventChannelSize = generator.uint32()
        message.maxQueryPeers = generator.uint32()
        message.maxSubscriptions = generator.uint32()
        message.maxMemberCountChannels = generator.uint32()
        message.maxAttributeKeyBytes = generator.uint32()
        message.maxAttributeValueBytes = generator.uint32()
        message.maxUserAttributesBytes = generator.uint32()
        message.maxChannelAttributesBytes = generator.uint32()
        message.maxAttributesCount = generator.uint32()
        message.maxInvitationContentBytes = generator.uint32()
        message.maxOfflineMessages = generator.uint32()
        message.maxLegacyMemberList = generator.uint32()
        message.maxOutboundQueueFrames = generator.uint32()
        return message
    }

    static func makeServerTimers(using generator: inout ValueGenerator) -> Herald_V1_ServerTimers {
        var message = Herald_V1_ServerTimers()
        message.heartbeatIntervalMs = generator.uint32()
        message.idleTimeoutMs = generator.uint32()
        message.loginTimeoutMs = generator.uint32()
        message.peerAckTimeoutMs = generator.uint32()
        message.presenceUnreachableMs = generator.uint32()
        message.invitationPeerOfflineMs = generator.uint32()
        message.invitationNoResponseMs = generator.uint32()
        message.invitationExpiryMs = generator.uint32()
        message.invitationAcceptAckMs = generator.uint32()
        message.tokenWillExpireLeadMs = generator.uint32()
        message.offlineRetentionMs = generator.uint64()
        message.channelAttributesEmptyTtlMs = generator.uint32()
        message.memberCountIntervalMs = generator.uint32()
        message.memberCountIntervalLargeMs = generator.uint32()
        message.handshakeTimeoutMs = generator.uint32()
        return message
    }

    static func makeSetChannelAttributesRequest(
        using generator: inout ValueGenerator
    ) -> Herald_V1_SetChannelAttributesRequest {
        var message = Herald_V1_SetChannelAttributesRequest()
        message.channelID = generator.string()
        message.attributes = generator.repeated { makeAttribute(using: &$0) }
        message.notifyMembers = generator.bool()
        message.idempotencyKey = generator.string()
        return message
    }

    static func makeSetChannelAttributesResponse(
        using generator: inout ValueGenerator
    ) -> Herald_V1_SetChannelAttributesResponse {
        var message = Herald_V1_SetChannelAttributesResponse()
        message.result = generator.enumValue(Herald_V1_AttributeOperationResult.self)
        return message
    }

    static func makeSetLocalUserAttributesRequest(
        using generator: inout ValueGenerator
    ) -> Herald_V1_SetLocalUserAttributesRequest {
        var message = Herald_V1_SetLocalUserAttributesRequest()
        message.attributes = generator.repeated { makeAttribute(using: &$0) }
        message.idempotencyKey = generator.string()
        return message
    }

    static func makeSetLocalUserAttributesResponse(
        using generator: inout ValueGenerator
    ) -> Herald_V1_SetLocalUserAttributesResponse {
        var message = Herald_V1_SetLocalUserAttributesResponse()
        message.result = generator.enumValue(Herald_V1_AttributeOperationResult.self)
        return message
    }

    static func makeSubscribePeersOnlineStatusRequest(
        using generator: inout ValueGenerator
    ) -> Herald_V1_SubscribePeersOnlineStatusRequest {
        var message = Herald_V1_SubscribePeersOnlineStatusRequest()
        message.peerIds = generator.strings()
        message.option = generator.enumValue(Herald_V1_PeerSubscriptionOption.self)
        message.idempotencyKey = generator.string()
        return message
    }

    static func makeSubscribePeersOnlineStatusResponse(
        using generator: inout ValueGenerator
    ) -> Herald_V1_SubscribePeersOnlineStatusResponse {
        var message = Herald_V1_SubscribePeersOnlineStatusResponse()
        message.result = generator.enumValue(Herald_V1_PeerSubscriptionStatusResult.self)
        return message
    }

    static func makeTokenExpired(using generator: inout ValueGenerator) -> Herald_V1_TokenExpired {
        var message = Herald_V1_TokenExpired()
        message.tokenExpiresMs = generator.int64()
        return message
    }

    static func makeTokenPrivilegeWillExpire(
        using generator: inout ValueGenerator
    ) -> Herald_V1_TokenPrivilegeWillExpire {
        var message = Herald_V1_TokenPrivilegeWillExpire()
        message.tokenExpiresMs = generator.int64()
        return message
    }

    static func makeUnsubscribePeersOnlineStatusRequest(
        using generator: inout ValueGenerator
    ) -> Herald_V1_UnsubscribePeersOnlineStatusRequest {
        var message = Herald_V1_UnsubscribePeersOnlineStatusRequest()
        message.peerIds = generator.strings()
        message.option = generator.enumValue(Herald_V1_PeerSubscriptionOption.self)
        message.idempotencyKey = generator.string()
        return message
    }

    static func makeUnsubscribePeersOnlineStatusResponse(
        using generator: inout ValueGenerator
    ) -> Herald_V1_UnsubscribePeersOnlineStatusResponse {
        var message = Herald_V1_UnsubscribePeersOnlineStatusResponse()
        message.result = generator.enumValue(Herald_V1_PeerSubscriptionStatusResult.self)
        return message
    }

    static func makeWelcome(using generator: inout ValueGenerator) -> Herald_V1_Welcome {
        var message = Herald_V1_Welcome()
        message.version = generator.uint32()
        message.serverName = generator.string()
        message.capabilities = generator.strings()
        if generator.includeMessage() {
            message.limits = makeServerLimits(using: &generator)
        }
        if generator.includeMessage() {
            message.timers = makeServerTimers(using: &generator)
        }
        message.rateLimits = generator.repeated { makeRateLimit(using: &$0) }
        message.serverTimeMs = generator.int64()
        message.connectionID = generator.string()
        return message
    }
}

import Foundation
import HeraldMessages

// MARK: - Peer messages

extension HeraldClient {
    /// Sends a peer message (`sendMessage:toPeer:sendMessageOptions:completion:`, `sendMessageToPeer`).
    ///
    /// With ``AckMode/peer`` (the default) it returns once the receiver's client has the message; with
    /// ``AckMode/server`` once the server has accepted it (Signaling's semantics).
    ///
    /// - Throws: ``HeraldClientError`` with the `PeerMessageResult` (`PEER_UNREACHABLE` = 3, `SENT_TIMEOUT` = 2, …).
    @discardableResult
    public func send(
        _ message: HeraldMessage,
        toPeer peerID: String,
        options: PeerMessageOptions = PeerMessageOptions()
    ) async throws(HeraldClientError) -> SentMessage {
        var request = Herald_V1_SendPeerMessageRequest()
        request.peerID = peerID
        request.message = message.body
        request.enableOfflineMessaging = options.enableOfflineMessaging
        request.enableHistoricalMessaging = options.enableHistoricalMessaging
        request.ackMode = options.ackMode
        request.idempotencyKey = UUIDText.random()
        let response = try await self.request(request, Herald_V1_SendPeerMessageResponse.self, retry: true)
        let cached = response.result == .cachedByServer
        if !cached { try Self.check(response.result, of: response, "send a message to '\(peerID)'") }
        return SentMessage(
            messageID: response.messageID,
            serverReceivedMs: response.serverReceivedMs,
            cachedByServer: cached
        )
    }

    // MARK: - Presence

    /// The online state of peers (`queryPeersOnlineStatus`).
    public func queryPeersOnlineStatus(_ peerIDs: [String]) async throws(HeraldClientError) -> [String: PeerOnlineState]
    {
        var request = Herald_V1_QueryPeersOnlineStatusRequest()
        request.peerIds = peerIDs
        let response = try await self.request(request, Herald_V1_QueryPeersOnlineStatusResponse.self)
        try Self.check(response.result, of: response, "query the peers' online state")
        return Self.statuses(response.statuses)
    }

    /// Subscribes to peers' online state (`subscribePeersOnlineStatus`); changes arrive as
    /// ``HeraldClientEvent/peersOnlineStatusChanged(_:)``, and are resubscribed after a reconnection.
    public func subscribePeersOnlineStatus(_ peerIDs: [String]) async throws(HeraldClientError) {
        var request = Herald_V1_SubscribePeersOnlineStatusRequest()
        request.peerIds = peerIDs
        request.option = .onlineStatus
        let response = try await self.request(request, Herald_V1_SubscribePeersOnlineStatusResponse.self)
        try Self.check(response.result, of: response, "subscribe to the peers' online state")
        self.noteSubscribed(peerIDs, true)
    }

    /// Ends subscriptions to peers' online state (`unsubscribePeersOnlineStatus`).
    public func unsubscribePeersOnlineStatus(_ peerIDs: [String]) async throws(HeraldClientError) {
        var request = Herald_V1_UnsubscribePeersOnlineStatusRequest()
        request.peerIds = peerIDs
        request.option = .onlineStatus
        let response = try await self.request(request, Herald_V1_UnsubscribePeersOnlineStatusResponse.self)
        try Self.check(response.result, of: response, "unsubscribe from the peers' online state")
        self.noteSubscribed(peerIDs, false)
    }

    /// The peers the session is subscribed to (`queryPeersBySubscriptionOption`).
    public func querySubscribedPeers() async throws(HeraldClientError) -> [String] {
        var request = Herald_V1_QueryPeersBySubscriptionOptionRequest()
        request.option = .onlineStatus
        let response = try await self.request(request, Herald_V1_QueryPeersBySubscriptionOptionResponse.self)
        try Self.check(response.result, of: response, "query the subscribed peers")
        return response.peerIds
    }

    // MARK: - User attributes

    /// Replaces the local user's attributes (`setLocalUserAttributes`).
    public func setLocalUserAttributes(_ attributes: [Attribute]) async throws(HeraldClientError) {
        var request = Herald_V1_SetLocalUserAttributesRequest()
        request.attributes = attributes.map(\.proto)
        let response = try await self.request(request, Herald_V1_SetLocalUserAttributesResponse.self)
        try Self.check(response.result, of: response, "set the user attributes")
    }

    /// Adds or updates local user attributes (`addOrUpdateLocalUserAttributes`).
    public func addOrUpdateLocalUserAttributes(_ attributes: [Attribute]) async throws(HeraldClientError) {
        var request = Herald_V1_AddOrUpdateLocalUserAttributesRequest()
        request.attributes = attributes.map(\.proto)
        let response = try await self.request(request, Herald_V1_AddOrUpdateLocalUserAttributesResponse.self)
        try Self.check(response.result, of: response, "add or update the user attributes")
    }

    /// Deletes local user attributes by key (`deleteLocalUserAttributesByKeys`).
    public func deleteLocalUserAttributes(keys: [String]) async throws(HeraldClientError) {
        var request = Herald_V1_DeleteLocalUserAttributesByKeysRequest()
        request.keys = keys
        let response = try await self.request(request, Herald_V1_DeleteLocalUserAttributesByKeysResponse.self)
        try Self.check(response.result, of: response, "delete user attributes")
    }

    /// Deletes every local user attribute (`clearLocalUserAttributes`).
    public func clearLocalUserAttributes() async throws(HeraldClientError) {
        let response = try await self.request(
            Herald_V1_ClearLocalUserAttributesRequest(),
            Herald_V1_ClearLocalUserAttributesResponse.self
        )
        try Self.check(response.result, of: response, "clear the user attributes")
    }

    /// A user's attributes (`getUserAttributes`); the local user's when `userID` is `nil`.
    public func userAttributes(of userID: String? = nil) async throws(HeraldClientError) -> [Attribute] {
        var request = Herald_V1_GetUserAttributesRequest()
        request.userID = userID ?? self.userID
        let response = try await self.request(request, Herald_V1_GetUserAttributesResponse.self)
        try Self.check(response.result, of: response, "get the attributes of '\(request.userID)'")
        return response.attributes.map { Attribute(key: $0.key, value: $0.value) }
    }

    /// Some of a user's attributes (`getUserAttributesByKeys`).
    public func userAttributes(of userID: String? = nil, keys: [String]) async throws(HeraldClientError) -> [Attribute]
    {
        var request = Herald_V1_GetUserAttributesByKeysRequest()
        request.userID = userID ?? self.userID
        request.keys = keys
        let response = try await self.request(request, Herald_V1_GetUserAttributesByKeysResponse.self)
        try Self.check(response.result, of: response, "get the attributes of '\(request.userID)'")
        return response.attributes.map { Attribute(key: $0.key, value: $0.value) }
    }

    // MARK: - Channels

    func joinChannel(_ channelID: String, legacyMemberList: Bool) async throws(HeraldClientError) {
        var request = Herald_V1_JoinChannelRequest()
        request.channelID = channelID
        request.legacyMemberList = legacyMemberList
        let response = try await self.request(request, Herald_V1_JoinChannelResponse.self)
        try Self.check(response.result, of: response, "join '\(channelID)'")
        self.noteJoined(channelID, true)
        self.noteLegacyMemberList(channelID, legacyMemberList)
    }

    func leaveChannel(_ channelID: String) async throws(HeraldClientError) {
        var request = Herald_V1_LeaveChannelRequest()
        request.channelID = channelID
        let response = try await self.request(request, Herald_V1_LeaveChannelResponse.self)
        self.noteJoined(channelID, false)
        try Self.check(response.result, of: response, "leave '\(channelID)'")
        self.noteLegacyMemberList(channelID, false)
    }

    func sendChannelMessage(
        _ message: HeraldMessage,
        to channelID: String,
        enableHistoricalMessaging: Bool
    ) async throws(HeraldClientError) -> SentMessage {
        var request = Herald_V1_SendChannelMessageRequest()
        request.channelID = channelID
        request.message = message.body
        request.enableHistoricalMessaging = enableHistoricalMessaging
        request.idempotencyKey = UUIDText.random()
        let response = try await self.request(request, Herald_V1_SendChannelMessageResponse.self, retry: true)
        try Self.check(response.result, of: response, "send a message to '\(channelID)'")
        return SentMessage(
            messageID: response.messageID,
            serverReceivedMs: response.serverReceivedMs,
            cachedByServer: false
        )
    }

    func channelMembers(_ channelID: String) async throws(HeraldClientError) -> [String] {
        var request = Herald_V1_GetMembersRequest()
        request.channelID = channelID
        let response = try await self.request(request, Herald_V1_GetMembersResponse.self)
        try Self.check(response.result, of: response, "get the members of '\(channelID)'")
        return response.userIds
    }

    /// The member counts of channels, joined or not (`getChannelMemberCount`).
    public func channelMemberCounts(_ channelIDs: [String]) async throws(HeraldClientError) -> [String: Int] {
        var request = Herald_V1_GetChannelMemberCountRequest()
        request.channelIds = channelIDs
        let response = try await self.request(request, Herald_V1_GetChannelMemberCountResponse.self)
        try Self.check(response.result, of: response, "count the members of channels")
        return Dictionary(response.counts.map { ($0.channelID, Int($0.memberCount)) }, uniquingKeysWith: { $1 })
    }

    // MARK: - Channel attributes

    /// Replaces a channel's attributes (`setChannel:Attributes:Options:`, `setChannelAttributes`).
    public func setChannelAttributes(
        _ attributes: [Attribute],
        of channelID: String,
        options: ChannelAttributeOptions = ChannelAttributeOptions()
    ) async throws(HeraldClientError) {
        var request = Herald_V1_SetChannelAttributesRequest()
        request.channelID = channelID
        request.attributes = attributes.map(\.proto)
        request.notifyMembers = options.notifyMembers
        request.idempotencyKey = UUIDText.random()
        let response = try await self.request(request, Herald_V1_SetChannelAttributesResponse.self, retry: true)
        try Self.check(response.result, of: response, "set the attributes of '\(channelID)'")
    }

    /// Adds or updates channel attributes (`addOrUpdateChannelAttributes`).
    public func addOrUpdateChannelAttributes(
        _ attributes: [Attribute],
        of channelID: String,
        options: ChannelAttributeOptions = ChannelAttributeOptions()
    ) async throws(HeraldClientError) {
        var request = Herald_V1_AddOrUpdateChannelAttributesRequest()
        request.channelID = channelID
        request.attributes = attributes.map(\.proto)
        request.notifyMembers = options.notifyMembers
        request.idempotencyKey = UUIDText.random()
        let response = try await self.request(request, Herald_V1_AddOrUpdateChannelAttributesResponse.self, retry: true)
        try Self.check(response.result, of: response, "update the attributes of '\(channelID)'")
    }

    /// Deletes channel attributes by key (`deleteChannelAttributesByKeys`).
    public func deleteChannelAttributes(
        keys: [String],
        of channelID: String,
        options: ChannelAttributeOptions = ChannelAttributeOptions()
    ) async throws(HeraldClientError) {
        var request = Herald_V1_DeleteChannelAttributesByKeysRequest()
        request.channelID = channelID
        request.keys = keys
        request.notifyMembers = options.notifyMembers
        request.idempotencyKey = UUIDText.random()
        let response = try await self.request(
            request,
            Herald_V1_DeleteChannelAttributesByKeysResponse.self,
            retry: true
        )
        try Self.check(response.result, of: response, "delete attributes of '\(channelID)'")
    }

    /// Deletes every attribute of a channel (`clearChannelAttributes`).
    public func clearChannelAttributes(
        of channelID: String,
        options: ChannelAttributeOptions = ChannelAttributeOptions()
    ) async throws(HeraldClientError) {
        var request = Herald_V1_ClearChannelAttributesRequest()
        request.channelID = channelID
        request.notifyMembers = options.notifyMembers
        request.idempotencyKey = UUIDText.random()
        let response = try await self.request(request, Herald_V1_ClearChannelAttributesResponse.self, retry: true)
        try Self.check(response.result, of: response, "clear the attributes of '\(channelID)'")
    }

    /// A channel's attributes (`getChannelAttributes`).
    public func channelAttributes(of channelID: String) async throws(HeraldClientError) -> [ChannelAttribute] {
        var request = Herald_V1_GetChannelAttributesRequest()
        request.channelID = channelID
        let response = try await self.request(request, Herald_V1_GetChannelAttributesResponse.self)
        try Self.check(response.result, of: response, "get the attributes of '\(channelID)'")
        return response.attributes.map(ChannelAttribute.init)
    }

    /// Some of a channel's attributes (`getChannelAttributesByKeys`).
    public func channelAttributes(
        of channelID: String,
        keys: [String]
    ) async throws(HeraldClientError)
        -> [ChannelAttribute]
    {
        var request = Herald_V1_GetChannelAttributesByKeysRequest()
        request.channelID = channelID
        request.keys = keys
        let response = try await self.request(request, Herald_V1_GetChannelAttributesByKeysResponse.self)
        try Self.check(response.result, of: response, "get the attributes of '\(channelID)'")
        return response.attributes.map(ChannelAttribute.init)
    }

    // MARK: - Invitations

    func sendInvitation(_ invitation: LocalInvitation, requirePeerOnline: Bool) async throws(HeraldClientError) {
        guard invitation.state == .idle else {
            throw HeraldClientError(.invalidState, "\(invitation) was sent already")
        }
        var request = Herald_V1_SendInvitationRequest()
        request.calleeID = invitation.calleeID
        request.channelID = invitation.channelID
        request.content = invitation.content
        request.requirePeerOnline = requirePeerOnline
        request.invitationID = invitation.invitationID
        // Registered first: its events may follow the response in the same read.
        self.register(invitation)
        do {
            let response = try await self.request(request, Herald_V1_SendInvitationResponse.self)
            try Self.check(response.result, of: response, "send invitation '\(invitation.invitationID)'")
        } catch {
            self.unregister(invitation)
            throw error
        }
    }

    func cancelInvitation(_ invitation: LocalInvitation) async throws(HeraldClientError) {
        var request = Herald_V1_CancelInvitationRequest()
        request.invitationID = invitation.invitationID
        let response = try await self.request(request, Herald_V1_CancelInvitationResponse.self)
        try Self.check(response.result, of: response, "cancel invitation '\(invitation.invitationID)'")
    }

    func answerInvitation(_ invitation: RemoteInvitation, accept: Bool) async throws(HeraldClientError) {
        if accept {
            var request = Herald_V1_AcceptInvitationRequest()
            request.invitationID = invitation.invitationID
            request.response = invitation.response
            let response = try await self.request(request, Herald_V1_AcceptInvitationResponse.self)
            try Self.check(response.result, of: response, "accept invitation '\(invitation.invitationID)'")
        } else {
            var request = Herald_V1_RefuseInvitationRequest()
            request.invitationID = invitation.invitationID
            request.response = invitation.response
            let response = try await self.request(request, Herald_V1_RefuseInvitationResponse.self)
            try Self.check(response.result, of: response, "refuse invitation '\(invitation.invitationID)'")
        }
    }

    // MARK: - Legacy Signaling

    /// Sends a message to a channel the user has not joined (Signaling's `messageChannelSend` from outside).
    @discardableResult
    public func sendChannelMessageFromOutside(
        _ message: HeraldMessage,
        to channelID: String
    )
        async throws(HeraldClientError) -> SentMessage
    {
        var request = Herald_V1_SendChannelMessageExternalRequest()
        request.channelID = channelID
        request.message = message.body
        request.idempotencyKey = UUIDText.random()
        let response = try await self.request(request, Herald_V1_SendChannelMessageExternalResponse.self, retry: true)
        try Self.check(response.result, of: response, "send a message to '\(channelID)' from outside")
        return SentMessage(
            messageID: response.messageID,
            serverReceivedMs: response.serverReceivedMs,
            cachedByServer: false
        )
    }

    /// Sends DTMF digits to a callee (Signaling's `channelInviteDTMF`); the callee gets
    /// ``HeraldClientEvent/invitationMessage(channelID:fromUserID:data:extra:)``.
    public func sendDTMF(
        _ digits: String,
        to calleeID: String,
        channelID: String,
        extra: String = ""
    )
        async throws(HeraldClientError)
    {
        var request = Herald_V1_SendDtmfRequest()
        request.calleeID = calleeID
        request.channelID = channelID
        request.digits = digits
        request.extra = extra
        request.idempotencyKey = UUIDText.random()
        let response = try await self.request(request, Herald_V1_SendDtmfResponse.self, retry: true)
        try Self.check(response.result, of: response, "send DTMF to '\(calleeID)'")
    }

    /// A channel's member count and members, and whether `userID` is one (Signaling's `channelQueryUserNum`,
    /// `channelQueryUserIsIn`).
    public func queryChannelUsers(
        _ channelID: String,
        userID: String = ""
    ) async throws(HeraldClientError)
        -> ChannelUsers
    {
        var request = Herald_V1_QueryChannelUsersRequest()
        request.channelID = channelID
        request.userID = userID
        let response = try await self.request(request, Herald_V1_QueryChannelUsersResponse.self)
        try Self.check(response.result, of: response, "query the users of '\(channelID)'")
        return ChannelUsers(
            memberCount: Int(response.memberCount),
            userIDs: response.userIds,
            isMember: response.isMember
        )
    }
}

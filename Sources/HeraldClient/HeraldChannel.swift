/// A channel, from the app's side (RTM's `AgoraRtmChannel`, `IChannel`): created locally with
/// ``HeraldClient/channel(_:)``, joined and left, with its members, messages and attributes.
public struct HeraldChannel: Sendable, Hashable {
    /// The channel id.
    public let id: String
    /// The client.
    public let client: HeraldClient

    /// Joins the channel (`joinWithCompletion`, `join`); the channel's events start with its new stream.
    ///
    /// - Parameter legacyMemberList: Ask for the member list on join (Signaling's `onChannelUserList`).
    /// - Throws: ``HeraldClientError`` with the `JoinChannelResult`.
    public func join(legacyMemberList: Bool = false) async throws(HeraldClientError) {
        try await self.client.joinChannel(self.id, legacyMemberList: legacyMemberList)
    }

    /// Leaves the channel (`leaveWithCompletion`, `leave`).
    public func leave() async throws(HeraldClientError) {
        try await self.client.leaveChannel(self.id)
    }

    /// Sends a channel message (`sendMessage:completion:`, `sendMessage`).
    @discardableResult
    public func send(
        _ message: HeraldMessage,
        enableHistoricalMessaging: Bool = false
    )
        async throws(HeraldClientError) -> SentMessage
    {
        try await self.client.sendChannelMessage(
            message,
            to: self.id,
            enableHistoricalMessaging: enableHistoricalMessaging
        )
    }

    /// The members (`getMembersWithCompletion`, `getMembers`).
    public func members() async throws(HeraldClientError) -> [String] {
        try await self.client.channelMembers(self.id)
    }

    /// The channel's events: members, messages, counts and attributes (the channel delegate's callbacks).
    public func events() async -> AsyncStream<HeraldClientEvent> {
        let id = self.id
        return await self.client.events(where: { event in
            switch event {
            case .memberJoined(let channel, _), .memberLeft(let channel, _, _), .memberCountUpdated(let channel, _),
                .channelMemberList(let channel, _), .channelAttributesUpdated(let channel, _, _, _, _):
                channel == id
            case .channelMessage(let message): message.channelID == id
            default: false
            }
        })
    }

    /// Whether the client is in the channel.
    public var isJoined: Bool {
        get async { await self.client.joinedChannels.contains(self.id) }
    }

    /// Same id and client.
    public static func == (lhs: HeraldChannel, rhs: HeraldChannel) -> Bool {
        lhs.id == rhs.id && lhs.client === rhs.client
    }

    /// Hashes the id.
    public func hash(into hasher: inout Hasher) { hasher.combine(self.id) }
}

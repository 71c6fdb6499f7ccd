import HeraldMessages

/// Sizes and counts the engine enforces (Spec/14-limits.md §14.2). Defaults are the protocol defaults.
public struct EngineLimits: Sendable, Hashable {
    /// Largest frame payload the server accepts.
    public var maxPayloadLength = 65_536
    /// Longest user id in bytes.
    public var maxUserIDBytes = 64
    /// Longest channel id in bytes.
    public var maxChannelIDBytes = 64
    /// Largest message content in bytes.
    public var maxMessageBytes = 32_768
    /// Channels one session may be a member of.
    public var maxChannelsJoined = 20
    /// Most user ids in a member listing.
    public var maxMembersListed = 512
    /// Largest channel for which member events are sent.
    public var maxMemberEventChannelSize = 512
    /// Most user ids in one presence query.
    public var maxQueryPeers = 256
    /// Most users one session subscribes to.
    public var maxSubscriptions = 512
    /// Most channel ids in one member-count request.
    public var maxMemberCountChannels = 32
    /// Longest attribute key in bytes.
    public var maxAttributeKeyBytes = 32
    /// Longest attribute value in bytes.
    public var maxAttributeValueBytes = 8192
    /// Largest total of one user's attributes in bytes.
    public var maxUserAttributesBytes = 16_384
    /// Largest total of one channel's attributes in bytes.
    public var maxChannelAttributesBytes = 32_768
    /// Most attributes per user or channel.
    public var maxAttributesCount = 32
    /// Longest invitation content, response and DTMF extra in bytes.
    public var maxInvitationContentBytes = 8192
    /// Most offline messages cached per receiving user.
    public var maxOfflineMessages = 200
    /// Most user ids in a legacy member list.
    public var maxLegacyMemberList = 200
    /// Most frames queued for a connection before it is a slow consumer.
    public var maxOutboundQueueFrames = 1024
    /// Most invitations one session may have in progress as caller.
    public var maxActiveInvitations = 64

    /// The protocol defaults.
    public init() {}

    /// The limits as advertised in `Welcome.limits`.
    public var wire: Herald_V1_ServerLimits {
        var limits = Herald_V1_ServerLimits()
        limits.maxPayloadLength = UInt32(self.maxPayloadLength)
        limits.maxUserIDBytes = UInt32(self.maxUserIDBytes)
        limits.maxChannelIDBytes = UInt32(self.maxChannelIDBytes)
        limits.maxMessageBytes = UInt32(self.maxMessageBytes)
        limits.maxChannelsJoined = UInt32(self.maxChannelsJoined)
        limits.maxMembersListed = UInt32(self.maxMembersListed)
        limits.maxMemberEventChannelSize = UInt32(self.maxMemberEventChannelSize)
        limits.maxQueryPeers = UInt32(self.maxQueryPeers)
        limits.maxSubscriptions = UInt32(self.maxSubscriptions)
        limits.maxMemberCountChannels = UInt32(self.maxMemberCountChannels)
        limits.maxAttributeKeyBytes = UInt32(self.maxAttributeKeyBytes)
        limits.maxAttributeValueBytes = UInt32(self.maxAttributeValueBytes)
        limits.maxUserAttributesBytes = UInt32(self.maxUserAttributesBytes)
        limits.maxChannelAttributesBytes = UInt32(self.maxChannelAttributesBytes)
        limits.maxAttributesCount = UInt32(self.maxAttributesCount)
        limits.maxInvitationContentBytes = UInt32(self.maxInvitationContentBytes)
        limits.maxOfflineMessages = UInt32(self.maxOfflineMessages)
        limits.maxLegacyMemberList = UInt32(self.maxLegacyMemberList)
        limits.maxOutboundQueueFrames = UInt32(self.maxOutboundQueueFrames)
        limits.maxActiveInvitations = UInt32(self.maxActiveInvitations)
        return limits
    }
}

/// Timers the engine runs, in milliseconds (Spec/14-limits.md §14.4). Defaults are the protocol defaults.
public struct EngineTimers: Sendable, Hashable {
    /// Longest client silence before it sends `Ping`.
    public var heartbeatIntervalMs: Int64 = 5000
    /// The server closes a connection it has received nothing from for this long.
    public var idleTimeoutMs: Int64 = 30_000
    /// Longest a handshaken connection stays without a session.
    public var loginTimeoutMs: Int64 = 10_000
    /// Wait for a receiver's acknowledgement of a peer message.
    public var peerAckTimeoutMs: Int64 = 10_000
    /// Silence after which a user is reported unreachable.
    public var presenceUnreachableMs: Int64 = 6000
    /// How long an invitation to an offline callee stays pending.
    public var invitationPeerOfflineMs: Int64 = 30_000
    /// Wait for an online callee's acknowledgement of an invitation.
    public var invitationNoResponseMs: Int64 = 30_000
    /// Wait for accept, refuse or cancel of a received invitation.
    public var invitationExpiryMs: Int64 = 60_000
    /// Wait for the caller's acknowledgement of an acceptance.
    public var invitationAcceptAckMs: Int64 = 10_000
    /// How long before token expiry `TokenPrivilegeWillExpire` is sent.
    public var tokenWillExpireLeadMs: Int64 = 30_000
    /// How long a cached offline message is kept.
    public var offlineRetentionMs: Int64 = 604_800_000
    /// How long a channel stays empty before its attributes are deleted.
    public var channelAttributesEmptyTTLMs: Int64 = 300_000
    /// Minimum spacing of member-count updates for a channel up to the member-event size.
    public var memberCountIntervalMs: Int64 = 1000
    /// Minimum spacing of member-count updates for larger channels.
    public var memberCountIntervalLargeMs: Int64 = 3000
    /// Wait for `Hello` on a new connection.
    public var handshakeTimeoutMs: Int64 = 10_000

    /// The protocol defaults.
    public init() {}

    /// The timers as advertised in `Welcome.timers`.
    public var wire: Herald_V1_ServerTimers {
        var timers = Herald_V1_ServerTimers()
        timers.heartbeatIntervalMs = UInt32(clamping: self.heartbeatIntervalMs)
        timers.idleTimeoutMs = UInt32(clamping: self.idleTimeoutMs)
        timers.loginTimeoutMs = UInt32(clamping: self.loginTimeoutMs)
        timers.peerAckTimeoutMs = UInt32(clamping: self.peerAckTimeoutMs)
        timers.presenceUnreachableMs = UInt32(clamping: self.presenceUnreachableMs)
        timers.invitationPeerOfflineMs = UInt32(clamping: self.invitationPeerOfflineMs)
        timers.invitationNoResponseMs = UInt32(clamping: self.invitationNoResponseMs)
        timers.invitationExpiryMs = UInt32(clamping: self.invitationExpiryMs)
        timers.invitationAcceptAckMs = UInt32(clamping: self.invitationAcceptAckMs)
        timers.tokenWillExpireLeadMs = UInt32(clamping: self.tokenWillExpireLeadMs)
        timers.offlineRetentionMs = UInt64(self.offlineRetentionMs)
        timers.channelAttributesEmptyTtlMs = UInt32(clamping: self.channelAttributesEmptyTTLMs)
        timers.memberCountIntervalMs = UInt32(clamping: self.memberCountIntervalMs)
        timers.memberCountIntervalLargeMs = UInt32(clamping: self.memberCountIntervalLargeMs)
        timers.handshakeTimeoutMs = UInt32(clamping: self.handshakeTimeoutMs)
        return timers
    }
}

/// One rate limit: at most `count` operations per sliding window of `windowMs` (Spec/14-limits.md §14.3).
public struct RateLimitValue: Sendable, Hashable {
    /// Operations allowed per window.
    public var count: Int
    /// Window length in milliseconds.
    public var windowMs: Int64

    /// Creates a rate limit.
    public init(count: Int, windowMs: Int64) {
        self.count = count
        self.windowMs = windowMs
    }
}

/// An app the server serves, with the secrets that sign its tokens (Spec/15-tokens.md).
public struct AppCredentials: Sendable, Hashable {
    /// The app id.
    public var appID: String
    /// The app's secrets; a token verifies if it verifies under any of them. Each is at least 32 bytes.
    public var secrets: [[UInt8]]
    /// App-ID-only mode: logins with an empty token or `_no_need_token` are accepted without verification.
    public var allowsTokenlessLogin: Bool

    /// Creates the credentials of one app.
    public init(appID: String, secrets: [[UInt8]], allowsTokenlessLogin: Bool = false) {
        self.appID = appID
        self.secrets = secrets
        self.allowsTokenlessLogin = allowsTokenlessLogin
    }
}

/// A configuration that breaks a rule of the specification.
public struct EngineConfigurationError: Error, Hashable, CustomStringConvertible {
    /// What is wrong.
    public var description: String
}

/// Everything a ``HeraldEngine`` needs to know before it starts.
public struct EngineConfiguration: Sendable {
    /// The name reported in `Welcome.server_name`.
    public var serverName = "herald-reference-engine"
    /// The apps the server serves.
    public var apps: [AppCredentials]
    /// The capabilities the server offers; `core` is always offered.
    public var offeredCapabilities: Set<Capability> = Set(Capability.allV1)
    /// Size and count limits.
    public var limits = EngineLimits()
    /// Timers.
    public var timers = EngineTimers()
    /// The rate limits enforced, by class. A class absent from the dictionary is not limited (and not advertised).
    public var rateLimits: [Herald_V1_RateClass: RateLimitValue] = EngineConfiguration.defaultRateLimits
    /// The test-control key (Spec/18-test-control.md): when set, the engine grants `herald.test-control` to a
    /// `Hello` that names it and performs `TestControlRequest`s carrying this key. `nil` (the default) disables test
    /// control; never set it on a production server.
    public var testControlKey: [UInt8]?
    /// The longest token lifetime, `exp` − `iat` in seconds, accepted at login and renewal (TOK-10, TOK-29, TOK-30);
    /// `nil` accepts any. The default verifier enforces it.
    public var maximumTokenLifetimeSeconds: Int64? = EngineConfiguration.defaultMaximumTokenLifetimeSeconds

    /// The default maximum token lifetime: 86400 s (24 hours), the longest lifetime of an Agora RTM token (TOK-30).
    public static let defaultMaximumTokenLifetimeSeconds: Int64 = 86_400

    /// The rate limits of Spec/14-limits.md §14.3.
    public static let defaultRateLimits: [Herald_V1_RateClass: RateLimitValue] = [
        .login: RateLimitValue(count: 2, windowMs: 1000),
        .renewToken: RateLimitValue(count: 2, windowMs: 1000),
        .messages: RateLimitValue(count: 180, windowMs: 3000),
        .join: RateLimitValue(count: 50, windowMs: 3000),
        .joinSameChannel: RateLimitValue(count: 2, windowMs: 5000),
        .getMembers: RateLimitValue(count: 5, windowMs: 2000),
        .queryPresence: RateLimitValue(count: 10, windowMs: 5000),
        .subscription: RateLimitValue(count: 10, windowMs: 5000),
        .userAttributesWrite: RateLimitValue(count: 10, windowMs: 5000),
        .userAttributesRead: RateLimitValue(count: 40, windowMs: 5000),
        .channelAttributesWrite: RateLimitValue(count: 10, windowMs: 5000),
        .channelAttributesRead: RateLimitValue(count: 10, windowMs: 5000),
        .memberCount: RateLimitValue(count: 1, windowMs: 1000),
    ]

    /// Creates a configuration serving `apps` with the protocol defaults.
    public init(apps: [AppCredentials]) {
        self.apps = apps
    }

    /// Checks the rules the specification places on a configuration (TOK-1, HS-26, HS-78, LIM-11, non-zero values).
    public func validate() throws(EngineConfigurationError) {
        if self.apps.isEmpty {
            throw EngineConfigurationError(description: "at least one app must be configured")
        }
        var seen = Set<String>()
        for app in self.apps {
            if app.appID.isEmpty { throw EngineConfigurationError(description: "an app id must not be empty") }
            if !seen.insert(app.appID).inserted {
                throw EngineConfigurationError(description: "app id \(app.appID) is configured twice")
            }
            if app.secrets.isEmpty && !app.allowsTokenlessLogin {
                throw EngineConfigurationError(
                    description: "app \(app.appID) has no secret and does not allow tokenless login"
                )
            }
            for secret in app.secrets where secret.count < 32 {
                throw EngineConfigurationError(
                    description: "app \(app.appID): a secret must be at least 32 bytes (TOK-1), got \(secret.count)"
                )
            }
        }
        let limits = self.limits
        if limits.maxPayloadLength < 65_536 || limits.maxPayloadLength > 0x00FF_FFFF {
            throw EngineConfigurationError(description: "max payload length must be 65536…16777215 (HS-26)")
        }
        let mirror = Mirror(reflecting: limits)
        for child in mirror.children {
            if let value = child.value as? Int, value <= 0 {
                throw EngineConfigurationError(description: "limit \(child.label ?? "?") must be positive")
            }
        }
        if let violation = limits.receiveLimitViolations().first {
            throw EngineConfigurationError(
                description: violation.description { "\(ReceiveLimitViolation.wireName(ofLimit: $0)) (\($1))" }
            )
        }
        for child in Mirror(reflecting: self.timers).children {
            if let value = child.value as? Int64,
                value <= 0 || value > Int64(UInt32.max) && child.label != "offlineRetentionMs"
            {
                throw EngineConfigurationError(description: "timer \(child.label ?? "?") must be 1…4294967295 ms")
            }
        }
        let timers = self.timers
        if timers.idleTimeoutMs < 2 * timers.heartbeatIntervalMs {
            throw EngineConfigurationError(
                description: "idle_timeout_ms (\(timers.idleTimeoutMs)) must be at least twice heartbeat_interval_ms "
                    + "(\(timers.heartbeatIntervalMs)) (LIM-11)"
            )
        }
        if timers.presenceUnreachableMs >= timers.idleTimeoutMs {
            throw EngineConfigurationError(
                description: "presence_unreachable_ms (\(timers.presenceUnreachableMs)) must be shorter than "
                    + "idle_timeout_ms (\(timers.idleTimeoutMs)) (LIM-11)"
            )
        }
        if timers.memberCountIntervalMs > timers.memberCountIntervalLargeMs {
            throw EngineConfigurationError(
                description: "member_count_interval_ms (\(timers.memberCountIntervalMs)) must not exceed "
                    + "member_count_interval_large_ms (\(timers.memberCountIntervalLargeMs)) (LIM-11)"
            )
        }
        if let lifetime = self.maximumTokenLifetimeSeconds, lifetime <= 0 {
            throw EngineConfigurationError(description: "the maximum token lifetime must be positive (TOK-10)")
        }
        for (rateClass, value) in self.rateLimits where value.count <= 0 || value.windowMs <= 0 {
            throw EngineConfigurationError(description: "rate limit \(rateClass) must have positive count and window")
        }
    }
}

import Foundation
import HeraldMessages
import Synchronization

/// A call invitation the app sends (RTM's `AgoraRtmLocalInvitation`); its ``state`` follows the caller's state
/// machine of Spec/12-invitations.md §12.6.
///
/// Create it with ``CallManager/createLocalInvitation(calleeID:channelID:)``, set ``content``, then
/// ``CallManager/send(_:requirePeerOnline:)``.
public final class LocalInvitation: Sendable, Hashable, CustomStringConvertible {
    /// The invitation id: chosen by the client, unique among the caller's active invitations.
    public let invitationID: String
    /// The callee.
    public let calleeID: String
    /// The channel the call is about; may be empty.
    public let channelID: String

    struct State: Sendable {
        var content = ""
        var response = ""
        var state: LocalInvitationState = .idle
        var error: LocalInvitationError = .ok
    }

    let mutable = Mutex(State())

    init(invitationID: String, calleeID: String, channelID: String) {
        self.invitationID = invitationID
        self.calleeID = calleeID
        self.channelID = channelID
    }

    /// What the caller sends with the invitation (at most `max_invitation_content_bytes`); set before sending.
    public var content: String {
        get { self.mutable.withLock { $0.content } }
        set { self.mutable.withLock { $0.content = newValue } }
    }

    /// The callee's answer, once accepted or refused.
    public var response: String { self.mutable.withLock { $0.response } }
    /// The state.
    public var state: LocalInvitationState { self.mutable.withLock { $0.state } }
    /// Why it failed, in state `.failure`.
    public var error: LocalInvitationError { self.mutable.withLock { $0.error } }

    /// Whether the state is final (accepted, refused, canceled, failed).
    public var isEnded: Bool {
        [.acceptedByRemote, .refusedByRemote, .canceled, .failure].contains(self.state)
    }

    /// `LocalInvitation(id → callee, state)`.
    public var description: String { "LocalInvitation(\(self.invitationID) → \(self.calleeID), \(self.state))" }

    /// Identity.
    public static func == (lhs: LocalInvitation, rhs: LocalInvitation) -> Bool { lhs === rhs }
    /// Identity.
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}

/// A call invitation the app received (RTM's `AgoraRtmRemoteInvitation`); its ``state`` follows the callee's state
/// machine of Spec/12-invitations.md §12.7.
public final class RemoteInvitation: Sendable, Hashable, CustomStringConvertible {
    /// The invitation id.
    public let invitationID: String
    /// The caller.
    public let callerID: String
    /// The channel the call is about.
    public let channelID: String
    /// What the caller sent with it.
    public let content: String

    struct State: Sendable {
        var response = ""
        var state: RemoteInvitationState = .invitationReceived
        var error: RemoteInvitationError = .ok
    }

    let mutable = Mutex(State())

    init(invitationID: String, callerID: String, channelID: String, content: String) {
        self.invitationID = invitationID
        self.callerID = callerID
        self.channelID = channelID
        self.content = content
    }

    /// The answer the callee sends with accept or refuse; set before answering.
    public var response: String {
        get { self.mutable.withLock { $0.response } }
        set { self.mutable.withLock { $0.response = newValue } }
    }

    /// The state.
    public var state: RemoteInvitationState { self.mutable.withLock { $0.state } }
    /// Why it failed, in state `.failure`.
    public var error: RemoteInvitationError { self.mutable.withLock { $0.error } }

    /// Whether the state is final (accepted, refused, canceled, failed).
    public var isEnded: Bool { [.accepted, .refused, .canceled, .failure].contains(self.state) }

    /// `RemoteInvitation(id ← caller, state)`.
    public var description: String { "RemoteInvitation(\(self.invitationID) ← \(self.callerID), \(self.state))" }

    /// Identity.
    public static func == (lhs: RemoteInvitation, rhs: RemoteInvitation) -> Bool { lhs === rhs }
    /// Identity.
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}

/// The invitation half of a client (RTM's `AgoraRtmCallKit`, `getRtmCallKit`, `IRtmCallManager`).
public struct CallManager: Sendable {
    /// The client.
    public let client: HeraldClient

    /// Creates an invitation object (`createLocalInvitation`); nothing is sent.
    ///
    /// - Parameter invitationID: The id; a random UUID when `nil`.
    public func createLocalInvitation(
        calleeID: String,
        channelID: String = "",
        invitationID: String? = nil
    )
        -> LocalInvitation
    {
        LocalInvitation(
            invitationID: invitationID ?? UUIDText.random(),
            calleeID: calleeID,
            channelID: channelID
        )
    }

    /// Sends the invitation (`sendLocalInvitation`); its state becomes `.sentToRemote`.
    ///
    /// - Parameter requirePeerOnline: Fail at once (`PEER_OFFLINE`) when the callee is offline, instead of waiting
    ///   `invitation_peer_offline_ms` for them.
    /// - Throws: ``HeraldClientError`` with the response's `InvitationApiCallResult`.
    public func send(_ invitation: LocalInvitation, requirePeerOnline: Bool = false) async throws(HeraldClientError) {
        try await self.client.sendInvitation(invitation, requirePeerOnline: requirePeerOnline)
    }

    /// Cancels the invitation (`cancelLocalInvitation`); its state becomes `.canceled`.
    public func cancel(_ invitation: LocalInvitation) async throws(HeraldClientError) {
        try await self.client.cancelInvitation(invitation)
    }

    /// Accepts the invitation (`acceptRemoteInvitation`), with its ``RemoteInvitation/response``; its state becomes
    /// `.acceptSentToLocal`, then `.accepted` when the caller's client has the answer.
    public func accept(_ invitation: RemoteInvitation) async throws(HeraldClientError) {
        try await self.client.answerInvitation(invitation, accept: true)
    }

    /// Refuses the invitation (`refuseRemoteInvitation`), with its ``RemoteInvitation/response``.
    public func refuse(_ invitation: RemoteInvitation) async throws(HeraldClientError) {
        try await self.client.answerInvitation(invitation, accept: false)
    }

    /// The invitation events: ``HeraldClientEvent/localInvitation(_:_:)`` and
    /// ``HeraldClientEvent/remoteInvitation(_:_:)`` (the call-kit delegate's callbacks).
    public func events() async -> AsyncStream<HeraldClientEvent> {
        await self.client.events(where: { event in
            switch event {
            case .localInvitation, .remoteInvitation: true
            default: false
            }
        })
    }
}

/// Random UUID text, for invitation ids and idempotency keys (EXT-17: 122 random bits).
enum UUIDText {
    static func random() -> String { UUID().uuidString.lowercased() }
}

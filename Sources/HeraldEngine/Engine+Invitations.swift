import HeraldMessages
import Logging
import NIOCore
import SwiftProtobuf

// Call invitations (Spec/12-invitations.md) and DTMF (Spec/16-legacy-signaling.md §16.11).
//
// An invitation lives in `InvitationsState.live` from its `SendInvitationResponse` OK until it has ended on both sides.
// Every invitation ends within a bounded time: it is pending at most `invitation_peer_offline_ms`, unacknowledged at
// most `invitation_no_response_ms`, acknowledged and unanswered at most `invitation_expiry_ms`, and accepted but not
// confirmed at most `invitation_accept_ack_ms`. Sessions keep only the ids of their live invitations plus a bounded
// record of ended ids (``EndedInvitations``), which answers `ALREADY_END` / `ALREADY_ACCEPT` for recently ended ones.

// MARK: - State

/// One invitation between its creation and its end on both sides.
struct Invitation {
    /// Engine-wide number; also the source of the callee-side id.
    let number: UInt64
    /// The caller's session (removed from the record when that session ends).
    let caller: Session
    /// The id the caller chose.
    let callerInvitationID: String
    /// The callee, who may be offline while the invitation is pending.
    let callee: UserKey
    let channelID: String
    let content: String
    /// The caller state as the caller's client sees it.
    var callerState: Herald_V1_LocalInvitationState = .sentToRemote
    /// The callee state; `.idle` while the invitation is pending (not delivered).
    var calleeState: Herald_V1_RemoteInvitationState = .idle
    /// The session the invitation was delivered to; `nil` while pending.
    var calleeSession: Session?
    /// The callee acknowledged `RemoteInvitationReceived` (or INV-29 implied it).
    var acknowledged = false
    /// The handle of the one timer the invitation runs at a time.
    var timer: UInt64?

    /// The server-chosen callee-side id (INV-8): unique because invitation numbers are never reused.
    var calleeInvitationID: String { "inv-\(self.number)" }

    /// Whether the caller state is active (INV-6): `SENT_TO_REMOTE` or `RECEIVED_BY_REMOTE`.
    var isActiveForCaller: Bool { self.callerState == .sentToRemote || self.callerState == .receivedByRemote }
}

/// Engine-wide invitation state.
struct InvitationsState {
    var nextNumber: UInt64 = 1
    /// Invitations that have not ended on both sides, by number.
    var live: [UInt64: Invitation] = [:]
    /// Pending (undelivered) invitations per callee, in creation order (INV-24).
    var pending: [UserKey: [UInt64]] = [:]
}

/// A bounded first-in, first-out record of ended invitation ids and how they ended.
///
/// The spec answers `ALREADY_END` (and `ALREADY_ACCEPT` for the callee) for any ended invitation of a session. To keep
/// memory bounded, a session remembers only its ``InvitationSessionState/endedRecordCapacity`` most recently ended ids
/// per side; older ids are answered `NOT_STARTED`, like ids the session never used.
struct EndedInvitations {
    enum Outcome: Hashable {
        /// Callee state `ACCEPTED` (answers `ALREADY_ACCEPT`).
        case accepted
        /// Any other final state (answers `ALREADY_END`).
        case ended
    }

    private var outcomes: [String: Outcome] = [:]
    private var order: [String] = []
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    var count: Int { self.outcomes.count }

    subscript(id: String) -> Outcome? { self.outcomes[id] }

    /// Records (or re-records, as the newest) how an id ended, forgetting the oldest id beyond the capacity.
    mutating func record(_ id: String, _ outcome: Outcome) {
        if self.outcomes.updateValue(outcome, forKey: id) != nil {
            self.order.removeAll { $0 == id }
        }
        self.order.append(id)
        if self.order.count > self.capacity {
            self.outcomes[self.order.removeFirst()] = nil
        }
    }
}

/// Per-session invitation state.
struct InvitationSessionState {
    /// How many ended ids a session remembers per side (caller ids, callee-side ids).
    static let endedRecordCapacity = 256

    /// Caller-chosen ids of this session's active invitations (caller state `SENT_TO_REMOTE`/`RECEIVED_BY_REMOTE`).
    var sent: [String: UInt64] = [:]
    /// Every live invitation this session is the caller of (including accepted ones awaiting the caller's ack).
    var asCaller: Set<UInt64> = []
    /// Callee-side ids of live invitations delivered to this session.
    var received: [String: UInt64] = [:]
    /// Recently ended caller ids.
    var endedSent = EndedInvitations(capacity: endedRecordCapacity)
    /// Recently ended callee-side ids.
    var endedReceived = EndedInvitations(capacity: endedRecordCapacity)
}

/// What an outstanding invitation delivery is for.
struct InvitationDelivery: Hashable, Sendable {
    enum Kind: Hashable, Sendable {
        /// `RemoteInvitationReceived` to the callee.
        case received
        /// `LocalInvitationAccepted` to the caller.
        case accepted
    }

    var number: UInt64
    var kind: Kind
}

/// Invitation timers (Spec/12-invitations.md, timer table).
struct InvitationTimer: Hashable, Sendable {
    enum Kind: Hashable, Sendable {
        /// `invitation_peer_offline_ms`: a pending invitation was not delivered.
        case peerOffline
        /// `invitation_no_response_ms`: the callee did not acknowledge `RemoteInvitationReceived`.
        case noResponse
        /// `invitation_expiry_ms`: an acknowledged invitation was not accepted, refused or canceled.
        case expiry
        /// `invitation_accept_ack_ms`: the caller did not acknowledge `LocalInvitationAccepted`.
        case acceptAck
    }

    var number: UInt64
    var kind: Kind
}

// MARK: - Hooks

extension HeraldEngine {
    /// Delivers the invitations pending for the user who just logged in, in creation order (INV-22, INV-24). The
    /// core calls this after the `LoginResponse`, the `ConnectionStateChanged` and the cached peer messages.
    func invitationsSessionStarted(_ session: Session) {
        // OVR-11: a connection without `invitations` is an offline callee; the invitations stay pending.
        guard session.connection.has(.invitations), let numbers = self.invitations.pending[session.user] else { return }
        self.invitations.pending[session.user] = nil
        var undelivered: [UInt64] = []
        for number in numbers where self.invitations.live[number] != nil {
            if !self.deliverInvitation(number, to: session) {
                undelivered.append(number)
            }
        }
        if !undelivered.isEmpty {
            self.invitations.pending[session.user] = undelivered
        }
    }

    /// Ends every invitation the session takes part in (SES-31, SES-32, INV-41 … INV-44). The core has already
    /// removed the session's outstanding deliveries.
    func invitationsSessionEnded(_ session: Session, cause: SessionEndCause) {
        // As the callee (INV-44): callers whose invitation is still active learn that the peer went offline.
        for number in session.invitations.received.values.sorted() {
            guard var invitation = self.invitations.live[number] else { continue }
            if invitation.isActiveForCaller {
                invitation.callerState = .failure
                self.sendLocalFailure(invitation, .peerOffline)
            }
            // A callee in ACCEPT_SENT_TO_LOCAL leaves a caller already in ACCEPTED_BY_REMOTE: nothing to send.
            invitation.calleeState = .failure
            self.finishInvitation(invitation)
        }
        // As the caller (INV-41 … INV-43).
        for number in session.invitations.asCaller.sorted() {
            guard var invitation = self.invitations.live[number] else { continue }
            if invitation.calleeSession != nil {
                // Delivered: INVITATION_RECEIVED or ACCEPT_SENT_TO_LOCAL (INV-42: at once).
                invitation.calleeState = .failure
                self.sendRemoteFailure(invitation, .peerOffline)
            }
            // Pending ones are discarded silently (INV-43).
            invitation.callerState = .failure
            self.finishInvitation(invitation)
        }
        session.invitations = InvitationSessionState()
    }

    /// The callee's acknowledgement of `RemoteInvitationReceived` or the caller's of `LocalInvitationAccepted`.
    func invitationDeliveryAcknowledged(
        _ delivery: InvitationDelivery,
        result: Herald_V1_DeliveryAckResult,
        on connection: Connection
    ) {
        // INV-30: after an implied acknowledgement or after the end of the invitation, an ack causes nothing.
        guard var invitation = self.invitations.live[delivery.number] else { return }
        switch delivery.kind {
        case .received:
            guard invitation.calleeState == .invitationReceived, !invitation.acknowledged,
                let callee = invitation.calleeSession, callee.connection === connection
            else { return }
            if result == .accepted {
                self.acknowledgeReceipt(&invitation)  // INV-26
                self.invitations.live[invitation.number] = invitation
            } else {
                // INV-27: the caller fails with PEER_NO_RESPONSE; the callee hears nothing more.
                invitation.callerState = .failure
                self.sendLocalFailure(invitation, .peerNoResponse)
                invitation.calleeState = .failure
                self.finishInvitation(invitation)
            }
        case .accepted:
            guard invitation.calleeState == .acceptSentToLocal, invitation.caller.connection === connection else {
                return
            }
            if result == .accepted {
                // INV-35.
                invitation.calleeState = .accepted
                if let callee = invitation.calleeSession {
                    self.sendUserEvent(
                        .remoteInvitationAccepted,
                        Herald_V1_RemoteInvitationAccepted.with { $0.invitationID = invitation.calleeInvitationID },
                        seqFieldNumber: 2,
                        to: callee
                    )
                }
            } else {
                // INV-36.
                invitation.calleeState = .failure
                self.sendRemoteFailure(invitation, .acceptFailure)
            }
            self.finishInvitation(invitation)
        }
    }

    /// A timer of the invitation table fired; stale timers (whose phase has passed) do nothing.
    func invitationTimerFired(_ timer: InvitationTimer) {
        guard var invitation = self.invitations.live[timer.number] else { return }
        switch timer.kind {
        case .peerOffline:
            // INV-23.
            guard invitation.calleeSession == nil else { return }
            invitation.timer = nil
            invitation.callerState = .failure
            self.sendLocalFailure(invitation, .peerOffline)
        case .noResponse:
            // INV-28.
            guard invitation.calleeState == .invitationReceived, !invitation.acknowledged else { return }
            invitation.timer = nil
            invitation.callerState = .failure
            self.sendLocalFailure(invitation, .peerNoResponse)
            invitation.calleeState = .failure
            self.sendRemoteFailure(invitation, .invitationExpire)
        case .expiry:
            // INV-31.
            guard invitation.calleeState == .invitationReceived, invitation.acknowledged,
                invitation.callerState == .receivedByRemote
            else { return }
            invitation.timer = nil
            invitation.callerState = .failure
            self.sendLocalFailure(invitation, .invitationExpire)
            invitation.calleeState = .failure
            self.sendRemoteFailure(invitation, .invitationExpire)
        case .acceptAck:
            // INV-36: the caller hears nothing further.
            guard invitation.calleeState == .acceptSentToLocal else { return }
            invitation.timer = nil
            invitation.calleeState = .failure
            self.sendRemoteFailure(invitation, .acceptFailure)
        }
        self.finishInvitation(invitation)
    }

    // MARK: - Requests

    /// `SendInvitationRequest` (INV-1 … INV-4, INV-6, INV-7, INV-18 … INV-24).
    func sendInvitation(_ request: Herald_V1_SendInvitationRequest, session: Session, _ context: RequestContext) {
        let id = request.invitationID
        func answer(_ result: Herald_V1_InvitationApiCallResult) {
            self.respond(
                context,
                Herald_V1_SendInvitationResponse.with {
                    $0.result = result
                    $0.invitationID = id  // INV-9
                }
            )
        }
        // Check 2: arguments.
        guard Self.isValidInvitationID(id),
            Validation.isValidIdentifier(request.calleeID, maxBytes: self.limits.maxUserIDBytes),
            request.calleeID != session.user.userID,
            request.channelID.isEmpty
                || Validation.isValidIdentifier(request.channelID, maxBytes: self.limits.maxChannelIDBytes),
            request.content.utf8.count <= self.limits.maxInvitationContentBytes
        else {
            answer(.invalidArgument)
            return
        }
        // Check 6: a second active invitation with the same id (an ended one may be reused, INV-7).
        guard session.invitations.sent[id] == nil else {
            answer(.alreadySent)
            return
        }
        // Check 7: the bound on invitations in progress (INV-49).
        guard session.invitations.asCaller.count < self.limits.maxActiveInvitations else {
            answer(.tooManyInvitations)
            return
        }
        let number = self.invitations.nextNumber
        self.invitations.nextNumber += 1
        let callee = UserKey(appID: session.user.appID, userID: request.calleeID)
        var invitation = Invitation(
            number: number,
            caller: session,
            callerInvitationID: id,
            callee: callee,
            channelID: request.channelID,
            content: request.content
        )
        self.invitations.live[number] = invitation
        session.invitations.sent[id] = number
        session.invitations.asCaller.insert(number)
        answer(.ok)  // INV-18: before any other frame about the invitation.
        if let calleeSession = self.reachableCallee(callee) {
            if calleeSession.peer.cacheRead != nil {
                // SES-38, PEER-51: online, but its login's cached peer messages are being read; delivered with the
                // invitations pending at that login, after them.
                self.invitations.pending[callee, default: []].append(number)
                self.setTimer(&invitation, .peerOffline, after: self.timerSettings.invitationPeerOfflineMs)
                self.invitations.live[number] = invitation
                return
            }
            if self.deliverInvitation(number, to: calleeSession) {
                return  // INV-19
            }
        }
        if request.requirePeerOnline {
            // INV-21.
            invitation.callerState = .failure
            self.sendLocalFailure(invitation, .peerOffline)
            self.finishInvitation(invitation)
            return
        }
        // INV-22, INV-23.
        self.invitations.pending[callee, default: []].append(number)
        invitation.timer = self.timers.schedule(
            .invitation(InvitationTimer(number: number, kind: .peerOffline)),
            at: self.now + self.timerSettings.invitationPeerOfflineMs
        )
        self.invitations.live[number] = invitation
    }

    /// `CancelInvitationRequest` (INV-12, INV-16, INV-38 … INV-40).
    func cancelInvitation(_ request: Herald_V1_CancelInvitationRequest, session: Session, _ context: RequestContext) {
        let id = request.invitationID
        func answer(_ result: Herald_V1_InvitationApiCallResult) {
            self.respond(
                context,
                Herald_V1_CancelInvitationResponse.with {
                    $0.result = result
                    $0.invitationID = id
                }
            )
        }
        guard let number = session.invitations.sent[id], var invitation = self.invitations.live[number],
            invitation.isActiveForCaller
        else {
            answer(session.invitations.endedSent[id] == nil ? .notStarted : .alreadyEnd)
            return
        }
        answer(.ok)
        invitation.callerState = .canceled
        self.sendUserEvent(
            .localInvitationCanceled,
            Herald_V1_LocalInvitationCanceled.with { $0.invitationID = id },
            seqFieldNumber: 2,
            to: session
        )
        if let callee = invitation.calleeSession, invitation.calleeState == .invitationReceived {
            // INV-39; a pending invitation is simply discarded (INV-40).
            invitation.calleeState = .canceled
            self.sendUserEvent(
                .remoteInvitationCanceled,
                Herald_V1_RemoteInvitationCanceled.with {
                    $0.invitationID = invitation.calleeInvitationID
                    $0.content = invitation.content
                },
                seqFieldNumber: 3,
                to: callee
            )
        }
        self.finishInvitation(invitation)
    }

    /// `AcceptInvitationRequest` (INV-5, INV-13 … INV-15, INV-29, INV-32, INV-33).
    func acceptInvitation(_ request: Herald_V1_AcceptInvitationRequest, session: Session, _ context: RequestContext) {
        let id = request.invitationID
        func answer(_ result: Herald_V1_InvitationApiCallResult) {
            self.respond(
                context,
                Herald_V1_AcceptInvitationResponse.with {
                    $0.result = result
                    $0.invitationID = id
                }
            )
        }
        guard var invitation = self.beginCalleeDecision(id, response: request.response, of: session, answer: answer)
        else { return }
        invitation.calleeState = .acceptSentToLocal
        self.endCallerSide(&invitation, as: .acceptedByRemote)
        self.sendUserEvent(
            .localInvitationAccepted,
            Herald_V1_LocalInvitationAccepted.with {
                $0.invitationID = invitation.callerInvitationID
                $0.response = request.response
            },
            seqFieldNumber: 3,
            to: invitation.caller,
            ackRequired: .invitation(InvitationDelivery(number: invitation.number, kind: .accepted))
        )
        self.setTimer(&invitation, .acceptAck, after: self.timerSettings.invitationAcceptAckMs)
        self.invitations.live[invitation.number] = invitation
    }

    /// `RefuseInvitationRequest` (INV-5, INV-13 … INV-15, INV-29, INV-37).
    func refuseInvitation(_ request: Herald_V1_RefuseInvitationRequest, session: Session, _ context: RequestContext) {
        let id = request.invitationID
        func answer(_ result: Herald_V1_InvitationApiCallResult) {
            self.respond(
                context,
                Herald_V1_RefuseInvitationResponse.with {
                    $0.result = result
                    $0.invitationID = id
                }
            )
        }
        guard var invitation = self.beginCalleeDecision(id, response: request.response, of: session, answer: answer)
        else { return }
        invitation.callerState = .refusedByRemote
        self.sendUserEvent(
            .localInvitationRefused,
            Herald_V1_LocalInvitationRefused.with {
                $0.invitationID = invitation.callerInvitationID
                $0.response = request.response
            },
            seqFieldNumber: 3,
            to: invitation.caller
        )
        invitation.calleeState = .refused
        self.sendUserEvent(
            .remoteInvitationRefused,
            Herald_V1_RemoteInvitationRefused.with { $0.invitationID = id },
            seqFieldNumber: 2,
            to: session
        )
        self.finishInvitation(invitation)
    }

    /// `SendDtmfRequest` (LEG-38 … LEG-46, OVR-11).
    func sendDtmf(_ request: Herald_V1_SendDtmfRequest, session: Session, _ context: RequestContext) {
        func answer(_ result: Herald_V1_InvitationApiCallResult) {
            self.respond(context, Herald_V1_SendDtmfResponse.with { $0.result = result })
        }
        // Check 2: arguments (LEG-39, LEG-40).
        guard Self.isValidDtmfDigits(request.digits),
            request.digits.utf8.count <= self.limits.maxInvitationContentBytes,  // LIM-30
            Validation.isValidIdentifier(request.calleeID, maxBytes: self.limits.maxUserIDBytes),
            request.channelID.isEmpty
                || Validation.isValidIdentifier(request.channelID, maxBytes: self.limits.maxChannelIDBytes),
            request.extra.utf8.count <= self.limits.maxInvitationContentBytes
        else {
            answer(.invalidArgument)
            return
        }
        // Check 3: the receiver is online with `legacy-signaling` (LEG-41, OVR-11).
        let user = UserKey(appID: session.user.appID, userID: request.calleeID)
        guard let receiver = self.liveSession(of: user), receiver.connection.has(.legacySignaling) else {
            answer(.notStarted)
            return
        }
        answer(.ok)
        // LEG-42 … LEG-44: no ACK_REQUIRED, request id 0, user-stream seq.
        self.sendUserEvent(
            .invitationMessage,
            Herald_V1_InvitationMessage.with {
                $0.channelID = request.channelID
                $0.fromUserID = session.user.userID
                $0.type = .dtmf
                $0.data = request.digits
                $0.extra = request.extra
            },
            seqFieldNumber: 6,
            to: receiver
        )
    }

    // MARK: - Helpers

    /// INV-1: 1 … 64 bytes, no U+0000 … U+001F and no U+007F.
    static func isValidInvitationID(_ id: String) -> Bool {
        let utf8 = id.utf8
        guard !utf8.isEmpty, utf8.count <= 64 else { return false }
        return !utf8.contains { $0 < 0x20 || $0 == 0x7F }
    }

    /// LEG-39: one or more of `0`–`9`, `*` and `#`.
    static func isValidDtmfDigits(_ digits: String) -> Bool {
        let utf8 = digits.utf8
        guard !utf8.isEmpty else { return false }
        return utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == 0x2A || $0 == 0x23 }
    }

    /// The callee's session if it can receive the invitation now; a session whose connection was not granted
    /// `invitations` counts as offline (OVR-11).
    func reachableCallee(_ user: UserKey) -> Session? {
        guard let session = self.liveSession(of: user), session.connection.has(.invitations) else { return nil }
        return session
    }

    /// Finds the live invitation a callee names, or answers the request with NOT_STARTED, ALREADY_ACCEPT or
    /// ALREADY_END (INV-10 checks 3 … 5, INV-13 … INV-15).
    /// The shared start of accept and refuse: the response size (INV-10 check 2), the lookup (checks 3 … 5), the
    /// implied receipt (INV-29) and the OK answer. Returns the invitation to update, or `nil` when it was answered
    /// with an error.
    func beginCalleeDecision(
        _ id: String,
        response: String,
        of session: Session,
        answer: (Herald_V1_InvitationApiCallResult) -> Void
    ) -> Invitation? {
        guard response.utf8.count <= self.limits.maxInvitationContentBytes else {
            answer(.invalidArgument)
            return nil
        }
        guard var invitation = self.receivedInvitation(id, of: session, answer: answer) else { return nil }
        if !invitation.acknowledged {
            self.acknowledgeReceipt(&invitation)  // INV-29
        }
        answer(.ok)
        return invitation
    }

    func receivedInvitation(
        _ id: String,
        of session: Session,
        answer: (Herald_V1_InvitationApiCallResult) -> Void
    ) -> Invitation? {
        guard let number = session.invitations.received[id], let invitation = self.invitations.live[number] else {
            switch session.invitations.endedReceived[id] {
            case .accepted: answer(.alreadyAccept)
            case .ended: answer(.alreadyEnd)
            case nil: answer(.notStarted)
            }
            return nil
        }
        guard invitation.calleeState == .invitationReceived else {
            answer(.alreadyAccept)  // ACCEPT_SENT_TO_LOCAL
            return nil
        }
        return invitation
    }

    /// Sends `RemoteInvitationReceived` (INV-19, INV-20) and starts `invitation_no_response_ms`.
    ///
    /// - Returns: Whether the event was sent; if not, the invitation is unchanged.
    func deliverInvitation(_ number: UInt64, to session: Session) -> Bool {
        guard var invitation = self.invitations.live[number], invitation.calleeSession == nil else { return false }
        let message = Herald_V1_RemoteInvitationReceived.with {
            $0.invitationID = invitation.calleeInvitationID
            $0.callerID = invitation.caller.user.userID
            $0.channelID = invitation.channelID
            $0.content = invitation.content
        }
        let deliveryID = self.sendUserEvent(
            .remoteInvitationReceived,
            message,
            seqFieldNumber: 5,
            to: session,
            ackRequired: .invitation(InvitationDelivery(number: number, kind: .received))
        )
        guard deliveryID != nil else { return false }
        invitation.calleeSession = session
        invitation.calleeState = .invitationReceived
        self.setTimer(&invitation, .noResponse, after: self.timerSettings.invitationNoResponseMs)
        self.invitations.live[number] = invitation
        session.invitations.received[invitation.calleeInvitationID] = number
        return true
    }

    /// The callee received the invitation (INV-26, or implied by INV-29): `LocalInvitationReceivedByPeer` and the
    /// start of `invitation_expiry_ms`. The caller stores the result.
    func acknowledgeReceipt(_ invitation: inout Invitation) {
        invitation.acknowledged = true
        invitation.callerState = .receivedByRemote
        self.sendUserEvent(
            .localInvitationReceivedByPeer,
            Herald_V1_LocalInvitationReceivedByPeer.with {
                $0.invitationID = invitation.callerInvitationID
                $0.calleeID = invitation.callee.userID
                $0.channelID = invitation.channelID
            },
            seqFieldNumber: 4,
            to: invitation.caller
        )
        self.setTimer(&invitation, .expiry, after: self.timerSettings.invitationExpiryMs)
    }

    /// Replaces the invitation's timer.
    func setTimer(_ invitation: inout Invitation, _ kind: InvitationTimer.Kind, after milliseconds: Int64) {
        if let handle = invitation.timer {
            self.timers.cancel(handle)
        }
        invitation.timer = self.timers.schedule(
            .invitation(InvitationTimer(number: invitation.number, kind: kind)),
            at: self.now + milliseconds
        )
    }

    func sendLocalFailure(_ invitation: Invitation, _ error: Herald_V1_LocalInvitationError) {
        self.sendUserEvent(
            .localInvitationFailure,
            Herald_V1_LocalInvitationFailure.with {
                $0.invitationID = invitation.callerInvitationID
                $0.error = error
            },
            seqFieldNumber: 3,
            to: invitation.caller
        )
    }

    func sendRemoteFailure(_ invitation: Invitation, _ error: Herald_V1_RemoteInvitationError) {
        guard let callee = invitation.calleeSession else { return }
        self.sendUserEvent(
            .remoteInvitationFailure,
            Herald_V1_RemoteInvitationFailure.with {
                $0.invitationID = invitation.calleeInvitationID
                $0.error = error
            },
            seqFieldNumber: 3,
            to: callee
        )
    }

    /// Moves the caller side to a final state: the id becomes reusable (INV-7) and is remembered as ended (INV-16).
    func endCallerSide(_ invitation: inout Invitation, as state: Herald_V1_LocalInvitationState) {
        let wasActive = invitation.isActiveForCaller
        invitation.callerState = state
        guard wasActive else { return }
        let caller = invitation.caller
        let id = invitation.callerInvitationID
        if caller.invitations.sent[id] == invitation.number {
            caller.invitations.sent[id] = nil
        }
        caller.invitations.endedSent.record(id, .ended)
    }

    /// Removes an invitation that has ended on both sides; the caller has set its final states and sent its events.
    /// Its deliveries stay outstanding until acknowledged or until their session ends (04-handshake.md §4.8, bounded
    /// by LIM-17), and a late acknowledgement then finds no live invitation and causes nothing (INV-30).
    func finishInvitation(_ invitation: Invitation) {
        let number = invitation.number
        self.invitations.live[number] = nil
        if let handle = invitation.timer {
            self.timers.cancel(handle)
        }
        // Caller side.
        let caller = invitation.caller
        let id = invitation.callerInvitationID
        if caller.invitations.sent[id] == number {
            caller.invitations.sent[id] = nil
            caller.invitations.endedSent.record(id, .ended)
        }
        caller.invitations.asCaller.remove(number)
        // Callee side.
        if let callee = invitation.calleeSession {
            let calleeID = invitation.calleeInvitationID
            if callee.invitations.received.removeValue(forKey: calleeID) != nil {
                let outcome: EndedInvitations.Outcome = invitation.calleeState == .accepted ? .accepted : .ended
                callee.invitations.endedReceived.record(calleeID, outcome)
            }
        } else if var queue = self.invitations.pending[invitation.callee] {
            queue.removeAll { $0 == number }
            self.invitations.pending[invitation.callee] = queue.isEmpty ? nil : queue
        }
    }
}

import HeraldMessages
import Logging
import NIOCore
import SwiftProtobuf

/// Engine-wide presence state (Spec/07-presence.md).
struct PresenceState {
    /// The subscribers of each watched user: serials of the sessions that subscribe to it. Users without
    /// subscribers have no entry.
    var watchers: [UserKey: Set<UInt64>] = [:]
}

/// Per-session presence state: the session as a subscriber, and the session's own user as a watched user.
struct PresenceSessionState {
    /// The users this session subscribes to, ordered by the time each was added (PRES-31).
    var subscriptionOrder: [String] = []
    /// The state last reported to this session for each subscribed user (PRES-17, PRES-21).
    var reported: [String: Herald_V1_PeerOnlineState] = [:]
    /// This session's user has been found `UNREACHABLE`: nothing has arrived on its connection for
    /// `presence_unreachable_ms` (PRES-1). Cleared by the next frame.
    var unreachable = false
    /// The silence timer, which runs while this session's user has subscribers and is not unreachable.
    var silenceTimer: UInt64?
}

/// Presence timers.
struct PresenceTimer: Hashable, Sendable {
    /// The watched session whose connection may have gone quiet.
    var sessionSerial: UInt64
}

extension HeraldEngine {
    /// The `seq` field number of `PeersOnlineStatusChanged`.
    static let presenceChangedSeqField = 2

    // MARK: - Hooks

    /// A frame arrived on the session's connection (`lastReceivedMs` is already updated): an unreachable user is
    /// online again (PRES-1, PRES-20). Costs one comparison when the user was not unreachable; the silence timer is
    /// not touched (it re-arms itself from `lastReceivedMs` when it fires).
    func presenceActivity(_ session: Session) {
        guard session.presence.unreachable else { return }
        session.presence.unreachable = false
        self.reportPresence(of: session.user, .online)
        self.presenceStartSilenceTimer(session)
    }

    /// The user has a session now: `ONLINE` for its subscribers; after a remote login only those who saw another
    /// state hear of it (PRES-25, SES-23).
    func presenceSessionStarted(_ session: Session, replacedEarlierSession: Bool) {
        self.reportPresence(of: session.user, .online)
        self.presenceStartSilenceTimer(session)
    }

    /// Discards the session's subscriptions (PRES-32, SES-29) and reports the user `OFFLINE`, except after a remote
    /// login (SES-23, SES-33).
    func presenceSessionEnded(_ session: Session, cause: SessionEndCause) {
        for userID in session.presence.subscriptionOrder {
            self.presenceRemoveWatcher(session.serial, of: UserKey(appID: session.user.appID, userID: userID))
        }
        if let timer = session.presence.silenceTimer {
            self.timers.cancel(timer)
        }
        session.presence = PresenceSessionState()
        if cause != .remoteLogin {
            self.reportPresence(of: session.user, .offline)
        }
    }

    /// The silence timer of a watched session.
    func presenceTimerFired(_ timer: PresenceTimer) {
        guard let session = self.sessionsBySerial[timer.sessionSerial], !session.ended else { return }
        session.presence.silenceTimer = nil
        guard self.presence.watchers[session.user] != nil, !session.presence.unreachable else { return }
        let deadline = session.connection.lastReceivedMs + self.timerSettings.presenceUnreachableMs
        if self.now >= deadline {
            // PRES-24: not before presence_unreachable_ms of silence.
            session.presence.unreachable = true
            self.reportPresence(of: session.user, .unreachable)
        } else {
            session.presence.silenceTimer = self.timers.schedule(
                .presence(PresenceTimer(sessionSerial: session.serial)),
                at: deadline
            )
        }
    }

    // MARK: - Requests

    /// `QueryPeersOnlineStatusRequest` (§7.2). Session and rate checks (PRES-2 steps 1 and 2) were made by the core.
    func queryPeersOnlineStatus(
        _ request: Herald_V1_QueryPeersOnlineStatusRequest,
        session: Session,
        _ context: RequestContext
    ) {
        // PRES-5, PRES-6, PRES-7.
        guard !request.peerIds.isEmpty, request.peerIds.count <= self.limits.maxQueryPeers,
            request.peerIds.allSatisfy({ Validation.isValidIdentifier($0, maxBytes: self.limits.maxUserIDBytes) })
        else {
            self.respond(context, Herald_V1_QueryPeersOnlineStatusResponse.with { $0.result = .invalidArgument })
            return
        }
        // PRES-8, PRES-9: ONLINE or OFFLINE only, in request order, duplicates repeated.
        let statuses = request.peerIds.map { peerID in
            Herald_V1_PeerOnlineStatus.with {
                $0.peerID = peerID
                let user = UserKey(appID: session.user.appID, userID: peerID)
                $0.state = self.liveSession(of: user) == nil ? .offline : .online
            }
        }
        self.respond(
            context,
            Herald_V1_QueryPeersOnlineStatusResponse.with {
                $0.result = .ok
                $0.statuses = statuses
            }
        )
    }

    /// `SubscribePeersOnlineStatusRequest` (§7.3).
    func subscribePeersOnlineStatus(
        _ request: Herald_V1_SubscribePeersOnlineStatusRequest,
        session: Session,
        _ context: RequestContext
    ) {
        // PRES-13.
        guard self.presenceValidArguments(request.peerIds, option: request.option) else {
            self.respond(context, Herald_V1_SubscribePeersOnlineStatusResponse.with { $0.result = .invalidArgument })
            return
        }
        // Newly subscribed users, once each, in order of first occurrence (PRES-17).
        var added: [String] = []
        var seen = Set<String>()
        for peerID in request.peerIds where session.presence.reported[peerID] == nil {
            if seen.insert(peerID).inserted { added.append(peerID) }
        }
        // PRES-15, PRES-16.
        guard session.presence.subscriptionOrder.count + added.count <= self.limits.maxSubscriptions else {
            self.respond(context, Herald_V1_SubscribePeersOnlineStatusResponse.with { $0.result = .overflow })
            return
        }
        self.respond(context, Herald_V1_SubscribePeersOnlineStatusResponse.with { $0.result = .ok })
        guard !added.isEmpty else { return }  // PRES-18
        var statuses: [Herald_V1_PeerOnlineStatus] = []
        statuses.reserveCapacity(added.count)
        for peerID in added {
            let user = UserKey(appID: session.user.appID, userID: peerID)
            var state = Herald_V1_PeerOnlineState.offline
            let target = self.liveSession(of: user)
            if let target {
                self.presenceCheckSilence(of: target)
                state = target.presence.unreachable ? .unreachable : .online
            }
            session.presence.subscriptionOrder.append(peerID)
            session.presence.reported[peerID] = state
            self.presence.watchers[user, default: []].insert(session.serial)
            if let target {
                self.presenceStartSilenceTimer(target)
            }
            statuses.append(
                Herald_V1_PeerOnlineStatus.with {
                    $0.peerID = peerID
                    $0.state = state
                }
            )
        }
        // PRES-17, PRES-19, PRES-26.
        self.sendUserEvent(
            .peersOnlineStatusChanged,
            Herald_V1_PeersOnlineStatusChanged.with { $0.statuses = statuses },
            seqFieldNumber: Self.presenceChangedSeqField,
            to: session
        )
    }

    /// `UnsubscribePeersOnlineStatusRequest` (§7.5).
    func unsubscribePeersOnlineStatus(
        _ request: Herald_V1_UnsubscribePeersOnlineStatusRequest,
        session: Session,
        _ context: RequestContext
    ) {
        // PRES-13, PRES-29.
        guard self.presenceValidArguments(request.peerIds, option: request.option) else {
            self.respond(context, Herald_V1_UnsubscribePeersOnlineStatusResponse.with { $0.result = .invalidArgument })
            return
        }
        // PRES-27, PRES-28: users not subscribed are ignored.
        var removed = Set<String>()
        for peerID in request.peerIds where session.presence.reported.removeValue(forKey: peerID) != nil {
            removed.insert(peerID)
            self.presenceRemoveWatcher(session.serial, of: UserKey(appID: session.user.appID, userID: peerID))
        }
        if !removed.isEmpty {
            session.presence.subscriptionOrder.removeAll { removed.contains($0) }
        }
        self.respond(context, Herald_V1_UnsubscribePeersOnlineStatusResponse.with { $0.result = .ok })
    }

    /// `QueryPeersBySubscriptionOptionRequest` (§7.5).
    func queryPeersBySubscriptionOption(
        _ request: Herald_V1_QueryPeersBySubscriptionOptionRequest,
        session: Session,
        _ context: RequestContext
    ) {
        // PRES-30 step 3.
        guard request.option == .onlineStatus else {
            self.respond(context, Herald_V1_QueryPeersBySubscriptionOptionResponse.with { $0.result = .failure })
            return
        }
        // PRES-31.
        self.respond(
            context,
            Herald_V1_QueryPeersBySubscriptionOptionResponse.with {
                $0.result = .ok
                $0.peerIds = session.presence.subscriptionOrder
            }
        )
    }

    // MARK: - Helpers

    /// Whether a subscribe or unsubscribe request's arguments are valid (PRES-13).
    func presenceValidArguments(_ peerIDs: [String], option: Herald_V1_PeerSubscriptionOption) -> Bool {
        option == .onlineStatus && !peerIDs.isEmpty
            && peerIDs.allSatisfy { Validation.isValidIdentifier($0, maxBytes: self.limits.maxUserIDBytes) }
    }

    /// Marks a session unreachable if its connection has been quiet for `presence_unreachable_ms` and no timer has
    /// noticed yet (its user had no subscribers), telling any subscribers.
    func presenceCheckSilence(of session: Session) {
        guard !session.presence.unreachable,
            self.now - session.connection.lastReceivedMs >= self.timerSettings.presenceUnreachableMs
        else { return }
        session.presence.unreachable = true
        self.reportPresence(of: session.user, .unreachable)
    }

    /// Starts the silence timer of a session whose user has subscribers, unless it runs or the user is unreachable.
    func presenceStartSilenceTimer(_ session: Session) {
        guard session.presence.silenceTimer == nil, !session.presence.unreachable, !session.ended,
            self.presence.watchers[session.user] != nil
        else { return }
        session.presence.silenceTimer = self.timers.schedule(
            .presence(PresenceTimer(sessionSerial: session.serial)),
            at: session.connection.lastReceivedMs + self.timerSettings.presenceUnreachableMs
        )
    }

    func presenceRemoveWatcher(_ serial: UInt64, of user: UserKey) {
        guard var serials = self.presence.watchers[user] else { return }
        serials.remove(serial)
        self.presence.watchers[user] = serials.isEmpty ? nil : serials
    }

    /// Reports a user's new state to every subscriber that was last told another state (PRES-20, PRES-21, PRES-26).
    /// The event is serialised once for all of them.
    func reportPresence(of user: UserKey, _ state: Herald_V1_PeerOnlineState) {
        guard let serials = self.presence.watchers[user] else { return }
        var event: Outbound.SharedEvent?
        for serial in serials.sorted() {
            guard let subscriber = self.sessionsBySerial[serial], !subscriber.ended,
                let last = subscriber.presence.reported[user.userID], last != state
            else { continue }
            subscriber.presence.reported[user.userID] = state
            let shared: Outbound.SharedEvent
            if let event {
                shared = event
            } else {
                shared = Outbound.SharedEvent(
                    opcode: .peersOnlineStatusChanged,
                    message: Herald_V1_PeersOnlineStatusChanged.with {
                        $0.statuses = [
                            Herald_V1_PeerOnlineStatus.with {
                                $0.peerID = user.userID
                                $0.state = state
                            }
                        ]
                    },
                    seqFieldNumber: Self.presenceChangedSeqField
                )
                event = shared
            }
            self.sendUserEvent(shared, to: subscriber)
        }
    }
}

import HeraldMessages
import Logging
import NIOCore
import SwiftProtobuf

/// Engine-wide peer-message state (Spec/06-peer-messages.md).
struct PeerState {
    /// `ACK_MODE_PEER` senders waiting for the receiver's `DeliveryAck`, by message id. Each wait ends within
    /// `peer_ack_timeout_ms` (PEER-28), so the table is bounded by the message rate times that timeout.
    var waits: [UInt64: PeerAckWait] = [:]
}

/// A `SendPeerMessageRequest` in `ACK_MODE_PEER` whose receiver is online and has not yet acknowledged.
struct PeerAckWait {
    /// Where the answer goes.
    var pending: PendingResponse
    /// The message's `server_received_ms`, repeated in the answer (PEER-16).
    var serverReceivedMs: Int64
    /// The `SENT_TIMEOUT` timer (PEER-28).
    var timer: UInt64
}

/// Per-session peer-message state. Live deliveries are tracked as outstanding deliveries of the receiver's connection,
/// waits in ``PeerState``, and cached messages in the offline store; a session keeps only what waits for the read of
/// its cached messages at login.
struct PeerSessionState {
    /// The number of the login's read of the cached messages while it is outstanding (PEER-51).
    var cacheRead: UInt64?
    /// Messages waiting to be sent to this session, in order: the cached ones read at login (the first
    /// ``cachedAhead``), then live messages accepted while ``cacheRead`` was outstanding (PEER-40, PEER-52) or while
    /// the connection had `max_outbound_queue_frames` deliveries outstanding (LIM-33). Sent as acknowledgements make
    /// room. At most `maxOutboundQueueFrames` live ones (PEER-54) plus `max_offline_messages` cached ones.
    var held: [HeldPeerMessage] = []
    /// How many of the first ``held`` messages are cached ones from the login's read.
    var cachedAhead = 0
    /// The invitations pending at login (INV-22) and a due `TokenPrivilegeWillExpire` wait until the cached
    /// messages have all been sent.
    var startupPending = false
    /// A `TokenPrivilegeWillExpire` became due while ``cacheRead`` was outstanding; sent after the cached messages.
    var heldWillExpire = false
    /// Since when live messages have been held because of outstanding deliveries (LIM-33, LIM-34).
    var congestedSinceMs: Int64?
    /// The connections whose requests this session holds back (LIM-35), each once.
    var heldSenders: [Connection] = []
}

/// A live `PeerMessage` held behind a login's read of the cached messages (PEER-52).
struct HeldPeerMessage {
    /// The message to send.
    var message: Herald_V1_PeerMessage
    /// The delivery it becomes.
    var delivery: PeerDelivery
    /// The sender, when it has not been answered yet: in `ACK_MODE_PEER`, answered as for any live delivery once
    /// the message is sent; in `ACK_MODE_SERVER` (``answerWhenSent``), answered `OK` when it is sent (PEER-31,
    /// LIM-33). `nil` when the sender was already answered `OK` (held behind a cache read, PEER-52).
    var waiter: PendingResponse?
    /// An `ACK_MODE_SERVER` sender answered when the message is sent, or as for an offline receiver if it never is.
    var answerWhenSent = false
}

/// What an outstanding `PeerMessage` delivery is for.
struct PeerDelivery: Hashable, Sendable {
    /// Where the delivered message came from.
    enum Source: Hashable, Sendable {
        /// Delivered when it was accepted. `record` is set when the message may be cached, so that it can be stored
        /// if the receiver's session ends before the acknowledgement (PEER-30, PEER-32).
        case live(record: OfflineMessageRecord?)
        /// Delivered from the offline cache of `receiver`; removed from the cache on acknowledgement (PEER-41).
        case cache(receiver: UserKey)
    }

    /// The message id (unique, and increasing in acceptance order).
    var messageID: UInt64
    /// Where the delivered message came from.
    var source: Source
}

/// Peer-message timers.
struct PeerTimer: Hashable, Sendable {
    /// The message whose `ACK_MODE_PEER` sender waits for an acknowledgement (PEER-28).
    var messageID: UInt64
}

extension HeraldEngine {
    /// The `seq` field number of `PeerMessage`.
    static let peerMessageSeqField = 6

    // MARK: - Hooks

    /// Reads the user's cached messages after a successful login (PEER-39 … PEER-41, PEER-38, PEER-51); they are
    /// sent when the read completes (``peerCacheReadCompleted(sessionSerial:_:)``).
    func peerSessionStarted(_ session: Session) {
        // LIM-34 counts from the session's start until its first DeliveryAck.
        session.connection.lastAckMs = self.now
        // OVR-10: a receiver that cannot receive peer messages is offline for them; they stay cached.
        guard session.connection.has(.peerMessages) else { return }
        // A user with nothing cached has nothing to read: the session starts at once, as after an empty read.
        if let receivers = self.offline.receivers, receivers[session.user] == nil { return }
        session.peer.cacheRead = self.offline.nextTicket
        // SES-38: the connection's requests wait for the cached messages; the host holds them meanwhile.
        self.holdRequests(of: session.connection)
        self.submitOffline(
            .messages(
                appID: session.user.appID,
                receiverID: session.user.userID,
                notBeforeMs: self.now - self.timerSettings.offlineRetentionMs
            ),
            completion: .loginRead(sessionSerial: session.serial)
        )
    }

    /// The login's read of the cached messages completed: sends them, then the invitations pending at login
    /// (INV-22), then the live messages held meanwhile (PEER-40, PEER-52). Nothing happens for a session that
    /// has ended: its held messages were handled then, and the cached ones stay cached.
    func peerCacheReadCompleted(sessionSerial: UInt64, _ result: Result<OfflineOperationOutcome, OfflineStoreError>) {
        guard let session = self.sessionsBySerial[sessionSerial], !session.ended,
            let readTicket = session.peer.cacheRead
        else { return }
        session.peer.cacheRead = nil
        if case .success(.messages(let records)) = result, records.isEmpty,
            let lastAppend = self.offline.receivers?[session.user], lastAppend < readTicket
        {
            // Nothing is cached and nothing was stored for the user since the read was submitted.
            self.offline.receivers?[session.user] = nil
        }
        defer { self.peerResumeInput(of: session.connection) }
        var cached: [HeldPeerMessage] = []
        switch result {
        case .success(.messages(let records)):
            cached.reserveCapacity(records.count)
            for record in records {
                let message = Herald_V1_PeerMessage.with {
                    $0.fromUserID = record.senderID
                    $0.message = record.body
                    $0.messageID = record.messageID
                    $0.serverReceivedMs = record.serverReceivedMs
                    $0.isOffline = true
                }
                let delivery = PeerDelivery(messageID: record.messageID, source: .cache(receiver: session.user))
                cached.append(HeldPeerMessage(message: message, delivery: delivery, waiter: nil))
            }
        case .success:
            break
        case .failure(let error):
            self.logger.error(
                "reading the offline cache failed",
                metadata: ["user": "\(session.user)", "error": "\(error)"]
            )
        }
        // PEER-40, INV-22, PEER-52: the cached messages, then the pending invitations, then the live messages held
        // meanwhile; each message as the receiver's outstanding deliveries leave room (LIM-33).
        session.peer.held = cached + session.peer.held
        session.peer.cachedAhead = cached.count
        session.peer.startupPending = true
        self.peerPump(session)
    }

    /// What waited for the cached messages of a login: the invitations pending at login (INV-22) and a
    /// `TokenPrivilegeWillExpire` that fell due meanwhile (SES-38).
    private func peerStartupCompleted(_ session: Session) {
        session.peer.startupPending = false
        self.invitationsSessionStarted(session)
        if session.peer.heldWillExpire {
            session.peer.heldWillExpire = false
            if let expires = session.tokenExpiresMs {
                self.sendEvent(
                    .tokenPrivilegeWillExpire,
                    Herald_V1_TokenPrivilegeWillExpire.with { $0.tokenExpiresMs = expires },
                    to: session.connection
                )
            }
        }
    }

    /// Sends the session's held messages, in order, while its connection has fewer than `max_outbound_queue_frames`
    /// deliveries outstanding (LIM-33); releases the senders it held back once few are left (LIM-35).
    func peerPump(_ session: Session) {
        guard session.peer.cacheRead == nil, !session.ended else { return }
        let connection = session.connection
        let limit = self.limits.maxOutboundQueueFrames
        var sent = 0
        while true {
            if session.peer.startupPending && session.peer.cachedAhead == 0 {
                self.peerStartupCompleted(session)
            }
            guard sent < session.peer.held.count, connection.outstanding.count < limit, !session.ended,
                !connection.slowConsumer, connection.phase != .closed
            else { break }
            let message = session.peer.held[sent]
            sent += 1
            if session.peer.cachedAhead > 0 { session.peer.cachedAhead -= 1 }
            self.peerSendLive(message, to: session)
        }
        guard !session.ended else { return }
        session.peer.held.removeFirst(sent)
        if session.peer.held.count <= self.heldSendersResumeThreshold {
            self.peerReleaseSenders(of: session)
        }
        if session.peer.held.isEmpty {
            session.peer.congestedSinceMs = nil
        } else {
            self.peerStartStallCheck(session)
        }
    }

    /// Starts the LIM-34 check of a session whose connection has messages held for it, unless it runs.
    private func peerStartStallCheck(_ receiver: Session) {
        let connection = receiver.connection
        if receiver.peer.congestedSinceMs == nil {
            receiver.peer.congestedSinceMs = self.now
        }
        if connection.ackStallTimer == nil {
            // A receiver that has acknowledged nothing for ackStallMs already is a slow consumer now (LIM-34).
            if self.now >= connection.lastAckMs + Self.ackStallMs {
                self.peerAckStallCheck(connection)
            } else {
                connection.ackStallTimer = self.timers.schedule(
                    .ackStall(connection.id),
                    at: connection.lastAckMs + Self.ackStallMs
                )
            }
        }
    }

    /// The held messages at or below which the senders held back under LIM-35 go on.
    var heldSendersResumeThreshold: Int { max(0, self.limits.maxOutboundQueueFrames / 8) }

    /// The held messages from which a sender's requests are held back (LIM-35).
    var heldSendersPauseThreshold: Int { max(1, self.limits.maxOutboundQueueFrames / 4) }

    /// Lets the senders held back by `session` go on (LIM-35).
    func peerReleaseSenders(of session: Session) {
        guard !session.peer.heldSenders.isEmpty else { return }
        let senders = session.peer.heldSenders
        session.peer.heldSenders = []
        for sender in senders {
            self.releaseRequests(of: sender)
        }
    }

    /// A live message was held for `receiver` because its connection has `max_outbound_queue_frames` deliveries
    /// outstanding (LIM-33): starts the LIM-34 check, and holds back the sender's requests while many are held
    /// (LIM-35).
    private func peerCongested(_ receiver: Session, sender: Connection) {
        let connection = receiver.connection
        self.peerStartStallCheck(receiver)
        guard receiver.peer.held.count >= self.heldSendersPauseThreshold, sender !== connection,
            sender.phase != .closed, !receiver.peer.heldSenders.contains(where: { $0 === sender })
        else { return }
        receiver.peer.heldSenders.append(sender)
        self.holdRequests(of: sender)
    }

    /// The LIM-34 check of a connection: a slow consumer when it still has `max_outbound_queue_frames` deliveries
    /// outstanding and messages held, and has acknowledged nothing for ``ackStallMs`` (since its last `DeliveryAck`,
    /// or since its session started).
    func peerAckStallCheck(_ connection: Connection) {
        connection.ackStallTimer = nil
        guard let session = connection.session, !session.ended, session.peer.congestedSinceMs != nil,
            !session.peer.held.isEmpty, connection.phase != .closed
        else { return }
        let deadline = connection.lastAckMs + Self.ackStallMs
        if self.now >= deadline && connection.outstanding.count >= self.limits.maxOutboundQueueFrames {
            connection.slowConsumer = true
            connection.slowConsumerRule =
                "LIM-34: \(connection.outstanding.count) deliveries outstanding, \(session.peer.held.count) held, "
                + "no DeliveryAck for \(self.now - connection.lastAckMs) ms"
            self.markDirty(connection)
        } else {
            connection.ackStallTimer = self.timers.schedule(
                .ackStall(connection.id),
                at: max(deadline, self.now + 1)
            )
        }
    }

    /// Lets the connection's waiting input go on (PEER-51): what queued is processed at the end of the current
    /// input, and the host passes the connection's requests again.
    func peerResumeInput(of connection: Connection) {
        self.releaseRequests(of: connection)
        if !connection.queuedInputs.isEmpty {
            self.unblocked.append(connection)
        }
    }

    /// Asks the host to hold the connection's requests (LIM-35, SES-38); holds are counted.
    func holdRequests(of connection: Connection) {
        connection.peerHolds += 1
        if connection.peerHolds == 1 { connection.sink.holdRequests(true) }
    }

    /// Ends one hold of ``holdRequests(of:)``.
    func releaseRequests(of connection: Connection) {
        connection.peerHolds -= 1
        if connection.peerHolds == 0 { connection.sink.holdRequests(false) }
    }

    /// Sends a live message to its receiver's session; one that cannot be queued (the connection is closing) is
    /// handled as a delivery abandoned by an ending session (PEER-29, PEER-30, PEER-32).
    private func peerSendLive(_ held: HeldPeerMessage, to receiver: Session) {
        let sent = self.sendUserEvent(
            .peerMessage,
            held.message,
            seqFieldNumber: Self.peerMessageSeqField,
            to: receiver,
            ackRequired: .peer(held.delivery)
        )
        guard sent != nil else {
            self.peerAbandoned(held.delivery, waiter: held.waiter, serverReceivedMs: held.message.serverReceivedMs)
            return
        }
        guard let waiter = held.waiter else { return }
        if held.answerWhenSent {
            // PEER-31, LIM-33: an ACK_MODE_SERVER message held for a receiver that was behind is answered now.
            self.respond(
                waiter,
                Self.peerResponse(
                    .ok,
                    messageID: held.delivery.messageID,
                    serverReceivedMs: held.message.serverReceivedMs
                )
            )
            return
        }
        // PEER-25, PEER-28: the timeout runs from when the message is sent.
        let messageID = held.delivery.messageID
        let timer = self.timers.schedule(
            .peer(PeerTimer(messageID: messageID)),
            at: self.now + self.timerSettings.peerAckTimeoutMs
        )
        self.peer.waits[messageID] = PeerAckWait(
            pending: waiter,
            serverReceivedMs: held.message.serverReceivedMs,
            timer: timer
        )
    }

    /// A live delivery that will not be acknowledged: stored if cacheable, its `ACK_MODE_PEER` sender answered
    /// `CACHED_BY_SERVER` after the commit (PEER-30, PEER-36) or `PEER_UNREACHABLE` at once (PEER-29).
    private func peerAbandoned(_ delivery: PeerDelivery, waiter: PendingResponse?, serverReceivedMs: Int64) {
        guard case .live(let record) = delivery.source else { return }
        if let record {
            self.storeOffline(record, waiter: waiter)
        } else if let waiter {
            self.respond(
                waiter,
                Self.peerResponse(.peerUnreachable, messageID: delivery.messageID, serverReceivedMs: serverReceivedMs)
            )
        }
    }

    /// Completes the operations that waited for deliveries outstanding to an ending session, and for the live
    /// messages held behind its cache read (SES-32, PEER-29, PEER-30, PEER-32, PEER-52). Cached messages delivered
    /// to it stay cached (PEER-41).
    func peerSessionEnded(_ session: Session, cause: SessionEndCause, abandoned: [OutstandingDelivery]) {
        var ended: [(delivery: PeerDelivery, waiter: PendingResponse?, serverReceivedMs: Int64)] = []
        for outstanding in abandoned {
            guard case .peer(let delivery) = outstanding.purpose, case .live = delivery.source else { continue }
            let wait = self.peer.waits.removeValue(forKey: delivery.messageID)
            if let wait { self.timers.cancel(wait.timer) }
            ended.append((delivery, wait?.pending, wait?.serverReceivedMs ?? 0))
        }
        for held in session.peer.held {
            ended.append((held.delivery, held.waiter, held.message.serverReceivedMs))
        }
        session.peer.held = []
        session.peer.cachedAhead = 0
        session.peer.congestedSinceMs = nil
        self.peerReleaseSenders(of: session)
        if session.peer.cacheRead != nil {
            session.peer.cacheRead = nil
            self.peerResumeInput(of: session.connection)
        }
        // Acceptance order, so that messages stored now keep the order of PEER-44.
        ended.sort { $0.delivery.messageID < $1.delivery.messageID }
        for message in ended {
            self.peerAbandoned(message.delivery, waiter: message.waiter, serverReceivedMs: message.serverReceivedMs)
        }
    }

    /// A receiver's `DeliveryAck` for a `PeerMessage` (PEER-24, PEER-26, PEER-27, PEER-41).
    func peerDeliveryAcknowledged(
        _ delivery: PeerDelivery,
        result: Herald_V1_DeliveryAckResult,
        on connection: Connection
    ) {
        switch delivery.source {
        case .cache(let receiver):
            // PEER-53: submitted; nothing waits for it.
            self.submitOffline(
                .remove(appID: receiver.appID, receiverID: receiver.userID, messageID: delivery.messageID),
                completion: .remove(receiver: receiver, messageID: delivery.messageID)
            )
        case .live:
            // No wait: ACK_MODE_SERVER, or the sender was already answered (PEER-24: nothing more is sent).
            guard let wait = self.peer.waits.removeValue(forKey: delivery.messageID) else { return }
            self.timers.cancel(wait.timer)
            self.respond(
                wait.pending,
                Self.peerResponse(
                    result == .accepted ? .ok : .incompatibleMessage,
                    messageID: delivery.messageID,
                    serverReceivedMs: wait.serverReceivedMs
                )
            )
        }
    }

    /// `peer_ack_timeout_ms` passed without an acknowledgement (PEER-28). The delivery stays outstanding (PEER-24).
    func peerTimerFired(_ timer: PeerTimer) {
        guard let wait = self.peer.waits.removeValue(forKey: timer.messageID) else { return }
        self.respond(
            wait.pending,
            Self.peerResponse(.sentTimeout, messageID: timer.messageID, serverReceivedMs: wait.serverReceivedMs)
        )
    }

    // MARK: - SendPeerMessageRequest

    /// `SendPeerMessageRequest` (Spec/06-peer-messages.md). The session and rate checks (PEER-10 steps 1 and 2,
    /// PEER-11, PEER-12) were made by the core.
    func sendPeerMessage(_ request: Herald_V1_SendPeerMessageRequest, session: Session, _ context: RequestContext) {
        // PEER-8, PEER-10 step 3.
        guard Validation.isValidIdentifier(request.peerID, maxBytes: self.limits.maxUserIDBytes) else {
            self.respond(context, Self.peerResponse(.invalidUserID))
            return
        }
        // PEER-1 … PEER-6, PEER-10 step 4.
        guard let body = self.peerValidatedBody(request) else {
            self.respond(context, Self.peerResponse(.invalidMessage))
            return
        }
        // EXT-14: an unknown ack mode; the result enum has no INVALID_ARGUMENT value.
        let ackMode = request.ackMode
        guard ackMode == .peer || ackMode == .server else {
            self.respond(context, Self.peerResponse(.failure))
            return
        }
        // Accepted (PEER-14, PEER-15). PEER-17: enable_historical_messaging is ignored.
        let messageID = self.allocateMessageID()
        let receivedMs = self.now
        // PEER-34, OVR-8.
        let cacheable = request.enableOfflineMessaging && context.connection.has(.offlineMessages)
        let record = OfflineMessageRecord(
            appID: session.user.appID,
            receiverID: request.peerID,
            senderID: session.user.userID,
            messageID: messageID,
            serverReceivedMs: receivedMs,
            body: body
        )
        let receiverKey = UserKey(appID: session.user.appID, userID: request.peerID)
        // OVR-10: a receiver whose connection was not granted peer-messages is offline. PEER-9: the sender itself
        // is a receiver like any other.
        if let receiver = self.liveSession(of: receiverKey), receiver.connection.has(.peerMessages) {
            let message = Herald_V1_PeerMessage.with {
                $0.fromUserID = session.user.userID
                $0.message = body
                $0.messageID = messageID
                $0.serverReceivedMs = receivedMs
                $0.isOffline = false
            }
            let delivery = PeerDelivery(messageID: messageID, source: .live(record: cacheable ? record : nil))
            // LIM-33: a receiver whose connection has max_outbound_queue_frames deliveries outstanding gets the
            // message once an acknowledgement makes room; nothing overtakes what is already held.
            let congested =
                receiver.peer.cacheRead == nil
                && (!receiver.peer.held.isEmpty
                    || receiver.connection.outstanding.count >= self.limits.maxOutboundQueueFrames)
            if receiver.peer.cacheRead != nil || congested {
                // PEER-52: held behind the login's cached messages, and queued to the receiver for PEER-31.
                guard receiver.peer.held.count - receiver.peer.cachedAhead < self.limits.maxOutboundQueueFrames else {
                    // PEER-54.
                    self.logger.warning(
                        "refusing a peer message: too many held for the receiver",
                        metadata: ["receiver": "\(receiverKey)", "message": "\(messageID)"]
                    )
                    self.respond(
                        context,
                        Self.peerResponse(.failure, messageID: messageID, serverReceivedMs: receivedMs)
                    )
                    return
                }
                receiver.peer.held.append(
                    HeldPeerMessage(
                        message: message,
                        delivery: delivery,
                        waiter: ackMode == .peer || congested ? context.pending : nil,
                        answerWhenSent: congested && ackMode == .server
                    )
                )
                if ackMode == .server && !congested {
                    self.respond(context, Self.peerResponse(.ok, messageID: messageID, serverReceivedMs: receivedMs))
                }
                if congested {
                    self.peerCongested(receiver, sender: context.connection)
                }
                return
            }
            // PEER-18 … PEER-20.
            let sent = self.sendUserEvent(
                .peerMessage,
                message,
                seqFieldNumber: Self.peerMessageSeqField,
                to: receiver,
                ackRequired: .peer(delivery)
            )
            if sent != nil {
                if ackMode == .server {
                    // PEER-31.
                    self.respond(context, Self.peerResponse(.ok, messageID: messageID, serverReceivedMs: receivedMs))
                } else {
                    // PEER-25, PEER-28.
                    let timer = self.timers.schedule(
                        .peer(PeerTimer(messageID: messageID)),
                        at: self.now + self.timerSettings.peerAckTimeoutMs
                    )
                    self.peer.waits[messageID] = PeerAckWait(
                        pending: context.pending,
                        serverReceivedMs: receivedMs,
                        timer: timer
                    )
                }
                return
            }
            // The receiver's connection is closing (slow consumer) and its session ends with this input: the
            // receiver is as good as offline.
        }
        // PEER-33 … PEER-36: offline receiver, answered the same way in both ack modes.
        guard cacheable else {
            self.respond(
                context,
                Self.peerResponse(.peerUnreachable, messageID: messageID, serverReceivedMs: receivedMs)
            )
            return
        }
        guard !self.offlineStoreIsFull else {
            // PEER-55: the store is too far behind; the message is neither stored nor delivered.
            self.logger.warning(
                "refusing a cacheable peer message: the offline store is behind",
                metadata: ["backlog": "\(self.offline.outstanding.count)", "message": "\(messageID)"]
            )
            self.respond(context, Self.peerResponse(.failure, messageID: messageID, serverReceivedMs: receivedMs))
            return
        }
        // PEER-36, PEER-50: answered once the batch holding the message has committed.
        self.storeOffline(record, waiter: context.pending)
    }

    // MARK: - Helpers

    /// The body to deliver, or `nil` if the request's body breaks §6.1 (PEER-1 … PEER-6). The body is rebuilt
    /// from its three fields so that live and cached deliveries carry exactly the same content (PEER-7).
    func peerValidatedBody(_ request: Herald_V1_SendPeerMessageRequest) -> Herald_V1_MessageBody? {
        guard request.hasMessage else { return nil }  // PEER-1
        let body = request.message
        switch body.type {
        case .text:
            guard !body.text.isEmpty, body.raw.isEmpty else { return nil }  // PEER-2, PEER-3
        case .raw:
            guard !body.raw.isEmpty else { return nil }  // PEER-4; PEER-5: the description may be empty
        default:
            return nil  // PEER-1
        }
        guard Validation.contentBytes(of: body) <= self.limits.maxMessageBytes else { return nil }  // PEER-6
        return Herald_V1_MessageBody.with {
            $0.type = body.type
            $0.text = body.text
            $0.raw = body.raw
        }
    }

    /// A `SendPeerMessageResponse`; the ids are 0 for requests that were not accepted (PEER-13).
    static func peerResponse(
        _ result: Herald_V1_PeerMessageResult,
        messageID: UInt64 = 0,
        serverReceivedMs: Int64 = 0
    ) -> Herald_V1_SendPeerMessageResponse {
        Herald_V1_SendPeerMessageResponse.with {
            $0.result = result
            $0.messageID = messageID
            $0.serverReceivedMs = serverReceivedMs
        }
    }
}

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

/// Per-session peer-message state. Peer messages keep nothing per session: live deliveries are tracked as outstanding
/// deliveries of the receiver's connection, waits in ``PeerState``, and cached messages in the offline inbox.
struct PeerSessionState {}

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

    /// Delivers the user's cached messages after a successful login (PEER-39 … PEER-41, PEER-38).
    func peerSessionStarted(_ session: Session) {
        // OVR-10: a receiver that cannot receive peer messages is offline for them; they stay cached.
        guard session.connection.has(.peerMessages) else { return }
        let records: [OfflineMessageRecord]
        do {
            records = try self.inbox.messages(
                appID: session.user.appID,
                receiverID: session.user.userID,
                notBeforeMs: self.now - self.timerSettings.offlineRetentionMs
            )
        } catch {
            self.logger.error(
                "reading the offline cache failed",
                metadata: ["user": "\(session.user)", "error": "\(error)"]
            )
            return
        }
        for record in records {
            let message = Herald_V1_PeerMessage.with {
                $0.fromUserID = record.senderID
                $0.message = record.body
                $0.messageID = record.messageID
                $0.serverReceivedMs = record.serverReceivedMs
                $0.isOffline = true
            }
            let delivery = PeerDelivery(messageID: record.messageID, source: .cache(receiver: session.user))
            let sent = self.sendUserEvent(
                .peerMessage,
                message,
                seqFieldNumber: Self.peerMessageSeqField,
                to: session,
                ackRequired: .peer(delivery)
            )
            // Not queued (the connection is closing): the rest stays cached for the next login.
            if sent == nil { break }
        }
    }

    /// Completes the operations that waited for deliveries outstanding to an ending session (SES-32, PEER-29,
    /// PEER-30, PEER-32). Cached messages delivered to it stay cached (PEER-41).
    func peerSessionEnded(_ session: Session, cause: SessionEndCause, abandoned: [OutstandingDelivery]) {
        var deliveries: [PeerDelivery] = []
        for outstanding in abandoned {
            if case .peer(let delivery) = outstanding.purpose {
                deliveries.append(delivery)
            }
        }
        // Acceptance order, so that messages stored now keep the order of PEER-44.
        deliveries.sort { $0.messageID < $1.messageID }
        for delivery in deliveries {
            guard case .live(let record) = delivery.source else { continue }
            let wait = self.peer.waits.removeValue(forKey: delivery.messageID)
            if let wait { self.timers.cancel(wait.timer) }
            let result: Herald_V1_PeerMessageResult
            if let record {
                result = self.peerStoreOffline(record) ? .cachedByServer : .failure
            } else {
                result = .peerUnreachable
            }
            if let wait {
                self.respond(
                    wait.pending,
                    Self.peerResponse(result, messageID: delivery.messageID, serverReceivedMs: wait.serverReceivedMs)
                )
            }
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
            do {
                try self.inbox.remove(appID: receiver.appID, receiverID: receiver.userID, messageID: delivery.messageID)
            } catch {
                self.logger.error(
                    "removing an acknowledged offline message failed",
                    metadata: ["user": "\(receiver)", "message": "\(delivery.messageID)", "error": "\(error)"]
                )
            }
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
        let result: Herald_V1_PeerMessageResult
        if cacheable {
            result = self.peerStoreOffline(record) ? .cachedByServer : .failure
        } else {
            result = .peerUnreachable
        }
        self.respond(context, Self.peerResponse(result, messageID: messageID, serverReceivedMs: receivedMs))
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

    /// Stores a message in its receiver's offline cache (PEER-35 … PEER-37); `false` if the store failed.
    /// The store is durable when `append` returns (PEER-36).
    func peerStoreOffline(_ record: OfflineMessageRecord) -> Bool {
        do {
            try self.inbox.append(record, capacity: self.limits.maxOfflineMessages)
            return true
        } catch {
            self.logger.error(
                "storing an offline message failed",
                metadata: [
                    "receiver": "\(record.appID)/\(record.receiverID)", "message": "\(record.messageID)",
                    "error": "\(error)",
                ]
            )
            return false
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

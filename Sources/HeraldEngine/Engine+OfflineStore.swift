import HeraldMessages
import Logging

/// The engine's side of the offline store (Spec/06-peer-messages.md PEER-49 … PEER-55): operations submitted and
/// waiting for their outcome, and what each outcome completes.
struct OfflineStoreState {
    /// What the engine does when an operation's outcome arrives.
    enum Completion {
        /// A message stored for an offline receiver (PEER-35) or for an ended session (PEER-30, PEER-32); `waiter`
        /// is answered `CACHED_BY_SERVER` (or `FAILURE`) once the batch committed (PEER-36, PEER-50).
        case store(record: OfflineMessageRecord, waiter: PendingResponse?)
        /// The cached messages of a session that just logged in (PEER-39, PEER-51).
        case loginRead(sessionSerial: UInt64)
        /// A cached message the receiver acknowledged (PEER-41).
        case remove(receiver: UserKey, messageID: UInt64)
        /// The expiry purge (PEER-38).
        case purge
    }

    /// The next operation number.
    var nextTicket: UInt64 = 1
    /// Operations produced by the current input, submitted together when it ends.
    var unsubmitted: [OfflineTicketedOperation] = []
    /// Every operation submitted (or about to be) whose outcome has not arrived, by number. Its size is the backlog
    /// that ``OfflineStore/backlogLimit`` bounds for new cacheable messages (PEER-55).
    var outstanding: [UInt64: Completion] = [:]
    /// The receivers that may have cached messages, with the number of the last append submitted for each (0 for
    /// those found in the store at startup); `nil` when the store cannot list them, and every login reads the store.
    /// A receiver leaves when a login read submitted after its last append finds nothing (PEER-39): a login of a user
    /// not listed costs no store read.
    var receivers: [UserKey: UInt64]?
    /// Whether a purge is outstanding (the purge timer does not queue a second one).
    var purgeOutstanding = false
    /// Batches and operations whose outcomes have been handled.
    var batchesCompleted = 0
    var operationsCompleted = 0
    /// The largest backlog seen.
    var deepestBacklog = 0
}

/// Counters of the engine's offline-store traffic, for metrics and tests.
public struct OfflineStoreStatistics: Sendable, Hashable {
    /// Operations submitted whose outcome has not been handled yet.
    public var backlog: Int
    /// The largest ``backlog`` seen.
    public var deepestBacklog: Int
    /// Batches whose outcomes the engine has handled (one engine input each).
    public var batchesCompleted: Int
    /// Operations whose outcomes the engine has handled.
    public var operationsCompleted: Int
}

extension HeraldEngine {
    /// The engine's offline-store counters.
    public func offlineStoreStatistics() -> OfflineStoreStatistics {
        OfflineStoreStatistics(
            backlog: self.offline.outstanding.count,
            deepestBacklog: self.offline.deepestBacklog,
            batchesCompleted: self.offline.batchesCompleted,
            operationsCompleted: self.offline.operationsCompleted
        )
    }

    /// Whether the store is too far behind to take a new cacheable message from a request (PEER-55).
    var offlineStoreIsFull: Bool {
        self.offline.outstanding.count >= self.store.backlogLimit
    }

    /// Queues an operation for the store; it is submitted when the current input ends.
    @discardableResult
    func submitOffline(_ operation: OfflineOperation, completion: OfflineStoreState.Completion) -> UInt64 {
        let ticket = self.offline.nextTicket
        self.offline.nextTicket += 1
        self.offline.unsubmitted.append(OfflineTicketedOperation(ticket: ticket, operation: operation))
        self.offline.outstanding[ticket] = completion
        self.offline.deepestBacklog = max(self.offline.deepestBacklog, self.offline.outstanding.count)
        return ticket
    }

    /// Stores a cacheable message whose receiver is offline or whose session ended (PEER-30, PEER-32, PEER-35);
    /// `waiter` is answered once the batch has committed (PEER-36).
    func storeOffline(_ record: OfflineMessageRecord, waiter: PendingResponse?) {
        let ticket = self.submitOffline(
            .append(record, capacity: self.limits.maxOfflineMessages),
            completion: .store(record: record, waiter: waiter)
        )
        self.offline.receivers?[UserKey(appID: record.appID, userID: record.receiverID)] = ticket
    }

    /// Hands the current input's operations to the store, all at once.
    func flushOfflineSubmissions() {
        guard !self.offline.unsubmitted.isEmpty else { return }
        var operations: [OfflineTicketedOperation] = []
        swap(&operations, &self.offline.unsubmitted)
        if self.isCrashed { return }
        self.store.submit(operations)
    }

    /// The store's outcomes of one batch: one engine input (PEER-49).
    func offlineBatchCompleted(_ results: [OfflineOperationResult]) {
        self.beginInput()
        if !self.isCrashed {
            self.offline.batchesCompleted += 1
            self.offline.operationsCompleted += results.count
            for result in results {
                guard let completion = self.offline.outstanding.removeValue(forKey: result.ticket) else { continue }
                self.offlineOperationCompleted(completion, result.result)
            }
        }
        self.endInput()
    }

    private func offlineOperationCompleted(
        _ completion: OfflineStoreState.Completion,
        _ result: Result<OfflineOperationOutcome, OfflineStoreError>
    ) {
        switch completion {
        case .store(let record, let waiter):
            if case .failure(let error) = result {
                self.logger.error(
                    "storing an offline message failed",
                    metadata: [
                        "receiver": "\(record.appID)/\(record.receiverID)", "message": "\(record.messageID)",
                        "error": "\(error)",
                    ]
                )
            }
            guard let waiter else { return }
            let answer: Herald_V1_PeerMessageResult
            if case .success = result { answer = .cachedByServer } else { answer = .failure }
            self.respond(
                waiter,
                Self.peerResponse(answer, messageID: record.messageID, serverReceivedMs: record.serverReceivedMs)
            )
        case .loginRead(let serial):
            self.peerCacheReadCompleted(sessionSerial: serial, result)
        case .remove(let receiver, let messageID):
            if case .failure(let error) = result {
                self.logger.error(
                    "removing an acknowledged offline message failed",
                    metadata: ["user": "\(receiver)", "message": "\(messageID)", "error": "\(error)"]
                )
            }
        case .purge:
            self.offline.purgeOutstanding = false
            if case .failure(let error) = result {
                self.logger.error("purging expired offline messages failed", metadata: ["error": "\(error)"])
            }
        }
    }
}

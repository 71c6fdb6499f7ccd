import Dispatch
import Foundation
import Logging
import Synchronization

/// One operation on the offline store, as the engine submits it (Spec/06-peer-messages.md §6.7).
public enum OfflineOperation: Sendable, Hashable {
    /// ``OfflineInbox/append(_:capacity:)``.
    case append(OfflineMessageRecord, capacity: Int)
    /// ``OfflineInbox/messages(appID:receiverID:notBeforeMs:)``.
    case messages(appID: String, receiverID: String, notBeforeMs: Int64)
    /// ``OfflineInbox/remove(appID:receiverID:messageID:)``.
    case remove(appID: String, receiverID: String, messageID: UInt64)
    /// ``OfflineInbox/purge(receivedBeforeMs:)``.
    case purge(receivedBeforeMs: Int64)
}

/// What a successful ``OfflineOperation`` produced.
public enum OfflineOperationOutcome: Sendable, Hashable {
    /// The record is stored; `evicted` older messages of the receiver were deleted (PEER-37).
    case appended(evicted: Int)
    /// The receiver's messages, oldest first.
    case messages([OfflineMessageRecord])
    /// The message is no longer stored.
    case removed
    /// `count` expired messages were deleted.
    case purged(count: Int)
}

/// Why an ``OfflineOperation`` did not take effect.
public struct OfflineStoreError: Error, Hashable, CustomStringConvertible {
    /// The kind of failure. A struct rather than an enum so that codes can be added without breaking sources.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case operationFailed
            case commitFailed
            case closed
        }

        private var wrapped: Wrapped

        private init(_ wrapped: Wrapped) {
            self.wrapped = wrapped
        }

        /// `operation-failed`: the operation itself failed; the rest of its batch was committed.
        public static let operationFailed = Code(.operationFailed)
        /// `commit-failed`: the batch's transaction could not be committed; no operation of the batch took effect.
        public static let commitFailed = Code(.commitFailed)
        /// `closed`: the store was closed before the operation ran.
        public static let closed = Code(.closed)

        /// The code's identifier.
        public var description: String {
            switch self.wrapped {
            case .operationFailed: "operation-failed"
            case .commitFailed: "commit-failed"
            case .closed: "closed"
            }
        }
    }

    /// The kind of failure.
    public var code: Code
    /// A description of the underlying error, for logs.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The code and the message.
    public var description: String { "\(self.code): \(self.message)" }
}

/// An operation with the number the engine gave it, so that its outcome can be matched.
public struct OfflineTicketedOperation: Sendable, Hashable {
    /// The engine's number for the operation, unique per engine.
    public var ticket: UInt64
    /// The operation.
    public var operation: OfflineOperation

    /// Creates a numbered operation.
    public init(ticket: UInt64, operation: OfflineOperation) {
        self.ticket = ticket
        self.operation = operation
    }
}

/// The outcome of one numbered operation.
public struct OfflineOperationResult: Sendable, Hashable {
    /// The operation's number (``OfflineTicketedOperation/ticket``).
    public var ticket: UInt64
    /// What the operation produced, or why it failed.
    public var result: Result<OfflineOperationOutcome, OfflineStoreError>

    /// Creates an outcome.
    public init(ticket: UInt64, result: Result<OfflineOperationOutcome, OfflineStoreError>) {
        self.ticket = ticket
        self.result = result
    }
}

extension OfflineInbox {
    /// Runs `operations` in order and returns one result per operation, in the same order, each method on its own
    /// (the default of ``OfflineInbox/perform(_:)``).
    public func perform(_ operations: [OfflineTicketedOperation]) -> [OfflineOperationResult] {
        operations.map { numbered in
            OfflineOperationResult(
                ticket: numbered.ticket,
                result: Result {
                    try Self.apply(numbered.operation, to: self)
                }
                .mapError { OfflineStoreError(.operationFailed, "\($0)") }
            )
        }
    }

    static func apply(_ operation: OfflineOperation, to inbox: Self) throws -> OfflineOperationOutcome {
        switch operation {
        case .append(let record, let capacity):
            return .appended(evicted: try inbox.append(record, capacity: capacity))
        case .messages(let appID, let receiverID, let notBeforeMs):
            return .messages(try inbox.messages(appID: appID, receiverID: receiverID, notBeforeMs: notBeforeMs))
        case .remove(let appID, let receiverID, let messageID):
            try inbox.remove(appID: appID, receiverID: receiverID, messageID: messageID)
            return .removed
        case .purge(let beforeMs):
            return .purged(count: try inbox.purge(receivedBeforeMs: beforeMs))
        }
    }
}

/// Where a ``HeraldEngine`` sends its offline-store operations: a queue that runs them off the engine's executor and
/// reports their outcomes back as one engine input per batch (Spec/06-peer-messages.md, PEER-49).
///
/// ``submit(_:)`` never blocks on the disk. The store runs everything submitted, in submission order, and hands the
/// outcomes of each batch, in order, to the handler given to ``start(_:)``; it calls the handler for one batch at a
/// time and never for a later batch before the handler of an earlier one has returned.
public protocol OfflineStore: AnyObject, Sendable {
    /// How many operations may be outstanding (submitted, outcome not yet handled) before the engine refuses new
    /// cacheable messages with `PEER_MESSAGE_RESULT_FAILURE` (PEER-55).
    var backlogLimit: Int { get }

    /// Sets where the outcomes go. The engine calls this once, when it is created, before it submits anything.
    func start(_ handler: @escaping @Sendable ([OfflineOperationResult]) async -> Void)

    /// Queues operations to run after everything submitted before; returns at once.
    func submit(_ operations: [OfflineTicketedOperation])

    /// The largest message id the store ever held (``OfflineInbox/largestMessageID()``). Read synchronously once,
    /// when the engine is created.
    func largestMessageID() throws -> UInt64

    /// Every receiver with a stored message (``OfflineInbox/receivers()``), or `nil` if the store cannot tell.
    /// Read synchronously once, when the engine is created.
    func receivers() throws -> [UserKey]?

    /// Stops the store. With `discardingQueued`, operations not yet started are dropped without an outcome (as a
    /// crash of the process would lose them); otherwise they run first. Returns once the store has stopped.
    func close(discardingQueued: Bool) async
}

extension OfflineStore {
    /// A store that cannot list its receivers: the engine reads it at every login.
    public func receivers() throws -> [UserKey]? { nil }
}

/// Counters of a ``GroupCommitOfflineStore``.
public struct OfflineStoreCounters: Sendable, Hashable {
    /// Batches run (each one transaction of the backend, one `fsync` for ``SQLiteOfflineInbox``).
    public var batches: Int = 0
    /// Operations run.
    public var operations: Int = 0
    /// The most operations one batch has held.
    public var largestBatch: Int = 0
    /// The most operations that have waited in the queue at once.
    public var deepestQueue: Int = 0

    /// Creates zero counters.
    public init() {}
}

/// The production ``OfflineStore``: a group-commit writer on a thread of its own.
///
/// The writer thread takes everything queued, runs it as one batch with ``OfflineInbox/perform(_:)`` (one
/// transaction, so one `fsync`, with ``SQLiteOfflineInbox``), then queues the batch's outcomes for the engine and
/// takes the next batch. While a batch commits, new operations gather for the next one, so the number of commits
/// follows the disk's speed instead of the number of operations. Releasing the store lets the writer finish what is
/// queued and end.
public final class GroupCommitOfflineStore: OfflineStore {
    private let core: Core

    /// The queue depth from which the store logs that it is behind (and again at each doubling).
    public static let deepQueueWarning = 1024

    /// The default ``backlogLimit``.
    public static let defaultBacklogLimit = 65_536

    /// How many operations may be outstanding before new cacheable messages are refused.
    public let backlogLimit: Int

    /// Creates a store over `backend` and starts its writer thread.
    ///
    /// - Parameters:
    ///   - backend: The synchronous store the writer runs the operations on.
    ///   - backlogLimit: The ``backlogLimit``.
    ///   - logger: Where the store logs failed commits and a deep queue.
    public init(
        backend: any OfflineInbox,
        backlogLimit: Int = GroupCommitOfflineStore.defaultBacklogLimit,
        logger: Logger = Logger(label: "herald.offline-store")
    ) {
        self.backlogLimit = backlogLimit
        self.core = Core(backend: backend, logger: logger)
        let core = self.core
        let thread = Thread { core.runWriter() }
        thread.name = "herald.offline-store"
        thread.start()
    }

    deinit {
        self.core.beginClose(discardingQueued: false, waiter: nil)
    }

    /// The store's counters so far.
    public var counters: OfflineStoreCounters { self.core.state.withLock { $0.counters } }

    /// Starts the task that hands each batch's outcomes to `handler`, in order.
    public func start(_ handler: @escaping @Sendable ([OfflineOperationResult]) async -> Void) {
        let outcomes = self.core.outcomes
        let task = Task {
            for await batch in outcomes {
                await handler(batch)
            }
        }
        self.core.delivery.withLock { $0 = task }
    }

    /// Queues operations for the writer; returns at once.
    public func submit(_ operations: [OfflineTicketedOperation]) {
        self.core.submit(operations)
    }

    /// The backend's largest message id.
    public func largestMessageID() throws -> UInt64 {
        try self.core.backend.largestMessageID()
    }

    /// The backend's receivers with stored messages.
    public func receivers() throws -> [UserKey]? {
        try self.core.backend.receivers()
    }

    /// Stops the writer after the batch it is running (and, unless `discardingQueued`, after everything queued),
    /// and waits until it has stopped and the outcomes of its batches have been handled.
    public func close(discardingQueued: Bool) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            self.core.beginClose(discardingQueued: discardingQueued, waiter: continuation)
        }
        let task = self.core.delivery.withLock { $0 }
        await task?.value
    }

    /// The state shared by the store and its writer thread (the thread does not keep the store alive).
    private final class Core: Sendable {
        struct State {
            var queue: [OfflineTicketedOperation] = []
            var sleeping = false
            var closing = false
            var discarding = false
            var finished = false
            var finishWaiters: [CheckedContinuation<Void, Never>] = []
            var counters = OfflineStoreCounters()
            var warnedDepth = 0
        }

        let backend: any OfflineInbox
        let logger: Logger
        let state = Mutex(State())
        let wakeUp = DispatchSemaphore(value: 0)
        let outcomes: AsyncStream<[OfflineOperationResult]>
        let outcomesContinuation: AsyncStream<[OfflineOperationResult]>.Continuation
        let delivery = Mutex<Task<Void, Never>?>(nil)

        init(backend: any OfflineInbox, logger: Logger) {
            self.backend = backend
            self.logger = logger
            (self.outcomes, self.outcomesContinuation) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
        }

        func submit(_ operations: [OfflineTicketedOperation]) {
            guard !operations.isEmpty else { return }
            var depthToReport: Int?
            let (accepted, wake): (Bool, Bool) = self.state.withLock { state in
                if state.closing { return (false, false) }
                state.queue.append(contentsOf: operations)
                let depth = state.queue.count
                state.counters.deepestQueue = max(state.counters.deepestQueue, depth)
                if depth >= GroupCommitOfflineStore.deepQueueWarning && depth >= state.warnedDepth * 2 {
                    state.warnedDepth = depth
                    depthToReport = depth
                }
                guard state.sleeping else { return (true, false) }
                state.sleeping = false
                return (true, true)
            }
            if let depth = depthToReport {
                self.logger.warning("the offline store is behind", metadata: ["queued": "\(depth)"])
            }
            if wake { self.wakeUp.signal() }
            if !accepted {
                self.outcomesContinuation.yield(
                    operations.map {
                        OfflineOperationResult(
                            ticket: $0.ticket,
                            result: .failure(OfflineStoreError(.closed, "the offline store is closed"))
                        )
                    }
                )
            }
        }

        func beginClose(discardingQueued: Bool, waiter: CheckedContinuation<Void, Never>?) {
            let (wake, done) = self.state.withLock { state -> (Bool, Bool) in
                if state.finished { return (false, true) }
                state.closing = true
                if discardingQueued {
                    state.discarding = true
                    state.queue.removeAll()
                }
                if let waiter { state.finishWaiters.append(waiter) }
                let wake = state.sleeping
                state.sleeping = false
                return (wake, false)
            }
            if wake { self.wakeUp.signal() }
            if done { waiter?.resume() }
        }

        /// The writer's loop; runs on its own thread until the store closes.
        func runWriter() {
            while true {
                let next: [OfflineTicketedOperation]? = self.state.withLock { state in
                    if state.queue.isEmpty {
                        if state.closing { return nil }
                        state.sleeping = true
                        return []
                    }
                    defer { state.queue = [] }
                    return state.queue
                }
                guard let batch = next else { break }
                if batch.isEmpty {
                    self.wakeUp.wait()
                    continue
                }
                let results = self.backend.perform(batch)
                for result in results {
                    if case .failure(let error) = result.result, error.code == .commitFailed {
                        self.logger.error("committing offline operations failed", metadata: ["error": "\(error)"])
                        break
                    }
                }
                let discarding = self.state.withLock { state in
                    state.counters.batches += 1
                    state.counters.operations += batch.count
                    state.counters.largestBatch = max(state.counters.largestBatch, batch.count)
                    if state.queue.count < GroupCommitOfflineStore.deepQueueWarning { state.warnedDepth = 0 }
                    return state.discarding
                }
                if !discarding {
                    self.outcomesContinuation.yield(results)
                }
            }
            self.outcomesContinuation.finish()
            let waiters = self.state.withLock { state in
                state.finished = true
                defer { state.finishWaiters.removeAll() }
                return state.finishWaiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }
}

/// An ``OfflineStore`` for tests whose batches run only when the test says so, on the test's task: the engine stays
/// deterministic, and a test can observe the engine while a batch is outstanding.
public final class ManualOfflineStore: OfflineStore {
    private struct State {
        var queue: [OfflineTicketedOperation] = []
        var handler: (@Sendable ([OfflineOperationResult]) async -> Void)?
        var batches = 0
        var failNextBatch = false
    }

    private let backend: any OfflineInbox
    private let state = Mutex(State())

    /// How many operations may be outstanding before new cacheable messages are refused.
    public let backlogLimit: Int

    /// Creates a store over `backend`.
    public init(backend: any OfflineInbox = MemoryOfflineInbox(), backlogLimit: Int = 65_536) {
        self.backend = backend
        self.backlogLimit = backlogLimit
    }

    /// Keeps the handler for ``completeAll()``.
    public func start(_ handler: @escaping @Sendable ([OfflineOperationResult]) async -> Void) {
        self.state.withLock { $0.handler = handler }
    }

    /// Queues operations until the next ``completeAll()``.
    public func submit(_ operations: [OfflineTicketedOperation]) {
        self.state.withLock { $0.queue.append(contentsOf: operations) }
    }

    /// The backend's largest message id.
    public func largestMessageID() throws -> UInt64 {
        try self.backend.largestMessageID()
    }

    /// The backend's receivers with stored messages.
    public func receivers() throws -> [UserKey]? {
        try self.backend.receivers()
    }

    /// Drops what is queued (with `discardingQueued`) or runs it.
    public func close(discardingQueued: Bool) async {
        if discardingQueued {
            self.state.withLock { $0.queue.removeAll() }
        } else {
            await self.completeAll()
        }
    }

    /// The number of operations submitted and not yet run.
    public var queuedCount: Int { self.state.withLock { $0.queue.count } }

    /// The operations submitted and not yet run, in order.
    public var queued: [OfflineOperation] { self.state.withLock { $0.queue.map(\.operation) } }

    /// The number of batches run so far.
    public var batches: Int { self.state.withLock { $0.batches } }

    /// Makes the next batch fail as a failed commit would: no operation takes effect.
    public func failNextBatch() {
        self.state.withLock { $0.failNextBatch = true }
    }

    /// Runs everything queued as one batch and waits until the engine has handled the outcomes. Operations the
    /// engine submits while it handles them wait for the next call. Does nothing when nothing is queued.
    public func completeAll() async {
        let (batch, handler, fail) = self.state.withLock { state in
            defer {
                state.queue = []
                state.failNextBatch = false
            }
            return (state.queue, state.handler, state.failNextBatch)
        }
        guard !batch.isEmpty else { return }
        let results: [OfflineOperationResult]
        if fail {
            results = batch.map {
                OfflineOperationResult(ticket: $0.ticket, result: .failure(OfflineStoreError(.commitFailed, "test")))
            }
        } else {
            results = self.backend.perform(batch)
        }
        self.state.withLock { $0.batches += 1 }
        await handler?(results)
    }

    /// Runs batches until nothing is queued, including what the engine submits while handling outcomes.
    public func settle() async {
        while self.queuedCount > 0 {
            await self.completeAll()
        }
    }
}

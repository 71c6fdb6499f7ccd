import GRDB
import HeraldMessages
import SwiftProtobuf
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An ``OfflineInbox`` in an SQLite database, through GRDB.
///
/// A file-backed inbox uses WAL journaling with `synchronous = FULL`: every method that changes the store commits a
/// transaction that is on stable storage when the method returns, so a message ``append(_:capacity:)`` has stored
/// survives a `kill -9` of the process and a power loss (PEER-36).
///
/// Messages are kept in insertion order by an autoincrement row id. App ids and user ids are compared byte for byte.
/// Appending a message whose `messageID` is already stored changes nothing (the stored copy keeps its place) and
/// returns 0.
public final class SQLiteOfflineInbox: OfflineInbox, Sendable {
    private let database: DatabaseQueue
    private let transactions = Atomic<Int>(0)

    /// Opens, creating it if needed, the inbox stored in the SQLite file at `path`; missing parent directories are
    /// created.
    ///
    /// - Throws: File system errors, or GRDB's `DatabaseError` if the database cannot be opened or migrated.
    public convenience init(path: String) throws {
        if let slash = path.lastIndex(of: "/") {
            let parent = String(path[..<slash])
            if !parent.isEmpty {
                try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
            }
        }
        var configuration = Configuration()
        // A restarted server's store can overlap the old one's last commit (test-control restarts).
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            // Not `configuration.journalMode = .wal`: GRDB would then lower `synchronous` to NORMAL, which can lose
            // the last commits on power loss.
            let journalMode = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
            guard journalMode?.lowercased() == "wal" else {
                throw DatabaseError(message: "could not enable WAL journaling at \(path)")
            }
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // On Apple platforms plain fsync does not flush the drive's cache; these are no-ops elsewhere.
            try db.execute(sql: "PRAGMA fullfsync = ON")
            try db.execute(sql: "PRAGMA checkpoint_fullfsync = ON")
        }
        try self.init(database: DatabaseQueue(path: path, configuration: configuration))
    }

    /// Creates an inbox in a private in-memory database, which is lost when the instance is released.
    ///
    /// - Throws: GRDB's `DatabaseError` if the database cannot be created.
    public static func inMemory() throws -> SQLiteOfflineInbox {
        try SQLiteOfflineInbox(database: DatabaseQueue())
    }

    private init(database: DatabaseQueue) throws {
        self.database = database
        try Self.migrator.migrate(database)
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE offline_message (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        app_id TEXT NOT NULL,
                        receiver_id TEXT NOT NULL,
                        sender_id TEXT NOT NULL,
                        message_id INTEGER NOT NULL UNIQUE,
                        server_received_ms INTEGER NOT NULL,
                        body BLOB NOT NULL
                    );
                    CREATE INDEX offline_message_receiver ON offline_message (app_id, receiver_id, seq);
                    CREATE INDEX offline_message_received ON offline_message (server_received_ms);
                    CREATE TABLE offline_meta (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        largest_message_id INTEGER NOT NULL
                    );
                    INSERT INTO offline_meta (id, largest_message_id) VALUES (1, 0);
                    """
            )
        }
        return migrator
    }

    /// The number of write transactions committed since the inbox was opened (each one `fsync` for a file).
    public var committedTransactions: Int { self.transactions.load(ordering: .relaxed) }

    private func write<T>(_ body: (Database) throws -> T) throws -> T {
        let value = try self.database.write(body)
        self.transactions.add(1, ordering: .relaxed)
        return value
    }

    /// Stores `record` after the receiver's other messages and deletes the receiver's oldest messages beyond
    /// `capacity`, in one durable transaction. Returns the number of messages deleted.
    @discardableResult
    public func append(_ record: OfflineMessageRecord, capacity: Int) throws -> Int {
        try self.write { db in try Self.append(record, capacity: capacity, in: db) }
    }

    /// The receiver's messages received at or after `notBeforeMs`, oldest first.
    public func messages(appID: String, receiverID: String, notBeforeMs: Int64) throws -> [OfflineMessageRecord] {
        try self.database.read { db in
            try Self.messages(appID: appID, receiverID: receiverID, notBeforeMs: notBeforeMs, in: db)
        }
    }

    /// Deletes one message of a receiver, durably; deleting a message that is not stored is not an error.
    public func remove(appID: String, receiverID: String, messageID: UInt64) throws {
        try self.write { db in try Self.remove(appID: appID, receiverID: receiverID, messageID: messageID, in: db) }
    }

    /// Deletes every message received before `beforeMs`, durably. Returns the number deleted.
    @discardableResult
    public func purge(receivedBeforeMs beforeMs: Int64) throws -> Int {
        try self.write { db in try Self.purge(receivedBeforeMs: beforeMs, in: db) }
    }

    /// The largest message id ever stored (0 if none ever was), including messages since deleted.
    /// Every receiver with a stored message.
    public func receivers() throws -> [UserKey]? {
        try self.database.read { db in
            try Row.fetchAll(db, sql: "SELECT DISTINCT app_id, receiver_id FROM offline_message").map { row in
                UserKey(appID: row[0], userID: row[1])
            }
        }
    }

    public func largestMessageID() throws -> UInt64 {
        let largest = try self.database.read { db in
            try Int64.fetchOne(db, sql: "SELECT largest_message_id FROM offline_meta WHERE id = 1") ?? 0
        }
        return UInt64(bitPattern: largest)
    }

    /// Runs `operations` in order in one transaction, so one `fsync` commits them all. Each operation runs in a
    /// savepoint: one that fails is rolled back alone and reported as failed. If the transaction cannot be
    /// committed, every operation is reported failed with ``OfflineStoreError/Code/commitFailed``.
    public func perform(_ operations: [OfflineTicketedOperation]) -> [OfflineOperationResult] {
        do {
            return try self.write { db in
                var results: [OfflineOperationResult] = []
                results.reserveCapacity(operations.count)
                for numbered in operations {
                    var outcome = OfflineOperationOutcome.removed
                    do {
                        try db.inSavepoint {
                            outcome = try Self.apply(numbered.operation, in: db)
                            return .commit
                        }
                        results.append(OfflineOperationResult(ticket: numbered.ticket, result: .success(outcome)))
                    } catch {
                        results.append(
                            OfflineOperationResult(
                                ticket: numbered.ticket,
                                result: .failure(OfflineStoreError(.operationFailed, "\(error)"))
                            )
                        )
                    }
                }
                return results
            }
        } catch {
            let failure = OfflineStoreError(.commitFailed, "\(error)")
            return operations.map { OfflineOperationResult(ticket: $0.ticket, result: .failure(failure)) }
        }
    }

    // MARK: - Statements

    private static func apply(_ operation: OfflineOperation, in db: Database) throws -> OfflineOperationOutcome {
        switch operation {
        case .append(let record, let capacity):
            return .appended(evicted: try Self.append(record, capacity: capacity, in: db))
        case .messages(let appID, let receiverID, let notBeforeMs):
            return .messages(try Self.messages(appID: appID, receiverID: receiverID, notBeforeMs: notBeforeMs, in: db))
        case .remove(let appID, let receiverID, let messageID):
            try Self.remove(appID: appID, receiverID: receiverID, messageID: messageID, in: db)
            return .removed
        case .purge(let beforeMs):
            return .purged(count: try Self.purge(receivedBeforeMs: beforeMs, in: db))
        }
    }

    private static func append(_ record: OfflineMessageRecord, capacity: Int, in db: Database) throws -> Int {
        let body = Data(try record.body.serializedBytes() as [UInt8])
        let messageID = Int64(bitPattern: record.messageID)
        try db.execute(
            sql: """
                INSERT INTO offline_message
                    (app_id, receiver_id, sender_id, message_id, server_received_ms, body)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (message_id) DO NOTHING
                """,
            arguments: [record.appID, record.receiverID, record.senderID, messageID, record.serverReceivedMs, body]
        )
        guard db.changesCount > 0 else { return 0 }
        let largest = try Int64.fetchOne(db, sql: "SELECT largest_message_id FROM offline_meta WHERE id = 1") ?? 0
        if record.messageID > UInt64(bitPattern: largest) {
            try db.execute(
                sql: "UPDATE offline_meta SET largest_message_id = ? WHERE id = 1",
                arguments: [messageID]
            )
        }
        let count =
            try Int.fetchOne(
                db,
                sql: "SELECT COUNT(*) FROM offline_message WHERE app_id = ? AND receiver_id = ?",
                arguments: [record.appID, record.receiverID]
            ) ?? 0
        let excess = count - max(capacity, 0)
        guard excess > 0 else { return 0 }
        try db.execute(
            sql: """
                DELETE FROM offline_message WHERE seq IN (
                    SELECT seq FROM offline_message WHERE app_id = ? AND receiver_id = ? ORDER BY seq LIMIT ?
                )
                """,
            arguments: [record.appID, record.receiverID, excess]
        )
        return db.changesCount
    }

    private static func messages(
        appID: String,
        receiverID: String,
        notBeforeMs: Int64,
        in db: Database
    ) throws -> [OfflineMessageRecord] {
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT sender_id, message_id, server_received_ms, body FROM offline_message
                WHERE app_id = ? AND receiver_id = ? AND server_received_ms >= ?
                ORDER BY seq
                """,
            arguments: [appID, receiverID, notBeforeMs]
        )
        return try rows.map { row in
            let messageID: Int64 = row["message_id"]
            let body: Data = row["body"]
            return OfflineMessageRecord(
                appID: appID,
                receiverID: receiverID,
                senderID: row["sender_id"],
                messageID: UInt64(bitPattern: messageID),
                serverReceivedMs: row["server_received_ms"],
                body: try Herald_V1_MessageBody(serializedBytes: body)
            )
        }
    }

    private static func remove(appID: String, receiverID: String, messageID: UInt64, in db: Database) throws {
        try db.execute(
            sql: "DELETE FROM offline_message WHERE app_id = ? AND receiver_id = ? AND message_id = ?",
            arguments: [appID, receiverID, Int64(bitPattern: messageID)]
        )
    }

    private static func purge(receivedBeforeMs beforeMs: Int64, in db: Database) throws -> Int {
        try db.execute(sql: "DELETE FROM offline_message WHERE server_received_ms < ?", arguments: [beforeMs])
        return db.changesCount
    }
}

/// An ``OfflineInbox`` in memory, with the same behaviour as ``SQLiteOfflineInbox`` but no durability. For tests.
public final class MemoryOfflineInbox: OfflineInbox, Sendable {
    private struct ReceiverKey: Hashable {
        var appID: [UInt8]
        var receiverID: [UInt8]

        init(appID: String, receiverID: String) {
            self.appID = Array(appID.utf8)
            self.receiverID = Array(receiverID.utf8)
        }
    }

    private struct State {
        var queues: [ReceiverKey: [OfflineMessageRecord]] = [:]
        var storedIDs: Set<UInt64> = []
        var largestMessageID: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Creates an empty inbox.
    public init() {}

    /// Every receiver with a stored message.
    public func receivers() throws -> [UserKey]? {
        self.state.withLock { state in
            state.queues.compactMap { key, queue in
                queue.isEmpty
                    ? nil
                    : UserKey(
                        appID: String(decoding: key.appID, as: UTF8.self),
                        userID: String(decoding: key.receiverID, as: UTF8.self)
                    )
            }
        }
    }

    /// Stores `record` after the receiver's other messages and deletes the receiver's oldest messages beyond
    /// `capacity`. Returns the number of messages deleted. A `messageID` already stored changes nothing.
    @discardableResult
    public func append(_ record: OfflineMessageRecord, capacity: Int) throws -> Int {
        self.state.withLock { state in
            guard state.storedIDs.insert(record.messageID).inserted else { return 0 }
            state.largestMessageID = max(state.largestMessageID, record.messageID)
            let key = ReceiverKey(appID: record.appID, receiverID: record.receiverID)
            var queue = state.queues[key, default: []]
            queue.append(record)
            let excess = max(queue.count - max(capacity, 0), 0)
            for evicted in queue.prefix(excess) {
                state.storedIDs.remove(evicted.messageID)
            }
            queue.removeFirst(excess)
            state.queues[key] = queue.isEmpty ? nil : queue
            return excess
        }
    }

    /// The receiver's messages received at or after `notBeforeMs`, oldest first.
    public func messages(appID: String, receiverID: String, notBeforeMs: Int64) throws -> [OfflineMessageRecord] {
        self.state.withLock { state in
            let queue = state.queues[ReceiverKey(appID: appID, receiverID: receiverID)] ?? []
            return queue.filter { $0.serverReceivedMs >= notBeforeMs }
        }
    }

    /// Deletes one message of a receiver; deleting a message that is not stored is not an error.
    public func remove(appID: String, receiverID: String, messageID: UInt64) throws {
        self.state.withLock { state in
            let key = ReceiverKey(appID: appID, receiverID: receiverID)
            guard var queue = state.queues[key], let index = queue.firstIndex(where: { $0.messageID == messageID })
            else {
                return
            }
            queue.remove(at: index)
            state.storedIDs.remove(messageID)
            state.queues[key] = queue.isEmpty ? nil : queue
        }
    }

    /// Deletes every message received before `beforeMs`. Returns the number deleted.
    @discardableResult
    public func purge(receivedBeforeMs beforeMs: Int64) throws -> Int {
        self.state.withLock { state in
            var deleted = 0
            for (key, queue) in state.queues {
                let kept = queue.filter { $0.serverReceivedMs >= beforeMs }
                guard kept.count != queue.count else { continue }
                for record in queue where record.serverReceivedMs < beforeMs {
                    state.storedIDs.remove(record.messageID)
                }
                deleted += queue.count - kept.count
                state.queues[key] = kept.isEmpty ? nil : kept
            }
            return deleted
        }
    }

    /// The largest message id ever stored (0 if none ever was), including messages since deleted.
    public func largestMessageID() throws -> UInt64 {
        self.state.withLock { $0.largestMessageID }
    }
}

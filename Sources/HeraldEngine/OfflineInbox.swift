import HeraldMessages

/// One cached offline peer message (Spec/06-peer-messages.md).
public struct OfflineMessageRecord: Sendable, Hashable {
    /// The app of sender and receiver.
    public var appID: String
    /// The receiving user.
    public var receiverID: String
    /// The sending user.
    public var senderID: String
    /// The server-assigned message id, unique across restarts.
    public var messageID: UInt64
    /// When the server received the message, in Unix milliseconds.
    public var serverReceivedMs: Int64
    /// The message content.
    public var body: Herald_V1_MessageBody

    /// Creates a record.
    public init(
        appID: String,
        receiverID: String,
        senderID: String,
        messageID: UInt64,
        serverReceivedMs: Int64,
        body: Herald_V1_MessageBody
    ) {
        self.appID = appID
        self.receiverID = receiverID
        self.senderID = senderID
        self.messageID = messageID
        self.serverReceivedMs = serverReceivedMs
        self.body = body
    }
}

/// The durable store of offline peer messages.
///
/// Every method is synchronous and returns only when its effect is durable. The engine never calls an inbox itself:
/// an ``OfflineStore`` runs its operations off the engine's executor, in batches through ``perform(_:)``, and the
/// engine answers `PEER_MESSAGE_RESULT_CACHED_BY_SERVER` only after the batch holding the message has been performed,
/// so a message answered that way survives a crash of the process (PEER-36).
public protocol OfflineInbox: Sendable {
    /// Stores `record` after the receiver's other messages. If the receiver then has more than `capacity` messages,
    /// the oldest are deleted so that `capacity` remain. Returns the number of messages deleted.
    @discardableResult
    func append(_ record: OfflineMessageRecord, capacity: Int) throws -> Int

    /// The receiver's messages received at or after `notBeforeMs`, oldest first (in the order they were appended).
    func messages(appID: String, receiverID: String, notBeforeMs: Int64) throws -> [OfflineMessageRecord]

    /// Deletes one message of a receiver; deleting a message that is not stored is not an error.
    func remove(appID: String, receiverID: String, messageID: UInt64) throws

    /// Deletes every message received before `beforeMs`. Returns the number deleted.
    @discardableResult
    func purge(receivedBeforeMs beforeMs: Int64) throws -> Int

    /// The largest message id ever stored (0 for an empty store), so that new ids never repeat an old one.
    func largestMessageID() throws -> UInt64

    /// Every receiver with at least one stored message, or `nil` if the inbox cannot tell (then the engine reads
    /// the inbox at every login). Read synchronously once, when the engine is created; a receiver listed whose
    /// messages have all expired is harmless (it costs one read at its next login).
    func receivers() throws -> [UserKey]?

    /// Runs `operations` in order, each seeing the effects of the ones before, and returns one result per
    /// operation in the same order; every effect is durable when it returns. A backend that can group writes runs
    /// the whole batch in one transaction (``SQLiteOfflineInbox``: one `fsync`). The default runs each method on
    /// its own.
    func perform(_ operations: [OfflineTicketedOperation]) -> [OfflineOperationResult]
}

extension OfflineInbox {
    /// An inbox that cannot list its receivers: the engine reads it at every login.
    public func receivers() throws -> [UserKey]? { nil }
}

import GRDB
import HeraldEngine
import HeraldMessages
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The implementations every behavioural test runs against.
enum InboxKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case memory

    var testDescription: String { self.rawValue }

    func make() throws -> any OfflineInbox {
        switch self {
        case .sqlite: try SQLiteOfflineInbox.inMemory()
        case .memory: MemoryOfflineInbox()
        }
    }
}

/// Builds offline message records for the tests.
enum InboxFixture {
    static func text(_ text: String) -> Herald_V1_MessageBody {
        var body = Herald_V1_MessageBody()
        body.type = .text
        body.text = text
        return body
    }

    static func record(
        _ messageID: UInt64,
        app: String = "app",
        to receiver: String = "bob",
        from sender: String = "alice",
        at receivedMs: Int64? = nil,
        body: Herald_V1_MessageBody? = nil
    ) -> OfflineMessageRecord {
        OfflineMessageRecord(
            appID: app,
            receiverID: receiver,
            senderID: sender,
            messageID: messageID,
            serverReceivedMs: receivedMs ?? 1_000_000 + Int64(messageID % 1_000_000),
            body: body ?? text("message \(messageID)")
        )
    }
}

@Suite("Offline inbox (Spec/06-peer-messages.md §6.7)")
struct OfflineInboxTests {
    @Test("Messages come back in append order, whatever their ids and times", arguments: InboxKind.allCases)
    func order(kind: InboxKind) throws {
        let inbox = try kind.make()
        let records = [
            InboxFixture.record(30, at: 5000),
            InboxFixture.record(10, from: "carol", at: 7000),
            InboxFixture.record(20, at: 6000),
            InboxFixture.record(5, at: 6000),
        ]
        for record in records {
            #expect(try inbox.append(record, capacity: 200) == 0)
        }
        #expect(try inbox.messages(appID: "app", receiverID: "bob", notBeforeMs: 0) == records)
        #expect(try inbox.messages(appID: "app", receiverID: "nobody", notBeforeMs: 0).isEmpty)
    }

    @Test("PEER-37: the 201st message evicts the oldest", arguments: InboxKind.allCases)
    func capacityEviction(kind: InboxKind) throws {
        let inbox = try kind.make()
        for id in UInt64(1)...200 {
            #expect(try inbox.append(InboxFixture.record(id), capacity: 200) == 0)
        }
        #expect(try inbox.append(InboxFixture.record(201), capacity: 200) == 1)
        let stored = try inbox.messages(appID: "app", receiverID: "bob", notBeforeMs: 0)
        #expect(stored.count == 200)
        #expect(stored.first?.messageID == 2)
        #expect(stored.last?.messageID == 201)
        #expect(stored.map(\.messageID) == Array(UInt64(2)...201))
    }

    @Test("A smaller capacity evicts several at once; capacity 0 keeps nothing", arguments: InboxKind.allCases)
    func capacityShrinks(kind: InboxKind) throws {
        let inbox = try kind.make()
        for id in UInt64(1)...5 {
            try inbox.append(InboxFixture.record(id), capacity: 10)
        }
        #expect(try inbox.append(InboxFixture.record(6), capacity: 3) == 3)
        #expect(try inbox.messages(appID: "app", receiverID: "bob", notBeforeMs: 0).map(\.messageID) == [4, 5, 6])
        #expect(try inbox.append(InboxFixture.record(7), capacity: 0) == 4)
        #expect(try inbox.messages(appID: "app", receiverID: "bob", notBeforeMs: 0).isEmpty)
    }

    @Test("Receivers and apps are isolated, also for eviction", arguments: InboxKind.allCases)
    func isolation(kind: InboxKind) throws {
        let inbox = try kind.make()
        try inbox.append(InboxFixture.record(1, to: "bob"), capacity: 2)
        try inbox.append(InboxFixture.record(2, to: "carol"), capacity: 2)
        try inbox.append(InboxFixture.record(3, app: "other", to: "bob"), capacity: 2)
        try inbox.append(InboxFixture.record(4, to: "Bob"), capacity: 2)
        try inbox.append(InboxFixture.record(5, to: "bob"), capacity: 2)
        #expect(try inbox.append(InboxFixture.record(6, to: "bob"), capacity: 2) == 1)
        #expect(try inbox.messages(appID: "app", receiverID: "bob", notBeforeMs: 0).map(\.messageID) == [5, 6])
        #expect(try inbox.messages(appID: "app", receiverID: "carol", notBeforeMs: 0).map(\.messageID) == [2])
        #expect(try inbox.messages(appID: "other", receiverID: "bob", notBeforeMs: 0).map(\.messageID) == [3])
        #expect(try inbox.messages(appID: "app", receiverID: "Bob", notBeforeMs: 0).map(\.messageID) == [4])
        #expect(try inbox.messages(appID: "other", receiverID: "carol", notBeforeMs: 0).isEmpty)
    }

    @Test("Ids are compared byte for byte, without Unicode normalization", arguments: InboxKind.allCases)
    func byteForByteIDs(kind: InboxKind) throws {
        let inbox = try kind.make()
        try inbox.append(InboxFixture.record(1, to: "jos\u{E9}"), capacity: 10)
        try inbox.append(InboxFixture.record(2, to: "jose\u{301}"), capacity: 10)
        #expect(try inbox.messages(appID: "app", receiverID: "jos\u{E9}", notBeforeMs: 0).map(\.messageID) == [1])
        #expect(try inbox.messages(appID: "app", receiverID: "jose\u{301}", notBeforeMs: 0).map(\.messageID) == [2])
    }

    @Test(
        "remove deletes one message of one receiver; unknown messages are not an error",
        arguments: InboxKind.allCases
    )
    func remove(kind: InboxKind) throws {
        let inbox = try kind.make()
        for id in UInt64(1)...3 {
            try inbox.append(InboxFixture.record(id), capacity: 10)
        }
        try inbox.append(InboxFixture.record(4, to: "carol"), capacity: 10)
        try inbox.remove(appID: "app", receiverID: "bob", messageID: 2)
        try inbox.remove(appID: "app", receiverID: "bob", messageID: 99)
        try inbox.remove(appID: "app", receiverID: "bob", messageID: 4)
        try inbox.remove(appID: "other", receiverID: "carol", messageID: 4)
        #expect(try inbox.messages(appID: "app", receiverID: "bob", notBeforeMs: 0).map(\.messageID) == [1, 3])
        #expect(try inbox.messages(appID: "app", receiverID: "carol", notBeforeMs: 0).map(\.messageID) == [4])
        try inbox.remove(appID: "app", receiverID: "carol", messageID: 4)
        #expect(try inbox.messages(appID: "app", receiverID: "carol", notBeforeMs: 0).isEmpty)
    }

    @Test(
        "PEER-38: purge deletes everything received before the cut-off, for all receivers",
        arguments: InboxKind.allCases
    )
    func purge(kind: InboxKind) throws {
        let inbox = try kind.make()
        try inbox.append(InboxFixture.record(1, to: "bob", at: 100), capacity: 10)
        try inbox.append(InboxFixture.record(2, to: "carol", at: 150), capacity: 10)
        try inbox.append(InboxFixture.record(3, app: "other", to: "bob", at: 199), capacity: 10)
        try inbox.append(InboxFixture.record(4, to: "bob", at: 200), capacity: 10)
        try inbox.append(InboxFixture.record(5, to: "bob", at: 50), capacity: 10)
        #expect(try inbox.purge(receivedBeforeMs: 200) == 4)
        #expect(try inbox.messages(appID: "app", receiverID: "bob", notBeforeMs: 0).map(\.messageID) == [4])
        #expect(try inbox.messages(appID: "app", receiverID: "carol", notBeforeMs: 0).isEmpty)
        #expect(try inbox.messages(appID: "other", receiverID: "bob", notBeforeMs: 0).isEmpty)
        #expect(try inbox.purge(receivedBeforeMs: 200) == 0)
    }

    @Test("notBeforeMs keeps messages received at or after it, in append order", arguments: InboxKind.allCases)
    func notBeforeFilter(kind: InboxKind) throws {
        let inbox = try kind.make()
        try inbox.append(InboxFixture.record(1, at: 300), capacity: 10)
        try inbox.append(InboxFixture.record(2, at: 100), capacity: 10)
        try inbox.append(InboxFixture.record(3, at: 200), capacity: 10)
        try inbox.append(InboxFixture.record(4, at: 199), capacity: 10)
        #expect(try inbox.messages(appID: "app", receiverID: "bob", notBeforeMs: 200).map(\.messageID) == [1, 3])
        #expect(try inbox.messages(appID: "app", receiverID: "bob", notBeforeMs: 301).isEmpty)
        #expect(try inbox.messages(appID: "app", receiverID: "bob", notBeforeMs: .min).count == 4)
    }

    @Test("largestMessageID is the largest id ever stored, even after deletion", arguments: InboxKind.allCases)
    func largestMessageID(kind: InboxKind) throws {
        let inbox = try kind.make()
        #expect(try inbox.largestMessageID() == 0)
        try inbox.append(InboxFixture.record(7, at: 10), capacity: 10)
        try inbox.append(InboxFixture.record(42, to: "carol", at: 10), capacity: 10)
        try inbox.append(InboxFixture.record(9, at: 10), capacity: 10)
        #expect(try inbox.largestMessageID() == 42)
        try inbox.remove(appID: "app", receiverID: "carol", messageID: 42)
        #expect(try inbox.largestMessageID() == 42)
        try inbox.purge(receivedBeforeMs: 1000)
        #expect(try inbox.largestMessageID() == 42)
        try inbox.append(InboxFixture.record(UInt64.max - 1), capacity: 10)
        #expect(try inbox.largestMessageID() == UInt64.max - 1)
        #expect(try inbox.messages(appID: "app", receiverID: "bob", notBeforeMs: 0).last?.messageID == UInt64.max - 1)
    }

    @Test("Appending a stored message id again changes nothing", arguments: InboxKind.allCases)
    func duplicateAppend(kind: InboxKind) throws {
        let inbox = try kind.make()
        try inbox.append(InboxFixture.record(1), capacity: 10)
        try inbox.append(InboxFixture.record(2), capacity: 10)
        #expect(try inbox.append(InboxFixture.record(1, body: InboxFixture.text("again")), capacity: 10) == 0)
        let stored = try inbox.messages(appID: "app", receiverID: "bob", notBeforeMs: 0)
        #expect(stored == [InboxFixture.record(1), InboxFixture.record(2)])
    }

    @Test("Bodies round-trip: text, raw bytes with a description, and empty", arguments: InboxKind.allCases)
    func bodyRoundTrip(kind: InboxKind) throws {
        let inbox = try kind.make()
        var raw = Herald_V1_MessageBody()
        raw.type = .raw
        raw.raw = Data([0x00, 0xFF, 0x7F, 0x80, 0x00, 0x0A])
        raw.text = "a picture"
        let bodies = [InboxFixture.text("h\u{E9}llo \u{1F600}\n"), raw, Herald_V1_MessageBody()]
        for (index, body) in bodies.enumerated() {
            try inbox.append(InboxFixture.record(UInt64(index + 1), body: body), capacity: 10)
        }
        let stored = try inbox.messages(appID: "app", receiverID: "bob", notBeforeMs: 0)
        #expect(stored.map(\.body) == bodies)
        #expect(stored[1].body.raw == Data([0x00, 0xFF, 0x7F, 0x80, 0x00, 0x0A]))
        #expect(stored.map(\.senderID) == ["alice", "alice", "alice"])
    }

    @Test("PEER-36: a file-backed inbox keeps everything across close and reopen, in WAL mode")
    func fileBackedSurvivesReopen() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("herald-inbox-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("nested/deeper/inbox.sqlite").path
        var raw = Herald_V1_MessageBody()
        raw.type = .raw
        raw.raw = Data((0...255).map { UInt8($0) })
        let records = [
            InboxFixture.record(11, at: 500),
            InboxFixture.record(12, to: "carol", at: 600),
            InboxFixture.record(13, at: 700, body: raw),
            InboxFixture.record(14, app: "other", at: 800),
        ]
        do {
            let inbox = try SQLiteOfflineInbox(path: path)
            for record in records {
                try inbox.append(record, capacity: 200)
            }
            try inbox.remove(appID: "app", receiverID: "bob", messageID: 11)
            try inbox.append(InboxFixture.record(10), capacity: 200)
        }
        do {
            let reopened = try SQLiteOfflineInbox(path: path)
            #expect(
                try reopened.messages(appID: "app", receiverID: "bob", notBeforeMs: 0)
                    == [records[2], InboxFixture.record(10)]
            )
            #expect(try reopened.messages(appID: "app", receiverID: "carol", notBeforeMs: 0) == [records[1]])
            #expect(try reopened.messages(appID: "other", receiverID: "bob", notBeforeMs: 0) == [records[3]])
            #expect(try reopened.largestMessageID() == 14)
            try reopened.append(InboxFixture.record(15), capacity: 2)
            #expect(
                try reopened.messages(appID: "app", receiverID: "bob", notBeforeMs: 0).map(\.messageID) == [10, 15]
            )
        }
        let check = try DatabaseQueue(path: path)
        let journalMode = try check.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
        #expect(journalMode == "wal")
        let reopenedAgain = try SQLiteOfflineInbox(path: path)
        #expect(try reopenedAgain.largestMessageID() == 15)
    }
}

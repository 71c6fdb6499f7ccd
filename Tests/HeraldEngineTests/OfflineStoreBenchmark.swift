import Foundation
import HeraldEngine
import HeraldMessages
import HeraldWire
import SwiftProtobuf
import Synchronization
import Testing

/// A measurement, not a check: run it by hand on the disk to measure (not a tmpfs), e.g.
/// `HERALD_STORE_BENCH=/work/bench swift test --filter OfflineStoreBenchmark`. It prints the time of 1,024 offline
/// appends committed one transaction each (the store before Spec 1.0.2) and grouped, and how long one engine input
/// blocks when a receiver with 1,024 outstanding cacheable deliveries disconnects, with the store run inside the step
/// (as before) and with the group-commit store.
@Suite(
    "Offline store benchmark (by hand)",
    .enabled(if: ProcessInfo.processInfo.environment["HERALD_STORE_BENCH"] != nil)
)
struct OfflineStoreBenchmark {
    static let count = 1024

    static func directory() throws -> String {
        let base = ProcessInfo.processInfo.environment["HERALD_STORE_BENCH"] ?? "."
        let path = base + "/offline-store-bench-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func record(_ id: UInt64) -> OfflineMessageRecord {
        OfflineMessageRecord(
            appID: testAppID,
            receiverID: "bob",
            senderID: "alice",
            messageID: id,
            serverReceivedMs: 1_767_225_600_000,
            body: Herald_V1_MessageBody.with {
                $0.type = .text
                $0.text = String(repeating: "x", count: 256)
            }
        )
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    @Test func appends() async throws {
        let path = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let clock = ContinuousClock()

        let single = try SQLiteOfflineInbox(path: path + "/single.sqlite")
        let one = try clock.measure {
            for id in 1...UInt64(Self.count) {
                try single.append(Self.record(id), capacity: Self.count)
            }
        }
        let grouped = try SQLiteOfflineInbox(path: path + "/grouped.sqlite")
        let store = GroupCommitOfflineStore(backend: grouped)
        let done = AsyncStream.makeStream(of: Int.self)
        store.start { results in done.continuation.yield(results.count) }
        let start = clock.now
        // As the engine submits them: one operation per input.
        for id in 1...UInt64(Self.count) {
            store.submit([
                OfflineTicketedOperation(ticket: id, operation: .append(Self.record(id), capacity: Self.count))
            ])
        }
        let submitted = clock.now - start
        var outcomes = 0
        for await count in done.stream {
            outcomes += count
            if outcomes == Self.count { break }
        }
        let all = clock.now - start
        await store.close(discardingQueued: false)
        print(
            """
            offline store, \(Self.count) appends of 256 B on \(path):
              one transaction each (before): \(Self.milliseconds(one)) ms, \(single.committedTransactions) commits
              grouped (after): \(Self.milliseconds(all)) ms until every outcome was handed back, \
            \(grouped.committedTransactions) commits (largest batch \(store.counters.largestBatch)); \
            submitting took \(Self.milliseconds(submitted)) ms
            """
        )
        #expect(try grouped.messages(appID: testAppID, receiverID: "bob", notBeforeMs: 0).count == Self.count)
    }

    /// Runs each operation in its own transaction inside `submit`, as the engine did before Spec 1.0.2.
    final class InlineStore: OfflineStore {
        let backend: any OfflineInbox
        let handler = Mutex<(@Sendable ([OfflineOperationResult]) async -> Void)?>(nil)
        let backlogLimit = Int.max

        init(backend: any OfflineInbox) { self.backend = backend }

        func start(_ handler: @escaping @Sendable ([OfflineOperationResult]) async -> Void) {
            self.handler.withLock { $0 = handler }
        }

        func submit(_ operations: [OfflineTicketedOperation]) {
            let results = operations.flatMap { self.backend.perform([$0]) }
            let handler = self.handler.withLock { $0 }
            Task { await handler?(results) }
        }

        func largestMessageID() throws -> UInt64 { try self.backend.largestMessageID() }

        func close(discardingQueued: Bool) async {}
    }

    @Test(arguments: ["inline (before)", "group commit (after)"])
    func engineStep(_ kind: String) async throws {
        let path = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let inbox = try SQLiteOfflineInbox(path: path + "/inbox.sqlite")
        let store: any OfflineStore =
            kind.hasPrefix("inline") ? InlineStore(backend: inbox) : GroupCommitOfflineStore(backend: inbox)
        var configuration = EngineConfiguration(
            apps: [AppCredentials(appID: testAppID, secrets: [testSecret], allowsTokenlessLogin: true)]
        )
        configuration.rateLimits = [:]
        configuration.limits.maxOutboundQueueFrames = 4096
        configuration.limits.maxOfflineMessages = Self.count
        let engine = try HeraldEngine(configuration: configuration, clock: ManualEngineClock(), store: store)
        func client(_ user: String) async throws -> (ConnectionID, TestSink) {
            let sink = TestSink()
            let id = await engine.connect(sink: sink, transport: "bench")
            await engine.receive(
                try HeraldFrame(requestID: 1, message: Herald_V1_Hello.with { $0.versions = [1] }),
                on: id
            )
            let login = Herald_V1_LoginRequest.with {
                $0.appID = testAppID
                $0.userID = user
            }
            await engine.receive(try HeraldFrame(requestID: 2, message: login), on: id)
            return (id, sink)
        }
        let (alice, aliceSink) = try await client("alice")
        let (bob, bobSink) = try await client("bob")
        // Wait for the login reads.
        while await engine.offlineStoreStatistics().backlog > 0 { try await Task.sleep(for: .milliseconds(1)) }
        for index in 0..<Self.count {
            let request = Herald_V1_SendPeerMessageRequest.with {
                $0.peerID = "bob"
                $0.message.type = .text
                $0.message.text = String(repeating: "x", count: 256)
                $0.enableOfflineMessaging = true
                $0.ackMode = .server
            }
            await engine.receive(try HeraldFrame(requestID: UInt32(10 + index), message: request), on: alice)
        }
        _ = bobSink.drain()
        _ = aliceSink.drain()
        let clock = ContinuousClock()
        let step = await clock.measure { await engine.transportClosed(bob) }
        // Another client's request right after: how long it waits for the engine.
        let ping = try HeraldFrame(requestID: 9999, message: Herald_V1_Ping())
        let pingTime = await clock.measure { await engine.receive(ping, on: alice) }
        let start = clock.now
        while await engine.offlineStoreStatistics().backlog > 0 { try await Task.sleep(for: .milliseconds(1)) }
        let committed = clock.now - start
        print(
            """
            engine step, receiver with \(Self.count) outstanding cacheable deliveries disconnects (\(kind)):
              the step blocked the engine \(Self.milliseconds(step)) ms; a Ping right after took \
            \(Self.milliseconds(pingTime)) ms; the messages were durable \(Self.milliseconds(committed)) ms later \
            (\(inbox.committedTransactions) commits in all)
            """
        )
        #expect(try inbox.messages(appID: testAppID, receiverID: "bob", notBeforeMs: 0).count == Self.count)
    }
}

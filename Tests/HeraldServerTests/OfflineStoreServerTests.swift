import Foundation
import HeraldEngine
import HeraldMessages
import HeraldServer
import HeraldWire
import Testing

@Suite("The offline store of a running server (Spec/06-peer-messages.md PEER-36, PEER-49)")
struct OfflineStoreServerTests {
    /// A data directory on the disk the tests run from (not the temporary directory, which may be in memory), so
    /// that commits really wait for `fsync`.
    static func dataDirectory() -> URL {
        URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            .appendingPathComponent(".build/test-data/offline-store-\(UUID().uuidString)")
    }

    @Test("Cacheable messages sent back to back are committed in groups, answered CACHED_BY_SERVER and all delivered")
    func groupCommit() async throws {
        let directory = Self.dataDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let count = 150
        let configuration = testConfiguration {
            $0.dataDirectory = directory.path
            $0.engine.limits.maxOfflineMessages = count
        }
        try await withTestServer(configuration) { server, listeners in
            let alice = try await listeners.loggedIn("alice", on: .tcp)
            // Alice's login read may still be on its way back to the engine.
            var waited = 0
            while await server.engine.offlineStoreStatistics().backlog > 0, waited < 5000 {
                try await Task.sleep(for: .milliseconds(1))
                waited += 1
            }
            let before = await server.engine.offlineStoreStatistics()
            // All requests go out before any answer is read, so they reach the engine while earlier batches commit.
            var requestIDs: [UInt32] = []
            for index in 0..<count {
                var message = Herald_V1_SendPeerMessageRequest()
                message.peerID = "bob"
                message.message = textBody("offline \(index)")
                message.enableOfflineMessaging = true
                message.ackMode = index.isMultiple(of: 2) ? .peer : .server
                requestIDs.append(try await alice.send(message))
            }
            var messageIDs: [UInt64] = []
            for id in requestIDs {
                let response = try await alice.response(to: id, as: Herald_V1_SendPeerMessageResponse.self)
                #expect(response.result == .cachedByServer)
                messageIDs.append(response.messageID)
            }
            let after = await server.engine.offlineStoreStatistics()
            let batches = after.batchesCompleted - before.batchesCompleted
            #expect(after.operationsCompleted - before.operationsCompleted == count)
            #expect(batches < count, "\(count) messages took \(batches) commits")
            #expect(after.backlog == 0)

            let bob = try await listeners.loggedIn("bob", on: .tcp)
            for index in 0..<count {
                let (frame, message) = try await bob.expect(Herald_V1_PeerMessage.self)
                #expect(message.isOffline)
                #expect(message.message.text == "offline \(index)")
                #expect(message.messageID == messageIDs[index])
                try await bob.acknowledge(frame)
            }
            try await bob.ping()
            #expect(!bob.stashed.contains { $0.opcode == .peerMessage })
        }
    }
}

import Foundation
import HeraldClient
import HeraldServer
import Testing

@testable import HeraldConformance

/// `tls://` and `wss://` against the reference server with the conformance suite's loopback identity (a certificate
/// for `localhost` and 127.0.0.1): verification on by default (TRN-8), the host checked, `insecure` for development.
@Suite(.serialized) struct TLSClientTests {
    static func withTLSServer(
        host: String = "127.0.0.1",
        _ body: (_ tls: Int, _ wss: Int, _ certificate: String) async throws -> Void
    ) async throws {
        let (files, directory) = try EmbeddedTLSIdentity.writeFiles()
        defer { try? FileManager.default.removeItem(at: directory) }
        let configuration = liveConfiguration {
            $0.tls = files
            $0.tcp = ListenAddress(host: host, port: 0)
            $0.webSocket = nil
            $0.secureWebSocket = ListenAddress(host: host, port: 0)
        }
        try await HeraldServer.withRunningServer(configuration: configuration, logger: quietLogger()) { _, listeners in
            guard let tls = listeners.first(where: { $0.transport == .tls }),
                let wss = listeners.first(where: { $0.transport == .wss })
            else { throw HarnessFailure("no TLS listeners: \(listeners)") }
            try await body(tls.port, wss.port, files.certificateChainPath)
        }
    }

    @Test func verifiesTheServerAndTalksOverTLSAndSecureWebSocket() async throws {
        try await Self.withTLSServer { tls, wss, certificate in
            let trusted = NIOClientConnector(tls: ClientTLSOptions(trustRootsFile: certificate))
            let alice = HeraldClient(
                address: ServerAddress(scheme: .tls, host: "localhost", port: tls),
                appID: liveAppID,
                connector: trusted
            )
            let bob = HeraldClient(
                address: ServerAddress(scheme: .wss, host: "localhost", port: wss),
                appID: liveAppID,
                connector: trusted
            )
            let bobEvents = await EventRecorder(bob)
            try await alice.login(userID: "alice")
            try await bob.login(userID: "bob")
            try await alice.send(HeraldMessage(text: "over TLS"), toPeer: "bob")
            let text = try await bobEvents.next("message") { event -> String? in
                if case .peerMessage(let message) = event { return message.message.text }
                return nil
            }
            #expect(text == "over TLS")
            await alice.close()
            await bob.close()
        }
    }

    @Test func refusesAServerItCannotVerify() async throws {
        try await Self.withTLSServer { tls, _, certificate in
            // The system's roots do not know the self-signed certificate.
            let untrusting = HeraldClient(
                address: ServerAddress(scheme: .tls, host: "localhost", port: tls),
                appID: liveAppID
            )
            let unknown = await #expect(throws: HeraldClientError.self) { try await untrusting.login(userID: "u") }
            #expect(unknown?.code == .connectFailed)
            // Asked for explicitly, for development: no verification.
            let insecure = HeraldClient(
                address: ServerAddress(scheme: .tls, host: "localhost", port: tls),
                appID: liveAppID,
                connector: NIOClientConnector(tls: ClientTLSOptions(insecure: true))
            )
            try await insecure.login(userID: "u")
            await insecure.close()
        }
    }

    @Test func refusesATrustedCertificateForAnotherAddress() async throws {
        // The certificate names localhost and 127.0.0.1; this server is at 127.0.0.2 (RFC 9525).
        try await Self.withTLSServer(host: "127.0.0.2") { tls, _, certificate in
            let wrongHost = HeraldClient(
                address: ServerAddress(scheme: .tls, host: "127.0.0.2", port: tls),
                appID: liveAppID,
                connector: NIOClientConnector(tls: ClientTLSOptions(trustRootsFile: certificate))
            )
            let mismatch = await #expect(throws: HeraldClientError.self) { try await wrongHost.login(userID: "u") }
            #expect(mismatch?.code == .connectFailed)
        }
    }
}

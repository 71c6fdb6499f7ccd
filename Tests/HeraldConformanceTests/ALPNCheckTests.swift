import Foundation
import HeraldServer
import NIOCore
import NIOPosix
import NIOSSL
import Testing

@testable import HeraldConformance

/// The runner's TRN-11 check: on a `tls://` target the server must select the offered ALPN protocol `herald/1`.
@Suite struct ALPNCheckTests {
    /// Runs `body` with a bare TLS listener on 127.0.0.1 that selects from `protocols` (the embedded engine's
    /// certificate) and never speaks Herald.
    static func withTLSListener<Result: Sendable>(
        protocols: [String],
        _ body: (Int, String) async throws -> Result
    ) async throws -> Result {
        let identity = try EmbeddedTLSIdentity.writeFiles()
        defer { try? FileManager.default.removeItem(at: identity.directory) }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(identity.files.certificateChainPath).map {
                .certificate($0)
            },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: identity.files.privateKeyPath, format: .pem))
        )
        configuration.applicationProtocols = protocols
        let context = try NIOSSLContext(configuration: configuration)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        do {
            let result = try await body(server.localAddress?.port ?? 0, identity.files.certificateChainPath)
            try await server.close()
            return result
        } catch {
            try? await server.close()
            throw error
        }
    }

    @Test(
        "a server that selects no protocol or another one fails the connection, naming TRN-11",
        arguments: [
            ([], "selected none"), (["h2", "herald/2"], "selected none"),
        ] as [([String], String)]
    )
    func wrongSelection(protocols: [String], detail: String) async throws {
        try await Self.withTLSListener(protocols: protocols) { port, certificate in
            let target = try Target(parsing: "tls://127.0.0.1:\(port)")
            let connector = try ClientConnector(target: target, tls: TLSClientOptions(trustRootsFile: certificate))
            do {
                _ = try await connector.connect(actor: "alice", recorder: TranscriptRecorder())
                Issue.record("the connection succeeded")
            } catch {
                #expect("\(error)".contains("(TRN-11)"), "\(error)")
                #expect("\(error)".contains(detail), "\(error)")
            }
        }
    }

    @Test func aServerThatSelectsHeraldIsAccepted() async throws {
        try await Self.withTLSListener(protocols: ["h2", "herald/1"]) { port, certificate in
            let target = try Target(parsing: "tls://127.0.0.1:\(port)")
            let connector = try ClientConnector(target: target, tls: TLSClientOptions(trustRootsFile: certificate))
            let connection = try await connector.connect(actor: "alice", recorder: TranscriptRecorder())
            await connection.close()
        }
    }
}

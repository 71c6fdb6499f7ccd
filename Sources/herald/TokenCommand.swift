import ArgumentParser
import Foundation
import HeraldEngine
import HeraldServer

extension Herald {
    /// `herald token …`: tokens for development and scripts (Spec/15-tokens.md).
    struct Token: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "token",
            abstract: "Herald tokens (HS256 JSON Web Tokens, Spec/15-tokens.md).",
            subcommands: [Mint.self]
        )
    }
}

extension Herald.Token {
    /// `herald token mint --app-secret SECRET --user U`: prints a token the server accepts.
    struct Mint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mint",
            abstract: "Print a token for one user, signed with the app secret (§15.2).",
            discussion: """
                The token's claims are aud (the app id), sub (the user), iat (now) and exp (now + --ttl), and iss \
                with --issuer. Give the same secret as the server: --app-secret, or --app-secret-file (for example \
                herald-data/app-secret, which "herald serve" generates).
                """
        )

        @Option(help: "The app id (the token's aud).")
        var appID = "herald-dev"

        @Option(help: "The app secret, at least 32 bytes (TOK-1).")
        var appSecret: String?

        @Option(help: "A file holding the app secret (trailing line breaks are ignored).")
        var appSecretFile: String?

        @Option(help: "The user id (the token's sub).")
        var user: String

        @Option(help: "Lifetime in seconds (exp − iat).")
        var ttl: Int64 = 3600

        @Option(help: "The optional iss claim.")
        var issuer: String?

        func validate() throws {
            if (self.appSecret == nil) == (self.appSecretFile == nil) {
                throw ValidationError("give exactly one of --app-secret and --app-secret-file")
            }
            if self.ttl <= 0 {
                throw ValidationError("--ttl must be positive")
            }
        }

        func run() async throws {
            do {
                let secret =
                    try self.appSecret.map { Array($0.utf8) } ?? AppSecretFile.read(path: self.appSecretFile ?? "")
                let token = try await TokenMinter.mint(
                    appID: self.appID,
                    userID: self.user,
                    secret: secret,
                    issuedAt: Int64(Date().timeIntervalSince1970),
                    lifetimeSeconds: self.ttl,
                    issuer: self.issuer
                )
                Console.output(token + "\n")
            } catch {
                Console.error("herald: error: \(error)")
                throw ExitCode.usage
            }
        }
    }
}

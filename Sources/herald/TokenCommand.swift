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
                with --issuer. Give the same secret as the server: --app-secret-file (for example \
                herald-data/app-secret, which "herald serve" generates), --app-secret, or the HERALD_APP_SECRET \
                environment variable, in that order of precedence.

                The user id must be one the server accepts (Spec/05-session.md §5.2): \(UserIDSyntax.rule). A \
                server that raises max_user_id_bytes accepts longer ones: pass the same --max-user-id-bytes.

                Exit status: 0 the token is printed; 2 a flag is wrong (an invalid user id, an empty app id, a \
                missing, unreadable or short secret).
                """
        )

        @Option(help: "The app id (the token's aud); not empty.")
        var appID = "herald-dev"

        @Option(help: "The app secret, at least 32 bytes (TOK-1); see also HERALD_APP_SECRET.")
        var appSecret: String?

        @Option(help: "A file holding the app secret (trailing line breaks are ignored).")
        var appSecretFile: String?

        @Option(help: "The user id (the token's sub), valid by Spec/05-session.md §5.2.")
        var user: String

        @Option(help: "Lifetime in seconds (exp − iat).")
        var ttl: Int64 = 3600

        @Option(help: "The optional iss claim.")
        var issuer: String?

        @Option(
            name: .customLong("max-user-id-bytes"),
            help:
                "The server's max_user_id_bytes, the longest user id accepted (default \(EngineLimits().maxUserIDBytes))."
        )
        var maxUserIDBytes = EngineLimits().maxUserIDBytes

        func validate() throws {
            if self.appSecret != nil && self.appSecretFile != nil {
                throw ValidationError("give --app-secret or --app-secret-file, not both")
            }
            if self.ttl <= 0 {
                throw ValidationError("--ttl must be positive")
            }
            if self.maxUserIDBytes <= 0 {
                throw ValidationError("--max-user-id-bytes must be positive")
            }
        }

        func run() async throws {
            let secret: [UInt8]
            do throws(UsageError) {
                try self.checkIDs()
                guard
                    let selected = try AppSecretSource.select(
                        secret: self.appSecret,
                        file: self.appSecretFile,
                        environment: ProcessInfo.processInfo.environment
                    )
                else {
                    throw UsageError(
                        "no app secret: give --app-secret-file FILE (herald serve generates herald-data/app-secret), "
                            + "--app-secret SECRET, or set \(AppSecretSource.variable)"
                    )
                }
                secret = selected.secret
            } catch {
                Console.error("error: \(error.message)")
                throw ExitCode.usage
            }
            let token: String
            do {
                token = try await TokenMinter.mint(
                    appID: self.appID,
                    userID: self.user,
                    secret: secret,
                    issuedAt: Int64(Date().timeIntervalSince1970),
                    lifetimeSeconds: self.ttl,
                    issuer: self.issuer
                )
            } catch let error as TokenMinterError {
                Console.error("error: \(error)")
                throw ExitCode.usage
            } catch {
                Console.error("error: cannot sign the token: \(error)")
                throw ExitCode.failure
            }
            Console.output(token + "\n")
        }

        /// Checks the app id and the user id as a server checks a login (Spec/05-session.md §5.2, SES-3).
        func checkIDs() throws(UsageError) {
            if self.appID.isEmpty {
                throw UsageError(
                    "--app-id must not be empty (Spec/05-session.md §5.2: a login's app_id is non-empty and names an "
                        + "app the server serves, SES-3)"
                )
            }
            if let problem = UserIDSyntax.problem(with: self.user, maxBytes: self.maxUserIDBytes) {
                throw UsageError(
                    "--user \(Self.quoted(self.user)) is not a valid user id: \(problem); the server would refuse the "
                        + "login (LOGIN_RESULT_INVALID_ARGUMENT, SES-3). Rule: "
                        + UserIDSyntax.rule.replacingOccurrences(
                            of: "64 by default",
                            with: "\(self.maxUserIDBytes) here"
                        )
                )
            }
        }

        /// `text` in single quotes, with control characters escaped, for messages.
        static func quoted(_ text: String) -> String {
            "'"
                + text.unicodeScalars.map {
                    $0.value < 0x20 || $0.value == 0x7F ? $0.escaped(asASCII: true) : String($0)
                }
                .joined() + "'"
        }
    }
}

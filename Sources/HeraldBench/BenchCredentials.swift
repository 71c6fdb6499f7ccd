import HeraldEngine

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The app a benchmark logs in to and the secret that signs its tokens (Spec/15-tokens.md): the same `--app-id`
/// and secret as the server's.
public struct BenchCredentials: Sendable {
    /// The app id (the token's `aud`, `LoginRequest.app_id`).
    public var appID: String
    /// The app secret, at least ``TokenMinter/minimumSecretLength`` bytes.
    public var secret: [UInt8]
    /// The lifetime of minted tokens, in seconds.
    public var tokenLifetimeSeconds: Int64

    /// Creates credentials.
    public init(appID: String, secret: [UInt8], tokenLifetimeSeconds: Int64 = 3600) {
        self.appID = appID
        self.secret = secret
        self.tokenLifetimeSeconds = tokenLifetimeSeconds
    }

    /// Mints a real token for `userID` with ``TokenMinter`` (HS256, as an app's token issuer would).
    ///
    /// - Throws: ``BenchError`` with ``BenchError/Code/token``.
    public func token(for userID: String) async throws(BenchError) -> String {
        do {
            return try await TokenMinter.mint(
                appID: self.appID,
                userID: userID,
                secret: self.secret,
                issuedAt: Int64(Date().timeIntervalSince1970),
                lifetimeSeconds: self.tokenLifetimeSeconds
            )
        } catch {
            throw BenchError(.token, "cannot mint a token for \(userID): \(error)")
        }
    }

    /// Mints a token for each of `users`, in order, before a measured region (so that signing is not measured).
    ///
    /// - Throws: ``BenchError`` with ``BenchError/Code/token``.
    public func tokens(for users: [String]) async throws(BenchError) -> [String] {
        var tokens: [String] = []
        tokens.reserveCapacity(users.count)
        for user in users { tokens.append(try await self.token(for: user)) }
        return tokens
    }
}

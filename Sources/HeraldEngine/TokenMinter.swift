import JWTKit

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A reason ``TokenMinter`` refused to produce a token.
public struct TokenMinterError: Error, Hashable, CustomStringConvertible {
    /// What is wrong.
    public var description: String

    /// Creates an error.
    public init(description: String) {
        self.description = description
    }
}

/// Issues Herald tokens (Spec/15-tokens.md §15.2), as an app's token issuer would: HS256 JSON Web Tokens signed
/// with jwt-kit.
///
/// Servers never mint tokens; this exists for tools, tests and conformance vectors.
public enum TokenMinter {
    /// The shortest secret accepted (TOK-1).
    public static let minimumSecretLength = 32

    /// Mints a token for `userID` in app `appID`.
    ///
    /// The header is `{"alg":"HS256","typ":"JWT"}`; the claims are `aud` (the app id, as a string), `sub`, `iat`
    /// and `exp` (integers), and `iss` if `issuer` is given.
    ///
    /// - Parameters:
    ///   - appID: The app id, written to `aud`.
    ///   - userID: The user id, written to `sub`.
    ///   - secret: The app secret; at least ``minimumSecretLength`` bytes.
    ///   - issuedAt: The issue time in Unix seconds, written to `iat`.
    ///   - lifetimeSeconds: How long the token is valid; `exp` is `issuedAt + lifetimeSeconds`. Must be positive.
    ///   - issuer: The optional `iss` claim.
    /// - Returns: The token in JWS compact serialization.
    /// - Throws: ``TokenMinterError`` for a short secret or a lifetime that is not positive or overflows; errors of
    ///   jwt-kit if signing fails.
    public static func mint(
        appID: String,
        userID: String,
        secret: [UInt8],
        issuedAt: Int64,
        lifetimeSeconds: Int64,
        issuer: String? = nil
    ) async throws -> String {
        try Self.checkSecret(secret)
        guard lifetimeSeconds > 0 else {
            throw TokenMinterError(description: "the lifetime must be positive, got \(lifetimeSeconds)")
        }
        let (expiresAt, overflow) = issuedAt.addingReportingOverflow(lifetimeSeconds)
        guard !overflow else {
            throw TokenMinterError(description: "issuedAt + lifetimeSeconds overflows")
        }
        let claims = MintedClaims(aud: appID, sub: userID, iat: issuedAt, exp: expiresAt, iss: issuer)
        let collection = JWTKeyCollection()
        await collection.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return try await collection.sign(claims, header: JWTHeader(fields: ["typ": .string("JWT")]))
    }

    /// Signs arbitrary header and claims text: the token is the base64url encodings of the UTF-8 bytes of
    /// `headerJSON` and `claimsJSON`, and of their HMAC-SHA256 under `secret`, joined by `.`.
    ///
    /// Nothing is checked or changed in the two texts, so this produces tokens that a server must refuse (another
    /// `alg`, a `crit` member, missing or mistyped claims) as well as valid ones. Intended for tests and vectors.
    ///
    /// - Throws: ``TokenMinterError`` if `secret` is shorter than ``minimumSecretLength`` bytes; errors of jwt-kit if
    ///   signing fails.
    public static func sign(headerJSON: String, claimsJSON: String, secret: [UInt8]) async throws -> String {
        try Self.checkSecret(secret)
        let signingInput = Base64URL.encode(Array(headerJSON.utf8)) + "." + Base64URL.encode(Array(claimsJSON.utf8))
        let collection = JWTKeyCollection()
        await collection.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        let key = try await collection.getKey()
        let signature = try key.sign(Array(signingInput.utf8))
        return signingInput + "." + Base64URL.encode(signature)
    }

    private static func checkSecret(_ secret: [UInt8]) throws {
        guard secret.count >= Self.minimumSecretLength else {
            throw TokenMinterError(
                description: "a secret must be at least \(Self.minimumSecretLength) bytes (TOK-1), got \(secret.count)"
            )
        }
    }
}

/// The claims of a minted token.
private struct MintedClaims: JWTPayload {
    var aud: String
    var sub: String
    var iat: Int64
    var exp: Int64
    var iss: String?

    /// Claims are checked by ``JWTTokenVerifier``, never by jwt-kit.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

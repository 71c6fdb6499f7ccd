/// The step of token verification that failed (Spec/15-tokens.md §15.3, TOK-7). Raw values are the step numbers.
public enum TokenFailure: Int, Sendable, Hashable, CaseIterable {
    /// Step 1: not three well-formed base64url segments, or header/claims not JSON objects.
    case malformed = 1
    /// Step 2: `alg` is not `HS256`, `crit` present, or `typ` other than `JWT`.
    case header = 2
    /// Step 3: the signature does not verify under any of the app's secrets (or the app has none).
    case signature = 3
    /// Step 4: a required claim is missing or has the wrong type, `exp` ≤ `iat`, or the lifetime is too long.
    case claims = 4
    /// Step 5: `aud` does not name the app.
    case audience = 5
    /// Step 6: `sub` is not the user id.
    case subject = 6
    /// Step 7: `iat` or `nbf` is more than 60 s in the future.
    case notYetValid = 7
    /// Step 8: `exp` is not later than now.
    case expired = 8
}

/// A token that passed verification.
public struct VerifiedToken: Sendable, Hashable {
    /// The token's expiry in Unix milliseconds (`exp` × 1000, TOK-11).
    public var expiresMs: Int64

    /// Creates a verified token.
    public init(expiresMs: Int64) {
        self.expiresMs = expiresMs
    }
}

/// The outcome of verifying a token: a verified token, an accepted tokenless login (app-ID-only mode), or the step
/// that failed.
public enum TokenVerdict: Sendable, Hashable {
    /// The token is valid.
    case verified(VerifiedToken)
    /// The token was empty or `_no_need_token` and the app is in app-ID-only mode (TOK-14).
    case tokenless
    /// Verification failed at this step.
    case failed(TokenFailure)
}

/// Verifies tokens for the engine. ``JWTTokenVerifier`` is the implementation; tests may substitute another.
///
/// Verification is synchronous: it is a computation over the token and the configured secrets, and the engine never
/// waits for a disk or a network (Sources/HeraldEngine/README.md). A deployment whose tokens need a remote check
/// performs it before the login reaches the engine.
public protocol TokenVerifying: Sendable {
    /// Verifies a login token, applying the steps of TOK-7 in order (and TOK-14/TOK-16 for empty tokens).
    func verifyLogin(token: String, appID: String, userID: String, nowMs: Int64) -> TokenVerdict

    /// Verifies a renewal token, applying the steps in the order of TOK-23: steps 1–4 and 7, then 5 and 6, then 8.
    func verifyRenewal(token: String, appID: String, userID: String, nowMs: Int64) -> TokenVerdict
}

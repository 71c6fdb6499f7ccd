import HeraldEngine
import HeraldMutants

// MARK: - Token verifier mutant

/// A token verifier that skips the expiry check (TOK-7 step 8, TOK-12, TOK-23): a token that passes every other step
/// but whose `exp` has passed is accepted, and the session gets an hour.
struct ExpiryIgnoringVerifier: TokenVerifying {
    /// The correct verifier whose verdicts are used otherwise.
    var inner: JWTTokenVerifier
    /// Where the accepted expired tokens are recorded.
    var log: MutationLog

    func verifyLogin(token: String, appID: String, userID: String, nowMs: Int64) -> TokenVerdict {
        let verdict = self.inner.verifyLogin(token: token, appID: appID, userID: userID, nowMs: nowMs)
        return self.ignoringExpiry(verdict, userID: userID, nowMs: nowMs, what: "login")
    }

    func verifyRenewal(token: String, appID: String, userID: String, nowMs: Int64) -> TokenVerdict {
        let verdict = self.inner.verifyRenewal(token: token, appID: appID, userID: userID, nowMs: nowMs)
        return self.ignoringExpiry(verdict, userID: userID, nowMs: nowMs, what: "renewal")
    }

    /// Step 8 is the last step of both orders, so `.failed(.expired)` means every other check passed.
    private func ignoringExpiry(_ verdict: TokenVerdict, userID: String, nowMs: Int64, what: String) -> TokenVerdict {
        guard case .failed(.expired) = verdict else { return verdict }
        self.log.record(userID: userID, "accepted an expired token for \(what)")
        return .verified(VerifiedToken(expiresMs: nowMs + 3_600_000))
    }
}

import HeraldMessages
import HeraldWire
import Logging
import NIOCore
import SwiftProtobuf

extension HeraldEngine {
    // MARK: - Login (Spec/05-session.md §5.2, Spec/15-tokens.md)

    func login(_ request: Herald_V1_LoginRequest, _ context: RequestContext) {
        let connection = context.connection
        // Check 1: the connection has no session (an expired one still counts until it is ended).
        if connection.session != nil {
            self.respond(context, Herald_V1_LoginResponse.with { $0.result = .alreadyLoggedIn })
            return
        }
        // Check 2: login rate, per connection; every login that passed check 1 counts (SES-37, LIM-5).
        if var counter = connection.loginRate {
            let allowed = counter.take(at: context.arrivedMs)  // LIM-24
            connection.loginRate = counter
            if !allowed {
                self.respond(context, Herald_V1_LoginResponse.with { $0.result = .tooOften })
                self.startLoginTimer(connection)
                return
            }
        }
        // Check 3: user id syntax.
        guard Validation.isValidIdentifier(request.userID, maxBytes: self.limits.maxUserIDBytes) else {
            self.failLogin(.invalidArgument, context)
            return
        }
        // Check 4: the app.
        guard !request.appID.isEmpty, self.appsByID[request.appID] != nil else {
            self.failLogin(.invalidAppID, context)
            return
        }
        if self.applyArmedLoginFailure(request, context) { return }  // test control: SES-4, SES-5
        // Check 5: the token, verified synchronously (the engine never suspends in an input).
        let verdict = self.verifier.verifyLogin(
            token: request.token,
            appID: request.appID,
            userID: request.userID,
            nowMs: self.now
        )
        let expiresMs: Int64?
        switch verdict {
        case .tokenless:
            expiresMs = nil
        case .verified(let token):
            expiresMs = token.expiresMs
        case .failed(let failure):
            let result: Herald_V1_LoginResult
            switch failure {
            case .malformed, .header, .signature, .claims, .notYetValid: result = .invalidToken
            case .audience: result = .invalidAppID
            case .subject: result = .notAuthorized
            case .expired: result = .tokenExpired
            }
            self.failLogin(result, context)
            return
        }
        let user = UserKey(appID: request.appID, userID: request.userID)
        // Check 6: operator policy.
        if self.isBanned(user) {
            self.failLogin(.rejected, context)
            return
        }
        // Remote login (SES-20 … SES-22): the earlier session ends before the new one answers.
        var replaced = false
        if let previous = self.sessionsByUser[user] {
            replaced = true
            let oldConnection = previous.connection
            self.sendConnectionState(.aborted, .remoteLogin, on: oldConnection)
            self.endSession(previous, cause: .remoteLogin)
            self.disconnect(oldConnection, reason: .remoteLogin, message: "the user logged in on another connection")
        }
        let session = Session(
            serial: self.nextSessionSerial,
            user: user,
            sessionIDBits: self.idRandom.next(),
            connection: connection,
            startedMs: self.now
        )
        self.nextSessionSerial += 1
        session.tokenExpiresMs = expiresMs
        connection.session = session
        connection.lastSessionEndedByLogout = false
        self.cancelLoginTimer(connection)  // LIM-32: the session has started
        self.sessionsByUser[user] = session
        self.sessionsBySerial[session.serial] = session
        self.respond(
            context,
            Herald_V1_LoginResponse.with {
                $0.result = .ok
                $0.sessionID = session.sessionID
                $0.serverTimeMs = self.now
                $0.tokenExpiresMs = expiresMs ?? 0
            }
        )
        self.sendConnectionState(.connected, .loginSuccess, on: connection)
        self.scheduleTokenTimers(session)
        self.logger.debug("session started", metadata: ["user": "\(user)", "connection": "\(connection.id)"])
        self.presenceSessionStarted(session, replacedEarlierSession: replaced)
        self.peerSessionStarted(session)
        // INV-22: after the cached peer messages; when they are being read, once they have been sent (PEER-51).
        if session.peer.cacheRead == nil { self.invitationsSessionStarted(session) }
    }

    private func failLogin(_ result: Herald_V1_LoginResult, _ context: RequestContext) {
        self.respond(context, Herald_V1_LoginResponse.with { $0.result = result })
        self.startLoginTimer(context.connection)
    }

    /// Schedules the about-to-expire notice and the expiry of the session's current token (TOK-18 … TOK-21).
    func scheduleTokenTimers(_ session: Session) {
        session.tokenGeneration += 1
        self.cancelTokenTimers(session)
        guard let expires = session.tokenExpiresMs else { return }
        let generation = session.tokenGeneration
        let warnAt = expires - self.timerSettings.tokenWillExpireLeadMs
        if warnAt <= self.now {
            self.sendEvent(
                .tokenPrivilegeWillExpire,
                Herald_V1_TokenPrivilegeWillExpire.with { $0.tokenExpiresMs = expires },
                to: session.connection
            )
        } else {
            session.tokenWillExpireTimer = self.timers.schedule(
                .tokenWillExpire(sessionSerial: session.serial, generation: generation),
                at: warnAt
            )
        }
        session.tokenExpiryTimer = self.timers.schedule(
            .tokenExpiry(sessionSerial: session.serial, generation: generation),
            at: expires
        )
    }

    /// Cancels the timers of the session's current token (LIM-32).
    func cancelTokenTimers(_ session: Session) {
        if let handle = session.tokenWillExpireTimer {
            self.timers.cancel(handle)
        }
        if let handle = session.tokenExpiryTimer {
            self.timers.cancel(handle)
        }
        session.tokenWillExpireTimer = nil
        session.tokenExpiryTimer = nil
    }

    /// TOK-20: TokenExpired, ConnectionStateChanged(ABORTED, TOKEN_EXPIRED), end of session, Disconnect.
    func expireToken(of session: Session) {
        guard !session.ended, let expires = session.tokenExpiresMs else { return }
        let connection = session.connection
        self.sendEvent(.tokenExpired, Herald_V1_TokenExpired.with { $0.tokenExpiresMs = expires }, to: connection)
        self.sendConnectionState(.aborted, .tokenExpired, on: connection)
        self.endSession(session, cause: .tokenExpiry)
        self.disconnect(connection, reason: .tokenExpired, message: "the session's token expired")
    }

    // MARK: - Logout (§5.4)

    func logout(_ request: Herald_V1_LogoutRequest, session: Session, _ context: RequestContext) {
        let connection = context.connection
        self.endSession(session, cause: .logout)
        self.respond(context, Herald_V1_LogoutResponse.with { $0.result = .ok })
        self.sendConnectionState(.disconnected, .logout, on: connection)
        self.startLoginTimer(connection)
    }

    // MARK: - Renewal (§15.7)

    func renewToken(_ request: Herald_V1_RenewTokenRequest, session: Session, _ context: RequestContext) {
        let app = self.appsByID[session.user.appID]
        let tokenless = request.token.isEmpty || request.token == "_no_need_token"
        if self.applyArmedRenewalFailure(request, session: session, context) { return }  // test control: TOK-24
        if request.token.isEmpty && !(app?.allowsTokenlessLogin ?? false) {
            self.answerRenewal(.invalidArgument, request, context)
            return
        }
        let verdict = self.verifier.verifyRenewal(
            token: request.token,
            appID: session.user.appID,
            userID: session.user.userID,
            nowMs: self.now
        )
        switch verdict {
        case .failed(let failure):
            let result: Herald_V1_RenewTokenResult
            switch failure {
            case .malformed, .header, .signature, .claims, .notYetValid: result = .invalidToken
            case .audience, .subject: result = .rejected
            case .expired: result = .tokenExpired
            }
            self.answerRenewal(result, request, context)
        case .tokenless:
            _ = tokenless
            session.tokenExpiresMs = nil
            self.scheduleTokenTimers(session)
            self.answerRenewal(.ok, request, context, expiresMs: 0)
        case .verified(let token):
            session.tokenExpiresMs = token.expiresMs
            self.answerRenewal(.ok, request, context, expiresMs: token.expiresMs)
            self.scheduleTokenTimers(session)
        }
    }

    private func answerRenewal(
        _ result: Herald_V1_RenewTokenResult,
        _ request: Herald_V1_RenewTokenRequest,
        _ context: RequestContext,
        expiresMs: Int64 = 0
    ) {
        self.respond(
            context,
            Herald_V1_RenewTokenResponse.with {
                $0.result = result
                $0.token = request.token
                $0.tokenExpiresMs = expiresMs
            }
        )
    }

    // MARK: - End of a session (§5.8)

    /// Ends a session: invitations, outstanding deliveries, channels, presence, attributes (SES-27 … SES-35).
    func endSession(_ session: Session, cause: SessionEndCause) {
        guard !session.ended else { return }
        session.ended = true
        self.cancelTokenTimers(session)  // LIM-32
        let connection = session.connection
        self.logger.debug(
            "session ended",
            metadata: ["user": "\(session.user)", "connection": "\(connection.id)", "cause": "\(cause)"]
        )
        if self.sessionsByUser[session.user] === session {
            self.sessionsByUser[session.user] = nil
        }
        self.sessionsBySerial[session.serial] = nil
        if connection.session === session {
            connection.session = nil
        }
        connection.lastSessionEndedByLogout = cause == .logout
        // Deliveries outstanding to the session stop being outstanding (SES-32); their operations complete below.
        let abandoned = connection.outstanding.filter { $0.value.sessionSerial == session.serial }
        for id in abandoned.keys { connection.outstanding[id] = nil }
        self.invitationsSessionEnded(session, cause: cause)
        self.peerSessionEnded(session, cause: cause, abandoned: Array(abandoned.values))
        self.channelsSessionEnded(session, cause: cause)
        self.presenceSessionEnded(session, cause: cause)
        self.userAttributesSessionEnded(session)
    }
}

import HeraldMessages
import HeraldWire
import Logging
import NIOCore
import SwiftProtobuf

/// How a test-control restart restarts the server (Spec/18-test-control.md).
public enum TestControlRestartMode: Sendable, Hashable {
    /// Every open connection gets `Disconnect` with `DISCONNECT_REASON_SERVER_SHUTDOWN` (HS-57), then the server
    /// serves again.
    case graceful
    /// As if the process had died: transports closed without any frame, everything in memory lost, the state
    /// rebuilt from durable storage alone.
    case crash
}

/// The state of the test-control surface (Spec/18-test-control.md): failures armed by `FailNext` and the ends of
/// bans placed for a duration.
struct TestControlState {
    /// The request kinds `FailNext` makes fail.
    enum Operation: Hashable {
        case login
        case renewToken
    }

    /// Armed failures, consumed by the user's next request of the operation.
    var failNext: [UserKey: [Operation: Herald_V1_TestControlFailure]] = [:]
    /// When a ban placed for a duration ends, in the clock's Unix milliseconds; bans until lifted are not here.
    var banEnds: [UserKey: Int64] = [:]
}

extension HeraldEngine {
    // MARK: - Requests (Spec/18-test-control.md)

    /// Whether `frame` is a `TestControlRequest` the engine handles on `connection`: test control is enabled and
    /// the connection was granted `herald.test-control`. Otherwise the opcode is unknown (FRM-5, EXT-8).
    func isTestControlRequest(_ frame: HeraldFrame, on connection: Connection) -> Bool {
        frame.opcode.rawValue == HeraldOpcodeTable.testControlRequest.opcode.rawValue
            && self.configuration.testControlKey != nil
            && connection.phase == .handshaken
            && connection.has(.testControl)
    }

    /// Processes a `TestControlRequest`: the key first, then the action. The response goes out before the action's
    /// frames to other connections, and before a restart takes effect.
    func testControlRequest(_ frame: HeraldFrame, on connection: Connection) {
        let request: Herald_V1_TestControlRequest
        do {
            request = try frame.decodeMessage(as: Herald_V1_TestControlRequest.self)
        } catch {
            self.sendProtocolError(
                error.code.description,
                error.message,
                opcode: HeraldOpcodeTable.testControlRequest.wireValue,
                requestID: frame.requestID,
                to: connection
            )
            return
        }
        func answer(_ result: Herald_V1_TestControlResult, _ message: String = "") {
            let response = Herald_V1_TestControlResponse.with {
                $0.result = result
                $0.message = message
            }
            do {
                let frame = try HeraldFrame(
                    extensionOpcode: HeraldOpcodeTable.testControlResponse,
                    requestID: frame.requestID,
                    message: response
                )
                self.enqueue(OutboundFrame(header: frame.header, body: frame.payload), to: connection)
            } catch {
                preconditionFailure("cannot build TestControlResponse: \(error)")
            }
        }
        guard let key = self.configuration.testControlKey,
            Self.constantTimeEquals(Array(request.key.utf8), key)
        else {
            self.logger.warning(
                "refused a test-control request with a wrong key",
                metadata: ["connection": "\(connection.id)"]
            )
            answer(.notAuthorized, "the key does not match the server's test-control key")
            return
        }
        func user(_ appID: String, _ userID: String) -> UserKey? {
            guard !appID.isEmpty, !userID.isEmpty else { return nil }
            return UserKey(appID: appID, userID: userID)
        }
        switch request.action {
        case .none:
            answer(.invalidArgument, "no action")
        case .removeUser(let action):
            guard let key = user(action.appID, action.userID) else { return answer(.invalidArgument, "no user") }
            guard let session = self.sessionsByUser[key] else { return answer(.userNotLoggedIn) }
            answer(.ok)
            self.removeByOperator(session)
        case .banUser(let action):
            guard let key = user(action.appID, action.userID) else { return answer(.invalidArgument, "no user") }
            answer(.ok)
            self.bannedUsers.insert(key)
            if action.durationMs > 0 {
                self.testControl.banEnds[key] = self.now + Int64(clamping: action.durationMs)
            } else {
                self.testControl.banEnds[key] = nil
            }
            if let session = self.sessionsByUser[key] {
                self.removeByOperator(session)
            }
        case .liftBan(let action):
            guard let key = user(action.appID, action.userID) else { return answer(.invalidArgument, "no user") }
            self.bannedUsers.remove(key)
            self.testControl.banEnds[key] = nil
            answer(.ok)
        case .expireToken(let action):
            guard let key = user(action.appID, action.userID) else { return answer(.invalidArgument, "no user") }
            guard let session = self.sessionsByUser[key], !session.ended else { return answer(.userNotLoggedIn) }
            answer(.ok)
            // A session without expiry (app-ID-only) reports 0, as its LoginResponse did.
            if session.tokenExpiresMs == nil { session.tokenExpiresMs = 0 }
            self.expireToken(of: session)
        case .restart(let action):
            let mode: TestControlRestartMode
            switch action.mode {
            case .graceful: mode = .graceful
            case .crash: mode = .crash
            default: return answer(.invalidArgument, "the restart mode must be GRACEFUL or CRASH")
            }
            guard let restarts = self.restartRequests else {
                return answer(.unsupported, "this engine runs without a host that can restart it")
            }
            answer(.ok)
            // The response is written before the host restarts anything.
            self.flushDirty()
            restarts.yield(mode)
        case .failNext(let action):
            guard let key = user(action.appID, action.userID) else { return answer(.invalidArgument, "no user") }
            let operation: TestControlState.Operation
            switch action.operation {
            case .login: operation = .login
            case .renewToken: operation = .renewToken
            default: return answer(.invalidArgument, "the operation must be LOGIN or RENEW_TOKEN")
            }
            switch action.failure {
            case .internal: break
            case .overrun:
                // Only a login has a result for checks that overrun (SES-4).
                guard operation == .login else {
                    return answer(.unsupported, "RenewTokenRequest has no result for an overrun")
                }
            default: return answer(.invalidArgument, "the failure must be INTERNAL or OVERRUN")
            }
            self.testControl.failNext[key, default: [:]][operation] = action.failure
            answer(.ok)
        }
    }

    /// SES-25: `ConnectionStateChanged` (ABORTED, BANNED_BY_SERVER), the end of the session with the cause
    /// "banned", `Disconnect` BANNED and the close of the transport.
    func removeByOperator(_ session: Session) {
        let connection = session.connection
        self.sendConnectionState(.aborted, .bannedByServer, on: connection)
        self.endSession(session, cause: .banned)
        self.disconnect(connection, reason: .banned, message: "removed by the server operator")
    }

    /// Whether a ban on `user` is in force now (SES-26); a ban whose duration has run out is lifted here.
    func isBanned(_ user: UserKey) -> Bool {
        if let end = self.testControl.banEnds[user], self.now >= end {
            self.testControl.banEnds[user] = nil
            self.bannedUsers.remove(user)
        }
        return self.bannedUsers.contains(user)
    }

    // MARK: - Armed failures

    /// Applies a failure armed for the user's next `LoginRequest`, if any: SES-5 (`LOGIN_RESULT_UNKNOWN` now) or
    /// SES-4 (the checks stall; `LOGIN_RESULT_TIMEOUT` when `login_timeout_ms` has passed since the request).
    /// Either way no session is created.
    ///
    /// - Returns: Whether the login was taken over (the caller stops processing it).
    func applyArmedLoginFailure(_ request: Herald_V1_LoginRequest, _ context: RequestContext) -> Bool {
        let key = UserKey(appID: request.appID, userID: request.userID)
        guard let failure = self.testControl.failNext[key]?.removeValue(forKey: .login) else { return false }
        let connection = context.connection
        switch failure {
        case .overrun:
            connection.loginInProgress = true
            self.timers.schedule(
                .testControlLoginOverrun(context.pending),
                at: context.now + self.timerSettings.loginTimeoutMs
            )
        default:
            self.logger.notice("test control: failing a login internally", metadata: ["user": "\(key)"])
            self.respond(context, Herald_V1_LoginResponse.with { $0.result = .unknown })
            self.startLoginTimer(connection)
        }
        return true
    }

    /// The checks of a login stalled by ``applyArmedLoginFailure(_:_:)`` overran `login_timeout_ms` (SES-4).
    func loginOverrun(_ pending: PendingResponse) {
        guard let connection = self.connections[pending.connectionID], connection.phase == .handshaken else { return }
        connection.loginInProgress = false
        self.respond(pending, Herald_V1_LoginResponse.with { $0.result = .timeout })
        self.startLoginTimer(connection)
    }

    /// Applies a failure armed for the session's next `RenewTokenRequest`, if any (TOK-24): the answer is
    /// `RENEW_TOKEN_RESULT_FAILURE` and the session's token stays as it was.
    ///
    /// - Returns: Whether the renewal was answered.
    func applyArmedRenewalFailure(
        _ request: Herald_V1_RenewTokenRequest,
        session: Session,
        _ context: RequestContext
    ) -> Bool {
        guard self.testControl.failNext[session.user]?.removeValue(forKey: .renewToken) != nil else { return false }
        self.respond(
            context,
            Herald_V1_RenewTokenResponse.with {
                $0.result = .failure
                $0.token = request.token
            }
        )
        return true
    }

    // MARK: - Crash

    /// Stops the engine as if its process had died: every transport is closed without a further frame, nothing
    /// queued is written, no session is ended (no other client hears of it), and later inputs are ignored. The
    /// host then builds a new engine over the same durable storage.
    public func crash() {
        self.isCrashed = true
        self.isShutDown = true
        // Operations not yet handed to the store are lost, as in a crash of the process.
        self.offline.unsubmitted.removeAll()
        self.timers = TimerQueue()
        self.dirty.removeAll()
        let open = self.connections.values.sorted { $0.id < $1.id }
        self.connections.removeAll()
        for connection in open {
            connection.queuedInputs.removeAll()
            connection.pending = OutboundBytes()
            connection.isDirty = false
            connection.phase = .closed
            connection.sink.close()
        }
    }

    /// Compares two byte strings in time that depends only on their lengths, not on where they differ.
    static func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: lhs.count ^ rhs.count)
        let count = max(lhs.count, rhs.count)
        for index in 0..<count {
            let left = index < lhs.count ? lhs[index] : 0
            let right = index < rhs.count ? rhs[index] : 0
            difference |= left ^ right
        }
        return difference == 0 && lhs.count == rhs.count
    }
}

import HeraldMessages
import HeraldWire
import NIOCore
import SwiftProtobuf
import Synchronization

/// A Herald client: one user's connection to a Herald server, with the whole RTM SDK surface.
///
/// Create it with the server's address and the app id, ``login(userID:token:)``, then send and receive. The client
/// does the protocol's duties for the app: the `Hello`/`Welcome` handshake, heartbeats (HS-41), delivery
/// acknowledgements once the app has the event (HS-47), per-stream `seq` checks (EXT-29), responses matched by
/// request id (HS-37, HS-76), and reconnection with capped, jittered backoff that logs in again, rejoins channels
/// and resubscribes (``HeraldClientEvent/restored(_:)`` says what it could not restore).
///
/// ```swift
/// let client = HeraldClient(address: try ServerAddress(parsing: "tcp://localhost"), appID: "demo")
/// try await client.login(userID: "alice", token: token)
/// try await client.send(HeraldMessage(text: "hi"), toPeer: "bob")
/// ```
///
/// Every operation throws a ``HeraldClientError``; a request in flight when the connection is lost fails with
/// ``HeraldClientError/Code/connectionLost`` and never hangs.
public actor HeraldClient {
    /// How a client connects and behaves.
    public struct Configuration: Sendable {
        /// The server.
        public var address: ServerAddress
        /// The app id sent in `LoginRequest`.
        public var appID: String
        /// `Hello.client_name`.
        public var clientName = "HeraldClient"
        /// The capabilities to ask for; empty asks for every capability the server offers (HS-15).
        public var capabilities: [String] = []
        /// The longest payload the client accepts from the server (its receive limit, HS-28).
        public var maximumPayloadLength = HeraldFrameHeader.defaultMaximumPayloadLength
        /// How long a request may wait for its response.
        public var requestTimeoutMs: Int64 = 10_000
        /// The delay before the first reconnection attempt; it doubles per attempt up to ``reconnectMaximumDelayMs``
        /// and each delay is drawn at random from its upper half (jitter).
        public var reconnectInitialDelayMs: Int64 = 500
        /// The longest delay between reconnection attempts.
        public var reconnectMaximumDelayMs: Int64 = 30_000
        /// Whether to reconnect at all after a lost connection.
        public var reconnects = true

        /// Creates a configuration.
        public init(address: ServerAddress, appID: String) {
            self.address = address
            self.appID = appID
        }
    }

    /// The configuration.
    public nonisolated let configuration: Configuration
    /// `login_timeout_ms` when the server advertises 0 (Spec/14-limits.md).
    static let defaultLoginTimeoutMs: Int64 = 10_000
    private let connector: any ClientConnector
    /// The clock every timer of the client reads.
    public nonisolated let clock: any ClientClock

    // MARK: Connection

    private var transport: (any ClientTransport)?
    private var generation = 0
    private var disconnectReceived = false
    private var lastDisconnect: DisconnectReason?
    private var lastSentMs: Int64 = 0
    private var lastReceivedMs: Int64 = 0
    /// The server's `Welcome` on the current connection.
    public private(set) var welcome: Herald_V1_Welcome?
    private var granted: Set<String> = []

    /// The connection state (the successor of Signaling's `getStatus`).
    public private(set) var connectionState: ConnectionState = .disconnected
    /// Why the state last changed.
    public private(set) var connectionChangeReason: ConnectionChangeReason = .unspecified

    // MARK: Session

    /// The logged-in user; empty before the first login.
    public private(set) var userID = ""
    private var token = ""
    /// The server's id of the session; empty without one.
    public private(set) var sessionID = ""
    private var resumeHandle = ""
    /// When the session's token expires, in Unix milliseconds; 0 for app-ID-only login.
    public private(set) var tokenExpiresMs: Int64 = 0
    private var hasSession = false

    // MARK: Requests and streams

    private struct Pending {
        var continuation: CheckedContinuation<Result<HeraldFrame, HeraldClientError>, Never>
        var deadlineMs: Int64
        var opcode: Herald_V1_Opcode
    }

    private var restoredWaiters: [(deadlineMs: Int64, continuation: CheckedContinuation<Bool, Never>)] = []
    /// How many requests were sent again after a reconnection (with their idempotency keys).
    public private(set) var retriedRequests = 0
    private var nextRequestID: UInt32 = 1
    private var pending: [UInt32: Pending] = [:]
    private var pings: Set<UInt32> = []
    private var userSeq: UInt64 = 0
    /// Streams whose next event may skip numbers: those of a resumed session, until their first event (17.8).
    private var resumedStreams: Set<String> = []
    private var channelSeq: [String: UInt64] = [:]
    /// The channels the client is in.
    public private(set) var joinedChannels: Set<String> = []
    private var legacyMemberListChannels: Set<String> = []
    /// The channels the app joined and has not left: what a reconnection rejoins.
    private var wantedChannels: Set<String> = []
    /// The peers whose online state the client is subscribed to.
    public private(set) var subscribedPeers: Set<String> = []
    private var localInvitations: [String: LocalInvitation] = [:]
    private var remoteInvitations: [String: RemoteInvitation] = [:]

    // MARK: Subscribers and tasks

    private struct Subscriber {
        var filter: @Sendable (HeraldClientEvent) -> Bool
        var continuation: AsyncStream<HeraldClientEvent>.Continuation
    }

    private var subscribers: [Int: Subscriber] = [:]
    private var nextSubscriber = 0
    private var ticker: Task<Void, Never>?
    private var reconnection: Task<Void, Never>?
    var delegateTask: Task<Void, Never>?
    private var closed = false

    /// Creates a client; nothing is sent before ``login(userID:token:)``.
    ///
    /// - Parameters:
    ///   - connector: Opens connections; ``NIOClientConnector`` by default.
    ///   - clock: The clock of every timer; tests pass a ``ManualClientClock``.
    public init(
        configuration: Configuration,
        connector: any ClientConnector = NIOClientConnector(),
        clock: any ClientClock = SystemClientClock()
    ) {
        self.configuration = configuration
        self.connector = connector
        self.clock = clock
    }

    /// Creates a client for `address` and `appID` with the default configuration (`initWithAppId`,
    /// `createRtmService`).
    public init(address: ServerAddress, appID: String, connector: any ClientConnector = NIOClientConnector()) {
        self.init(configuration: Configuration(address: address, appID: appID), connector: connector)
    }

    /// The invitation half of the client (`getRtmCallKit`, `getRtmCallManager`).
    public nonisolated var callManager: CallManager { CallManager(client: self) }

    /// A channel object (`createChannelWithId`, `createChannel`); nothing is sent until it is joined.
    public nonisolated func channel(_ id: String) -> HeraldChannel { HeraldChannel(id: id, client: self) }

    // MARK: - Events

    /// A new stream of every event of the client, from now on; it ends when the client is closed.
    ///
    /// The stream keeps every event until it is read: read it, or let it go (its subscription ends when the stream
    /// is discarded). An event is acknowledged to the server (HS-47) once it is in the app's streams.
    public func events() -> AsyncStream<HeraldClientEvent> {
        self.events(where: { _ in true })
    }

    /// A new stream of the events `filter` accepts.
    public func events(where filter: @escaping @Sendable (HeraldClientEvent) -> Bool) -> AsyncStream<HeraldClientEvent>
    {
        let (stream, continuation) = AsyncStream<HeraldClientEvent>.makeStream()
        guard !self.closed else {
            continuation.finish()
            return stream
        }
        let id = self.nextSubscriber
        self.nextSubscriber += 1
        self.subscribers[id] = Subscriber(filter: filter, continuation: continuation)
        continuation.onTermination = { [weak self] _ in
            Task { await self?.removeSubscriber(id) }
        }
        return stream
    }

    private func removeSubscriber(_ id: Int) {
        self.subscribers[id] = nil
    }

    private func emit(_ event: HeraldClientEvent) {
        for subscriber in self.subscribers.values where subscriber.filter(event) {
            subscriber.continuation.yield(event)
        }
    }

    /// Waits until a reconnection has restored the session (`true`), or has failed, or `deadlineMs` passed.
    private func restored(before deadlineMs: Int64) async -> Bool {
        await withCheckedContinuation { continuation in
            self.restoredWaiters.append((deadlineMs, continuation))
        }
    }

    /// Resumes the waiters of ``restored(before:)``: all with `outcome`, or with `nil` those whose deadline is past.
    private func resumeRestoredWaiters(_ outcome: Bool?) {
        let now = self.clock.nowMs()
        var kept: [(deadlineMs: Int64, continuation: CheckedContinuation<Bool, Never>)] = []
        for waiter in self.restoredWaiters {
            if let outcome {
                waiter.continuation.resume(returning: outcome)
            } else if waiter.deadlineMs <= now {
                waiter.continuation.resume(returning: false)
            } else {
                kept.append(waiter)
            }
        }
        self.restoredWaiters = kept
    }

    private func setState(_ state: ConnectionState, _ reason: ConnectionChangeReason) {
        if state == .disconnected || state == .aborted { self.resumeRestoredWaiters(false) }
        guard state != self.connectionState || reason != self.connectionChangeReason else { return }
        self.connectionState = state
        self.connectionChangeReason = reason
        self.emit(.connectionStateChanged(state, reason: reason))
    }

    // MARK: - Login and logout

    /// Logs in (`loginByToken`, `login`): opens the connection, negotiates, and starts a session.
    ///
    /// - Parameters:
    ///   - token: The token; empty for app-ID-only login where the server allows it.
    /// - Throws: ``HeraldClientError``: ``HeraldClientError/Code/operationFailed`` with the `LoginResult`,
    ///   ``HeraldClientError/Code/connectFailed``, ``HeraldClientError/Code/handshakeFailed``,
    ///   ``HeraldClientError/Code/alreadyLoggedIn``.
    public func login(userID: String, token: String = "") async throws(HeraldClientError) {
        guard !self.closed else { throw HeraldClientError(.clientClosed) }
        guard self.connectionState == .disconnected || self.connectionState == .aborted else {
            throw HeraldClientError(.alreadyLoggedIn, "the client is \(self.connectionState)")
        }
        self.userID = userID
        self.token = token
        self.endSession()
        self.legacyMemberListChannels = []
        self.setState(.connecting, .login)
        do {
            try await self.openConnection()
            _ = try await self.sendLogin()
        } catch {
            self.dropTransport()
            // Spec/05-session.md rows 3 and 4: a LoginResponse that refuses is LOGIN_FAILURE; no LoginResponse in
            // time, or no transport or Welcome, is LOGIN_TIMEOUT.
            self.setState(.disconnected, error.code == .operationFailed ? .loginFailure : .loginTimeout)
            throw error
        }
        self.setState(.connected, .loginSuccess)
        self.startTicker()
        // The connection may have ended in the same read as the LoginResponse.
        if self.transport == nil { self.connectionLost() }
    }

    /// Logs out (`logoutWithCompletion`, `logout`) and closes the connection once the server has answered
    /// (TRN-28).
    public func logout() async throws(HeraldClientError) {
        self.reconnection?.cancel()
        self.reconnection = nil
        guard self.hasSession, self.transport != nil, self.connectionState == .connected else {
            let wasLoggedIn = self.connectionState != .disconnected
            self.endSession()
            self.dropTransport()
            if wasLoggedIn { self.setState(.disconnected, .logout) }
            guard wasLoggedIn else { throw HeraldClientError(.notLoggedIn) }
            return
        }
        let response = try await self.request(Herald_V1_LogoutRequest(), Herald_V1_LogoutResponse.self)
        self.endSession()
        self.dropTransport()
        self.setState(.disconnected, .logout)
        try Self.check(response.result, of: response, "logout")
    }

    /// Renews the session's token (`renewToken`).
    ///
    /// - Returns: When the new token expires, in Unix milliseconds.
    @discardableResult
    public func renewToken(_ token: String) async throws(HeraldClientError) -> Int64 {
        var request = Herald_V1_RenewTokenRequest()
        request.token = token
        let response = try await self.request(request, Herald_V1_RenewTokenResponse.self)
        try Self.check(response.result, of: response, "renew the token")
        self.token = token
        self.tokenExpiresMs = response.tokenExpiresMs
        return response.tokenExpiresMs
    }

    /// Logs out if logged in, stops every timer and ends every event stream (`destroy`, `release`).
    public func close() async {
        if self.hasSession && self.connectionState == .connected {
            try? await self.logout()
        }
        self.closed = true
        self.reconnection?.cancel()
        self.delegateTask?.cancel()
        self.ticker?.cancel()
        self.ticker = nil
        self.dropTransport()
        self.failPending(HeraldClientError(.clientClosed))
        self.resumeRestoredWaiters(false)
        for subscriber in self.subscribers.values { subscriber.continuation.finish() }
        self.subscribers = [:]
    }

    private func endSession() {
        self.endInvitations()
        self.hasSession = false
        self.sessionID = ""
        self.resumeHandle = ""
        self.joinedChannels = []
        self.wantedChannels = []
        self.channelSeq = [:]
        self.subscribedPeers = []
    }

    /// Opens a transport and does the handshake (HS-1, HS-13, HS-25).
    private func openConnection() async throws(HeraldClientError) {
        self.generation += 1
        let generation = self.generation
        let (stream, continuation) = AsyncStream<ClientTransportEvent>.makeStream()
        let transport = try await self.connector.connect(
            to: self.configuration.address,
            maximumPayloadLength: self.configuration.maximumPayloadLength
        ) { event in
            continuation.yield(event)
            if case .closed = event { continuation.finish() }
        }
        guard generation == self.generation, !self.closed else {
            transport.close()
            throw HeraldClientError(.clientClosed)
        }
        self.transport = transport
        self.disconnectReceived = false
        self.lastDisconnect = nil
        self.welcome = nil
        self.granted = []
        let now = self.clock.nowMs()
        self.lastSentMs = now
        self.lastReceivedMs = now
        Task { [weak self] in
            for await event in stream {
                await self?.transportEvent(event, generation: generation)
            }
        }
        var hello = Herald_V1_Hello()
        hello.versions = [1]
        hello.clientName = self.configuration.clientName
        hello.capabilities = self.configuration.capabilities
        hello.maxPayloadLength = UInt32(self.configuration.maximumPayloadLength)
        let frame = try await self.exchange(.hello, hello)
        guard frame.opcode == .welcome, let welcome = try? frame.decodeMessage(as: Herald_V1_Welcome.self) else {
            self.dropTransport()
            throw HeraldClientError(.handshakeFailed, "the server answered Hello with \(frame.opcode)")
        }
        guard welcome.version == 1 else {
            // HS-13: a version the client did not offer closes the transport without another frame.
            self.dropTransport()
            throw HeraldClientError(.handshakeFailed, "the server chose version \(welcome.version), not 1")
        }
        self.welcome = welcome
        self.granted = Set(welcome.capabilities)
        self.startTicker()
    }

    /// Sends `LoginRequest` (with the resume handle when reconnecting); returns whether the session was resumed.
    private func sendLogin() async throws(HeraldClientError) -> Bool {
        var request = Herald_V1_LoginRequest()
        request.appID = self.configuration.appID
        request.userID = self.userID
        request.token = self.token
        request.resumeHandle = self.resumeHandle
        let previousSession = self.sessionID
        // SES-19: the login waits `login_timeout_ms` as advertised (0: the default, HS-25), then the caller closes
        // the transport.
        let advertised = Int64(self.welcome?.timers.loginTimeoutMs ?? 0)
        let response = try await self.request(
            request,
            Herald_V1_LoginResponse.self,
            needsSession: false,
            timeoutMs: advertised > 0 ? advertised : Self.defaultLoginTimeoutMs
        )
        try Self.check(response.result, of: response, "log in as '\(self.userID)'")
        let resumed = !previousSession.isEmpty && response.sessionID == previousSession && !self.resumeHandle.isEmpty
        self.hasSession = true
        self.sessionID = response.sessionID
        self.resumeHandle = response.resumeHandle
        self.tokenExpiresMs = response.tokenExpiresMs
        return resumed
    }

    // MARK: - Requests

    /// Sends `message` and returns the response (HS-37); checks the session and the capability first (HS-19).
    ///
    /// With `retry`, the request carries an idempotency key (`message` has one set), and a request whose connection
    /// was lost before its answer is sent again, identical and with the same key (EXT-17, EXT-18), once the client
    /// has reconnected and restored its channels, if that happens before the request's deadline: for the requests
    /// whose key outlives the session (17.6), so that the server can recognise the retry.
    func request<Response: SwiftProtobuf.Message>(
        _ message: some SwiftProtobuf.Message,
        _ responseType: Response.Type,
        needsSession: Bool = true,
        retry: Bool = false,
        timeoutMs: Int64? = nil
    ) async throws(HeraldClientError) -> Response {
        guard let info = HeraldOpcodeTable.info(forMessageType: type(of: message)) else {
            throw HeraldClientError(.invalidArgument, "\(type(of: message)) is not a request")
        }
        if needsSession {
            guard self.hasSession, self.connectionState == .connected else {
                throw HeraldClientError(
                    .notLoggedIn,
                    "\(info.name) needs a session; the client is \(self.connectionState)"
                )
            }
        }
        if let capability = Self.capability(of: info.opcode), !self.granted.contains(capability) {
            throw HeraldClientError(.capabilityNotGranted, "the server did not grant '\(capability)' (HS-19)")
        }
        let deadline = self.clock.nowMs() + (timeoutMs ?? self.configuration.requestTimeoutMs)
        let frame: HeraldFrame
        do {
            frame = try await self.exchange(info.opcode, message, deadlineMs: deadline)
        } catch  where retry && error.code == .connectionLost && self.connectionState == .reconnecting {
            guard await self.restored(before: deadline) else { throw error }
            self.retriedRequests += 1
            frame = try await self.exchange(info.opcode, message, deadlineMs: deadline)
        }
        guard frame.opcode == info.responseOpcode else {
            throw HeraldClientError(.protocolError, "\(info.name) was answered with \(frame.opcode)")
        }
        do {
            return try frame.decodeMessage(as: Response.self)
        } catch {
            // HS-70: a malformed payload ends the connection.
            self.fault("the server's \(frame.opcode) does not decode: \(error)")
            throw HeraldClientError(.protocolError, "the response does not decode: \(error)")
        }
    }

    /// Sends a request frame and waits for the frame that answers it.
    private func exchange(
        _ opcode: Herald_V1_Opcode,
        _ message: some SwiftProtobuf.Message,
        deadlineMs: Int64? = nil
    ) async throws(HeraldClientError) -> HeraldFrame {
        guard let transport = self.transport, !self.disconnectReceived else {
            throw HeraldClientError(.connectionLost, "not connected")
        }
        let requestID = self.allocateRequestID()
        let frame: HeraldFrame
        do {
            frame = try HeraldFrame(opcode: opcode, requestID: requestID, message: message)
        } catch {
            throw HeraldClientError(.invalidArgument, "cannot encode \(opcode): \(error)")
        }
        let limit = Int(self.welcome?.limits.maxPayloadLength ?? 0)
        let maximum = limit == 0 ? HeraldFrameHeader.defaultMaximumPayloadLength : limit
        guard frame.payload.readableBytes <= maximum else {
            throw HeraldClientError(
                .invalidArgument,
                "the \(opcode) payload is \(frame.payload.readableBytes) bytes; the server accepts \(maximum)"
            )
        }
        let deadline = deadlineMs ?? self.clock.nowMs() + self.configuration.requestTimeoutMs
        let result = await withCheckedContinuation { continuation in
            self.pending[requestID] = Pending(continuation: continuation, deadlineMs: deadline, opcode: opcode)
            self.write([frame], on: transport)
        }
        return try result.get()
    }

    /// A request id not in flight (HS-31), never 0.
    private func allocateRequestID() -> UInt32 {
        while true {
            let id = self.nextRequestID
            self.nextRequestID = self.nextRequestID == UInt32.max ? 1 : self.nextRequestID + 1
            if self.pending[id] == nil && !self.pings.contains(id) { return id }
        }
    }

    private func write(_ frames: [HeraldFrame], on transport: any ClientTransport) {
        transport.send(frames)
        self.lastSentMs = self.clock.nowMs()
    }

    private func failPending(_ error: HeraldClientError) {
        let pending = self.pending
        self.pending = [:]
        self.pings = []
        for entry in pending.values { entry.continuation.resume(returning: .failure(error)) }
    }

    static func check(
        _ result: some SwiftProtobuf.Enum,
        of response: some SwiftProtobuf.Message,
        _ what: String
    ) throws(HeraldClientError) {
        guard result.rawValue != 0 else { return }
        // EXT-13: an unknown result value is a failure too.
        throw HeraldClientError(.operationFailed, "cannot \(what)", result: .init(result, of: response))
    }

    /// The capability of an opcode's group (Spec/03-framing.md opcode table).
    static func capability(of opcode: Herald_V1_Opcode) -> String? {
        if opcode == .channelMemberList { return "legacy-signaling" }
        switch opcode.rawValue >> 8 {
        case 0x02: return "peer-messages"
        case 0x03: return "presence"
        case 0x04: return "user-attributes"
        case 0x05: return "channels"
        case 0x06: return "channel-messages"
        case 0x07: return "channel-attributes"
        case 0x08: return "invitations"
        case 0x09: return "legacy-signaling"
        default: return nil
        }
    }

    // MARK: - Timers

    private func startTicker() {
        guard self.ticker == nil else { return }
        self.ticker = Task { [weak self, clock] in
            while !Task.isCancelled {
                guard let interval = await self?.tickIntervalMs else { return }
                do { try await clock.sleep(untilMs: clock.nowMs() + interval) } catch { return }
                await self?.tick()
            }
        }
    }

    private var tickIntervalMs: Int64 {
        max(10, min(250, self.heartbeatIntervalMs / 4))
    }

    private var heartbeatIntervalMs: Int64 {
        let value = Int64(self.welcome?.timers.heartbeatIntervalMs ?? 0)
        return value == 0 ? 5000 : value  // HS-25: zero means the protocol default
    }

    private var idleTimeoutMs: Int64 {
        let value = Int64(self.welcome?.timers.idleTimeoutMs ?? 0)
        return value == 0 ? 30_000 : value
    }

    /// Runs the timers due at the clock's time: request timeouts, heartbeats (HS-41) and the silence check (HS-44).
    /// The client's own task calls it; a test with a ``ManualClientClock`` may call it after advancing the clock.
    public func tick() {
        let now = self.clock.nowMs()
        self.resumeRestoredWaiters(nil)
        let expired = self.pending.filter { $0.value.deadlineMs <= now }
        for (id, entry) in expired {
            self.pending[id] = nil
            entry.continuation.resume(
                returning: .failure(HeraldClientError(.timeout, "no answer to \(entry.opcode) in time"))
            )
        }
        guard let transport = self.transport, !self.disconnectReceived, self.welcome != nil else { return }
        if now - self.lastReceivedMs >= self.idleTimeoutMs {
            // HS-44: nothing from the server for idle_timeout_ms although the client kept sending.
            self.fault("the server sent nothing for \(self.idleTimeoutMs) ms")
            return
        }
        if now - self.lastSentMs >= self.heartbeatIntervalMs {
            let id = self.allocateRequestID()
            var ping = Herald_V1_Ping()
            ping.clientTimeMs = now
            if let frame = try? HeraldFrame(opcode: .ping, requestID: id, message: ping) {
                self.pings.insert(id)
                self.write([frame], on: transport)
            }
        }
    }

    // MARK: - Inbound

    private func transportEvent(_ event: ClientTransportEvent, generation: Int) {
        guard generation == self.generation else { return }
        switch event {
        case .frames(let frames):
            self.lastReceivedMs = self.clock.nowMs()
            var acks: [HeraldFrame] = []
            for frame in frames where generation == self.generation {
                self.handle(frame, acks: &acks)
            }
            if !acks.isEmpty, let transport = self.transport, !self.disconnectReceived {
                self.write(acks, on: transport)
            }
        case .failed(let why):
            self.emit(.protocolFault(why))
        case .closed:
            self.connectionEnded()
        }
    }

    private func handle(_ frame: HeraldFrame, acks: inout [HeraldFrame]) {
        guard let info = frame.opcodeInfo else { return }
        switch info.kind {
        case .response:
            if self.pings.remove(frame.requestID) != nil { return }
            guard let entry = self.pending.removeValue(forKey: frame.requestID) else { return }
            self.applyResponse(frame)
            entry.continuation.resume(returning: .success(frame))
        case .event:
            let accepted: Bool
            do {
                accepted = try self.handleEvent(frame)
            } catch {
                self.fault("the server's \(info.name) does not decode: \(error)")
                return
            }
            if frame.flags.contains(.ackRequired) {
                var ack = Herald_V1_DeliveryAck()
                ack.result = accepted ? .accepted : .incompatible
                if let frame = try? HeraldFrame(opcode: .deliveryAck, requestID: frame.requestID, message: ack) {
                    acks.append(frame)
                }
            }
        default:
            self.fault("the server sent a \(info.kind) frame (\(info.name))")
        }
    }

    /// Updates the streams and objects a response changes, before its awaiting caller resumes, so that events
    /// that follow it in the same read find them updated.
    private func applyResponse(_ frame: HeraldFrame) {
        switch frame.opcode {
        case .loginResponse:
            // Decided when the response arrives, not when the login's task resumes: events that follow it in the
            // same read are already handled by then (a resumed stream's first event may skip numbers, 17.8).
            if let response = try? frame.decodeMessage(as: Herald_V1_LoginResponse.self), response.result == .ok {
                if response.sessionID != self.sessionID || self.resumeHandle.isEmpty {
                    self.userSeq = 0
                    self.channelSeq = [:]
                    self.resumedStreams = []
                } else {
                    self.resumedStreams = Set(["user"] + self.channelSeq.keys.map { "channel:\($0)" })
                }
            }
        case .joinChannelResponse:
            if let response = try? frame.decodeMessage(as: Herald_V1_JoinChannelResponse.self), response.result == .ok {
                self.joinedChannels.insert(response.channelID)
                self.channelSeq[response.channelID] = 0
            }
        case .leaveChannelResponse:
            if let response = try? frame.decodeMessage(as: Herald_V1_LeaveChannelResponse.self),
                response.result == .ok || response.result == .notInChannel
            {
                self.joinedChannels.remove(response.channelID)
                self.channelSeq[response.channelID] = nil
            }
        case .sendInvitationResponse:
            if let response = try? frame.decodeMessage(as: Herald_V1_SendInvitationResponse.self),
                response.result == .ok, let invitation = self.localInvitations[response.invitationID],
                invitation.state == .idle
            {
                self.update(invitation, to: .sentToRemote)
            }
        case .acceptInvitationResponse:
            if let response = try? frame.decodeMessage(as: Herald_V1_AcceptInvitationResponse.self),
                response.result == .ok, let invitation = self.remoteInvitations[response.invitationID],
                invitation.state == .invitationReceived
            {
                self.update(invitation, to: .acceptSentToLocal)
            }
        case .refuseInvitationResponse:
            if let response = try? frame.decodeMessage(as: Herald_V1_RefuseInvitationResponse.self),
                response.result == .ok, let invitation = self.remoteInvitations[response.invitationID],
                !invitation.isEnded
            {
                self.update(invitation, to: .refused)
            }
        default:
            break
        }
    }

    /// Checks a stream event's `seq` (EXT-29): `false` for a repeat, which is dropped; a gap is reported and ends
    /// the connection after the event is delivered.
    private func checkSeq(_ seq: UInt64, channel: String?) -> Bool {
        let last = channel.map { self.channelSeq[$0] ?? 0 } ?? self.userSeq
        let stream = channel.map { "channel '\($0)'" } ?? "user stream"
        if seq <= last {
            self.fault("\(stream): seq \(seq) repeats (last was \(last)) (EXT-29)")
            return false
        }
        if let channel { self.channelSeq[channel] = seq } else { self.userSeq = seq }
        let key = channel.map { "channel:\($0)" } ?? "user"
        if self.resumedStreams.remove(key) != nil {
            if seq != last + 1 { self.emit(.missedEvents(stream: key, seq: (last + 1)...(seq - 1))) }
        } else if seq != last + 1 {
            self.fault("\(stream): seq \(seq) follows \(last): \(seq - last - 1) events missing (EXT-29)")
        }
        return true
    }

    /// Handles an event; returns whether it was handed to the app (`false`: incompatible content, HS-48).
    private func handleEvent(_ frame: HeraldFrame) throws -> Bool {
        switch frame.opcode {
        case .protocolError:
            let error = try frame.decodeMessage(as: Herald_V1_ProtocolError.self)
            let answers = ["malformed-payload", "capability-not-granted", "already-handshaken"]
            if answers.contains(error.code), let entry = self.pending.removeValue(forKey: error.requestID) {
                // HS-76: the answer to that request.
                let code: HeraldClientError.Code =
                    error.code == "capability-not-granted" ? .capabilityNotGranted : .protocolError
                entry.continuation.resume(
                    returning: .failure(HeraldClientError(code, "\(error.code): \(error.message)"))
                )
            } else {
                self.emit(.protocolFault("the server reported \(error.code): \(error.message)"))
            }
        case .disconnect:
            let disconnect = try frame.decodeMessage(as: Herald_V1_Disconnect.self)
            // HS-61: an unknown reason is UNSPECIFIED.
            let reason: DisconnectReason =
                if case .UNRECOGNIZED = disconnect.reason { .unspecified } else { disconnect.reason }
            self.disconnectReceived = true  // HS-58: nothing more is sent on this connection
            self.lastDisconnect = reason
            self.emit(.disconnected(reason, message: disconnect.message))
        case .connectionStateChanged:
            let change = try frame.decodeMessage(as: Herald_V1_ConnectionStateChanged.self)
            if change.state == .aborted || change.state == .disconnected {
                self.hasSession = false
            }
            if change.state != .unspecified { self.setState(change.state, change.reason) }
        case .tokenPrivilegeWillExpire:
            let event = try frame.decodeMessage(as: Herald_V1_TokenPrivilegeWillExpire.self)
            self.emit(.tokenPrivilegeWillExpire(expiresMs: event.tokenExpiresMs))
        case .tokenExpired:
            let event = try frame.decodeMessage(as: Herald_V1_TokenExpired.self)
            self.emit(.tokenExpired(expiresMs: event.tokenExpiresMs))
        case .peerMessage:
            let event = try frame.decodeMessage(as: Herald_V1_PeerMessage.self)
            guard self.checkSeq(event.seq, channel: nil) else { return true }
            guard let message = HeraldMessage(event.message) else { return false }
            self.emit(
                .peerMessage(
                    ReceivedPeerMessage(
                        fromUserID: event.fromUserID,
                        message: message,
                        messageID: event.messageID,
                        serverReceivedMs: event.serverReceivedMs,
                        isOffline: event.isOffline
                    )
                )
            )
        case .peersOnlineStatusChanged:
            let event = try frame.decodeMessage(as: Herald_V1_PeersOnlineStatusChanged.self)
            guard self.checkSeq(event.seq, channel: nil) else { return true }
            self.emit(.peersOnlineStatusChanged(Self.statuses(event.statuses)))
        case .memberJoined:
            let event = try frame.decodeMessage(as: Herald_V1_MemberJoined.self)
            guard self.channelEvent(event.seq, event.channelID) else { return true }
            self.emit(.memberJoined(channelID: event.channelID, userID: event.userID))
        case .memberLeft:
            let event = try frame.decodeMessage(as: Herald_V1_MemberLeft.self)
            guard self.channelEvent(event.seq, event.channelID) else { return true }
            self.emit(.memberLeft(channelID: event.channelID, userID: event.userID, reason: event.reason))
        case .memberCountUpdated:
            let event = try frame.decodeMessage(as: Herald_V1_MemberCountUpdated.self)
            guard self.channelEvent(event.seq, event.channelID) else { return true }
            self.emit(.memberCountUpdated(channelID: event.channelID, count: Int(event.memberCount)))
        case .channelMemberList:
            let event = try frame.decodeMessage(as: Herald_V1_ChannelMemberList.self)
            guard self.channelEvent(event.seq, event.channelID) else { return true }
            self.emit(.channelMemberList(channelID: event.channelID, userIDs: event.userIds))
        case .channelMessage:
            let event = try frame.decodeMessage(as: Herald_V1_ChannelMessage.self)
            guard self.channelEvent(event.seq, event.channelID) else { return true }
            guard let message = HeraldMessage(event.message) else { return false }
            self.emit(
                .channelMessage(
                    ReceivedChannelMessage(
                        channelID: event.channelID,
                        fromUserID: event.fromUserID,
                        message: message,
                        messageID: event.messageID,
                        serverReceivedMs: event.serverReceivedMs
                    )
                )
            )
        case .channelAttributesUpdated:
            let event = try frame.decodeMessage(as: Herald_V1_ChannelAttributesUpdated.self)
            guard self.channelEvent(event.seq, event.channelID) else { return true }
            self.emit(
                .channelAttributesUpdated(
                    channelID: event.channelID,
                    attributes: event.attributes.map(ChannelAttribute.init),
                    kind: event.kind,
                    changedKeys: event.changedKeys,
                    updatedBy: event.updatedBy
                )
            )
        case .invitationMessage:
            let event = try frame.decodeMessage(as: Herald_V1_InvitationMessage.self)
            guard self.checkSeq(event.seq, channel: nil) else { return true }
            self.emit(
                .invitationMessage(
                    channelID: event.channelID,
                    fromUserID: event.fromUserID,
                    data: event.data,
                    extra: event.extra
                )
            )
        default:
            return try self.handleInvitationEvent(frame)
        }
        return true
    }

    /// A channel-stream event: `false` when it is to be dropped (a channel the client is not in, or a repeat).
    private func channelEvent(_ seq: UInt64, _ channel: String) -> Bool {
        guard self.channelSeq[channel] != nil else { return false }
        return self.checkSeq(seq, channel: channel)
    }

    private func handleInvitationEvent(_ frame: HeraldFrame) throws -> Bool {
        switch frame.opcode {
        case .remoteInvitationReceived:
            let event = try frame.decodeMessage(as: Herald_V1_RemoteInvitationReceived.self)
            guard self.checkSeq(event.seq, channel: nil) else { return true }
            let invitation = RemoteInvitation(
                invitationID: event.invitationID,
                callerID: event.callerID,
                channelID: event.channelID,
                content: event.content
            )
            self.remoteInvitations[event.invitationID] = invitation
            self.emit(.remoteInvitation(invitation, .invitationReceived))
        case .remoteInvitationCanceled:
            let event = try frame.decodeMessage(as: Herald_V1_RemoteInvitationCanceled.self)
            guard self.checkSeq(event.seq, channel: nil) else { return true }
            self.remote(event.invitationID) { self.update($0, to: .canceled) }
        case .remoteInvitationAccepted:
            let event = try frame.decodeMessage(as: Herald_V1_RemoteInvitationAccepted.self)
            guard self.checkSeq(event.seq, channel: nil) else { return true }
            self.remote(event.invitationID) { self.update($0, to: .accepted) }
        case .remoteInvitationRefused:
            let event = try frame.decodeMessage(as: Herald_V1_RemoteInvitationRefused.self)
            guard self.checkSeq(event.seq, channel: nil) else { return true }
            self.remote(event.invitationID) { self.update($0, to: .refused) }
        case .remoteInvitationFailure:
            let event = try frame.decodeMessage(as: Herald_V1_RemoteInvitationFailure.self)
            guard self.checkSeq(event.seq, channel: nil) else { return true }
            self.remote(event.invitationID) { self.update($0, to: .failure, error: event.error) }
        case .localInvitationReceivedByPeer:
            let event = try frame.decodeMessage(as: Herald_V1_LocalInvitationReceivedByPeer.self)
            guard self.checkSeq(event.seq, channel: nil) else { return true }
            self.local(event.invitationID) { self.update($0, to: .receivedByRemote) }
        case .localInvitationAccepted:
            let event = try frame.decodeMessage(as: Herald_V1_LocalInvitationAccepted.self)
            guard self.checkSeq(event.seq, channel: nil) else { return true }
            self.local(event.invitationID) { self.update($0, to: .acceptedByRemote, response: event.response) }
        case .localInvitationRefused:
            let event = try frame.decodeMessage(as: Herald_V1_LocalInvitationRefused.self)
            guard self.checkSeq(event.seq, channel: nil) else { return true }
            self.local(event.invitationID) { self.update($0, to: .refusedByRemote, response: event.response) }
        case .localInvitationCanceled:
            let event = try frame.decodeMessage(as: Herald_V1_LocalInvitationCanceled.self)
            guard self.checkSeq(event.seq, channel: nil) else { return true }
            self.local(event.invitationID) { self.update($0, to: .canceled) }
        case .localInvitationFailure:
            let event = try frame.decodeMessage(as: Herald_V1_LocalInvitationFailure.self)
            guard self.checkSeq(event.seq, channel: nil) else { return true }
            self.local(event.invitationID) { self.update($0, to: .failure, error: event.error) }
        default:
            break
        }
        return true
    }

    private func local(_ id: String, _ body: (LocalInvitation) -> Void) {
        if let invitation = self.localInvitations[id] { body(invitation) }
    }

    private func remote(_ id: String, _ body: (RemoteInvitation) -> Void) {
        if let invitation = self.remoteInvitations[id] { body(invitation) }
    }

    private func update(
        _ invitation: LocalInvitation,
        to state: LocalInvitationState,
        response: String? = nil,
        error: LocalInvitationError = .ok
    ) {
        guard invitation.state != state else { return }
        invitation.mutable.withLock {
            $0.state = state
            if let response { $0.response = response }
            $0.error = error
        }
        if invitation.isEnded { self.localInvitations[invitation.invitationID] = nil }
        self.emit(.localInvitation(invitation, state))
    }

    private func update(
        _ invitation: RemoteInvitation,
        to state: RemoteInvitationState,
        error: RemoteInvitationError = .ok
    ) {
        guard invitation.state != state else { return }
        invitation.mutable.withLock {
            $0.state = state
            $0.error = error
        }
        if invitation.isEnded { self.remoteInvitations[invitation.invitationID] = nil }
        self.emit(.remoteInvitation(invitation, state))
    }

    /// Ends the invitations of a session that is gone: the server ended them with it (Spec/12-invitations.md §12.6,
    /// §12.7) and sends the new session nothing about them. An invitation the app sent fails with
    /// `LOCAL_INVITATION_ERROR_NOT_LOGGED_IN`; one it received with `REMOTE_INVITATION_ERROR_PEER_OFFLINE`, the only
    /// error the schema has for a party that went away.
    private func endInvitations() {
        for invitation in Array(self.localInvitations.values) where !invitation.isEnded && invitation.state != .idle {
            self.update(invitation, to: .failure, error: .notLoggedIn)
        }
        for invitation in Array(self.remoteInvitations.values) where !invitation.isEnded {
            self.update(invitation, to: .failure, error: .peerOffline)
        }
        self.localInvitations = [:]
        self.remoteInvitations = [:]
    }

    static func statuses(_ statuses: [Herald_V1_PeerOnlineStatus]) -> [String: PeerOnlineState] {
        Dictionary(statuses.map { ($0.peerID, $0.state) }, uniquingKeysWith: { _, last in last })
    }

    // MARK: - Bookkeeping of the operations

    func noteSubscribed(_ peers: [String], _ subscribed: Bool) {
        if subscribed { self.subscribedPeers.formUnion(peers) } else { self.subscribedPeers.subtract(peers) }
    }

    func noteJoined(_ channel: String, _ joined: Bool) {
        if joined { self.wantedChannels.insert(channel) } else { self.wantedChannels.remove(channel) }
    }

    func noteLegacyMemberList(_ channel: String, _ wanted: Bool) {
        if wanted {
            self.legacyMemberListChannels.insert(channel)
        } else {
            self.legacyMemberListChannels.remove(channel)
        }
    }

    func register(_ invitation: LocalInvitation) {
        self.localInvitations[invitation.invitationID] = invitation
    }

    func unregister(_ invitation: LocalInvitation) {
        if self.localInvitations[invitation.invitationID] === invitation {
            self.localInvitations[invitation.invitationID] = nil
        }
    }

    // MARK: - Connection loss and reconnection

    /// Reports a protocol fault and closes the connection (HS-69, HS-70, EXT-29); the client then reconnects.
    private func fault(_ why: String) {
        self.emit(.protocolFault(why))
        self.transport?.close()
    }

    private func dropTransport() {
        self.generation += 1
        self.transport?.close()
        self.transport = nil
        self.failPending(HeraldClientError(.connectionLost, "the connection was closed"))
    }

    private func connectionEnded() {
        self.transport = nil
        self.generation += 1
        self.failPending(HeraldClientError(.connectionLost, "the connection ended"))
        guard self.connectionState == .connected, !self.closed else { return }
        self.connectionLost()
    }

    /// Moves a connected client whose transport is gone to its next state: reconnecting, or aborted or disconnected
    /// after the `Disconnect` reasons that forbid reconnection (HS-59, HS-60; Spec/05-session.md §5.10).
    private func connectionLost() {
        switch self.lastDisconnect {
        case .remoteLogin?:
            self.endSession()
            self.setState(.aborted, .remoteLogin)
        case .banned?:
            self.endSession()
            self.setState(.aborted, .bannedByServer)
        case .tokenExpired?:
            self.endSession()
            self.setState(.aborted, .tokenExpired)
        case .unsupportedVersion?, .protocolError?:
            self.endSession()
            self.setState(.aborted, .interrupted)
        case .logout?:
            self.endSession()
            self.setState(.disconnected, .logout)
        default:
            guard self.hasSession, self.configuration.reconnects else {
                self.endSession()
                self.setState(.disconnected, .interrupted)
                return
            }
            self.setState(.reconnecting, .interrupted)
            self.reconnection = Task { await self.reconnect() }
        }
    }

    private func reconnect() async {
        var attempt: Int64 = 0
        while !Task.isCancelled, !self.closed, self.connectionState == .reconnecting {
            let ceiling = min(
                self.configuration.reconnectMaximumDelayMs,
                self.configuration.reconnectInitialDelayMs << min(attempt, 20)
            )
            let delay = ceiling / 2 + Int64.random(in: 0...max(0, ceiling / 2))
            do { try await self.clock.sleep(untilMs: self.clock.nowMs() + delay) } catch { return }
            guard self.connectionState == .reconnecting, !self.closed else { return }
            attempt += 1
            let resumed: Bool
            do {
                try await self.openConnection()
                resumed = try await self.sendLogin()
            } catch {
                self.dropTransport()
                if error.code == .operationFailed, let value = error.result?.value,
                    [2, 3, 4, 5, 6, 7].contains(value)
                {
                    // Rejected, invalid argument, app id or token, token expired, not authorized: retrying the
                    // same login cannot succeed.
                    self.endSession()
                    // Spec/05-session.md row 11: the new login is refused.
                    self.setState(.disconnected, .loginFailure)
                    return
                }
                continue
            }
            self.setState(.connected, .loginSuccess)
            guard self.transport != nil else {
                // Lost again in the same read as the LoginResponse: start over.
                self.connectionLost()
                return
            }
            await self.restore(resumed: resumed)
            return
        }
    }

    /// Rejoins the channels and renews the subscriptions of a new session, then tells the app what it restored;
    /// a resumed session kept them. A loss of the new connection meanwhile leaves everything to the next attempt.
    private func restore(resumed: Bool) async {
        var restoration = Restoration(
            resumed: resumed,
            rejoinedChannels: [],
            lostChannels: [:],
            subscriptionsRestored: true
        )
        if resumed {
            restoration.rejoinedChannels = self.wantedChannels.sorted()
        } else {
            self.endInvitations()
            self.joinedChannels = []
            for channel in self.wantedChannels.sorted() {
                do {
                    try await self.joinChannel(
                        channel,
                        legacyMemberList: self.legacyMemberListChannels.contains(channel)
                    )
                    restoration.rejoinedChannels.append(channel)
                } catch  where error.code == .connectionLost || error.code == .notLoggedIn {
                    return
                } catch {
                    self.wantedChannels.remove(channel)
                    restoration.lostChannels[channel] = error
                }
            }
            let peers = self.subscribedPeers
            if !peers.isEmpty {
                do {
                    try await self.subscribePeersOnlineStatus(peers.sorted())
                } catch  where error.code == .connectionLost || error.code == .notLoggedIn {
                    return
                } catch {
                    self.subscribedPeers = []
                    restoration.subscriptionsRestored = false
                }
            }
        }
        self.emit(.restored(restoration))
        self.resumeRestoredWaiters(true)
    }
}

// MARK: - Delegate adapter

/// A delegate-style receiver of a client's events, for code migrated from Agora RTM's `AgoraRtmDelegate`,
/// `AgoraRtmChannelDelegate` and `AgoraRtmCallDelegate` (`IRtmServiceEventHandler`, …).
///
/// Set it with ``HeraldClient/setDelegate(_:)``; every event reaches ``handle(_:from:)`` in order. New code can read
/// ``HeraldClient/events()`` instead.
public protocol HeraldClientDelegate: AnyObject, Sendable {
    /// Handles one event of `client`.
    func handle(_ event: HeraldClientEvent, from client: HeraldClient) async
}

extension HeraldClient {
    /// Sets the object that receives every event (`setDelegate`, `setEventHandler`); `nil` removes it.
    public func setDelegate(_ delegate: (any HeraldClientDelegate)?) {
        self.delegateTask?.cancel()
        self.delegateTask = nil
        guard let delegate else { return }
        let stream = self.events()
        self.delegateTask = Task { [weak self] in
            for await event in stream {
                guard let self else { return }
                await delegate.handle(event, from: self)
            }
        }
    }
}

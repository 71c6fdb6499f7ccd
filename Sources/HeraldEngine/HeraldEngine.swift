import HeraldMessages
import HeraldWire
import Logging
import NIOCore
import NIOPosix
import SwiftProtobuf

/// The Herald reference engine: every semantic of Spec v1, independent of any transport.
///
/// The engine is one actor that owns all protocol state. Transports feed it decoded frames
/// (``receive(_:on:)``), framing failures (``receiveFailure(_:on:)``) and transport closes
/// (``transportClosed(_:)``); it answers by writing ``OutboundFrame``s to each connection's
/// ``EngineConnectionSink``. Time comes only from the injected ``EngineClock``: the host calls
/// ``fireDueTimers()`` periodically (the server does so every few milliseconds; tests call it after advancing a
/// ``ManualEngineClock``), and every input first runs the timers that are due, so the engine's behaviour is a
/// deterministic function of its inputs and the clock.
///
/// The actor runs on one NIO event loop (``eventLoop``), not on the cooperative thread pool. A transport whose
/// connection lives on that loop calls the engine synchronously (`assumeIsolated`), and one on another loop hands it
/// a connection's whole read in one task, so a frame costs no thread hop in the first case and one in the second.
/// Every input is processed to its end without suspending: token verification is synchronous, and a connection whose
/// session is reading its cached messages has its later inputs queued in the engine (SES-38), not suspended.
public actor HeraldEngine {
    /// How long a connection with `max_outbound_queue_frames` deliveries outstanding and messages held for it may
    /// go without acknowledging anything before it is a slow consumer (Spec/14-limits.md LIM-34).
    public static let ackStallMs: Int64 = 5000

    /// The configuration the engine was created with.
    public nonisolated let configuration: EngineConfiguration
    /// The event loop the engine runs on.
    public nonisolated let eventLoop: any EventLoop
    private nonisolated let executor: any SerialExecutor

    /// The engine's executor: its ``eventLoop``.
    public nonisolated var unownedExecutor: UnownedSerialExecutor {
        self.executor.asUnownedSerialExecutor()
    }
    let clock: any EngineClock
    let store: any OfflineStore
    let verifier: any TokenVerifying
    let logger: Logger
    let appsByID: [String: AppCredentials]
    /// `Welcome` with the configuration's fields set, copied for every handshake.
    let welcomeTemplate: Herald_V1_Welcome

    var connections: [ConnectionID: Connection] = [:]
    var sessionsByUser: [UserKey: Session] = [:]
    var sessionsBySerial: [UInt64: Session] = [:]
    var bannedUsers: Set<UserKey> = []
    var timers = TimerQueue()
    /// Connections with frames waiting to be written at the end of the current input.
    var dirty: [Connection] = []
    /// Connections whose queued inputs may be processed now (their session's cached messages have been read).
    var unblocked: [Connection] = []
    /// The storage `dirty` trades places with while it is flushed (see `flushDirty`).
    var spareDirty: [Connection] = []
    /// The time of the input being processed.
    var now: Int64

    var nextConnectionNumber: UInt64 = 1
    /// The generator of the random parts of ids, seeded once from the system's (one `getrandom` per engine, not
    /// one per byte).
    var idRandom = SplitMix64(seed: UInt64.random(in: .min ... .max))
    var nextSessionSerial: UInt64 = 1
    var nextMessageID: UInt64
    var isShutDown = false
    /// Set by ``crash()``: the engine ignores every later input.
    var isCrashed = false
    /// Failures and ban durations set through test control (Spec/18-test-control.md).
    var testControl = TestControlState()
    /// Where test-control restarts are requested from the host; `nil` when no host can restart the engine.
    let restartRequests: AsyncStream<TestControlRestartMode>.Continuation?

    /// Peer-message state (offline deliveries in flight, acknowledgement waits).
    var peer = PeerState()
    /// Offline-store operations waiting for their outcome.
    var offline = OfflineStoreState()
    /// Presence subscriptions.
    var presence = PresenceState()
    /// Channels: members, attributes, member-count schedule.
    var channels = ChannelsState()
    /// Invitations.
    var invitations = InvitationsState()

    /// Creates an engine whose offline messages go through a ``GroupCommitOfflineStore`` over `inbox`.
    ///
    /// - Parameters:
    ///   - configuration: Apps, capabilities, limits, timers and rate limits; validated here.
    ///   - clock: The time source; ``SystemEngineClock`` in production, ``ManualEngineClock`` in tests.
    ///   - inbox: The durable store of offline messages.
    ///   - verifier: Token verification; by default ``JWTTokenVerifier`` over the configuration's apps, with its
    ///     ``EngineConfiguration/maximumTokenLifetimeSeconds``.
    ///   - logger: Where the engine logs.
    ///   - restartRequests: Where a test-control `Restart` (Spec/18-test-control.md) is handed to the host, which
    ///     performs it after the response has been written; `nil` answers `Restart` with
    ///     `TEST_CONTROL_RESULT_UNSUPPORTED`.
    ///   - eventLoop: The event loop the engine runs on; by default one of NIO's shared loops.
    public init(
        configuration: EngineConfiguration,
        clock: any EngineClock = SystemEngineClock(),
        inbox: any OfflineInbox,
        verifier: (any TokenVerifying)? = nil,
        logger: Logger = Logger(label: "herald.engine"),
        restartRequests: AsyncStream<TestControlRestartMode>.Continuation? = nil,
        eventLoop: (any EventLoop)? = nil
    ) throws {
        try self.init(
            configuration: configuration,
            clock: clock,
            store: GroupCommitOfflineStore(backend: inbox, logger: logger),
            verifier: verifier,
            logger: logger,
            restartRequests: restartRequests,
            eventLoop: eventLoop
        )
    }

    /// Creates an engine.
    ///
    /// - Parameters:
    ///   - configuration: Apps, capabilities, limits, timers and rate limits; validated here.
    ///   - clock: The time source; ``SystemEngineClock`` in production, ``ManualEngineClock`` in tests.
    ///   - store: The offline store: ``GroupCommitOfflineStore`` in production, ``ManualOfflineStore`` in tests.
    ///     The engine starts it and is its only user.
    ///   - verifier: Token verification; by default ``JWTTokenVerifier`` over the configuration's apps.
    ///   - logger: Where the engine logs.
    ///   - restartRequests: Where a test-control `Restart` (Spec/18-test-control.md) is handed to the host, which
    ///     performs it after the response has been written; `nil` answers `Restart` with
    ///     `TEST_CONTROL_RESULT_UNSUPPORTED`.
    ///   - eventLoop: The event loop the engine runs on; by default one of NIO's shared loops.
    public init(
        configuration: EngineConfiguration,
        clock: any EngineClock = SystemEngineClock(),
        store: any OfflineStore,
        verifier: (any TokenVerifying)? = nil,
        logger: Logger = Logger(label: "herald.engine"),
        restartRequests: AsyncStream<TestControlRestartMode>.Continuation? = nil,
        eventLoop: (any EventLoop)? = nil
    ) throws {
        try configuration.validate()
        self.configuration = configuration
        let loop = eventLoop ?? MultiThreadedEventLoopGroup.singleton.next()
        self.eventLoop = loop
        self.executor = loop.executor
        self.clock = clock
        self.store = store
        self.verifier =
            verifier
            ?? JWTTokenVerifier(
                apps: configuration.apps,
                maximumLifetimeSeconds: configuration.maximumTokenLifetimeSeconds
            )
        self.logger = logger
        self.restartRequests = restartRequests
        self.appsByID = Dictionary(uniqueKeysWithValues: configuration.apps.map { ($0.appID, $0) })
        self.welcomeTemplate = Self.welcomeTemplate(configuration)
        let start = clock.nowMilliseconds()
        self.now = start
        let stored = try store.largestMessageID()
        if let receivers = try store.receivers() {
            self.offline.receivers = Dictionary(receivers.map { ($0, 0) }, uniquingKeysWith: { first, _ in first })
        }
        self.nextMessageID = max(stored + 1, UInt64(max(start, 0)) * 1000)
        self.timers.schedule(.offlinePurge, at: start + Self.offlinePurgeInterval(configuration.timers))
        store.start { [weak self] results in
            await self?.offlineBatchCompleted(results)
        }
    }

    /// Waits until every offline-store operation submitted so far has run, then stops the store; for a host that
    /// shuts down after ``shutdown()``, so that messages stored for the sessions it ended are durable.
    public func closeOfflineStore() async {
        self.flushOfflineSubmissions()
        await self.store.close(discardingQueued: self.isCrashed)
    }

    static func offlinePurgeInterval(_ timers: EngineTimers) -> Int64 {
        min(timers.offlineRetentionMs, 3_600_000)
    }

    var limits: EngineLimits { self.configuration.limits }
    var timerSettings: EngineTimers { self.configuration.timers }

    // MARK: - Inputs

    /// Registers a new transport connection whose transport is ready (after any TLS or WebSocket handshake) and
    /// starts its handshake timer.
    ///
    /// - Parameters:
    ///   - sink: Where the connection's frames go.
    ///   - transport: A short name of the transport for logs, such as `tcp` or `ws`.
    /// - Returns: The identifier to pass with the connection's inputs.
    public func connect(sink: any EngineConnectionSink, transport: String) -> ConnectionID {
        self.beginInput()
        let id = ConnectionID(rawValue: self.nextConnectionNumber)
        self.nextConnectionNumber += 1
        let connection = Connection(
            id: id,
            sink: sink,
            transport: transport,
            publicIDBits: self.idRandom.next(),
            now: self.now
        )
        if self.isCrashed {
            sink.close()
            self.endInput()
            return id
        }
        self.connections[id] = connection
        if self.isShutDown {
            self.disconnect(connection, reason: .serverShutdown, message: "the server is shutting down")
        } else {
            connection.handshakeTimer = self.timers.schedule(
                .handshakeTimeout(id),
                at: self.now + self.timerSettings.handshakeTimeoutMs
            )
        }
        self.endInput()
        return id
    }

    /// Processes one complete frame received on a connection.
    ///
    /// - Parameters:
    ///   - frame: The frame.
    ///   - id: The connection it arrived on.
    ///   - arrivedAtMs: When the frame arrived, on the engine's clock (a transport reads the clock once per socket
    ///     read); `nil` means now. Rate limits count the request at this time, not when the engine gets to it
    ///     (Spec/14-limits.md LIM-24), and it counts as the connection's last activity (HS-42) before any timer runs.
    public func receive(_ frame: HeraldFrame, on id: ConnectionID, arrivedAtMs: Int64? = nil) {
        self.noteArrival(on: id, arrivedAtMs)
        self.beginInput()
        self.input(.frame(frame, arrivedAtMs: arrivedAtMs), on: id)
        self.endInput()
    }

    /// Processes the complete frames of one socket read of a connection, in order, as one input: due timers run
    /// once before them and the frames they produce are handed to each sink once after them.
    ///
    /// - Parameters:
    ///   - frames: The frames, in arrival order.
    ///   - id: The connection they arrived on.
    ///   - arrivedAtMs: When the read arrived, on the engine's clock (LIM-24, HS-42).
    public func receive(_ frames: some Sequence<HeraldFrame>, on id: ConnectionID, arrivedAtMs: Int64) {
        self.noteArrival(on: id, arrivedAtMs)
        self.beginInput()
        for frame in frames {
            self.input(.frame(frame, arrivedAtMs: arrivedAtMs), on: id)
        }
        self.endInput()
    }

    private func noteArrival(on id: ConnectionID, _ arrivedAtMs: Int64?) {
        if let arrivedAtMs, let connection = self.connections[id], arrivedAtMs > connection.lastReceivedMs {
            // Before the due timers run: an idle check that fell due while the frame waited must see it.
            connection.lastReceivedMs = arrivedAtMs
        }
    }

    /// Processes an input of a connection now, or queues it behind the connection's earlier inputs while its
    /// session's cached messages are being read (SES-38, PEER-51).
    func input(_ input: ConnectionInput, on id: ConnectionID) {
        guard let connection = self.connections[id], connection.phase != .closed else { return }
        if connection.isInputBlocked || !connection.queuedInputs.isEmpty {
            connection.lastReceivedMs = max(connection.lastReceivedMs, self.now)
            connection.queuedInputs.append(input)
            return
        }
        self.perform(input, on: connection)
    }

    private func perform(_ input: ConnectionInput, on connection: Connection) {
        switch input {
        case .frame(let frame, let arrivedAtMs):
            guard connection.phase != .closed else { return }
            self.process(frame, on: connection, arrivedMs: min(arrivedAtMs ?? self.now, self.now))
        case .failure(let error, let header):
            guard connection.phase != .closed else { return }
            self.framingFailure(error, header: header, on: connection)
        case .closed:
            self.closeTransport(of: connection)
        }
    }

    /// Processes the queued inputs of the connections whose cached messages have been read, until none is left or
    /// a connection's input is blocked again.
    func processUnblockedInputs() {
        while !self.unblocked.isEmpty {
            let ready = self.unblocked
            self.unblocked = []
            for connection in ready {
                while !connection.queuedInputs.isEmpty && !connection.isInputBlocked {
                    let next = connection.queuedInputs.removeFirst()
                    self.perform(next, on: connection)
                }
            }
        }
    }

    /// Reports a framing failure on a connection (Spec/03-framing.md): the transport's decoder found bytes that
    /// are not a valid frame. `header` carries the opcode and request id read from the offending header, when the
    /// failure was detected at or after the opcode check (HS-65).
    public func receiveFailure(
        _ error: WireError,
        header: (opcode: UInt16, requestID: UInt32)? = nil,
        on id: ConnectionID
    ) {
        self.beginInput()
        self.input(.failure(error, header: header), on: id)
        self.endInput()
    }

    /// Reports that a connection's transport closed or failed. Ends its session with the cause "disconnect", after
    /// the connection's inputs that are still queued (SES-38).
    public func transportClosed(_ id: ConnectionID) {
        self.beginInput()
        if let connection = self.connections[id] {
            if connection.isInputBlocked || !connection.queuedInputs.isEmpty {
                connection.queuedInputs.append(.closed)
            } else {
                self.closeTransport(of: connection)
            }
        }
        self.endInput()
    }

    private func closeTransport(of connection: Connection) {
        guard self.connections[connection.id] === connection else { return }
        self.connections[connection.id] = nil
        connection.phase = .closed
        connection.pending = OutboundBytes()
        connection.queuedInputs.removeAll()
        self.connectionGone(connection)
    }

    /// Runs every timer whose deadline has passed.
    public func fireDueTimers() {
        self.beginInput()
        self.endInput()
    }

    /// The earliest timer deadline, in the clock's Unix milliseconds.
    public func nextTimerDeadline() -> Int64? {
        self.timers.nextDeadline()
    }

    /// Sends `Disconnect` with `DISCONNECT_REASON_SERVER_SHUTDOWN` on every connection and closes them (HS-57).
    /// Connections that arrive later are refused the same way.
    public func shutdown() {
        self.beginInput()
        self.isShutDown = true
        for connection in self.connections.values.sorted(by: { $0.id < $1.id }) {
            self.disconnect(connection, reason: .serverShutdown, message: "the server is shutting down")
        }
        self.endInput()
    }

    /// Removes a user's session by operator action (SES-25) and refuses the user's logins until ``unban(_:)``
    /// (SES-26).
    public func ban(_ user: UserKey) {
        self.beginInput()
        self.bannedUsers.insert(user)
        self.testControl.banEnds[user] = nil
        if let session = self.sessionsByUser[user] {
            self.removeByOperator(session)
        }
        self.endInput()
    }

    /// Lifts a ban placed with ``ban(_:)``.
    public func unban(_ user: UserKey) {
        self.bannedUsers.remove(user)
        self.testControl.banEnds[user] = nil
    }

    /// The number of open connections and of sessions, for metrics and tests.
    public func counts() -> (connections: Int, sessions: Int) {
        (self.connections.count, self.sessionsByUser.count)
    }

    /// The sizes of the engine's timer heap and of every table it keeps per connection, session, user, channel,
    /// message or invitation, by name: for tests that the engine's memory is bounded by what is live (LIM-32).
    public func debugSizes() -> [String: Int] {
        [
            "timers": self.timers.count,
            "timerHeap": self.timers.heapCount,
            "connections": self.connections.count,
            "sessionsByUser": self.sessionsByUser.count,
            "sessionsBySerial": self.sessionsBySerial.count,
            "bannedUsers": self.bannedUsers.count,
            "dirty": self.dirty.count,
            "peerWaits": self.peer.waits.count,
            "presenceWatchers": self.presence.watchers.count,
            "channelSessions": self.channels.sessions.count,
            "channelCountSchedules": self.channels.countSchedules.count,
            "channelAttributes": self.channels.attributes.count,
            "invitationsLive": self.invitations.live.count,
            "invitationsPending": self.invitations.pending.count,
            "testControlFailures": self.testControl.failNext.count,
            "testControlBanEnds": self.testControl.banEnds.count,
        ]
    }

    // MARK: - Input bracketing

    /// Reads the clock and runs due timers; every input starts with this.
    func beginInput() {
        self.now = max(self.now, self.clock.nowMilliseconds())
        while let action = self.timers.popDue(now: self.now) {
            self.fire(action)
            self.flushDirty()
        }
    }

    /// Writes the frames produced by the current input and applies deferred slow-consumer closes, and hands the
    /// input's offline-store operations to the store.
    func endInput() {
        self.processUnblockedInputs()
        self.flushDirty()
        self.flushOfflineSubmissions()
    }

    func flushDirty() {
        while !self.dirty.isEmpty {
            // The two lists trade places, so neither is copied or reallocated while connections are flushed.
            var batch: [Connection] = []
            swap(&batch, &self.spareDirty)
            swap(&batch, &self.dirty)
            defer {
                batch.removeAll(keepingCapacity: true)
                swap(&batch, &self.spareDirty)
            }
            for connection in batch {
                connection.isDirty = false
                // The sink takes the bytes; a fresh buffer is only allocated when the connection gets its next frame.
                let frames = connection.pending
                connection.pending = OutboundBytes()
                if !frames.isEmpty {
                    connection.sink.write(frames)
                }
                if connection.slowConsumer && self.connections[connection.id] != nil && connection.phase != .closed {
                    self.closeSlowConsumer(connection)
                } else if let overrun = connection.receiveLimitOverrun, self.connections[connection.id] != nil,
                    connection.phase != .closed
                {
                    self.closeReceiveLimitOverrun(connection, overrun)
                }
            }
        }
    }

    // MARK: - Output

    /// Queues a frame for a connection (LIM-12 … LIM-14 apply, to the sink's outbound queue as LIM-20 counts it plus
    /// the frames of the current input).
    func enqueue(_ frame: OutboundFrame, to connection: Connection, exempt: Bool = false) {
        guard connection.phase != .closed || exempt else { return }
        if (connection.slowConsumer || connection.receiveLimitOverrun != nil) && !exempt { return }
        if !exempt {
            // LIM-20: the frames of the current input (connection.pending) have not been offered yet.
            let queued = connection.sink.queuedFrameCount
            if queued >= self.limits.maxOutboundQueueFrames {
                connection.slowConsumer = true
                connection.slowConsumerRule = "LIM-14: \(queued) frames refused by the transport"
                self.markDirty(connection)
                return
            }
        }
        let payloadLength = frame.header.payloadLength
        if payloadLength > connection.clientMaxPayloadLength && !exempt {
            // HS-79: never skipped silently. Nothing more is sent but the ProtocolError and the Disconnect, which
            // go out once the current input is processed.
            if connection.receiveLimitOverrun == nil {
                let overrun = ReceiveLimitOverrun(
                    opcode: UInt16(truncatingIfNeeded: frame.header.opcode.rawValue),
                    requestID: frame.header.requestID,
                    payloadLength: payloadLength
                )
                connection.receiveLimitOverrun = overrun
                self.logger.error(
                    "a frame exceeds the client's receive limit; closing the connection (HS-79)",
                    metadata: [
                        "connection": "\(connection.id)", "limit": "\(connection.clientMaxPayloadLength)",
                        "opcode": "\(overrun.opcode)", "payload": "\(payloadLength)",
                    ]
                )
            }
            self.markDirty(connection)
            return
        }
        connection.pending.append(frame)
        self.markDirty(connection)
    }

    func markDirty(_ connection: Connection) {
        if !connection.isDirty {
            connection.isDirty = true
            self.dirty.append(connection)
        }
    }

    /// Sends the response to a request being processed now.
    func respond(_ context: RequestContext, _ message: some SwiftProtobuf.Message) {
        self.respond(context.pending, message)
    }

    /// Sends the response to a request, possibly after other inputs; does nothing if the connection has closed.
    func respond(_ pending: PendingResponse, _ message: some SwiftProtobuf.Message) {
        guard let connection = self.connections[pending.connectionID], connection.phase != .closed else { return }
        guard connection.inFlight.remove(pending.requestID) != nil else {
            self.logger.error("a request was answered twice", metadata: ["request": "\(pending.requestID)"])
            return
        }
        let responseOpcode = Herald_V1_Opcode(rawValue: pending.requestOpcode.rawValue + 1)!
        self.enqueue(
            Outbound.frame(opcode: responseOpcode, requestID: pending.requestID, message: message),
            to: connection
        )
    }

    /// Sends a connection-level event (no stream).
    func sendEvent(_ opcode: Herald_V1_Opcode, _ message: some SwiftProtobuf.Message, to connection: Connection) {
        self.enqueue(Outbound.frame(opcode: opcode, message: message), to: connection)
    }

    /// Sends `ProtocolError` (HS-62).
    func sendProtocolError(
        _ code: String,
        _ message: String,
        opcode: UInt16 = 0,
        requestID: UInt32 = 0,
        to connection: Connection
    ) {
        let error = Herald_V1_ProtocolError.with {
            $0.code = code
            $0.message = message
            $0.opcode = UInt32(opcode)
            $0.requestID = requestID
        }
        self.enqueue(
            Outbound.frame(opcode: .protocolError, message: error),
            to: connection,
            exempt: code == "slow-consumer"
        )
    }

    func sendConnectionState(
        _ state: Herald_V1_ConnectionState,
        _ reason: Herald_V1_ConnectionChangeReason,
        on connection: Connection
    ) {
        self.sendEvent(
            .connectionStateChanged,
            Herald_V1_ConnectionStateChanged.with {
                $0.state = state
                $0.reason = reason
            },
            to: connection
        )
    }

    /// Sends an event of the session's user stream with the next `seq` (EXT-25, EXT-26). Events of a capability
    /// the connection was not granted are not sent and take no number (HS-21, §17.7).
    ///
    /// - Returns: The delivery id when `ackRequired` is set and the event was sent, else `nil`.
    @discardableResult
    func sendUserEvent(
        _ opcode: Herald_V1_Opcode,
        _ message: some SwiftProtobuf.Message,
        seqFieldNumber: Int,
        to session: Session,
        ackRequired: DeliveryPurpose? = nil
    ) -> UInt32? {
        guard self.acceptsStreamEvent(opcode, on: session.connection, ended: session.ended) else { return nil }
        let shared = Outbound.SharedEvent(opcode: opcode, message: message, seqFieldNumber: seqFieldNumber)
        return self.sendUserEvent(shared, to: session, ackRequired: ackRequired)
    }

    /// Sends a once-serialised user-stream event (fanned out to several sessions) with this session's next `seq`;
    /// the same rules as the message form.
    @discardableResult
    func sendUserEvent(
        _ event: Outbound.SharedEvent,
        to session: Session,
        ackRequired: DeliveryPurpose? = nil
    ) -> UInt32? {
        let connection = session.connection
        guard self.acceptsStreamEvent(event.opcode, on: connection, ended: session.ended) else { return nil }
        guard let purpose = ackRequired else {
            session.userSeq += 1
            self.enqueue(event.frame(seq: session.userSeq), to: connection)
            return nil
        }
        if connection.outstanding.count >= self.limits.maxOutboundQueueFrames {
            // LIM-17: a client that does not acknowledge is a slow consumer.
            connection.slowConsumer = true
            connection.slowConsumerRule = "LIM-17: \(connection.outstanding.count) deliveries outstanding"
            self.markDirty(connection)
            return nil
        }
        session.userSeq += 1
        let deliveryID = connection.allocateDeliveryID()
        connection.outstanding[deliveryID] = OutstandingDelivery(purpose: purpose, sessionSerial: session.serial)
        self.enqueue(event.frame(seq: session.userSeq, requestID: deliveryID, flags: .ackRequired), to: connection)
        return deliveryID
    }

    /// Whether a stream event may go to a session's connection: the session is live, the connection handshaken and
    /// not a slow consumer, and the event's capability granted (HS-21).
    func acceptsStreamEvent(_ opcode: Herald_V1_Opcode, on connection: Connection, ended: Bool) -> Bool {
        guard !ended, connection.phase == .handshaken, !connection.slowConsumer, connection.receiveLimitOverrun == nil
        else { return false }
        return connection.granted.allows(opcodeBit: Capability.maskBit(of: opcode))
    }

    /// Queues `Disconnect`, marks the connection closed, ends its session with the cause "disconnect" (unless it
    /// already ended) and closes the transport once the queued frames are written (HS-55).
    func disconnect(_ connection: Connection, reason: Herald_V1_DisconnectReason, message: String) {
        guard connection.phase != .closed else { return }
        let disconnect = Herald_V1_Disconnect.with {
            $0.reason = reason
            $0.message = message
        }
        self.enqueue(Outbound.frame(opcode: .disconnect, message: disconnect), to: connection, exempt: true)
        connection.phase = .closed
        self.connections[connection.id] = nil
        self.flushOne(connection)
        connection.sink.close()
        self.connectionGone(connection)
    }

    func flushOne(_ connection: Connection) {
        let frames = connection.pending
        connection.pending = OutboundBytes()
        if !frames.isEmpty { connection.sink.write(frames) }
        if connection.isDirty {
            connection.isDirty = false
            self.dirty.removeAll { $0 === connection }
        }
    }

    /// Cleans up after a connection that will process nothing more.
    func connectionGone(_ connection: Connection) {
        connection.phase = .closed
        self.cancelConnectionTimers(connection)
        if let session = connection.session {
            self.endSession(session, cause: .disconnect)
        }
        connection.outstanding.removeAll()
        connection.inFlight.removeAll()
    }

    func closeSlowConsumer(_ connection: Connection) {
        self.logger.notice(
            "closing a slow consumer",
            metadata: ["connection": "\(connection.id)", "rule": "\(connection.slowConsumerRule)"]
        )
        self.sendProtocolError("slow-consumer", "the outbound queue is full", to: connection)
        // The transport's sink closes within 5000 ms even if the queue cannot drain (LIM-16).
        self.disconnect(connection, reason: .slowConsumer, message: "the outbound queue is full")
    }

    /// HS-79: a frame did not fit the client's receive limit. `ProtocolError` `receive-limit-exceeded` naming the
    /// frame, then `Disconnect` with `DISCONNECT_REASON_PROTOCOL_ERROR`.
    func closeReceiveLimitOverrun(_ connection: Connection, _ overrun: ReceiveLimitOverrun) {
        let error = Herald_V1_ProtocolError.with {
            $0.code = "receive-limit-exceeded"
            $0.message =
                "a \(overrun.payloadLength)-byte frame exceeds the receive limit of \(connection.clientMaxPayloadLength) bytes"
            $0.opcode = UInt32(overrun.opcode)
            $0.requestID = overrun.requestID
        }
        self.enqueue(Outbound.frame(opcode: .protocolError, message: error), to: connection, exempt: true)
        self.disconnect(connection, reason: .protocolError, message: "a frame exceeded the receive limit")
    }

    // MARK: - Timers

    func fire(_ action: TimerAction) {
        switch action {
        case .handshakeTimeout(let id):
            if let connection = self.connections[id], connection.phase == .awaitingHello {
                self.disconnect(connection, reason: .handshakeTimeout, message: "no Hello within the handshake timeout")
            }
        case .idleCheck(let id):
            guard let connection = self.connections[id], connection.phase == .handshaken else { return }
            let deadline = connection.lastReceivedMs + self.timerSettings.idleTimeoutMs
            if self.now >= deadline {
                self.disconnect(connection, reason: .idleTimeout, message: "nothing received within the idle timeout")
            } else {
                connection.idleTimer = self.timers.schedule(.idleCheck(id), at: deadline)
            }
        case .loginTimeout(let id, let generation):
            guard let connection = self.connections[id], connection.phase == .handshaken,
                connection.session == nil, !connection.loginInProgress,
                connection.loginTimerGeneration == generation
            else { return }
            let reason: Herald_V1_DisconnectReason = connection.lastSessionEndedByLogout ? .logout : .idleTimeout
            self.disconnect(connection, reason: reason, message: "no session within the login timeout")
        case .tokenWillExpire(let serial, let generation):
            guard let session = self.sessionsBySerial[serial], session.tokenGeneration == generation,
                let expires = session.tokenExpiresMs
            else { return }
            // SES-38, PEER-51: not before the cached messages; sent when they have been read.
            if session.peer.cacheRead != nil || session.peer.startupPending {
                session.peer.heldWillExpire = true
                return
            }
            self.sendEvent(
                .tokenPrivilegeWillExpire,
                Herald_V1_TokenPrivilegeWillExpire.with { $0.tokenExpiresMs = expires },
                to: session.connection
            )
        case .tokenExpiry(let serial, let generation):
            guard let session = self.sessionsBySerial[serial], session.tokenGeneration == generation else { return }
            self.expireToken(of: session)
        case .offlinePurge:
            // PEER-38, PEER-53: submitted, not waited for; at most one purge is outstanding.
            if !self.offline.purgeOutstanding {
                self.offline.purgeOutstanding = true
                self.submitOffline(
                    .purge(receivedBeforeMs: self.now - self.timerSettings.offlineRetentionMs),
                    completion: .purge
                )
            }
            self.timers.schedule(.offlinePurge, at: self.now + Self.offlinePurgeInterval(self.timerSettings))
        case .ackStall(let id):
            if let connection = self.connections[id] { self.peerAckStallCheck(connection) }
        case .peer(let timer):
            self.peerTimerFired(timer)
        case .presence(let timer):
            self.presenceTimerFired(timer)
        case .channel(let timer):
            self.channelTimerFired(timer)
        case .invitation(let timer):
            self.invitationTimerFired(timer)
        case .testControlLoginOverrun(let pending):
            self.loginOverrun(pending)
        }
    }

    func startLoginTimer(_ connection: Connection) {
        self.cancelLoginTimer(connection)
        connection.loginTimerGeneration += 1
        connection.loginTimer = self.timers.schedule(
            .loginTimeout(connection.id, generation: connection.loginTimerGeneration),
            at: self.now + self.timerSettings.loginTimeoutMs
        )
    }

    func cancelLoginTimer(_ connection: Connection) {
        if let handle = connection.loginTimer {
            self.timers.cancel(handle)
            connection.loginTimer = nil
        }
    }

    /// Cancels every timer of a connection that will process nothing more (LIM-32).
    func cancelConnectionTimers(_ connection: Connection) {
        for handle in [
            connection.handshakeTimer, connection.idleTimer, connection.loginTimer, connection.ackStallTimer,
        ] {
            if let handle { self.timers.cancel(handle) }
        }
        connection.ackStallTimer = nil
        connection.handshakeTimer = nil
        connection.idleTimer = nil
        connection.loginTimer = nil
    }

    // MARK: - Helpers

    /// A new message id, unique across restarts (the store remembers the largest one it holds).
    func allocateMessageID() -> UInt64 {
        let id = self.nextMessageID
        self.nextMessageID += 1
        return id
    }

    /// The session of a user, if logged in and not past its token's expiry (TOK-22).
    func liveSession(of user: UserKey) -> Session? {
        guard let session = self.sessionsByUser[user], !session.ended else { return nil }
        if let expires = session.tokenExpiresMs, self.now >= expires { return nil }
        return session
    }

    /// `bytes` random bytes (at most 8) in lower-case hex, from the engine's generator: the unpredictable part of
    /// connection and session ids (their uniqueness comes from the serial number before it).
    func randomHex(bytes: Int) -> String {
        Self.hex(self.idRandom.next(), bytes: bytes)
    }

    /// The low `bytes` bytes of `bits` (at most 8) as lower-case hex digits, least significant digit first (the digits
    /// of ``randomHex(bytes:)``).
    static func hex(_ bits: UInt64, bytes: Int) -> String {
        let digits: StaticString = "0123456789abcdef"
        var value = bits
        let count = min(bytes, 8) * 2
        return String(unsafeUninitializedCapacity: count) { buffer in
            digits.withUTF8Buffer { table in
                for index in 0..<count {
                    buffer[index] = table[Int(value & 0xF)]
                    value >>= 4
                }
            }
            return count
        }
    }
}

/// SplitMix64 (Steele, Lea and Flood 2014): a fast 64-bit generator for the random parts of ids, which need to be
/// hard to guess in passing, not secret.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

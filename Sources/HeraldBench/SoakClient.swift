import HeraldMessages
import HeraldWire
import NIOCore
import SwiftProtobuf

/// The soak's clients on one event loop, their ledger and their phase; used only on that loop.
final class SoakLoop {
    let loop: any EventLoop
    let stats: BenchLoopStats
    let shared: SoakShared
    var ledger = SoakLedger()
    var special = SoakSpecialReport()
    var clients: [SoakClient] = []
    var phase = SoakPhase.running
    var channelIndex: [String: Int32] = [:]
    let startedAt = NIODeadline.now().uptimeNanoseconds
    var generator = SystemRandomNumberGenerator()

    init(loop: any EventLoop, stats: BenchLoopStats, shared: SoakShared) {
        self.loop = loop
        self.stats = stats
        self.shared = shared
        for (index, name) in shared.layout.channelNames.enumerated() { self.channelIndex[name] = Int32(index) }
    }

    func startClient(index: Int, after delay: TimeAmount) {
        let client = SoakClient(index: index, context: self)
        self.clients.append(client)
        self.loop.assumeIsolated().scheduleTask(in: delay) { client.connect() }
    }

    var onlineRegulars: Int {
        self.clients.filter { $0.isRegular && $0.state == .online }.count
    }

    var receiptCount: Int {
        self.ledger.peerReceipts.count + self.ledger.channelReceipts.count
    }

    func setPhase(_ phase: SoakPhase) {
        self.phase = phase
        if phase == .draining {
            for client in self.clients where client.isRegular { client.comeBackForDrain() }
        }
    }

    /// Ends every client's membership at `now`, closes every connection and returns the records.
    func finish(at now: UInt64) -> (ledger: SoakLedger, special: SoakSpecialReport) {
        self.phase = .stopping
        for client in self.clients { client.finish(at: now) }
        return (self.ledger, self.special)
    }

    func random(_ range: Range<Int>) -> Int {
        Int.random(in: range, using: &self.generator)
    }
}

/// One soak client: a role, a ``BenchClient`` connection at a time, and its traffic.
final class SoakClient {
    enum State: Equatable {
        case offline
        case connecting
        case online
    }

    let index: Int
    let role: SoakLayout.Role
    unowned let context: SoakLoop
    var client: BenchClient?
    var state = State.offline
    var connectionNumber: Int32 = 0
    var gate = RateGate([])
    var peerSequence: [Int: UInt64] = [:]
    var channelSequence: UInt64 = 0
    var channelLast: [String: [Int32: UInt64]] = [:]
    var stableJoinedAt: UInt64?
    var churnJoined = false
    var tick: RepeatedTask?
    var tickCount = 0
    var wantsOffline = false
    var cutOff = false

    init(index: Int, context: SoakLoop) {
        self.index = index
        self.role = context.shared.layout.roles[index]
        self.context = context
    }

    var isRegular: Bool {
        if case .regular = self.role { return true }
        return false
    }

    var userID: String { self.context.shared.layout.userIDs[self.index] }

    var stats: BenchStats {
        get { self.context.stats.stats }
        _modify { yield &self.context.stats.stats }
    }

    var now: UInt64 { NIODeadline.now().uptimeNanoseconds }

    // MARK: Connection

    func connect() {
        guard self.state == .offline, !self.cutOff, self.context.phase != .stopping else { return }
        if self.role == .fuzzer {
            return self.connectFuzzer()
        }
        self.state = .connecting
        self.connectionNumber += 1
        let client = BenchClient(name: self.userID, eventLoop: self.context.loop, loopStats: self.context.stats)
        switch self.role {
        case .neverReading:
            client.counterPrefix = "sink.noread."
        case .neverAcking:
            client.counterPrefix = "sink.noack."
            client.ackPolicy = .never
        default:
            break
        }
        self.client = client
        client.onEvent = { [weak self] client, frame, message, stream in
            self?.received(client, frame, message, stream)
        }
        client.onClosed = { [weak self] client in self?.closed(client) }
        if self.connectionNumber > 1 { self.stats.count("soak.reconnect") }
        let shared = self.context.shared
        client.connectAndLogin(
            to: shared.target,
            appID: shared.appID,
            userID: self.userID,
            token: shared.tokens[self.index]
        ) { [weak self] result in
            guard let self, self.client === client else { return }
            switch result {
            case .success:
                self.loggedIn(client)
            case .failure(let error):
                if client.isConnected {
                    // Reached the server, refused: a real failure.
                    self.stats.problem("soak.login-failed", "\(self.userID): \(error.message)")
                    client.close()
                } else {
                    self.stats.count("soak.connect-retry")
                }
                self.retryLater()
            }
        }
    }

    private func retryLater() {
        guard self.state != .offline else { return }
        self.state = .offline
        self.client = nil
        let delay = TimeAmount.milliseconds(Int64(300 + self.context.random(0..<400)))
        self.context.loop.assumeIsolated().scheduleTask(in: delay) { [self] in self.connect() }
    }

    private func loggedIn(_ client: BenchClient) {
        self.state = .online
        self.gate = RateGate(client.welcome?.rateLimits ?? [])
        self.channelLast = [:]
        switch self.role {
        case .neverReading:
            // Logged in; from now on it reads nothing.
            client.setAutoRead(false)
        case .neverAcking:
            break
        case .regular:
            self.joinStableChannel(client)
            self.startTicking()
        case .fuzzer:
            break
        }
    }

    private func closed(_ client: BenchClient) {
        guard self.client === client else { return }
        let now = self.now
        self.endStableMembership(at: now)
        self.tick?.cancel()
        self.tick = nil
        self.client = nil
        let wasConnecting = self.state == .connecting
        self.state = .offline
        self.churnJoined = false
        if client.closedByClient {
            return
        }
        if let disconnect = client.lastDisconnect {
            if self.role == .neverReading || self.role == .neverAcking {
                self.cutOff = true
                if self.role == .neverReading {
                    self.context.special.noReadCutOff = true
                    self.context.special.noReadCutOffAfterSeconds =
                        Double(now - self.context.startedAt) / 1e9
                }
                self.stats.count("soak.sink-cut-off.\(BenchClient.reasonName(disconnect.reason))")
                return
            }
            // Counted as a failure by BenchClient (disconnect.*); come back like any client.
        } else if client.transportErrorCount > 0 && self.isRegular {
            // One entry per error: a connection cut mid-frame by the kill can report both the truncated frame and
            // the reset, and each is counted under transport.* (the checks excuse those within 5 s of the kill).
            self.context.ledger.resets.append(contentsOf: repeatElement(now, count: client.transportErrorCount))
        }
        if client.lastDisconnect == nil && !wasConnecting {
            if self.role == .neverReading {
                // The server closed it without a Disconnect that it could read: it was cut off unless the server
                // was killed; the never-reading client cannot tell, so it stays away.
                self.cutOff = true
                self.context.special.noReadCutOff = true
                self.context.special.noReadCutOffAfterSeconds = Double(now - self.context.startedAt) / 1e9
                return
            }
            self.context.ledger.severances.append(.init(client: Int32(self.index), at: now))
            self.stats.count("soak.severed")
        }
        let delay = TimeAmount.milliseconds(Int64(200 + self.context.random(0..<500)))
        self.context.loop.assumeIsolated().scheduleTask(in: delay) { [self] in
            if !self.wantsOffline || self.context.phase == .draining { self.connect() }
        }
    }

    func comeBackForDrain() {
        self.wantsOffline = false
        if self.state == .offline { self.connect() }
    }

    func finish(at now: UInt64) {
        self.endStableMembership(at: UInt64.max)
        self.tick?.cancel()
        self.tick = nil
        self.wantsOffline = true
        if let client = self.client {
            self.client = nil
            self.state = .offline
            client.close()
        }
    }

    private func endStableMembership(at time: UInt64) {
        guard let from = self.stableJoinedAt, case .regular(let position, _) = self.role else { return }
        self.stableJoinedAt = nil
        let channel = Int32(position % self.context.shared.layout.channelCount)
        self.context.ledger.memberships.append(.init(member: Int32(self.index), channel: channel, from: from, to: time))
    }

    // MARK: Receiving

    private func received(
        _ client: BenchClient,
        _ frame: HeraldFrame,
        _ message: any SwiftProtobuf.Message,
        _ stream: BenchStream?
    ) {
        switch message {
        case let delivery as Herald_V1_PeerMessage:
            guard self.isRegular else {
                self.stats.count("soak.sink-received")
                return
            }
            guard let body = BenchBody(delivery.message) else {
                self.stats.problem("soak.foreign-body", "\(self.userID): a PeerMessage without a soak body")
                return
            }
            self.context.ledger.peerReceipts.append(
                .init(
                    receiver: Int32(self.index),
                    sender: Int32(truncatingIfNeeded: body.sender),
                    sequence: body.sequence,
                    messageID: delivery.messageID,
                    isOffline: delivery.isOffline,
                    connection: self.connectionNumber,
                    at: self.now
                )
            )
        case let delivery as Herald_V1_ChannelMessage:
            guard let body = BenchBody(delivery.message), let channel = self.context.channelIndex[delivery.channelID]
            else { return }
            let sender = Int32(truncatingIfNeeded: body.sender)
            if let last = self.channelLast[delivery.channelID]?[sender], body.sequence <= last {
                self.context.ledger.channelOrderFaults += 1
                self.stats.problem(
                    "soak.channel-order",
                    "\(self.userID): \(delivery.channelID) from \(sender) #\(body.sequence) after #\(last)"
                )
            } else {
                self.channelLast[delivery.channelID, default: [:]][sender] = body.sequence
            }
            self.context.ledger.channelReceipts.append(
                .init(receiver: Int32(self.index), channel: channel, sender: sender, sequence: body.sequence)
            )
        case let invitation as Herald_V1_RemoteInvitationReceived:
            guard self.isRegular else { return }
            let accept = self.context.random(0..<10) < 6
            let invitationID = invitation.invitationID
            self.context.loop.assumeIsolated().scheduleTask(in: .milliseconds(50)) { [weak self] in
                guard let self, let client = self.client, client === self.client, self.state == .online else { return }
                if accept {
                    var request = Herald_V1_AcceptInvitationRequest()
                    request.invitationID = invitationID
                    request.response = "yes"
                    client.send(opcode: .acceptInvitationRequest, request) { [weak self] answer in
                        self?.account(
                            "invitation-accept",
                            answer,
                            answer.decode(Herald_V1_AcceptInvitationResponse.self)?.result
                        )
                    }
                } else {
                    var request = Herald_V1_RefuseInvitationRequest()
                    request.invitationID = invitationID
                    request.response = "no"
                    client.send(opcode: .refuseInvitationRequest, request) { [weak self] answer in
                        self?.account(
                            "invitation-refuse",
                            answer,
                            answer.decode(Herald_V1_RefuseInvitationResponse.self)?.result
                        )
                    }
                }
            }
        default:
            break
        }
    }

    /// Counts the answer of an operation; `*_TOO_OFTEN` is counted as `too-often.OP`.
    private func account(_ operation: String, _ answer: BenchAnswer, _ result: (some SwiftProtobuf.Enum)?) {
        if let result {
            let name = String(describing: result)
            if name.contains("tooOften") || name.contains("TooOften") {
                self.stats.problem("too-often.\(operation)", "\(self.userID): \(operation) answered \(name)")
            } else {
                self.stats.count("op.\(operation).\(name)")
            }
        } else if let error = answer.protocolError {
            self.stats.count("op.\(operation).protocol-error.\(error.code)")
        } else {
            self.stats.count("op.\(operation).unanswered")
        }
    }

    // MARK: Traffic

    private func startTicking() {
        self.tick?.cancel()
        let initial = TimeAmount.milliseconds(Int64(self.context.random(0..<1000)))
        let bound = NIOLoopBound(self, eventLoop: self.context.loop)
        self.tick = self.context.loop.scheduleRepeatedTask(initialDelay: initial, delay: .seconds(1)) { _ in
            bound.value.onTick()
        }
    }

    private func joinStableChannel(_ client: BenchClient) {
        guard case .regular(let position, _) = self.role else { return }
        let name = self.context.shared.layout.channelNames[position % self.context.shared.layout.channelCount]
        guard self.gate.take(.join, now: self.now), self.gate.take(.joinSameChannel, now: self.now) else {
            self.stats.count("soak.skipped-rate.join")
            return
        }
        var request = Herald_V1_JoinChannelRequest()
        request.channelID = name
        client.send(opcode: .joinChannelRequest, request) { [weak self] answer in
            guard let self else { return }
            let response = answer.decode(Herald_V1_JoinChannelResponse.self)
            self.account("join", answer, response?.result)
            if response?.result == .ok, client === self.client {
                self.stableJoinedAt = self.now
                self.channelLast[name] = [:]
            }
        }
    }

    private func onTick() {
        guard let client = self.client, self.state == .online, self.context.phase == .running,
            case .regular(let position, let churner) = self.role
        else { return }
        self.tickCount += 1
        let tick = self.tickCount
        let layout = self.context.shared.layout
        // Peer messages: one a second, cycling through the modes.
        let peers = layout.peers(of: position)
        let receiver = peers[tick % peers.count]
        let mode: SoakLedger.Mode = [.peerOffline, .serverOffline, .peerOnly][(tick + position) % 3]
        self.sendPeerMessage(client, to: receiver, mode: mode)
        // Traffic for the never-reading and never-acking clients, from a few senders.
        // Never-reading: large bodies, no caching (it fills the socket buffers, then its queue). Never-acking: half
        // of them cacheable, so its cut-off caches up to max_offline_messages of them.
        if position % 10 == 3 {
            self.sendToSink(client, receiver: 0, payload: self.context.shared.options.sinkPayloadBytes, offline: false)
        }
        if position % 10 == 4 {
            let offline = self.context.random(0..<2) == 0
            self.sendToSink(client, receiver: 1, payload: self.context.shared.options.payloadBytes, offline: offline)
        }
        // Channel messages every third second.
        if tick % 3 == position % 3, self.stableJoinedAt != nil {
            self.sendChannelMessage(client, channel: position % layout.channelCount)
        }
        if tick % 10 == position % 10 { self.userAttributes(client, peer: receiver) }
        if tick % 15 == position % 15, self.stableJoinedAt != nil {
            self.channelAttributes(client, channel: layout.channelNames[position % layout.channelCount])
        }
        if tick % 12 == position % 12 { self.invite(client, callee: peers[0]) }
        if tick % 20 == position % 20 { self.renew(client) }
        if churner {
            if tick % 7 == 0 { self.toggleChurnChannel(client, position: position) }
            if tick % 23 == position % 23 && tick > 5 { self.goOffline(client) }
        }
    }

    private func sendPeerMessage(_ client: BenchClient, to receiver: Int, mode: SoakLedger.Mode) {
        guard self.gate.take(.messages, now: self.now) else {
            self.stats.count("soak.skipped-rate.messages")
            return
        }
        let sequence = (self.peerSequence[receiver] ?? 0) + 1
        self.peerSequence[receiver] = sequence
        var request = Herald_V1_SendPeerMessageRequest()
        request.peerID = self.context.shared.layout.userIDs[receiver]
        request.ackMode = mode == .serverOffline ? .server : .peer
        request.enableOfflineMessaging = mode != .peerOnly
        request.message = BenchBody(sender: UInt64(self.index), sequence: sequence).message(
            size: self.context.shared.options.payloadBytes
        )
        let sentAt = self.now
        let sender = Int32(self.index)
        client.send(opcode: .sendPeerMessageRequest, request) { [weak self] answer in
            guard let self else { return }
            let response = answer.decode(Herald_V1_SendPeerMessageResponse.self)
            let outcome: SoakLedger.Outcome
            switch response?.result {
            case .ok?: outcome = .ok
            case .cachedByServer?: outcome = .cached
            case .peerUnreachable?: outcome = .unreachable
            case .sentTimeout?: outcome = .sentTimeout
            case .tooOften?: outcome = .tooOften
            case nil: outcome = answer.connectionClosed ? .unanswered : .other
            default: outcome = .other
            }
            self.account("peer-message", answer, response?.result)
            if outcome == .ok || outcome == .cached {
                self.stats.recordLatency(microseconds: answer.elapsedNanoseconds / 1000)
            }
            self.context.ledger.peerSends.append(
                .init(
                    sender: sender,
                    receiver: Int32(receiver),
                    sequence: sequence,
                    mode: mode,
                    outcome: outcome,
                    sentAt: sentAt,
                    answeredAt: self.now,
                    messageID: response?.messageID ?? 0
                )
            )
        }
    }

    private func sendToSink(_ client: BenchClient, receiver: Int, payload: Int, offline: Bool) {
        guard self.gate.take(.messages, now: self.now) else { return }
        var request = Herald_V1_SendPeerMessageRequest()
        request.peerID = self.context.shared.layout.userIDs[receiver]
        request.ackMode = .server
        request.enableOfflineMessaging = offline
        request.message = BenchBody(sender: UInt64(self.index), sequence: 0).message(size: payload)
        client.send(opcode: .sendPeerMessageRequest, request) { [weak self] answer in
            self?.account("sink-message", answer, answer.decode(Herald_V1_SendPeerMessageResponse.self)?.result)
        }
    }

    private func sendChannelMessage(_ client: BenchClient, channel: Int) {
        guard self.gate.take(.messages, now: self.now) else {
            self.stats.count("soak.skipped-rate.messages")
            return
        }
        self.channelSequence += 1
        let sequence = self.channelSequence
        var request = Herald_V1_SendChannelMessageRequest()
        request.channelID = self.context.shared.layout.channelNames[channel]
        request.message = BenchBody(sender: UInt64(self.index), sequence: sequence).message(
            size: self.context.shared.options.payloadBytes
        )
        let sentAt = self.now
        let sender = Int32(self.index)
        client.send(opcode: .sendChannelMessageRequest, request) { [weak self] answer in
            guard let self else { return }
            let response = answer.decode(Herald_V1_SendChannelMessageResponse.self)
            self.account("channel-message", answer, response?.result)
            let outcome: SoakLedger.Outcome
            switch response?.result {
            case .ok?:
                outcome = .ok
                self.stats.recordLatency(microseconds: answer.elapsedNanoseconds / 1000)
            case .tooOften?: outcome = .tooOften
            case nil: outcome = answer.connectionClosed ? .unanswered : .other
            default: outcome = .other
            }
            self.context.ledger.channelSends.append(
                .init(
                    channel: Int32(channel),
                    sender: sender,
                    sequence: sequence,
                    outcome: outcome,
                    sentAt: sentAt,
                    answeredAt: self.now
                )
            )
        }
    }

    private func userAttributes(_ client: BenchClient, peer: Int) {
        if self.gate.take(.userAttributesWrite, now: self.now) {
            var request = Herald_V1_AddOrUpdateLocalUserAttributesRequest()
            var attribute = Herald_V1_Attribute()
            attribute.key = "k\(self.tickCount % 4)"
            attribute.value = "v\(self.tickCount)"
            request.attributes = [attribute]
            client.send(opcode: .addOrUpdateLocalUserAttributesRequest, request) { [weak self] answer in
                self?.account(
                    "user-attributes-write",
                    answer,
                    answer.decode(Herald_V1_AddOrUpdateLocalUserAttributesResponse.self)?.result
                )
            }
        }
        if self.gate.take(.userAttributesRead, now: self.now) {
            var request = Herald_V1_GetUserAttributesRequest()
            request.userID = self.context.shared.layout.userIDs[peer]
            client.send(opcode: .getUserAttributesRequest, request) { [weak self] answer in
                self?.account(
                    "user-attributes-read",
                    answer,
                    answer.decode(Herald_V1_GetUserAttributesResponse.self)?.result
                )
            }
        }
    }

    private func channelAttributes(_ client: BenchClient, channel: String) {
        guard self.gate.take(.channelAttributesWrite, now: self.now) else { return }
        var request = Herald_V1_AddOrUpdateChannelAttributesRequest()
        request.channelID = channel
        var attribute = Herald_V1_Attribute()
        attribute.key = "a\(self.index % 8)"
        attribute.value = "v\(self.tickCount)"
        request.attributes = [attribute]
        request.notifyMembers = true
        client.send(opcode: .addOrUpdateChannelAttributesRequest, request) { [weak self] answer in
            self?.account(
                "channel-attributes-write",
                answer,
                answer.decode(Herald_V1_AddOrUpdateChannelAttributesResponse.self)?.result
            )
        }
    }

    private func invite(_ client: BenchClient, callee: Int) {
        var request = Herald_V1_SendInvitationRequest()
        request.calleeID = self.context.shared.layout.userIDs[callee]
        request.channelID = "soak-call-\(self.index)"
        request.content = "call \(self.tickCount)"
        request.invitationID = "inv-\(self.index)-\(self.tickCount)"
        let invitationID = request.invitationID
        let cancel = self.context.random(0..<5) == 0
        client.send(opcode: .sendInvitationRequest, request) { [weak self] answer in
            guard let self else { return }
            let response = answer.decode(Herald_V1_SendInvitationResponse.self)
            self.account("invitation-send", answer, response?.result)
            guard cancel, let response, response.result == .ok, let client = self.client, self.state == .online else {
                return
            }
            var request = Herald_V1_CancelInvitationRequest()
            request.invitationID = invitationID
            client.send(opcode: .cancelInvitationRequest, request) { [weak self] answer in
                self?.account(
                    "invitation-cancel",
                    answer,
                    answer.decode(Herald_V1_CancelInvitationResponse.self)?.result
                )
            }
        }
    }

    private func renew(_ client: BenchClient) {
        guard self.gate.take(.renewToken, now: self.now) else { return }
        var request = Herald_V1_RenewTokenRequest()
        request.token = self.context.shared.tokens[self.index]
        client.send(opcode: .renewTokenRequest, request) { [weak self] answer in
            self?.account("renew-token", answer, answer.decode(Herald_V1_RenewTokenResponse.self)?.result)
        }
    }

    private func toggleChurnChannel(_ client: BenchClient, position: Int) {
        let name = "\(self.context.shared.layout.channelNames[0])-churn\(position % 5)"
        if self.churnJoined {
            var request = Herald_V1_LeaveChannelRequest()
            request.channelID = name
            self.churnJoined = false
            client.send(opcode: .leaveChannelRequest, request) { [weak self] answer in
                self?.account("leave", answer, answer.decode(Herald_V1_LeaveChannelResponse.self)?.result)
            }
        } else {
            guard self.gate.take(.join, now: self.now), self.gate.take(.joinSameChannel, now: self.now) else {
                self.stats.count("soak.skipped-rate.join")
                return
            }
            var request = Herald_V1_JoinChannelRequest()
            request.channelID = name
            self.churnJoined = true
            client.send(opcode: .joinChannelRequest, request) { [weak self] answer in
                self?.account("join", answer, answer.decode(Herald_V1_JoinChannelResponse.self)?.result)
            }
        }
    }

    /// A churner goes away for 4–8 s: half the time with a logout, half by closing the connection.
    private func goOffline(_ client: BenchClient) {
        self.wantsOffline = true
        // No further requests on this connection (onTick checks the state); deliveries are still acknowledged.
        self.state = .connecting
        self.tick?.cancel()
        self.tick = nil
        self.stats.count("soak.churn-offline")
        let logout = self.context.random(0..<2) == 0
        let away = TimeAmount.milliseconds(Int64(4000 + self.context.random(0..<4000)))
        let comeBack: () -> Void = { [weak self] in
            guard let self else { return }
            self.context.loop.assumeIsolated().scheduleTask(in: away) { [weak self] in
                guard let self, self.context.phase == .running else { return }
                self.wantsOffline = false
                self.connect()
            }
        }
        if logout {
            client.send(opcode: .logoutRequest, Herald_V1_LogoutRequest()) { [weak self] answer in
                self?.account("logout", answer, answer.decode(Herald_V1_LogoutResponse.self)?.result)
                client.close()
                comeBack()
            }
        } else {
            client.close()
            comeBack()
        }
    }

    // MARK: Fuzzing

    /// A fuzzing connection: random bytes before any Hello, or a valid Hello followed by a mutated valid frame;
    /// then the next connection.
    private func connectFuzzer() {
        guard self.context.phase == .running else { return }
        self.state = .connecting
        let client = BenchClient(name: self.userID, eventLoop: self.context.loop, loopStats: self.context.stats)
        client.counterPrefix = "fuzz."
        self.client = client
        self.stats.count("fuzz.connections")
        let handshake = self.context.random(0..<2) == 0
        client.onClosed = { [weak self] client in
            guard let self, self.client === client else { return }
            self.client = nil
            self.state = .offline
            self.context.loop.assumeIsolated().scheduleTask(in: .milliseconds(150)) { [weak self] in
                self?.connect()
            }
        }
        client.connect(to: self.context.shared.target, sendHello: handshake) { [weak self] result in
            guard let self, self.client === client else { return }
            guard case .success = result else {
                self.client = nil
                self.state = .offline
                self.context.loop.assumeIsolated().scheduleTask(in: .milliseconds(500)) { [weak self] in
                    self?.connect()
                }
                return
            }
            client.sendRaw(handshake ? self.mutatedFrame() : self.randomBytes())
            // Whatever the server does with it, this connection ends soon.
            self.context.loop.assumeIsolated().scheduleTask(in: .milliseconds(300)) { client.close() }
        }
    }

    private func randomBytes() -> ByteBuffer {
        let count = self.context.random(1..<200)
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        for _ in 0..<count { buffer.writeInteger(UInt8(truncatingIfNeeded: self.context.random(0..<256))) }
        return buffer
    }

    private func mutatedFrame() -> ByteBuffer {
        var request = Herald_V1_LoginRequest()
        request.appID = self.context.shared.appID
        request.userID = self.userID
        request.token = "not-a-token"
        var bytes: [UInt8] =
            (try? HeraldFrame(opcode: .loginRequest, requestID: 7, message: request).encodedBytes()) ?? [0]
        for _ in 0..<(1 + self.context.random(0..<3)) {
            let position = self.context.random(0..<bytes.count)
            bytes[position] = UInt8(truncatingIfNeeded: self.context.random(0..<256))
        }
        var buffer = ByteBufferAllocator().buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        return buffer
    }
}

import HeraldMessages
import HeraldWire
import Logging
import NIOCore
import SwiftProtobuf

extension HeraldEngine {
    // MARK: - Framing failures (Spec/04-handshake.md §4.10)

    func framingFailure(_ error: WireError, header: (opcode: UInt16, requestID: UInt32)?, on connection: Connection) {
        let code = error.code
        if code == .truncatedHeader || code == .truncatedPayload {
            // End of stream inside a frame: the client has stopped sending (HS-67).
            self.logger.debug("stream ended inside a frame", metadata: ["connection": "\(connection.id)"])
        }
        var opcode: UInt16 = 0
        var requestID: UInt32 = 0
        switch code {
        case .badMagic, .unsupportedVersion, .reservedFlags:
            break  // HS-66: the header is not trustworthy.
        default:
            if let header {
                opcode = header.opcode
                requestID = header.requestID
            }
        }
        if code == .malformedPayload && connection.phase == .handshaken {
            self.sendProtocolError(
                code.description,
                error.message,
                opcode: opcode,
                requestID: requestID,
                to: connection
            )
            return
        }
        self.sendProtocolError(code.description, error.message, opcode: opcode, requestID: requestID, to: connection)
        self.disconnect(connection, reason: .protocolError, message: "framing failure: \(code)")
    }

    // MARK: - Frames

    /// Processes a frame that arrived at `arrivedMs` (at most `now`).
    func process(_ frame: HeraldFrame, on connection: Connection, arrivedMs: Int64) {
        connection.lastReceivedMs = self.now
        let opcode = frame.opcode
        if self.isTestControlRequest(frame, on: connection) { return self.testControlRequest(frame, on: connection) }
        guard let info = HeraldOpcodeTable.info(for: opcode) else {
            // The transport's decoder only passes frames with known opcodes; treat anything else as FRM-5.
            self.framingFailure(
                WireError(.unknownOpcode, "opcode \(opcode.rawValue) is not defined"),
                header: (UInt16(truncatingIfNeeded: opcode.rawValue), frame.requestID),
                on: connection
            )
            return
        }
        if connection.phase == .awaitingHello {
            guard opcode == .hello else {
                self.sendProtocolError("handshake-required", "the first frame must be Hello", to: connection)
                self.disconnect(connection, reason: .protocolError, message: "the first frame was not Hello")
                return
            }
            let hello: Herald_V1_Hello
            do {
                hello = try frame.decodeMessage(as: Herald_V1_Hello.self)
            } catch {
                self.framingFailure(error, header: (UInt16(opcode.rawValue), frame.requestID), on: connection)
                return
            }
            self.handshake(hello, requestID: frame.requestID, on: connection)
            return
        }
        if let session = connection.session {
            self.presenceActivity(session)
        }
        switch info.kind {
        case .response, .event:
            self.sendProtocolError(
                "unexpected-frame",
                "clients send only requests and notices; \(info.name) is a\(info.kind == .event ? "n" : "") \(info.kind)",
                opcode: UInt16(opcode.rawValue),
                requestID: frame.requestID,
                to: connection
            )
        case .notice:
            self.deliveryAck(frame, on: connection)
        case .request:
            self.request(frame, info: info, on: connection, arrivedMs: arrivedMs)
        }
    }

    func handshake(_ hello: Herald_V1_Hello, requestID: UInt32, on connection: Connection) {
        let versions = hello.versions.isEmpty ? [UInt32(1)] : hello.versions
        guard versions.contains(1) else {
            self.disconnect(connection, reason: .unsupportedVersion, message: "this server implements version 1 only")
            return
        }
        let offered = self.configuration.offeredCapabilities.union([.core])
        var granted: Set<Capability>
        if hello.capabilities.isEmpty {
            granted = offered
        } else {
            let requested = Capability.closure(of: hello.capabilities.map(Capability.init))
            granted = requested.intersection(offered).union([.core])
        }
        // HS-17: drop anything whose prerequisites are not all granted, until stable.
        var changed = true
        while changed {
            changed = false
            for capability in granted where !capability.prerequisites.allSatisfy(granted.contains) {
                granted.remove(capability)
                changed = true
            }
        }
        // Test control is granted only to a Hello that names it (Spec/18-test-control.md).
        if self.configuration.testControlKey != nil && hello.capabilities.contains(Capability.testControl.name) {
            granted.insert(.testControl)
        }
        connection.granted = GrantedCapabilities(granted)
        let announced = Int(hello.maxPayloadLength)
        connection.clientMaxPayloadLength = min(
            max(announced, HeraldFrameHeader.defaultMaximumPayloadLength),
            HeraldFrameHeader.absoluteMaximumPayloadLength
        )
        connection.phase = .handshaken
        // The configuration's part is built once (``welcomeTemplate``); the connection's part here.
        var welcome = self.welcomeTemplate
        welcome.capabilities = granted.sorted().map(\.name)
        welcome.serverTimeMs = self.now
        welcome.connectionID = connection.publicID
        self.enqueue(Outbound.frame(opcode: .welcome, requestID: requestID, message: welcome), to: connection)
        if let handle = connection.handshakeTimer {
            self.timers.cancel(handle)  // LIM-32: the handshake is over
            connection.handshakeTimer = nil
        }
        connection.idleTimer = self.timers.schedule(
            .idleCheck(connection.id),
            at: self.now + self.timerSettings.idleTimeoutMs
        )
        self.startLoginTimer(connection)
        if self.configuration.rateLimits[.login] != nil {
            connection.loginRate = RateCounter(self.configuration.rateLimits[.login]!)
        }
    }

    /// The fields of `Welcome` that come from the configuration: version, server name, limits, timers and rate
    /// limits (Spec/04-handshake.md §4.5).
    static func welcomeTemplate(_ configuration: EngineConfiguration) -> Herald_V1_Welcome {
        Herald_V1_Welcome.with {
            $0.version = 1
            $0.serverName = configuration.serverName
            $0.limits = configuration.limits.wire
            $0.timers = configuration.timers.wire
            $0.rateLimits = configuration.rateLimits.keys.sorted { $0.rawValue < $1.rawValue }.map { rateClass in
                let value = configuration.rateLimits[rateClass]!
                return Herald_V1_RateLimit.with {
                    $0.rateClass = rateClass
                    $0.count = UInt32(value.count)
                    $0.windowMs = UInt32(clamping: value.windowMs)
                }
            }
        }
    }

    func deliveryAck(_ frame: HeraldFrame, on connection: Connection) {
        let result: Herald_V1_DeliveryAckResult
        do {
            result = try frame.decodeMessage(as: Herald_V1_DeliveryAck.self).result
        } catch {
            self.sendProtocolError(
                error.code.description,
                error.message,
                opcode: UInt16(frame.opcode.rawValue),
                requestID: frame.requestID,
                to: connection
            )
            return
        }
        guard let delivery = connection.outstanding.removeValue(forKey: frame.requestID) else {
            self.sendProtocolError(
                "unknown-delivery",
                "no delivery \(frame.requestID) is outstanding on this connection",
                opcode: 0x0080,
                requestID: frame.requestID,
                to: connection
            )
            return
        }
        connection.lastAckMs = self.now
        // HS-54: unknown values count as INCOMPATIBLE.
        let normalized: Herald_V1_DeliveryAckResult = result == .accepted ? .accepted : .incompatible
        switch delivery.purpose {
        case .peer(let peerDelivery):
            self.peerDeliveryAcknowledged(peerDelivery, result: normalized, on: connection)
        case .invitation(let invitationDelivery):
            self.invitationDeliveryAcknowledged(invitationDelivery, result: normalized, on: connection)
        }
        // LIM-33: the acknowledgement made room for a held message.
        if let session = connection.session, !session.peer.held.isEmpty {
            self.peerPump(session)
        }
    }

    // MARK: - Requests

    func request(_ frame: HeraldFrame, info: HeraldOpcodeInfo, on connection: Connection, arrivedMs: Int64) {
        let opcode = frame.opcode
        let requestID = frame.requestID
        if opcode == .hello {
            self.sendProtocolError(
                "already-handshaken",
                "this connection is already handshaken",
                opcode: UInt16(opcode.rawValue),
                requestID: requestID,
                to: connection
            )
            return
        }
        if connection.inFlight.contains(requestID) {
            self.sendProtocolError(
                "duplicate-request-id",
                "request id \(requestID) is still in flight",
                opcode: UInt16(opcode.rawValue),
                requestID: requestID,
                to: connection
            )
            return
        }
        if !connection.granted.allows(opcodeBit: Capability.maskBit(of: opcode)), let capability = Capability.of(opcode)
        {
            self.sendProtocolError(
                "capability-not-granted",
                "\(info.name) needs the capability \(capability), which this connection was not granted",
                opcode: UInt16(opcode.rawValue),
                requestID: requestID,
                to: connection
            )
            return
        }
        let message: any SwiftProtobuf.Message
        do {
            message = try frame.decodeMessage()
        } catch {
            self.sendProtocolError(
                error.code.description,
                error.message,
                opcode: UInt16(opcode.rawValue),
                requestID: requestID,
                to: connection
            )
            return
        }
        connection.inFlight.insert(requestID)
        var session = connection.session
        if let current = session, let expires = current.tokenExpiresMs, self.now >= expires {
            session = nil  // TOK-22
        }
        let context = RequestContext(
            connection: connection,
            session: session,
            requestID: requestID,
            opcode: opcode,
            now: self.now,
            arrivedMs: arrivedMs
        )
        switch opcode {
        case .ping:
            let ping = message as! Herald_V1_Ping
            self.respond(
                context,
                Herald_V1_Pong.with {
                    $0.clientTimeMs = ping.clientTimeMs
                    $0.serverTimeMs = self.now
                }
            )
            return
        case .loginRequest:
            self.login(message as! Herald_V1_LoginRequest, context)
            return
        default:
            break
        }
        guard let session else {
            self.respond(context, GenericResponses.notLoggedIn(message, opcode: opcode))
            return
        }
        if let rateClass = GenericResponses.rateClass(of: opcode), let limit = self.configuration.rateLimits[rateClass]
        {
            var counter = session.rates[rateClass] ?? RateCounter(limit)
            let allowed = counter.take(at: context.arrivedMs)  // LIM-24
            session.rates[rateClass] = counter
            guard allowed else {
                self.respond(context, GenericResponses.tooOften(message, opcode: opcode))
                return
            }
        }
        if let request = message as? Herald_V1_RenewTokenRequest {
            self.renewToken(request, session: session, context)
            return
        }
        self.dispatch(message, session: session, context: context)
    }

    /// Routes a request of a logged-in session to its operation.
    func dispatch(_ message: any SwiftProtobuf.Message, session: Session, context: RequestContext) {
        // One switch on the opcode; the payload was decoded as the opcode's message type, so each cast holds.
        func typed<M: SwiftProtobuf.Message>(_: M.Type = M.self) -> M { message as! M }
        switch context.opcode {
        case .logoutRequest: self.logout(typed(), session: session, context)
        case .sendPeerMessageRequest: self.sendPeerMessage(typed(), session: session, context)
        case .queryPeersOnlineStatusRequest: self.queryPeersOnlineStatus(typed(), session: session, context)
        case .subscribePeersOnlineStatusRequest: self.subscribePeersOnlineStatus(typed(), session: session, context)
        case .unsubscribePeersOnlineStatusRequest: self.unsubscribePeersOnlineStatus(typed(), session: session, context)
        case .queryPeersBySubscriptionOptionRequest:
            self.queryPeersBySubscriptionOption(typed(), session: session, context)
        case .setLocalUserAttributesRequest: self.setLocalUserAttributes(typed(), session: session, context)
        case .addOrUpdateLocalUserAttributesRequest:
            self.addOrUpdateLocalUserAttributes(typed(), session: session, context)
        case .deleteLocalUserAttributesByKeysRequest:
            self.deleteLocalUserAttributesByKeys(typed(), session: session, context)
        case .clearLocalUserAttributesRequest: self.clearLocalUserAttributes(typed(), session: session, context)
        case .getUserAttributesRequest: self.getUserAttributes(typed(), session: session, context)
        case .getUserAttributesByKeysRequest: self.getUserAttributesByKeys(typed(), session: session, context)
        case .joinChannelRequest: self.joinChannel(typed(), session: session, context)
        case .leaveChannelRequest: self.leaveChannel(typed(), session: session, context)
        case .getMembersRequest: self.getMembers(typed(), session: session, context)
        case .getChannelMemberCountRequest: self.getChannelMemberCount(typed(), session: session, context)
        case .sendChannelMessageRequest: self.sendChannelMessage(typed(), session: session, context)
        case .setChannelAttributesRequest: self.setChannelAttributes(typed(), session: session, context)
        case .addOrUpdateChannelAttributesRequest: self.addOrUpdateChannelAttributes(typed(), session: session, context)
        case .deleteChannelAttributesByKeysRequest:
            self.deleteChannelAttributesByKeys(typed(), session: session, context)
        case .clearChannelAttributesRequest: self.clearChannelAttributes(typed(), session: session, context)
        case .getChannelAttributesRequest: self.getChannelAttributes(typed(), session: session, context)
        case .getChannelAttributesByKeysRequest: self.getChannelAttributesByKeys(typed(), session: session, context)
        case .sendInvitationRequest: self.sendInvitation(typed(), session: session, context)
        case .cancelInvitationRequest: self.cancelInvitation(typed(), session: session, context)
        case .acceptInvitationRequest: self.acceptInvitation(typed(), session: session, context)
        case .refuseInvitationRequest: self.refuseInvitation(typed(), session: session, context)
        case .sendChannelMessageExternalRequest: self.sendChannelMessageExternal(typed(), session: session, context)
        case .sendDtmfRequest: self.sendDtmf(typed(), session: session, context)
        case .queryChannelUsersRequest: self.queryChannelUsers(typed(), session: session, context)
        default:
            self.logger.error("no handler for a request", metadata: ["opcode": "\(context.opcode)"])
            self.respond(context, GenericResponses.response(to: message, opcode: context.opcode, result: 1))
        }
    }
}

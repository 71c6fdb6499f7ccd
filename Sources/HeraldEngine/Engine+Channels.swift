import HeraldMessages
import Logging
import NIOCore
import SwiftProtobuf

// MARK: - State

/// Engine-wide channel state (Spec/09-channels.md, 10-channel-messages.md, 11-channel-attributes.md): membership,
/// member-count schedules, channel attributes and the per-session join rate counters.
struct ChannelsState {
    /// Who is in which channel. Every channel event is routed through it.
    var directory = ChannelDirectory()
    /// The `MemberCountUpdated` schedule of every channel that has members.
    var countSchedules: [ChannelKey: MemberCountSchedule] = [:]
    /// Channel attributes by channel, present while a channel has at least one attribute; independent of members.
    var attributes: [ChannelKey: ChannelAttributeStore] = [:]
    /// Per-session channel state by session serial, dropped when the session ends.
    var sessions: [UInt64: ChannelSessionRecord] = [:]
    /// Distinguishes successive timers of one channel, so that a superseded timer does nothing.
    var nextTimerGeneration: UInt64 = 1
}

/// Channel timers: the end of a member-count interval, and the expiry of an empty channel's attributes.
struct ChannelTimer: Hashable, Sendable {
    /// What the timer is for.
    enum Kind: Hashable, Sendable {
        /// Send the member counts that have become due (CHAN-25).
        case memberCount
        /// Delete the attributes of a channel that stayed empty (CATTR-38).
        case attributesExpiry
    }

    var kind: Kind
    var channel: ChannelKey
    var generation: UInt64
}

/// A timer the channel feature has scheduled and may cancel.
struct ScheduledChannelTimer: Hashable, Sendable {
    var handle: UInt64
    var deadline: Int64
    var generation: UInt64
}

/// The channel state of one session.
struct ChannelSessionRecord {
    /// The ids of the channels the session is a member of (app-scoped by the session's user).
    var joined: Set<String> = []
    /// `RATE_CLASS_JOIN` (CHAN-5).
    var joinRate: RateCounter?
    /// `RATE_CLASS_JOIN_SAME_CHANNEL` by channel id (CHAN-6); entries whose window has passed are pruned.
    var sameChannelRates: [String: SameChannelRate] = [:]
    /// Prune `sameChannelRates` when it reaches this size.
    var pruneAt = 64
}

/// One `RATE_CLASS_JOIN_SAME_CHANNEL` counter and the time it last counted a join.
struct SameChannelRate {
    var counter: RateCounter
    var lastMs: Int64
}

// MARK: - Directory

/// The membership of every channel: which sessions are in a channel, in join order.
///
/// Lookups, joins and departures are O(1); the engine reaches members only through this type (counts, member lists,
/// fan-out targets), so that a multi-node backplane can replace it without touching the operations.
struct ChannelDirectory {
    private struct Member {
        let session: Session
        /// Position in `Channel.dense`.
        var denseIndex: Int
        /// Identifies this membership in `Channel.joinLog`.
        let joinSeq: UInt64
    }

    private struct JoinLogEntry {
        let serial: UInt64
        let joinSeq: UInt64
    }

    /// A member in `Channel.dense`, with the `seq` of the last event of its channel stream (EXT-28: 0 at the join).
    struct StreamMember {
        let session: Session
        /// The session's connection, so that a fan-out reads the connection without reading the session.
        let connection: Connection
        var seq: UInt64 = 0
    }

    private struct Channel {
        /// The members in no particular order (fan-out and random sampling), each with its channel-stream `seq`:
        /// a fan-out walks this array once, with no lookup per receiver.
        var dense: [StreamMember] = []
        /// The members by session serial.
        var members: [UInt64: Member] = [:]
        /// Joins, oldest first; an entry whose membership has ended is stale and skipped.
        var joinLog: [JoinLogEntry] = []
        var nextJoinSeq: UInt64 = 1

        mutating func add(_ session: Session) -> Int {
            guard self.members[session.serial] == nil else { return self.members.count }
            let joinSeq = self.nextJoinSeq
            self.nextJoinSeq += 1
            self.members[session.serial] = Member(session: session, denseIndex: self.dense.count, joinSeq: joinSeq)
            self.dense.append(StreamMember(session: session, connection: session.connection))
            self.joinLog.append(JoinLogEntry(serial: session.serial, joinSeq: joinSeq))
            return self.members.count
        }

        mutating func remove(_ serial: UInt64) -> Bool {
            guard let member = self.members.removeValue(forKey: serial) else { return false }
            let last = self.dense.removeLast()
            if member.denseIndex < self.dense.count {
                self.dense[member.denseIndex] = last
                self.members[last.session.serial]?.denseIndex = member.denseIndex
            }
            if self.joinLog.count > 2 * self.members.count + 32 {
                let members = self.members
                self.joinLog.removeAll { members[$0.serial]?.joinSeq != $0.joinSeq }
            }
            return true
        }
    }

    private var channels: [ChannelKey: Channel] = [:]

    /// The number of channels that have members.
    var channelCount: Int { self.channels.count }

    /// The member count of a channel; 0 for a channel without members.
    func memberCount(of key: ChannelKey) -> Int {
        self.channels[key]?.members.count ?? 0
    }

    /// Whether the session with `serial` is a member of the channel.
    func isMember(_ serial: UInt64, of key: ChannelKey) -> Bool {
        self.channels[key]?.members[serial] != nil
    }

    /// Every member of the channel, in no particular order.
    func members(of key: ChannelKey) -> [Session] {
        self.channels[key]?.dense.map(\.session) ?? []
    }

    /// Calls `body` with every member of the channel but `excluded`, in no particular order, and the `seq` of the
    /// last event of the member's channel stream, which `body` advances when it sends the member an event.
    ///
    /// `body` must not touch the directory.
    mutating func updateStreams(
        of key: ChannelKey,
        excluding excluded: Session?,
        _ body: (Session, Connection, inout UInt64) -> Void
    ) {
        self.channels[key]?.dense.withUnsafeMutableBufferPointer { members in
            for index in members.indices where members[index].session !== excluded {
                body(members[index].session, members[index].connection, &members[index].seq)
            }
        }
    }

    /// Advances the channel-stream `seq` of one member and returns it, or returns `nil` if the session is not a
    /// member.
    mutating func nextSeq(of serial: UInt64, in key: ChannelKey) -> UInt64? {
        guard let index = self.channels[key]?.members[serial]?.denseIndex else { return nil }
        guard let seq = self.channels[key]?.dense[index].seq else { return nil }
        self.channels[key]?.dense[index].seq = seq + 1
        return seq + 1
    }

    /// Adds a member; returns the member count after the join.
    mutating func join(_ session: Session, _ key: ChannelKey) -> Int {
        self.channels[key, default: Channel()].add(session)
    }

    /// Removes a member; returns whether it was one.
    mutating func leave(_ serial: UInt64, _ key: ChannelKey) -> Bool {
        guard let removed = self.channels[key]?.remove(serial) else { return false }
        if self.channels[key]?.members.isEmpty == true {
            self.channels[key] = nil
        }
        return removed
    }

    /// The `limit` most recently joined members (all if there are fewer), oldest first and newest last.
    func recentMembers(of key: ChannelKey, limit: Int) -> [Session] {
        guard let channel = self.channels[key], limit > 0 else { return [] }
        var result: [Session] = []
        result.reserveCapacity(min(limit, channel.members.count))
        var index = channel.joinLog.count
        while index > 0 && result.count < limit {
            index -= 1
            let entry = channel.joinLog[index]
            if let member = channel.members[entry.serial], member.joinSeq == entry.joinSeq {
                result.append(member.session)
            }
        }
        return result.reversed()
    }

    /// Every member when there are at most `limit`, else `limit` distinct members chosen at random.
    func sample(of key: ChannelKey, limit: Int) -> [Session] {
        guard let channel = self.channels[key] else { return [] }
        let count = channel.dense.count
        if count <= limit { return channel.dense.map(\.session) }
        guard limit > 0 else { return [] }
        // Floyd's algorithm: `limit` distinct indices in O(limit).
        var generator = SystemRandomNumberGenerator()
        var chosen = Set<Int>(minimumCapacity: limit)
        for upper in (count - limit)..<count {
            let pick = Int.random(in: 0...upper, using: &generator)
            if !chosen.insert(pick).inserted {
                chosen.insert(upper)
            }
        }
        return chosen.map { channel.dense[$0].session }
    }
}

// MARK: - Member-count schedule

/// When each member of one channel last got a `MemberCountUpdated`, and with which count (CHAN-25 … CHAN-28).
///
/// Members that were sent the same count at the same time form a cohort; cohorts are kept in the order they were
/// sent, which is also the order in which their intervals end. A change of the count therefore costs time only for the
/// cohorts that are due, not for every member.
struct MemberCountSchedule {
    private struct Cohort {
        let sentMs: Int64
        let count: Int
        var sessions: [Session]
    }

    private struct Placement {
        var cohort: UInt64
        var slot: Int
    }

    private var cohorts: [UInt64: Cohort] = [:]
    /// Cohort ids in the order they were sent; ids of removed cohorts are skipped.
    private var order: [UInt64] = []
    private var head = 0
    private var nextCohortID: UInt64 = 1
    private var placement: [UInt64: Placement] = [:]
    /// The pending timer of the channel, if any.
    var timer: ScheduledChannelTimer?

    /// Records that `sessions` were sent `count` at `now`.
    mutating func recordSent(_ sessions: [Session], count: Int, at now: Int64) {
        guard !sessions.isEmpty else { return }
        for session in sessions where self.placement[session.serial] != nil {
            self.remove(session.serial)
        }
        let id: UInt64
        if let last = self.order.last, let tail = self.cohorts[last], tail.sentMs == now, tail.count == count {
            id = last
        } else {
            id = self.nextCohortID
            self.nextCohortID += 1
            self.cohorts[id] = Cohort(sentMs: now, count: count, sessions: [])
            self.order.append(id)
        }
        var slot = self.cohorts[id]?.sessions.count ?? 0
        self.cohorts[id]?.sessions.append(contentsOf: sessions)
        for session in sessions {
            self.placement[session.serial] = Placement(cohort: id, slot: slot)
            slot += 1
        }
    }

    /// Forgets a member.
    mutating func remove(_ serial: UInt64) {
        guard let place = self.placement.removeValue(forKey: serial),
            var cohort = self.cohorts.removeValue(forKey: place.cohort)
        else { return }
        let last = cohort.sessions.removeLast()
        if place.slot < cohort.sessions.count {
            cohort.sessions[place.slot] = last
            self.placement[last.serial] = Placement(cohort: place.cohort, slot: place.slot)
        }
        if !cohort.sessions.isEmpty {
            self.cohorts[place.cohort] = cohort
        }
        self.compact()
    }

    /// Removes and returns the members due for an update at `now`: those whose last count differs from `count` and
    /// whose last update is at least `interval` old. Record them with ``recordSent(_:count:at:)`` once sent.
    mutating func takeDue(count: Int, interval: Int64, now: Int64) -> [Session] {
        var due: [Session] = []
        var index = self.head
        while index < self.order.count {
            let id = self.order[index]
            index += 1
            guard let cohort = self.cohorts[id] else { continue }
            if cohort.sentMs > now - interval { break }
            if cohort.count != count {
                self.cohorts[id] = nil
                for session in cohort.sessions {
                    self.placement[session.serial] = nil
                }
                due.append(contentsOf: cohort.sessions)
            }
        }
        self.compact()
        return due
    }

    /// The time at which the next member whose last count differs from `count` becomes due, if any.
    func nextDue(count: Int, interval: Int64) -> Int64? {
        var index = self.head
        while index < self.order.count {
            if let cohort = self.cohorts[self.order[index]], cohort.count != count {
                return cohort.sentMs + interval
            }
            index += 1
        }
        return nil
    }

    private mutating func compact() {
        while self.head < self.order.count && self.cohorts[self.order[self.head]] == nil {
            self.head += 1
        }
        let live = self.order.count - self.head
        if live > 2 * self.cohorts.count + 16 || (self.head > 64 && self.head * 2 > self.order.count) {
            let cohorts = self.cohorts
            self.order = self.order[self.head...].filter { cohorts[$0] != nil }
            self.head = 0
        }
    }
}

// MARK: - Operations

extension HeraldEngine {
    // MARK: Hooks

    /// Removes an ended session from every channel it was in (CHAN-24, SES-28), with the `MemberLeft` reason of its
    /// end cause (CHAN-20 … CHAN-23), and drops its join rate counters.
    func channelsSessionEnded(_ session: Session, cause: SessionEndCause) {
        guard let record = self.channels.sessions.removeValue(forKey: session.serial) else { return }
        let reason = cause.memberLeftReason
        for channelID in record.joined.sorted() {
            let key = ChannelKey(appID: session.user.appID, channelID: channelID)
            self.removeMember(session, from: key, reason: reason)
        }
    }

    func channelTimerFired(_ timer: ChannelTimer) {
        let key = timer.channel
        switch timer.kind {
        case .memberCount:
            guard let scheduled = self.channels.countSchedules[key]?.timer, scheduled.generation == timer.generation
            else { return }
            self.channels.countSchedules[key]?.timer = nil
            self.sweepMemberCounts(key)
        case .attributesExpiry:
            self.channelAttributesExpiryFired(timer)
        }
    }

    // MARK: Join (§9.2)

    func joinChannel(_ request: Herald_V1_JoinChannelRequest, session: Session, _ context: RequestContext) {
        let channelID = request.channelID
        func answer(_ result: Herald_V1_JoinChannelResult) {
            self.respond(
                context,
                Herald_V1_JoinChannelResponse.with {
                    $0.result = result
                    $0.channelID = channelID  // CHAN-10
                }
            )
        }
        // Checks 2 and 3 (CHAN-5, CHAN-6, LIM-6).
        if let refused = self.takeJoinRates(session, channelID: channelID, at: context.arrivedMs) {
            answer(refused)
            return
        }
        // Check 4 (CHAN-7).
        guard Validation.isValidIdentifier(channelID, maxBytes: self.limits.maxChannelIDBytes) else {
            answer(.invalidArgument)
            return
        }
        let key = ChannelKey(appID: session.user.appID, channelID: channelID)
        // Check 5 (CHAN-8).
        if self.channels.directory.isMember(session.serial, of: key) {
            answer(.alreadyJoined)
            return
        }
        // Check 6 (CHAN-9).
        if (self.channels.sessions[session.serial]?.joined.count ?? 0) >= self.limits.maxChannelsJoined {
            answer(.exceedLimit)
            return
        }
        let count = self.channels.directory.join(session, key)  // EXT-28: a new channel stream
        self.channels.sessions[session.serial, default: ChannelSessionRecord()].joined.insert(channelID)
        self.cancelChannelAttributesExpiry(key)  // CATTR-39
        // CHAN-11: response, member count, then (if asked for and granted) the member list.
        answer(.ok)
        self.sendChannelEvent(Self.memberCountEvent(key, count), in: key, to: [session])
        self.channels.countSchedules[key, default: MemberCountSchedule()]
            .recordSent([session], count: count, at: self.now)
        if request.legacyMemberList && session.connection.has(.legacySignaling) {  // CHAN-12, CHAN-13, OVR-9
            let recent = self.channels.directory.recentMembers(of: key, limit: self.limits.maxLegacyMemberList)
            let list = Herald_V1_ChannelMemberList.with {
                $0.channelID = channelID
                $0.userIds = recent.map(\.user.userID)
            }
            self.sendChannelEvent(
                Outbound.SharedEvent(opcode: .channelMemberList, message: list, seqFieldNumber: 3),
                in: key,
                to: [session]
            )
        }
        // CHAN-14, CHAN-15, CHAN-18, then the other members' counts (CHAN-29).
        if count <= self.limits.maxMemberEventChannelSize {
            let joined = Herald_V1_MemberJoined.with {
                $0.channelID = channelID
                $0.userID = session.user.userID
            }
            self.fanOut(
                Outbound.SharedEvent(opcode: .memberJoined, message: joined, seqFieldNumber: 3),
                in: key,
                excluding: session
            )
        }
        self.sweepMemberCounts(key)
    }

    /// Checks `RATE_CLASS_JOIN`, then `RATE_CLASS_JOIN_SAME_CHANNEL`, and counts the join towards both only when
    /// neither refuses it (LIM-6), at the request's arrival time `at` (LIM-24). Returns the refusal, if any.
    private func takeJoinRates(_ session: Session, channelID: String, at time: Int64) -> Herald_V1_JoinChannelResult? {
        let joinLimit = self.configuration.rateLimits[.join]
        let sameLimit = self.configuration.rateLimits[.joinSameChannel]
        guard joinLimit != nil || sameLimit != nil else { return nil }
        var record = self.channels.sessions.removeValue(forKey: session.serial) ?? ChannelSessionRecord()
        defer { self.channels.sessions[session.serial] = record }
        var joinCounter: RateCounter?
        if let joinLimit {
            let counter = record.joinRate ?? RateCounter(joinLimit)
            guard counter.allows(at: time) else { return .tooOften }
            joinCounter = counter
        }
        if let sameLimit {
            let rateKey = Self.sameChannelRateKey(channelID, maxBytes: self.limits.maxChannelIDBytes)
            if record.sameChannelRates[rateKey] == nil && record.sameChannelRates.count >= record.pruneAt {
                let horizon = time - sameLimit.windowMs
                record.sameChannelRates = record.sameChannelRates.filter { $0.value.lastMs > horizon }
                record.pruneAt = max(64, 2 * record.sameChannelRates.count)
            }
            var same = record.sameChannelRates[rateKey] ?? SameChannelRate(counter: RateCounter(sameLimit), lastMs: 0)
            guard same.counter.allows(at: time) else { return .joinSameChannelTooOften }
            same.counter.record(at: time)
            same.lastMs = max(same.lastMs, time)
            record.sameChannelRates[rateKey] = same
        }
        if var joinCounter {
            joinCounter.record(at: time)
            record.joinRate = joinCounter
        }
        return nil
    }

    /// The key under which joins of `channelID` are counted: the id itself, or for an id too long to be valid a short
    /// digest, so that junk ids cannot make the counters large.
    private static func sameChannelRateKey(_ channelID: String, maxBytes: Int) -> String {
        let bytes = channelID.utf8.count
        guard bytes > maxBytes else { return channelID }
        var hasher = Hasher()
        hasher.combine(channelID)
        return "\u{0}\(bytes):\(hasher.finalize())"
    }

    // MARK: Leave (§9.5)

    func leaveChannel(_ request: Herald_V1_LeaveChannelRequest, session: Session, _ context: RequestContext) {
        let channelID = request.channelID
        let key = ChannelKey(appID: session.user.appID, channelID: channelID)
        guard self.channels.directory.isMember(session.serial, of: key) else {  // CHAN-31
            self.respond(
                context,
                Herald_V1_LeaveChannelResponse.with {
                    $0.result = .notInChannel
                    $0.channelID = channelID
                }
            )
            return
        }
        self.removeMember(session, from: key, reason: .quit)  // CHAN-19, CHAN-32: membership ends first
        self.respond(
            context,
            Herald_V1_LeaveChannelResponse.with {
                $0.result = .ok
                $0.channelID = channelID
            }
        )
    }

    /// Ends a membership: the session's channel stream ends, the remaining members get `MemberLeft` (CHAN-16,
    /// CHAN-17) and then their member counts (CHAN-29); an emptied channel starts its attributes' idle time.
    private func removeMember(_ session: Session, from key: ChannelKey, reason: Herald_V1_MemberLeftReason) {
        let before = self.channels.directory.memberCount(of: key)
        guard self.channels.directory.leave(session.serial, key) else { return }
        self.channels.sessions[session.serial]?.joined.remove(key.channelID)
        self.channels.countSchedules[key]?.remove(session.serial)
        if before <= 1 {
            if let timer = self.channels.countSchedules.removeValue(forKey: key)?.timer {
                self.timers.cancel(timer.handle)
            }
            self.scheduleChannelAttributesExpiry(key)  // CATTR-38
            return
        }
        if before <= self.limits.maxMemberEventChannelSize {
            let left = Herald_V1_MemberLeft.with {
                $0.channelID = key.channelID
                $0.userID = session.user.userID
                $0.reason = reason
            }
            self.fanOut(Outbound.SharedEvent(opcode: .memberLeft, message: left, seqFieldNumber: 4), in: key)
        }
        self.sweepMemberCounts(key)
    }

    // MARK: Member counts (§9.4)

    /// The member-count interval of a channel with `count` members.
    private func memberCountInterval(forCount count: Int) -> Int64 {
        count <= self.limits.maxMemberEventChannelSize
            ? self.timerSettings.memberCountIntervalMs : self.timerSettings.memberCountIntervalLargeMs
    }

    private static func memberCountEvent(_ key: ChannelKey, _ count: Int) -> Outbound.SharedEvent {
        let update = Herald_V1_MemberCountUpdated.with {
            $0.channelID = key.channelID
            $0.memberCount = UInt32(clamping: count)
        }
        return Outbound.SharedEvent(opcode: .memberCountUpdated, message: update, seqFieldNumber: 3)
    }

    /// Sends the current count to every member that is due (CHAN-25, CHAN-27, CHAN-28) and schedules the channel's
    /// timer for the next member that will be due (CHAN-26).
    func sweepMemberCounts(_ key: ChannelKey) {
        let count = self.channels.directory.memberCount(of: key)
        guard count > 0, self.channels.countSchedules[key] != nil else { return }
        let interval = self.memberCountInterval(forCount: count)
        let due = self.channels.countSchedules[key]?.takeDue(count: count, interval: interval, now: self.now) ?? []
        if !due.isEmpty {
            self.sendChannelEvent(Self.memberCountEvent(key, count), in: key, to: due)
            self.channels.countSchedules[key]?.recordSent(due, count: count, at: self.now)
        }
        let next = self.channels.countSchedules[key]?.nextDue(count: count, interval: interval)
        let current = self.channels.countSchedules[key]?.timer
        if current?.deadline == next { return }
        if let current {
            self.timers.cancel(current.handle)
            self.channels.countSchedules[key]?.timer = nil
        }
        if let next {
            let generation = self.takeChannelTimerGeneration()
            let handle = self.timers.schedule(
                .channel(ChannelTimer(kind: .memberCount, channel: key, generation: generation)),
                at: next
            )
            self.channels.countSchedules[key]?.timer = ScheduledChannelTimer(
                handle: handle,
                deadline: next,
                generation: generation
            )
        }
    }

    func takeChannelTimerGeneration() -> UInt64 {
        let generation = self.channels.nextTimerGeneration
        self.channels.nextTimerGeneration += 1
        return generation
    }

    /// Sends one serialised event to every member of a channel, except `excluded`, with the member's next
    /// channel-stream `seq`. Members not granted the event's capability are skipped and take no number.
    func fanOut(_ event: Outbound.SharedEvent, in key: ChannelKey, excluding excluded: Session? = nil) {
        // The closure touches connections, the dirty list and the limits, never the channel directory.
        self.channels.directory.updateStreams(of: key, excluding: excluded) { session, connection, seq in
            // A member's session has not ended while its connection still has it (a session leaves every channel
            // when it ends); asking the connection keeps the session itself out of the loop.
            guard self.acceptsStreamEvent(event.opcode, on: connection, ended: connection.session !== session)
            else { return }
            seq += 1
            self.enqueue(event.frame(seq: seq), to: connection)
        }
    }

    /// Sends one serialised channel event to each of `receivers` with the receiver's next channel-stream `seq`.
    /// Receivers not granted the event's capability or not (or no longer) in the channel are skipped.
    func sendChannelEvent(_ event: Outbound.SharedEvent, in key: ChannelKey, to receivers: [Session]) {
        for session in receivers {
            let connection = session.connection
            guard self.acceptsStreamEvent(event.opcode, on: connection, ended: session.ended),
                let seq = self.channels.directory.nextSeq(of: session.serial, in: key)
            else { continue }
            self.enqueue(event.frame(seq: seq), to: connection)
        }
    }

    // MARK: Listing and counting (§9.6, §9.7)

    func getMembers(_ request: Herald_V1_GetMembersRequest, session: Session, _ context: RequestContext) {
        let key = ChannelKey(appID: session.user.appID, channelID: request.channelID)
        var response = Herald_V1_GetMembersResponse.with { $0.channelID = request.channelID }  // CHAN-40
        if self.channels.directory.isMember(session.serial, of: key) {  // CHAN-37
            response.result = .ok
            response.userIds = self.channels.directory.sample(of: key, limit: self.limits.maxMembersListed)
                .map(\.user.userID)  // CHAN-38, CHAN-39
        } else {
            response.result = .notInChannel
        }
        self.respond(context, response)
    }

    func getChannelMemberCount(
        _ request: Herald_V1_GetChannelMemberCountRequest,
        session: Session,
        _ context: RequestContext
    ) {
        var response = Herald_V1_GetChannelMemberCountResponse()
        let maxBytes = self.limits.maxChannelIDBytes
        if request.channelIds.count > self.limits.maxMemberCountChannels {  // CHAN-45
            response.result = .exceedLimit
        } else if request.channelIds.isEmpty
            || !request.channelIds.allSatisfy({ Validation.isValidIdentifier($0, maxBytes: maxBytes) })
        {
            response.result = .invalidArgument  // CHAN-46
        } else {
            response.result = .ok  // CHAN-47, CHAN-48
            response.counts = request.channelIds.map { channelID in
                let key = ChannelKey(appID: session.user.appID, channelID: channelID)
                return Herald_V1_ChannelMemberCount.with {
                    $0.channelID = channelID
                    $0.memberCount = UInt32(clamping: self.channels.directory.memberCount(of: key))
                }
            }
        }
        self.respond(context, response)
    }

    // MARK: Channel messages (Spec/10-channel-messages.md)

    /// Whether a message body keeps the rules of Spec/06-peer-messages.md §6.1 (PEER-1 … PEER-6).
    static func isValidChannelMessageBody(_ body: Herald_V1_MessageBody, maxBytes: Int) -> Bool {
        switch body.type {
        case .text:
            guard !body.text.isEmpty, body.raw.isEmpty else { return false }
        case .raw:
            guard !body.raw.isEmpty else { return false }
        default:
            return false
        }
        return body.text.utf8.count + body.raw.count <= maxBytes
    }

    func sendChannelMessage(
        _ request: Herald_V1_SendChannelMessageRequest,
        session: Session,
        _ context: RequestContext
    ) {
        // Check 3 (CMSG-4).
        guard request.hasMessage,
            Self.isValidChannelMessageBody(request.message, maxBytes: self.limits.maxMessageBytes)
        else {
            self.respond(context, Herald_V1_SendChannelMessageResponse.with { $0.result = .invalidMessage })  // CMSG-6
            return
        }
        // Check 4 (CMSG-5).
        let key = ChannelKey(appID: session.user.appID, channelID: request.channelID)
        guard self.channels.directory.isMember(session.serial, of: key) else {
            self.respond(context, Herald_V1_SendChannelMessageResponse.with { $0.result = .notInChannel })
            return
        }
        // CMSG-7: enable_historical_messaging is ignored (no history).
        self.acceptChannelMessage(request.message, key: key, sender: session, context) { id, receivedMs in
            Herald_V1_SendChannelMessageResponse.with {
                $0.result = .ok
                $0.messageID = id
                $0.serverReceivedMs = receivedMs
            }
        }
    }

    func sendChannelMessageExternal(
        _ request: Herald_V1_SendChannelMessageExternalRequest,
        session: Session,
        _ context: RequestContext
    ) {
        // Check 3 (LEG-12).
        guard request.hasMessage,
            Self.isValidChannelMessageBody(request.message, maxBytes: self.limits.maxMessageBytes)
        else {
            self.respond(context, Herald_V1_SendChannelMessageExternalResponse.with { $0.result = .invalidMessage })
            return
        }
        // Check 4 (LEG-13); no membership needed (LEG-14).
        guard Validation.isValidIdentifier(request.channelID, maxBytes: self.limits.maxChannelIDBytes) else {
            self.respond(context, Herald_V1_SendChannelMessageExternalResponse.with { $0.result = .failure })
            return
        }
        let key = ChannelKey(appID: session.user.appID, channelID: request.channelID)
        self.acceptChannelMessage(request.message, key: key, sender: session, context) { id, receivedMs in
            Herald_V1_SendChannelMessageExternalResponse.with {
                $0.result = .ok
                $0.messageID = id
                $0.serverReceivedMs = receivedMs
            }
        }
    }

    /// Accepts a channel message: answers the sender at once (CMSG-8, CMSG-9, LEG-15) and delivers one
    /// `ChannelMessage` to every current member but the sender (CMSG-10 … CMSG-16, LEG-16, OVR-12).
    private func acceptChannelMessage<Response: SwiftProtobuf.Message>(
        _ body: Herald_V1_MessageBody,
        key: ChannelKey,
        sender: Session,
        _ context: RequestContext,
        response: (UInt64, Int64) -> Response
    ) {
        let messageID = self.allocateMessageID()
        let receivedMs = self.now
        self.respond(context, response(messageID, receivedMs))
        guard self.channels.directory.memberCount(of: key) > 0 else { return }
        let message = Herald_V1_ChannelMessage.with {
            $0.channelID = key.channelID
            $0.fromUserID = sender.user.userID
            // Rebuilt from its three fields, as a peer message's body is: unknown fields of the sender's body are
            // not relayed, so the message's size is bounded by the limits (HS-78).
            $0.message = Herald_V1_MessageBody.with {
                $0.type = body.type
                $0.text = body.text
                $0.raw = body.raw
            }
            $0.messageID = messageID
            $0.serverReceivedMs = receivedMs
        }
        self.fanOut(
            Outbound.SharedEvent(opcode: .channelMessage, message: message, seqFieldNumber: 6),
            in: key,
            excluding: sender
        )
    }

    // MARK: Legacy query (Spec/16-legacy-signaling.md §16.6)

    func queryChannelUsers(_ request: Herald_V1_QueryChannelUsersRequest, session: Session, _ context: RequestContext) {
        var response = Herald_V1_QueryChannelUsersResponse.with { $0.channelID = request.channelID }
        // Check 3 (LEG-21).
        guard Validation.isValidIdentifier(request.channelID, maxBytes: self.limits.maxChannelIDBytes),
            request.userID.isEmpty || Validation.isValidIdentifier(request.userID, maxBytes: self.limits.maxUserIDBytes)
        else {
            response.result = .failure
            self.respond(context, response)
            return
        }
        let appID = session.user.appID
        let key = ChannelKey(appID: appID, channelID: request.channelID)
        response.result = .ok  // LEG-22
        response.memberCount = UInt32(clamping: self.channels.directory.memberCount(of: key))  // LEG-23
        if request.userID.isEmpty {  // LEG-24
            response.userIds = self.channels.directory.sample(of: key, limit: self.limits.maxMembersListed)
                .map(\.user.userID)
            response.isMember = false
        } else if let member = self.sessionsByUser[UserKey(appID: appID, userID: request.userID)] {  // LEG-25
            response.isMember = self.channels.directory.isMember(member.serial, of: key)
        }
        self.respond(context, response)
    }
}

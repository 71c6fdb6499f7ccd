import HeraldMessages
import Logging
import NIOCore
import SwiftProtobuf

/// The attributes of one channel (Spec/11-channel-attributes.md), kept independently of its members.
struct ChannelAttributeStore {
    /// The attributes in the channel's attribute order; never empty while stored.
    var items: [Herald_V1_ChannelAttribute] = []
    /// The deletion timer, while the channel is empty (CATTR-38).
    var expiry: ScheduledChannelTimer?
}

extension HeraldEngine {
    // MARK: Writes (§11.3)

    func setChannelAttributes(
        _ request: Herald_V1_SetChannelAttributesRequest,
        session: Session,
        _ context: RequestContext
    ) {
        func answer(_ result: Herald_V1_AttributeOperationResult) {
            self.respond(context, Herald_V1_SetChannelAttributesResponse.with { $0.result = result })
        }
        // Arguments (CATTR-1, CATTR-3 … CATTR-5); an empty list is allowed (CATTR-15).
        guard let key = self.attributeChannelKey(request.channelID, session),
            self.channelAttributeArgumentsAreValid(request.attributes)
        else { return answer(.invalidArgument) }
        // Sizes (CATTR-6 … CATTR-8).
        let items = request.attributes.map { self.stamped($0, by: session) }  // CATTR-14, CATTR-21
        guard self.channelAttributeValuesFit(request.attributes), self.channelAttributesFit(items) else {
            return answer(.sizeOverflow)
        }
        self.storeChannelAttributes(items, for: key)
        answer(.ok)
        if request.notifyMembers {
            self.notifyChannelAttributes(key, kind: .set, changedKeys: request.attributes.map(\.key), by: session)
        }
    }

    func addOrUpdateChannelAttributes(
        _ request: Herald_V1_AddOrUpdateChannelAttributesRequest,
        session: Session,
        _ context: RequestContext
    ) {
        func answer(_ result: Herald_V1_AttributeOperationResult) {
            self.respond(context, Herald_V1_AddOrUpdateChannelAttributesResponse.with { $0.result = result })
        }
        // Arguments (CATTR-1, CATTR-3 … CATTR-5, CATTR-17).
        guard let key = self.attributeChannelKey(request.channelID, session), !request.attributes.isEmpty,
            self.channelAttributeArgumentsAreValid(request.attributes)
        else { return answer(.invalidArgument) }
        // CATTR-16, CATTR-21: existing keys keep their position, new keys are appended in request order.
        var items = self.channels.attributes[key]?.items ?? []
        var positions = Dictionary(items.enumerated().map { ($1.key, $0) }, uniquingKeysWith: { first, _ in first })
        for attribute in request.attributes {
            let item = self.stamped(attribute, by: session)
            if let position = positions[attribute.key] {
                items[position] = item
            } else {
                positions[attribute.key] = items.count
                items.append(item)
            }
        }
        // Sizes (CATTR-6 … CATTR-8).
        guard self.channelAttributeValuesFit(request.attributes), self.channelAttributesFit(items) else {
            return answer(.sizeOverflow)
        }
        self.storeChannelAttributes(items, for: key)
        answer(.ok)
        if request.notifyMembers {
            self.notifyChannelAttributes(key, kind: .update, changedKeys: request.attributes.map(\.key), by: session)
        }
    }

    func deleteChannelAttributesByKeys(
        _ request: Herald_V1_DeleteChannelAttributesByKeysRequest,
        session: Session,
        _ context: RequestContext
    ) {
        func answer(_ result: Herald_V1_AttributeOperationResult) {
            self.respond(context, Herald_V1_DeleteChannelAttributesByKeysResponse.with { $0.result = result })
        }
        // Arguments (CATTR-1, CATTR-3, CATTR-5, CATTR-19).
        guard let key = self.attributeChannelKey(request.channelID, session), !request.keys.isEmpty,
            request.keys.count <= self.limits.maxAttributesCount,  // LIM-31
            self.channelAttributeKeysAreValid(request.keys)
        else { return answer(.invalidArgument) }
        // CATTR-18: named keys that exist go, the rest keep their order.
        let removed = Set(request.keys)
        let items = (self.channels.attributes[key]?.items ?? []).filter { !removed.contains($0.key) }
        self.storeChannelAttributes(items, for: key)
        answer(.ok)
        if request.notifyMembers {
            self.notifyChannelAttributes(key, kind: .delete, changedKeys: request.keys, by: session)
        }
    }

    func clearChannelAttributes(
        _ request: Herald_V1_ClearChannelAttributesRequest,
        session: Session,
        _ context: RequestContext
    ) {
        // CATTR-1.
        guard let key = self.attributeChannelKey(request.channelID, session) else {
            self.respond(context, Herald_V1_ClearChannelAttributesResponse.with { $0.result = .invalidArgument })
            return
        }
        self.storeChannelAttributes([], for: key)  // CATTR-20
        self.respond(context, Herald_V1_ClearChannelAttributesResponse.with { $0.result = .ok })
        if request.notifyMembers {
            self.notifyChannelAttributes(key, kind: .clear, changedKeys: [], by: session)
        }
    }

    // MARK: Reads (§11.4)

    func getChannelAttributes(
        _ request: Herald_V1_GetChannelAttributesRequest,
        session: Session,
        _ context: RequestContext
    ) {
        var response = Herald_V1_GetChannelAttributesResponse.with { $0.channelID = request.channelID }  // CATTR-26
        if let key = self.attributeChannelKey(request.channelID, session) {
            response.result = .ok
            response.attributes = self.channels.attributes[key]?.items ?? []  // CATTR-23
        } else {
            response.result = .invalidArgument  // CATTR-1, CATTR-27
        }
        self.respond(context, response)
    }

    func getChannelAttributesByKeys(
        _ request: Herald_V1_GetChannelAttributesByKeysRequest,
        session: Session,
        _ context: RequestContext
    ) {
        var response = Herald_V1_GetChannelAttributesByKeysResponse.with { $0.channelID = request.channelID }
        // Arguments (CATTR-1, CATTR-3, CATTR-5, CATTR-24).
        guard let key = self.attributeChannelKey(request.channelID, session), !request.keys.isEmpty,
            self.channelAttributeKeysAreValid(request.keys)
        else {
            response.result = .invalidArgument
            self.respond(context, response)
            return
        }
        // CATTR-25: in request key order, absent keys skipped.
        let items = self.channels.attributes[key]?.items ?? []
        let byKey = Dictionary(items.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        response.result = .ok
        response.attributes = request.keys.compactMap { byKey[$0] }
        self.respond(context, response)
    }

    // MARK: Validation (§11.1)

    /// The channel of a channel-attribute request, or `nil` when its id is not valid (CATTR-1). Membership plays no
    /// part (CATTR-2).
    private func attributeChannelKey(_ channelID: String, _ session: Session) -> ChannelKey? {
        guard Validation.isValidIdentifier(channelID, maxBytes: self.limits.maxChannelIDBytes) else { return nil }
        return ChannelKey(appID: session.user.appID, channelID: channelID)
    }

    /// Keys valid (CATTR-3), values non-empty (CATTR-4), no key twice (CATTR-5).
    private func channelAttributeArgumentsAreValid(_ attributes: [Herald_V1_Attribute]) -> Bool {
        var seen = Set<String>()
        for attribute in attributes {
            guard Validation.isValidAttributeKey(attribute.key, maxBytes: self.limits.maxAttributeKeyBytes),
                !attribute.value.isEmpty,
                seen.insert(attribute.key).inserted
            else { return false }
        }
        return true
    }

    /// Keys valid (CATTR-3) and none named twice (CATTR-5).
    private func channelAttributeKeysAreValid(_ keys: [String]) -> Bool {
        var seen = Set<String>()
        for key in keys {
            guard Validation.isValidAttributeKey(key, maxBytes: self.limits.maxAttributeKeyBytes),
                seen.insert(key).inserted
            else { return false }
        }
        return true
    }

    /// No value longer than `max_attribute_value_bytes` (CATTR-6).
    private func channelAttributeValuesFit(_ attributes: [Herald_V1_Attribute]) -> Bool {
        attributes.allSatisfy { $0.value.utf8.count <= self.limits.maxAttributeValueBytes }
    }

    /// At most `max_attributes_count` attributes (CATTR-7) of at most `max_channel_attributes_bytes` key and value
    /// bytes in total (CATTR-8).
    private func channelAttributesFit(_ items: [Herald_V1_ChannelAttribute]) -> Bool {
        guard items.count <= self.limits.maxAttributesCount else { return false }
        var total = 0
        for item in items {
            total += item.key.utf8.count + item.value.utf8.count
            if total > self.limits.maxChannelAttributesBytes { return false }
        }
        return true
    }

    private func stamped(_ attribute: Herald_V1_Attribute, by session: Session) -> Herald_V1_ChannelAttribute {
        Herald_V1_ChannelAttribute.with {
            $0.key = attribute.key
            $0.value = attribute.value
            $0.lastUpdatedBy = session.user.userID
            $0.lastUpdatedMs = self.now
        }
    }

    // MARK: Storage, notification and lifetime (§11.5, §11.6)

    /// Applies a successful write; a write to an empty channel restarts its idle time (CATTR-38).
    private func storeChannelAttributes(_ items: [Herald_V1_ChannelAttribute], for key: ChannelKey) {
        if items.isEmpty {
            self.cancelChannelAttributesExpiry(key)
            self.channels.attributes[key] = nil
            return
        }
        self.channels.attributes[key, default: ChannelAttributeStore()].items = items
        self.scheduleChannelAttributesExpiry(key)
    }

    /// Sends every member one `ChannelAttributesUpdated` with the channel's attributes after the write (CATTR-28,
    /// CATTR-31 … CATTR-37); members not granted `channel-attributes` are skipped (OVR-13).
    private func notifyChannelAttributes(
        _ key: ChannelKey,
        kind: Herald_V1_ChannelAttributesUpdateKind,
        changedKeys: [String],
        by writer: Session
    ) {
        guard self.channels.directory.memberCount(of: key) > 0 else { return }
        let update = Herald_V1_ChannelAttributesUpdated.with {
            $0.channelID = key.channelID
            $0.attributes = self.channels.attributes[key]?.items ?? []
            $0.kind = kind
            $0.changedKeys = changedKeys
            $0.updatedBy = writer.user.userID
        }
        let event = Outbound.SharedEvent(opcode: .channelAttributesUpdated, message: update, seqFieldNumber: 6)
        self.fanOut(event, in: key)
    }

    /// (Re)starts the deletion timer of an empty channel's attributes: they go once the channel has stayed empty,
    /// without a write, for `channel_attributes_empty_ttl_ms` (CATTR-38).
    func scheduleChannelAttributesExpiry(_ key: ChannelKey) {
        guard self.channels.attributes[key] != nil, self.channels.directory.memberCount(of: key) == 0 else { return }
        self.cancelChannelAttributesExpiry(key)
        let generation = self.takeChannelTimerGeneration()
        let deadline = self.now + self.timerSettings.channelAttributesEmptyTTLMs
        let handle = self.timers.schedule(
            .channel(ChannelTimer(kind: .attributesExpiry, channel: key, generation: generation)),
            at: deadline
        )
        self.channels.attributes[key]?.expiry = ScheduledChannelTimer(
            handle: handle,
            deadline: deadline,
            generation: generation
        )
    }

    /// Stops the deletion timer, because the channel has a member again (CATTR-39) or lost its attributes.
    func cancelChannelAttributesExpiry(_ key: ChannelKey) {
        guard let expiry = self.channels.attributes[key]?.expiry else { return }
        self.timers.cancel(expiry.handle)
        self.channels.attributes[key]?.expiry = nil
    }

    func channelAttributesExpiryFired(_ timer: ChannelTimer) {
        let key = timer.channel
        guard let expiry = self.channels.attributes[key]?.expiry, expiry.generation == timer.generation else { return }
        self.channels.attributes[key]?.expiry = nil
        guard self.channels.directory.memberCount(of: key) == 0 else { return }  // CATTR-39
        self.channels.attributes[key] = nil
        self.logger.debug("channel attributes expired", metadata: ["channel": "\(key)"])
    }
}

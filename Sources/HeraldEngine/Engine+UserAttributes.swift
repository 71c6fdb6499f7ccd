import HeraldMessages
import Logging
import NIOCore
import SwiftProtobuf

/// The attributes of a session's user (Spec/08-user-attributes.md). They belong to the session and end with it
/// (UATTR-28).
struct UserAttributesSessionState {
    /// The attributes in their order (§8.3); at most `max_attributes_count` of them.
    var attributes: [Herald_V1_Attribute] = []
}

/// Why a user-attribute request was refused.
private enum UserAttributeRefusal: Error {
    case invalidArgument
    case sizeOverflow

    var result: Herald_V1_AttributeOperationResult {
        switch self {
        case .invalidArgument: return .invalidArgument
        case .sizeOverflow: return .sizeOverflow
        }
    }
}

extension HeraldEngine {
    /// UATTR-28, SES-30: the attributes end with the session.
    func userAttributesSessionEnded(_ session: Session) {
        session.attributes = UserAttributesSessionState()
    }

    // MARK: - Writes (§8.3). Session and rate checks (UATTR-8 steps 1 and 2, UATTR-9, UATTR-10) were made by the core.

    /// `SetLocalUserAttributesRequest`: replaces every attribute (UATTR-12, UATTR-13).
    func setLocalUserAttributes(
        _ request: Herald_V1_SetLocalUserAttributesRequest,
        session: Session,
        _ context: RequestContext
    ) {
        let result: Herald_V1_AttributeOperationResult
        do throws(UserAttributeRefusal) {
            try self.checkUserAttributeWrite(request.attributes)
            let state = try self.userAttributesState(request.attributes.map(Self.cleanAttribute))
            session.attributes = state
            result = .ok
        } catch {
            result = error.result
        }
        self.respond(context, Herald_V1_SetLocalUserAttributesResponse.with { $0.result = result })
    }

    /// `AddOrUpdateLocalUserAttributesRequest`: overwrites existing keys in place and appends new ones (UATTR-14,
    /// UATTR-15).
    func addOrUpdateLocalUserAttributes(
        _ request: Herald_V1_AddOrUpdateLocalUserAttributesRequest,
        session: Session,
        _ context: RequestContext
    ) {
        let result: Herald_V1_AttributeOperationResult
        do throws(UserAttributeRefusal) {
            guard !request.attributes.isEmpty else { throw UserAttributeRefusal.invalidArgument }
            try self.checkUserAttributeWrite(request.attributes)
            var merged = session.attributes.attributes
            var positions: [[UInt8]: Int] = [:]
            for (index, attribute) in merged.enumerated() {
                positions[Array(attribute.key.utf8)] = index
            }
            for attribute in request.attributes {
                if let index = positions[Array(attribute.key.utf8)] {
                    merged[index].value = attribute.value
                } else {
                    merged.append(Self.cleanAttribute(attribute))
                }
            }
            session.attributes = try self.userAttributesState(merged)
            result = .ok
        } catch {
            result = error.result
        }
        self.respond(context, Herald_V1_AddOrUpdateLocalUserAttributesResponse.with { $0.result = result })
    }

    /// `DeleteLocalUserAttributesByKeysRequest` (UATTR-16, UATTR-17).
    func deleteLocalUserAttributesByKeys(
        _ request: Herald_V1_DeleteLocalUserAttributesByKeysRequest,
        session: Session,
        _ context: RequestContext
    ) {
        let result: Herald_V1_AttributeOperationResult
        do throws(UserAttributeRefusal) {
            let keys = try self.checkUserAttributeKeys(request.keys)
            session.attributes.attributes.removeAll { keys.contains(Array($0.key.utf8)) }
            result = .ok
        } catch {
            result = error.result
        }
        self.respond(context, Herald_V1_DeleteLocalUserAttributesByKeysResponse.with { $0.result = result })
    }

    /// `ClearLocalUserAttributesRequest` (UATTR-18).
    func clearLocalUserAttributes(
        _ request: Herald_V1_ClearLocalUserAttributesRequest,
        session: Session,
        _ context: RequestContext
    ) {
        session.attributes = UserAttributesSessionState()
        self.respond(context, Herald_V1_ClearLocalUserAttributesResponse.with { $0.result = .ok })
    }

    // MARK: - Reads (§8.4). UATTR-11 was applied by the core.

    /// `GetUserAttributesRequest` (UATTR-20 … UATTR-23, UATTR-26, UATTR-27).
    func getUserAttributes(_ request: Herald_V1_GetUserAttributesRequest, session: Session, _ context: RequestContext) {
        var response = Herald_V1_GetUserAttributesResponse.with { $0.userID = request.userID }
        if !Validation.isValidIdentifier(request.userID, maxBytes: self.limits.maxUserIDBytes) {
            response.result = .invalidArgument
        } else if let target = self.liveSession(of: UserKey(appID: session.user.appID, userID: request.userID)) {
            response.result = .ok
            response.attributes = target.attributes.attributes
        } else {
            response.result = .userNotFound
        }
        self.respond(context, response)
    }

    /// `GetUserAttributesByKeysRequest` (UATTR-20, UATTR-21, UATTR-24 … UATTR-27).
    func getUserAttributesByKeys(
        _ request: Herald_V1_GetUserAttributesByKeysRequest,
        session: Session,
        _ context: RequestContext
    ) {
        var response = Herald_V1_GetUserAttributesByKeysResponse.with { $0.userID = request.userID }
        do throws(UserAttributeRefusal) {
            guard Validation.isValidIdentifier(request.userID, maxBytes: self.limits.maxUserIDBytes) else {
                throw UserAttributeRefusal.invalidArgument
            }
            _ = try self.checkUserAttributeKeys(request.keys)
            if let target = self.liveSession(of: UserKey(appID: session.user.appID, userID: request.userID)) {
                var byKey: [[UInt8]: Herald_V1_Attribute] = [:]
                for attribute in target.attributes.attributes {
                    byKey[Array(attribute.key.utf8)] = attribute
                }
                response.result = .ok
                response.attributes = request.keys.compactMap { byKey[Array($0.utf8)] }
            } else {
                response.result = .userNotFound
            }
        } catch {
            response.result = error.result
        }
        self.respond(context, response)
    }

    // MARK: - Helpers

    /// The argument checks of a write's attributes: key syntax (UATTR-1), non-empty values (UATTR-2) and distinct
    /// keys (UATTR-3).
    private func checkUserAttributeWrite(_ attributes: [Herald_V1_Attribute]) throws(UserAttributeRefusal) {
        var keys = Set<[UInt8]>()
        keys.reserveCapacity(attributes.count)
        for attribute in attributes {
            guard Validation.isValidAttributeKey(attribute.key, maxBytes: self.limits.maxAttributeKeyBytes),
                !attribute.value.isEmpty,
                keys.insert(Array(attribute.key.utf8)).inserted
            else { throw .invalidArgument }
        }
    }

    /// The argument checks of a list of keys: not empty (UATTR-17, UATTR-24), key syntax (UATTR-1), distinct
    /// (UATTR-3). Returns the keys as bytes.
    private func checkUserAttributeKeys(_ keys: [String]) throws(UserAttributeRefusal) -> Set<[UInt8]> {
        guard !keys.isEmpty else { throw .invalidArgument }
        var distinct = Set<[UInt8]>()
        distinct.reserveCapacity(keys.count)
        for key in keys {
            guard Validation.isValidAttributeKey(key, maxBytes: self.limits.maxAttributeKeyBytes),
                distinct.insert(Array(key.utf8)).inserted
            else { throw .invalidArgument }
        }
        return distinct
    }

    /// The state a write would produce, or `SIZE_OVERFLOW` if it breaks a limit (UATTR-4 … UATTR-6). Nothing is
    /// changed here, so a refused write leaves the attributes as they were (UATTR-7).
    private func userAttributesState(
        _ attributes: [Herald_V1_Attribute]
    ) throws(UserAttributeRefusal) -> UserAttributesSessionState {
        var total = 0
        for attribute in attributes {
            guard attribute.value.utf8.count <= self.limits.maxAttributeValueBytes else { throw .sizeOverflow }
            total += Self.attributeBytes(attribute)
        }
        guard attributes.count <= self.limits.maxAttributesCount, total <= self.limits.maxUserAttributesBytes else {
            throw .sizeOverflow
        }
        return UserAttributesSessionState(attributes: attributes)
    }

    private static func attributeBytes(_ attribute: Herald_V1_Attribute) -> Int {
        attribute.key.utf8.count + attribute.value.utf8.count
    }

    /// The attribute without any unknown fields of the request.
    private static func cleanAttribute(_ attribute: Herald_V1_Attribute) -> Herald_V1_Attribute {
        Herald_V1_Attribute.with {
            $0.key = attribute.key
            $0.value = attribute.value
        }
    }
}

import HeraldEngine
import HeraldMessages
import HeraldWire
import NIOCore
import SwiftProtobuf
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Worst-case frames: every identifier and text at the longest its limit allows, every number at its longest
/// encoding. Each must encode within ``EngineLimits/serverFrameBounds()`` and close to it (HS-78).
private enum WorstCase {
    static func text(_ count: Int, _ seed: Int = 0) -> String {
        let prefix = String(seed, radix: 36)
        guard count > prefix.count else { return String(repeating: "x", count: count) }
        return prefix + String(repeating: "x", count: count - prefix.count)
    }

    static func body(_ limits: EngineLimits) -> Herald_V1_MessageBody {
        let raw = limits.maxMessageBytes / 2
        return Herald_V1_MessageBody.with {
            $0.type = .raw
            $0.text = Self.text(limits.maxMessageBytes - raw)
            $0.raw = Data(repeating: 0xFF, count: raw)
        }
    }

    /// `count` attributes whose keys and values fill `totalBytes` (each value at most `maxAttributeValueBytes`).
    static func attributes(_ limits: EngineLimits, totalBytes: Int) -> [(key: String, value: String)] {
        let count = limits.maxAttributesCount
        let keyBytes = limits.maxAttributeKeyBytes
        let budget = min(totalBytes, count * (keyBytes + limits.maxAttributeValueBytes)) - count * keyBytes
        return (0..<count).map { index in
            let value = budget / count + (index < budget % count ? 1 : 0)
            return (Self.text(keyBytes, index), Self.text(min(value, limits.maxAttributeValueBytes)))
        }
    }

    static func channelAttributes(_ limits: EngineLimits) -> [Herald_V1_ChannelAttribute] {
        Self.attributes(limits, totalBytes: limits.maxChannelAttributesBytes).map { pair in
            Herald_V1_ChannelAttribute.with {
                $0.key = pair.key
                $0.value = pair.value
                $0.lastUpdatedBy = Self.text(limits.maxUserIDBytes)
                $0.lastUpdatedMs = Int64.min
            }
        }
    }

    static func userAttributes(_ limits: EngineLimits) -> [Herald_V1_Attribute] {
        Self.attributes(limits, totalBytes: limits.maxUserAttributesBytes).map { pair in
            Herald_V1_Attribute.with {
                $0.key = pair.key
                $0.value = pair.value
            }
        }
    }

    static func ids(_ count: Int, bytes: Int) -> [String] { (0..<count).map { Self.text(bytes, $0) } }

    /// The worst case of every frame of ``EngineLimits/serverFrameBounds()``, by name.
    static func messages(_ limits: EngineLimits) -> [String: any SwiftProtobuf.Message] {
        let uid = Self.text(limits.maxUserIDBytes)
        let cid = Self.text(limits.maxChannelIDBytes)
        let invitation = Self.text(64)
        let content = Self.text(limits.maxInvitationContentBytes)
        let members = Self.ids(limits.maxMembersListed, bytes: limits.maxUserIDBytes)
        let statuses = { (count: Int) in
            Self.ids(count, bytes: limits.maxUserIDBytes).map { id in
                Herald_V1_PeerOnlineStatus.with {
                    $0.peerID = id
                    $0.state = .offline
                }
            }
        }
        return [
            "PeerMessage": Herald_V1_PeerMessage.with {
                $0.fromUserID = uid
                $0.message = Self.body(limits)
                $0.messageID = .max
                $0.serverReceivedMs = .min
                $0.isOffline = true
                $0.seq = .max
            },
            "ChannelMessage": Herald_V1_ChannelMessage.with {
                $0.channelID = cid
                $0.fromUserID = uid
                $0.message = Self.body(limits)
                $0.messageID = .max
                $0.serverReceivedMs = .min
                $0.seq = .max
            },
            "GetUserAttributesResponse": Herald_V1_GetUserAttributesResponse.with {
                $0.result = .userNotLoggedIn
                $0.userID = uid
                $0.attributes = Self.userAttributes(limits)
            },
            "GetUserAttributesByKeysResponse": Herald_V1_GetUserAttributesByKeysResponse.with {
                $0.result = .userNotLoggedIn
                $0.userID = uid
                $0.attributes = Self.userAttributes(limits)
            },
            "GetChannelAttributesResponse": Herald_V1_GetChannelAttributesResponse.with {
                $0.result = .userNotLoggedIn
                $0.channelID = cid
                $0.attributes = Self.channelAttributes(limits)
            },
            "GetChannelAttributesByKeysResponse": Herald_V1_GetChannelAttributesByKeysResponse.with {
                $0.result = .userNotLoggedIn
                $0.channelID = cid
                $0.attributes = Self.channelAttributes(limits)
            },
            "ChannelAttributesUpdated": Herald_V1_ChannelAttributesUpdated.with {
                $0.channelID = cid
                $0.attributes = Self.channelAttributes(limits)
                $0.kind = .clear
                $0.changedKeys = Self.ids(limits.maxAttributesCount, bytes: limits.maxAttributeKeyBytes)
                $0.updatedBy = uid
                $0.seq = .max
            },
            "GetMembersResponse": Herald_V1_GetMembersResponse.with {
                $0.result = .userNotLoggedIn
                $0.channelID = cid
                $0.userIds = members
            },
            "QueryChannelUsersResponse": Herald_V1_QueryChannelUsersResponse.with {
                $0.result = .userNotLoggedIn
                $0.channelID = cid
                $0.memberCount = .max
                $0.userIds = members
                $0.isMember = true
            },
            "ChannelMemberList": Herald_V1_ChannelMemberList.with {
                $0.channelID = cid
                $0.userIds = Self.ids(limits.maxLegacyMemberList, bytes: limits.maxUserIDBytes)
                $0.seq = .max
            },
            "GetChannelMemberCountResponse": Herald_V1_GetChannelMemberCountResponse.with {
                $0.result = .userNotLoggedIn
                $0.counts = Self.ids(limits.maxMemberCountChannels, bytes: limits.maxChannelIDBytes).map { id in
                    Herald_V1_ChannelMemberCount.with {
                        $0.channelID = id
                        $0.memberCount = .max
                    }
                }
            },
            "QueryPeersOnlineStatusResponse": Herald_V1_QueryPeersOnlineStatusResponse.with {
                $0.result = .userNotLoggedIn
                $0.statuses = statuses(limits.maxQueryPeers)
            },
            "PeersOnlineStatusChanged": Herald_V1_PeersOnlineStatusChanged.with {
                $0.statuses = statuses(limits.maxSubscriptions)
                $0.seq = .max
            },
            "QueryPeersBySubscriptionOptionResponse": Herald_V1_QueryPeersBySubscriptionOptionResponse.with {
                $0.result = .userNotLoggedIn
                $0.peerIds = Self.ids(limits.maxSubscriptions, bytes: limits.maxUserIDBytes)
            },
            "RemoteInvitationReceived": Herald_V1_RemoteInvitationReceived.with {
                $0.invitationID = invitation
                $0.callerID = uid
                $0.channelID = cid
                $0.content = content
                $0.seq = .max
            },
            "LocalInvitationReceivedByPeer": Herald_V1_LocalInvitationReceivedByPeer.with {
                $0.invitationID = invitation
                $0.calleeID = uid
                $0.channelID = cid
                $0.seq = .max
            },
            "LocalInvitationAccepted": Herald_V1_LocalInvitationAccepted.with {
                $0.invitationID = invitation
                $0.response = content
                $0.seq = .max
            },
            "LocalInvitationRefused": Herald_V1_LocalInvitationRefused.with {
                $0.invitationID = invitation
                $0.response = content
                $0.seq = .max
            },
            "RemoteInvitationCanceled": Herald_V1_RemoteInvitationCanceled.with {
                $0.invitationID = invitation
                $0.content = content
                $0.seq = .max
            },
            "InvitationMessage": Herald_V1_InvitationMessage.with {
                $0.channelID = cid
                $0.fromUserID = uid
                $0.type = .dtmf
                $0.data = String(repeating: "1", count: limits.maxInvitationContentBytes)
                $0.extra = content
                $0.seq = .max
            },
            "MemberJoined": Herald_V1_MemberJoined.with {
                $0.channelID = cid
                $0.userID = uid
                $0.seq = .max
            },
            "MemberLeft": Herald_V1_MemberLeft.with {
                $0.channelID = cid
                $0.userID = uid
                $0.reason = .tokenExpired
                $0.seq = .max
            },
        ]
    }
}

@Suite("Frames within the receive limit (HS-78, HS-79, Spec/14-limits.md §14.6)")
struct ReceiveLimitEnvelopeTests {
    /// The defaults, and raised limits (not all of which fit the default receive limit: the bounds hold anyway).
    static let configurations: [(String, EngineLimits)] = {
        var raised = EngineLimits()
        raised.maxPayloadLength = 1_000_000
        raised.maxMessageBytes = 100_000
        raised.maxUserIDBytes = 200
        raised.maxChannelIDBytes = 150
        raised.maxMembersListed = 1000
        raised.maxLegacyMemberList = 700
        raised.maxQueryPeers = 400
        raised.maxSubscriptions = 900
        raised.maxMemberCountChannels = 100
        raised.maxAttributeKeyBytes = 100
        raised.maxAttributeValueBytes = 20_000
        raised.maxUserAttributesBytes = 300_000
        raised.maxChannelAttributesBytes = 50_000
        raised.maxAttributesCount = 60
        raised.maxInvitationContentBytes = 30_000
        var small = EngineLimits()
        small.maxMessageBytes = 100
        small.maxAttributesCount = 3
        small.maxAttributeKeyBytes = 8
        small.maxAttributeValueBytes = 100
        small.maxUserAttributesBytes = 50
        return [("defaults", EngineLimits()), ("raised", raised), ("small", small)]
    }()

    @Test(
        "Every bound holds for a worst-case message and is tight (within 1% + 16 bytes)",
        arguments: ReceiveLimitEnvelopeTests.configurations.map(\.0)
    )
    func boundsHoldAndAreTight(_ name: String) throws {
        let limits = Self.configurations.first { $0.0 == name }!.1
        let bounds = limits.serverFrameBounds()
        let messages = WorstCase.messages(limits)
        #expect(Set(bounds.map(\.frame)) == Set(messages.keys), "every bounded frame has a worst case")
        for bound in bounds {
            guard let message = messages[bound.frame] else { continue }
            let encoded: [UInt8] = try message.serializedBytes()
            #expect(encoded.count <= bound.payloadBytes, "\(bound.frame): \(encoded.count) > \(bound.payloadBytes)")
            #expect(
                bound.payloadBytes - encoded.count <= 16 + bound.payloadBytes / 100,
                "\(bound.frame): the bound \(bound.payloadBytes) is loose for \(encoded.count)"
            )
        }
    }

    @Test("The defaults fit the default receive limit; the largest frames are the attribute frames and PeerMessage")
    func defaultsFit() {
        let limits = EngineLimits()
        #expect(limits.receiveLimitViolations().isEmpty)
        let bounds = Dictionary(uniqueKeysWithValues: limits.serverFrameBounds().map { ($0.frame, $0.payloadBytes) })
        #expect(bounds["ChannelAttributesUpdated"] == limits.serverFrameBounds().first?.payloadBytes)
        #expect(bounds.values.allSatisfy { $0 <= 65_536 })
        // The values quoted in Spec/14-limits.md §14.6.
        #expect(bounds["ChannelAttributesUpdated"] == 36_721)
        #expect(bounds["PeerMessage"] == 32_883)
    }

    @Test("Raised message limits are refused, naming each limit and the largest value that fits")
    func raisedMessageLimitIsRefused() throws {
        var configuration = EngineConfiguration(apps: [AppCredentials(appID: "app", secrets: [testSecret])])
        configuration.limits.maxPayloadLength = 200_000
        configuration.limits.maxMessageBytes = 100_000
        let violations = configuration.limits.receiveLimitViolations()
        #expect(Set(violations.map(\.bound.frame)) == ["PeerMessage", "ChannelMessage"])
        let largestFrame = try #require(violations.first)
        #expect(largestFrame.bound.frame == "ChannelMessage")
        let fit = try #require(largestFrame.fits.first { $0.limit == "maxMessageBytes" })
        let largest = try #require(fit.largestFitting)
        // The largest value is exact: it fits, one more does not.
        var limits = configuration.limits
        limits.maxMessageBytes = largest
        #expect(limits.serverFrameBounds().allSatisfy { $0.payloadBytes <= 65_536 })
        limits.maxMessageBytes = largest + 1
        #expect(limits.serverFrameBounds().contains { $0.payloadBytes > 65_536 })
        // A real worst case at the largest value fits; one byte more of content does not.
        limits.maxMessageBytes = largest
        let worst: [UInt8] = try WorstCase.messages(limits)["ChannelMessage"]!.serializedBytes()
        #expect(worst.count <= 65_536)
        #expect(throws: EngineConfigurationError.self) { try configuration.validate() }
        do {
            try configuration.validate()
        } catch {
            #expect(error.description.contains("max_message_bytes (100000): at most \(largest) fits"), "\(error)")
            #expect(error.description.contains("HS-78"))
        }
        configuration.limits.maxMessageBytes = largest
        try configuration.validate()
    }

    @Test("Huge limits do not overflow the arithmetic and are refused")
    func hugeLimits() {
        var limits = EngineLimits()
        limits.maxMembersListed = Int.max
        limits.maxUserIDBytes = Int.max / 2
        let violations = limits.receiveLimitViolations()
        #expect(!violations.isEmpty)
        let fit = violations.first { $0.bound.frame == "GetMembersResponse" }?.fits.first {
            $0.limit == "maxMembersListed"
        }
        #expect(fit?.largestFitting == nil, "no member count fits with user ids that long")
    }
}

@Suite("The engine never skips a frame silently (HS-79) and bounds what clients relay (LIM-30, LIM-31)")
struct ReceiveLimitEngineTests {
    @Test("HS-79: an echo longer than the receive limit ends the connection with ProtocolError and Disconnect")
    func oversizedEchoCloses() async throws {
        let harness = try EngineHarness()
        let alice = await harness.login("alice")
        let id = await alice.send(
            Herald_V1_GetMembersRequest.with { $0.channelID = String(repeating: "c", count: 65_532) }
        )
        let frames = alice.drain()
        #expect(frames.map(\.opcode) == [.protocolError, .disconnect])
        let error = try frames[0].decodeMessage(as: Herald_V1_ProtocolError.self)
        #expect(error.code == "receive-limit-exceeded")
        #expect(error.opcode == UInt32(Herald_V1_Opcode.getMembersResponse.rawValue) && error.requestID == id)
        #expect(try frames[1].decodeMessage(as: Herald_V1_Disconnect.self).reason == .protocolError)
        #expect(alice.sink.isClosed)
        let counts = await harness.engine.counts()
        #expect(counts.connections == 0 && counts.sessions == 0)
    }

    @Test("A client that announced a larger receive limit gets the same echo")
    func largerReceiveLimitGetsEcho() async throws {
        let harness = try EngineHarness()
        let alice = await harness.login(
            "alice",
            hello: Herald_V1_Hello.with {
                $0.versions = [1]
                $0.maxPayloadLength = 70_000
            }
        )
        let response = await alice.request(
            Herald_V1_GetMembersRequest.with { $0.channelID = String(repeating: "c", count: 65_532) },
            expecting: Herald_V1_GetMembersResponse.self
        )
        #expect(response.result == .notInChannel && response.channelID.utf8.count == 65_532)
        #expect(!alice.sink.isClosed)
    }

    @Test("A channel message is relayed without the unknown fields of its body (HS-78)")
    func channelBodyWithoutUnknownFields() async throws {
        let harness = try EngineHarness()
        let alice = await harness.login("alice")
        let bob = await harness.login("bob")
        for client in [alice, bob] {
            let join = await client.request(
                Herald_V1_JoinChannelRequest.with { $0.channelID = "room" },
                expecting: Herald_V1_JoinChannelResponse.self
            )
            #expect(join.result == .ok)
        }
        _ = alice.drain()
        _ = bob.drain()
        // A body with a text and a 65,000-byte unknown field 9: relayed as is, the ChannelMessage would not fit.
        let known = Herald_V1_MessageBody.with {
            $0.type = .text
            $0.text = "hi"
        }
        var unknown: [UInt8] = [0x4A]  // field 9, length-delimited
        var length = 65_000
        while length >= 0x80 {
            unknown.append(UInt8(length & 0x7F) | 0x80)
            length >>= 7
        }
        unknown.append(UInt8(length))
        unknown += [UInt8](repeating: 0x61, count: 65_000)
        let body = try Herald_V1_MessageBody(serializedBytes: try known.serializedBytes() + unknown)
        #expect(!body.unknownFields.data.isEmpty)
        let response = await alice.request(
            Herald_V1_SendChannelMessageRequest.with {
                $0.channelID = "room"
                $0.message = body
            },
            expecting: Herald_V1_SendChannelMessageResponse.self
        )
        #expect(response.result == .ok)
        let (message, frame) = bob.expect(Herald_V1_ChannelMessage.self)
        #expect(message.message.text == "hi" && message.message.unknownFields.data.isEmpty)
        #expect(frame.payload.readableBytes < 200)
        #expect(!bob.sink.isClosed)
    }

    @Test("LIM-30: DTMF digits longer than max_invitation_content_bytes are INVALID_ARGUMENT")
    func dtmfDigitsBounded() async throws {
        let harness = try EngineHarness { $0.limits.maxInvitationContentBytes = 10 }
        let alice = await harness.login("alice")
        let bob = await harness.login("bob")
        for (digits, expected) in [
            ("12345678901", Herald_V1_InvitationApiCallResult.invalidArgument), ("1234567890", .ok),
        ] {
            let response = await alice.request(
                Herald_V1_SendDtmfRequest.with {
                    $0.calleeID = "bob"
                    $0.digits = digits
                },
                expecting: Herald_V1_SendDtmfResponse.self
            )
            #expect(response.result == expected)
        }
        #expect(bob.all(Herald_V1_InvitationMessage.self).map(\.data) == ["1234567890"])
    }

    @Test("LIM-31: a channel-attribute delete naming more than max_attributes_count keys is INVALID_ARGUMENT")
    func deleteKeysBounded() async throws {
        let harness = try EngineHarness { $0.limits.maxAttributesCount = 3 }
        let alice = await harness.login("alice")
        for (count, expected) in [(4, Herald_V1_AttributeOperationResult.invalidArgument), (3, .ok)] {
            let response = await alice.request(
                Herald_V1_DeleteChannelAttributesByKeysRequest.with {
                    $0.channelID = "room"
                    $0.keys = (0..<count).map { "k\($0)" }
                },
                expecting: Herald_V1_DeleteChannelAttributesByKeysResponse.self
            )
            #expect(response.result == expected)
        }
    }
}

import HeraldMessages
import HeraldWire
import SwiftProtobuf
import Testing

@Suite struct OpcodeTableTests {
    /// The opcode list of the design brief (hex, message, kind), copied here so the test needs no outside file.
    static let opcodeList = """
        0x0001 Hello request
        0x0002 Welcome response
        0x0003 Ping request
        0x0004 Pong response
        0x0010 Disconnect event
        0x0011 ProtocolError event
        0x0080 DeliveryAck notice
        0x0101 LoginRequest request
        0x0102 LoginResponse response
        0x0103 LogoutRequest request
        0x0104 LogoutResponse response
        0x0105 RenewTokenRequest request
        0x0106 RenewTokenResponse response
        0x0110 ConnectionStateChanged event
        0x0111 TokenPrivilegeWillExpire event
        0x0112 TokenExpired event
        0x0201 SendPeerMessageRequest request
        0x0202 SendPeerMessageResponse response
        0x0210 PeerMessage event
        0x0301 QueryPeersOnlineStatusRequest request
        0x0302 QueryPeersOnlineStatusResponse response
        0x0303 SubscribePeersOnlineStatusRequest request
        0x0304 SubscribePeersOnlineStatusResponse response
        0x0305 UnsubscribePeersOnlineStatusRequest request
        0x0306 UnsubscribePeersOnlineStatusResponse response
        0x0307 QueryPeersBySubscriptionOptionRequest request
        0x0308 QueryPeersBySubscriptionOptionResponse response
        0x0310 PeersOnlineStatusChanged event
        0x0401 SetLocalUserAttributesRequest request
        0x0402 SetLocalUserAttributesResponse response
        0x0403 AddOrUpdateLocalUserAttributesRequest request
        0x0404 AddOrUpdateLocalUserAttributesResponse response
        0x0405 DeleteLocalUserAttributesByKeysRequest request
        0x0406 DeleteLocalUserAttributesByKeysResponse response
        0x0407 ClearLocalUserAttributesRequest request
        0x0408 ClearLocalUserAttributesResponse response
        0x0409 GetUserAttributesRequest request
        0x040A GetUserAttributesResponse response
        0x040B GetUserAttributesByKeysRequest request
        0x040C GetUserAttributesByKeysResponse response
        0x0501 JoinChannelRequest request
        0x0502 JoinChannelResponse response
        0x0503 LeaveChannelRequest request
        0x0504 LeaveChannelResponse response
        0x0505 GetMembersRequest request
        0x0506 GetMembersResponse response
        0x0507 GetChannelMemberCountRequest request
        0x0508 GetChannelMemberCountResponse response
        0x0510 MemberJoined event
        0x0511 MemberLeft event
        0x0512 MemberCountUpdated event
        0x0513 ChannelMemberList event
        0x0601 SendChannelMessageRequest request
        0x0602 SendChannelMessageResponse response
        0x0610 ChannelMessage event
        0x0701 SetChannelAttributesRequest request
        0x0702 SetChannelAttributesResponse response
        0x0703 AddOrUpdateChannelAttributesRequest request
        0x0704 AddOrUpdateChannelAttributesResponse response
        0x0705 DeleteChannelAttributesByKeysRequest request
        0x0706 DeleteChannelAttributesByKeysResponse response
        0x0707 ClearChannelAttributesRequest request
        0x0708 ClearChannelAttributesResponse response
        0x0709 GetChannelAttributesRequest request
        0x070A GetChannelAttributesResponse response
        0x070B GetChannelAttributesByKeysRequest request
        0x070C GetChannelAttributesByKeysResponse response
        0x0710 ChannelAttributesUpdated event
        0x0801 SendInvitationRequest request
        0x0802 SendInvitationResponse response
        0x0803 CancelInvitationRequest request
        0x0804 CancelInvitationResponse response
        0x0805 AcceptInvitationRequest request
        0x0806 AcceptInvitationResponse response
        0x0807 RefuseInvitationRequest request
        0x0808 RefuseInvitationResponse response
        0x0810 LocalInvitationReceivedByPeer event
        0x0811 LocalInvitationAccepted event
        0x0812 LocalInvitationRefused event
        0x0813 LocalInvitationCanceled event
        0x0814 LocalInvitationFailure event
        0x0820 RemoteInvitationReceived event
        0x0821 RemoteInvitationCanceled event
        0x0822 RemoteInvitationAccepted event
        0x0823 RemoteInvitationRefused event
        0x0824 RemoteInvitationFailure event
        0x0901 SendChannelMessageExternalRequest request
        0x0902 SendChannelMessageExternalResponse response
        0x0903 SendDtmfRequest request
        0x0904 SendDtmfResponse response
        0x0905 QueryChannelUsersRequest request
        0x0906 QueryChannelUsersResponse response
        0x0910 InvitationMessage event
        """

    static var listedRows: [(value: Int, name: String, kind: String)] {
        Self.opcodeList.split(separator: "\n").map { line in
            let parts = line.split(separator: " ")
            return (Int(parts[0].dropFirst(2), radix: 16)!, String(parts[1]), String(parts[2]))
        }
    }

    @Test func tableHasOneEntryPerOpcodeOfTheGeneratedEnum() {
        let defined = Herald_V1_Opcode.allCases.filter { $0 != .unspecified }
        #expect(defined.count == 93)
        #expect(HeraldOpcodeTable.all.count == 93)
        for opcode in defined {
            #expect(HeraldOpcodeTable.info(for: opcode)?.opcode == opcode, "missing \(opcode)")
        }
        #expect(Set(HeraldOpcodeTable.all.map(\.opcode)).count == 93)
        #expect(HeraldOpcodeTable.info(for: .unspecified) == nil)
        #expect(HeraldOpcodeTable.info(for: .UNRECOGNIZED(0x0105_0000)) == nil)
        #expect(HeraldOpcodeTable.all.map(\.opcode.rawValue) == HeraldOpcodeTable.all.map(\.opcode.rawValue).sorted())
    }

    @Test func tableMatchesThePublishedOpcodeList() {
        let rows = Self.listedRows
        #expect(rows.count == 93)
        for (row, info) in zip(rows, HeraldOpcodeTable.all) {
            #expect(Int(info.wireValue) == row.value)
            #expect(info.name == row.name)
            #expect(info.kind.rawValue == row.kind)
        }
    }

    @Test func messageTypesAreNamedAfterTheTableName() {
        for info in HeraldOpcodeTable.all {
            #expect(info.messageType.protoMessageName == "herald.v1." + info.name)
            #expect(info.fullMessageName == info.messageType.protoMessageName)
        }
    }

    @Test func enumValueNamesAreOpcodePlusUpperSnakeMessageName() {
        for info in HeraldOpcodeTable.all {
            let protoName = OpcodeNameProbe.protoName(of: info.opcode)
            #expect(protoName == info.opcodeName, "\(info.name)")
            #expect(info.opcodeName.hasPrefix("OPCODE_"))
            let collapsed = info.opcodeName.dropFirst("OPCODE_".count).replacingUnderscores()
            #expect(collapsed == info.name.uppercased())
        }
        #expect(OpcodeNameProbe.protoName(of: .sendDtmfRequest) == "OPCODE_SEND_DTMF_REQUEST")
    }

    @Test func opcodeRangesMatchTheirKinds() {
        for info in HeraldOpcodeTable.all {
            let low = info.wireValue & 0xFF
            #expect(info.wireValue < 0xF000, "0xF000-0xFFFF are reserved for extensions")
            switch info.kind {
            case .request:
                #expect((0x01...0x0F).contains(low) && low % 2 == 1, "\(info)")
                let response = info.responseOpcode.flatMap { HeraldOpcodeTable.info(for: $0) }
                #expect(response?.kind == .response, "\(info)")
                #expect(response.map { Int($0.wireValue) } == Int(info.wireValue) + 1)
                #expect(response?.requestOpcode == info.opcode)
            case .response:
                #expect((0x02...0x0F).contains(low) && low % 2 == 0, "\(info)")
                #expect(info.responseOpcode == nil)
                #expect(info.requestOpcode.flatMap { HeraldOpcodeTable.info(for: $0) }?.kind == .request)
            case .event:
                #expect((0x10...0x7F).contains(low), "\(info)")
                #expect(info.responseOpcode == nil)
            case .notice:
                #expect((0x80...0xFF).contains(low), "\(info)")
                #expect(info.responseOpcode == nil)
            }
        }
        let kinds = Dictionary(grouping: HeraldOpcodeTable.all, by: \.kind).mapValues(\.count)
        #expect(kinds == [.request: 34, .response: 34, .event: 24, .notice: 1])
    }

    @Test func lookupsByNameTypeAndWireValueAgree() {
        for info in HeraldOpcodeTable.all {
            #expect(HeraldOpcodeTable.info(forMessageName: info.fullMessageName)?.opcode == info.opcode)
            #expect(HeraldOpcodeTable.info(forMessageType: info.messageType)?.opcode == info.opcode)
            #expect(HeraldOpcodeTable.info(forOpcodeName: info.opcodeName)?.opcode == info.opcode)
            #expect(HeraldOpcodeTable.info(forWireValue: info.wireValue)?.opcode == info.opcode)
        }
        #expect(HeraldOpcodeTable.info(forMessageName: "LoginRequest") == nil)
        #expect(HeraldOpcodeTable.info(forMessageName: "herald.v1.MessageBody") == nil)
        #expect(HeraldOpcodeTable.info(forWireValue: 0x0000) == nil)
        #expect(HeraldOpcodeTable.info(forWireValue: 0xF000) == nil)
        #expect(HeraldOpcodeTable.info(for: .loginRequest)?.description == "0x0101 LoginRequest (request)")
    }
}

extension Substring {
    fileprivate func replacingUnderscores() -> String {
        String(self.filter { $0 != "_" })
    }
}

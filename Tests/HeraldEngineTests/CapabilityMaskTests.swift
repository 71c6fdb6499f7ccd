import HeraldMessages
import Testing

@testable import HeraldEngine

/// The capability bits that the per-frame checks use agree with ``Capability/of(_:)`` and the granted set.
@Suite struct CapabilityMaskTests {
    @Test func opcodeGroupsMapToTheirCapabilities() {
        #expect(Capability.of(.channelMemberList) == .legacySignaling)
        #expect(Capability.of(.sendPeerMessageRequest) == .peerMessages)
        #expect(Capability.of(.channelMessage) == .channelMessages)
        #expect(Capability.of(.hello) == .core)
        #expect(Capability.maskBit(of: .channelMessage) == UInt32(1) << 6)
    }

    @Test func aConnectionIsAllowedTheOpcodesOfItsCapabilitiesOnly() {
        for capability in Capability.allV1 {
            let granted = GrantedCapabilities([capability, .testControl])
            for opcode in Herald_V1_Opcode.allCases {
                let owner = Capability.of(opcode)
                #expect(
                    granted.allows(opcodeBit: Capability.maskBit(of: opcode)) == (owner == nil || owner == capability),
                    "\(capability) and \(opcode)"
                )
            }
        }
    }
}

import HeraldMessages
import Testing

@testable import HeraldEngine

/// The capability bits that the per-frame checks use agree with ``Capability/of(_:)`` and the granted set.
@Suite struct CapabilityMaskTests {
    @Test func everyOpcodeMapsToTheBitOfItsCapability() {
        for opcode in Herald_V1_Opcode.allCases {
            let expected = Capability.of(opcode).map { UInt32(1) << UInt32(Capability.allV1.firstIndex(of: $0)!) } ?? 0
            #expect(Capability.maskBit(of: opcode) == expected, "\(opcode)")
        }
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

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

    @Test func theMaskHoldsExactlyTheGrantedCapabilities() {
        for (index, capability) in Capability.allV1.enumerated() {
            #expect(Capability.mask(of: [capability]) == UInt32(1) << UInt32(index))
            let others = Set(Capability.allV1).subtracting([capability]).union([.testControl])
            #expect(Capability.mask(of: others) & (UInt32(1) << UInt32(index)) == 0)
        }
    }
}

import HeraldWire
import Testing

@Suite struct WireErrorTests {
    static let identifiers = [
        "truncated-header", "truncated-payload", "trailing-bytes", "bad-magic", "unsupported-version",
        "reserved-flags", "unknown-opcode", "invalid-flags", "invalid-request-id", "length-out-of-range",
        "frame-too-large", "malformed-payload",
    ]

    @Test func thereAreExactlyTheTwelveRegistryIdentifiers() {
        #expect(WireError.Code.allCodes.map(\.description) == Self.identifiers)
        #expect(Set(WireError.Code.allCodes).count == 12)
    }

    @Test func identifiersParseBackToTheirCodes() {
        for code in WireError.Code.allCodes {
            #expect(WireError.Code(identifier: code.description) == code)
        }
        #expect(WireError.Code(identifier: "Bad-Magic") == nil)
        #expect(WireError.Code(identifier: "handshake-required") == nil)
        #expect(WireError.Code(identifier: "") == nil)
    }

    @Test func staticCodesHaveTheirIdentifiers() {
        let pairs: [(WireError.Code, String)] = [
            (.truncatedHeader, "truncated-header"), (.truncatedPayload, "truncated-payload"),
            (.trailingBytes, "trailing-bytes"), (.badMagic, "bad-magic"),
            (.unsupportedVersion, "unsupported-version"), (.reservedFlags, "reserved-flags"),
            (.unknownOpcode, "unknown-opcode"), (.invalidFlags, "invalid-flags"),
            (.invalidRequestID, "invalid-request-id"), (.lengthOutOfRange, "length-out-of-range"),
            (.frameTooLarge, "frame-too-large"), (.malformedPayload, "malformed-payload"),
        ]
        for (code, identifier) in pairs {
            #expect(code.description == identifier)
        }
    }

    @Test func equalityAndHashingUseTheCodeOnly() {
        struct Cause: Error {}
        let a = WireError(.badMagic, "first")
        let b = WireError(.badMagic, "second", cause: Cause())
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(a != WireError(.unsupportedVersion, "first"))
        #expect(Set([a, b]).count == 1)
    }

    @Test func descriptionNamesIdentifierMessageCauseAndLocation() {
        struct Cause: Error, CustomStringConvertible {
            var description: String { "the cause" }
        }
        let error = WireError(.frameTooLarge, "too big", cause: Cause())
        #expect(error.description.contains("frame-too-large"))
        #expect(error.description.contains("too big"))
        #expect(error.description.contains("the cause"))
        #expect(error.description.contains("WireErrorTests.swift"))
        #expect(WireError(.badMagic).message == "bad-magic")
    }
}

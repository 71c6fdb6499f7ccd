import HeraldVectors
import Testing

@Suite struct UtilityTests {
    @Test func jsonParsingKeepsNumberLiteralsAndMemberOrder() throws {
        let value = try JSONValue(
            parsing: Array(#" {"b": 18446744073709551615, "a": [1.50, -0, true, null, "x\u00e9\n"]} "#.utf8)
        )
        #expect(value.keys == ["b", "a"])
        #expect(value["b"] == .number("18446744073709551615"))
        #expect(value.serialized == #"{"b":18446744073709551615,"a":[1.50,-0,true,null,"xé\n"]}"#)
    }

    @Test func jsonParsingRejectsDuplicateKeysAndTrailingGarbage() {
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: Array(#"{"a":1,"a":2}"#.utf8)) }
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: Array(#"{"a":1} x"#.utf8)) }
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: Array("[01]".utf8)) }
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: Array(#""\ud800""#.utf8)) }
    }

    @Test func jsonSequencesCoverJSONLines() throws {
        let values = try JSONValue.parseSequence(Array("{\"a\":1}\n{\"a\":2}\n\n".utf8))
        #expect(values.count == 2)
        #expect(try JSONValue.parseSequence(Array("  ".utf8)).isEmpty)
    }

    @Test func objectEqualityIgnoresMemberOrder() throws {
        let left = try JSONValue(parsing: Array(#"{"a":1,"b":[{"c":2,"d":3}]}"#.utf8))
        let right = try JSONValue(parsing: Array(#"{"b":[{"d":3,"c":2}],"a":1}"#.utf8))
        #expect(left == right)
        #expect(Set([left, right]).count == 1)
    }

    @Test func prettyPrintingIndentsWithTwoSpaces() {
        #expect(
            JSONValue.prettyPrinted(#"{"a":[],"b":{"c":"x,{y}"},"d":[1,2]}"#)
                == "{\n  \"a\": [],\n  \"b\": {\n    \"c\": \"x,{y}\"\n  },\n  \"d\": [\n    1,\n    2\n  ]\n}"
        )
    }

    @Test func hexDecodingIsStrictForFilesAndLenientForUsers() throws {
        #expect(try Hex.decode("48520aFF") == [0x48, 0x52, 0x0A, 0xFF])
        #expect(throws: Hex.ParseError.self) { try Hex.decode("485") }
        #expect(throws: Hex.ParseError.self) { try Hex.decode("48 52") }
        #expect(try Hex.decodeLenient(" 0x48 52\n0a\t") == [0x48, 0x52, 0x0A])
        #expect(Hex.encode([0x00, 0xAB, 0x10]) == "00ab10")
    }

    @Test func globMatchesStarsAndQuestionMarks() {
        #expect(Glob.matches("frame.valid.*", "frame.valid.login-request.basic"))
        #expect(Glob.matches("*bad-magic*", "frame.invalid.bad-magic.first-byte"))
        #expect(Glob.matches("frame.?nvalid.*", "frame.invalid.x"))
        #expect(!Glob.matches("frame.valid.*", "frame.invalid.x"))
        #expect(Glob.matches("*", ""))
        #expect(!Glob.matches("a*b", "acbd"))
    }
}

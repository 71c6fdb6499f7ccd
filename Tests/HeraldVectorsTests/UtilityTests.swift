import Foundation
import HeraldVectors
import HeraldWire
import Testing

@Suite struct UtilityTests {
    @Test func jsonValuesCoverOneValueJSONLinesAndPrettyValues() throws {
        #expect(try JSONText.values(in: Array(" {\"a\": [1, 2]}\n".utf8)).count == 1)
        #expect(try JSONText.values(in: Array("{\"a\":1}\n{\"a\":2}\n\n".utf8)).count == 2)
        #expect(try JSONText.values(in: Array("{\n  \"a\": 1\n}\n{\n  \"a\": 2\n}\n".utf8)).count == 2)
        #expect(try JSONText.values(in: Array("  ".utf8)).isEmpty)
    }

    @Test func jsonValuesRejectInvalidJSONWithItsLine() {
        #expect(throws: JSONSyntaxError.self) { try JSONText.values(in: Array(#"{"a":1} x"#.utf8)) }
        #expect(throws: JSONSyntaxError.self) { try JSONText.values(in: Array("[01]".utf8)) }
        #expect(throws: JSONSyntaxError.self) { try JSONText.values(in: Array(#""\ud800""#.utf8)) }
        #expect(throws: JSONSyntaxError(line: 2, message: "Unexpected end of file during JSON parse.")) {
            try JSONText.values(in: Array("{\"a\":1}\n{\"a\":".utf8))
        }
    }

    @Test func payloadJSONKeepsNumbersBooleansAndIgnoresMemberOrder() throws {
        let text = #"{"b":[18446744073709551615,-2147483648,4294967295,1.5,true,false,1,0,null,"x\u00e9\n/"],"a":{}}"#
        let payload = try JSONDecoder().decode(ProtobufJSON.self, from: Data(text.utf8))
        #expect(
            payload.text
                == #"{"a":{},"b":[18446744073709551615,-2147483648,4294967295,1.5,true,false,1,0,null,"xé\n/"]}"#
        )
        let reordered = try JSONDecoder().decode(
            ProtobufJSON.self,
            from: Data(
                #"{"a":{},"b":[18446744073709551615,-2147483648,4294967295,1.5,true,false,1,0,null,"xé\n/"]}"#.utf8
            )
        )
        #expect(payload == reordered)
        let encoded = try JSONDecoder().decode(ProtobufJSON.self, from: try JSONEncoder().encode(payload))
        #expect(encoded == payload)
    }

    @Test func frameJSONTellsBooleansFromNumbers() throws {
        let input = try #require(try JSONText.values(in: Array(#"{"type":"Ping","requestId":true}"#.utf8)).first)
        #expect(throws: FrameJSONError("\"requestId\" must be a number from 0 to 4294967295")) {
            try FrameJSON.frames(from: input)
        }
        let flags = try #require(
            try JSONText.values(in: Array(#"{"type":"Ping","requestId":1,"flags":1.0}"#.utf8)).first
        )
        #expect(throws: FrameJSONError("\"flags\" must be a number from 0 to 255")) {
            try FrameJSON.frames(from: flags)
        }
        let ping = try #require(
            try JSONText.values(in: Array(#"{"opcode":"OPCODE_PEER_MESSAGE","requestId":1,"flags":1}"#.utf8)).first
        )
        #expect(try FrameJSON.frames(from: ping).first?.header.flags == .ackRequired)
    }

    @Test func prettyPrintingIndentsWithTwoSpaces() {
        #expect(
            JSONText.prettyPrinted(#"{"a":[],"b":{"c":"x,{y}"},"d":[1,2]}"#)
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

import HeraldConformance
import Testing

@Suite("Templating")
struct TemplatingTests {
    private func context() -> TemplateContext {
        var context = TemplateContext(nonce: "n0nce1", caseID: "handshake.ping", appID: "app-1")
        context.captures = [
            "welcome.alice": .object(["connectionId": .string("c-7"), "limits": .object(["maxUserIdBytes": .int(64)])]),
            "session": .string("s-1"),
            "frame": .object(["payload": .object(["ids": .array([.string("a"), .string("b")])]), "requestId": .int(3)]),
        ]
        context.requestIDs = ["join": 7]
        context.limits = .object(["maxChannelsJoined": .int(20), "maxAttributeValueBytes": .int(8)])
        context.timers = .object(["idleTimeoutMs": .int(1500), "offlineRetentionMs": .string("604800000")])
        context.tokens = ["token:valid": "tok"]
        return context
    }

    @Test("Run-unique ids: nonce, case hash and name; user-id characters only; at most 64 bytes")
    func runUniqueIDs() throws {
        let context = self.context()
        let alice = context.userID("alice")
        #expect(alice.hasPrefix("n0nce1-"))
        #expect(alice.hasSuffix("-alice"))
        #expect(alice.count == 6 + 1 + 6 + 1 + 5)
        #expect(context.userID("alice") == alice)
        #expect(context.userID("bob") != alice)
        var other = context
        other.caseID = "handshake.pong"
        #expect(other.userID("alice") != alice)
        let long = Templating.runUniqueID(nonce: "n", caseID: "c", name: String(repeating: "é", count: 100))
        #expect(long.utf8.count <= 64)
        #expect(long.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.~".contains($0)) })
        let longer = Templating.runUniqueID(nonce: "n", caseID: "c", name: String(repeating: "a", count: 100) + "b")
        let other100 = Templating.runUniqueID(nonce: "n", caseID: "c", name: String(repeating: "a", count: 100) + "c")
        #expect(longer != other100)
    }

    @Test("Every template kind")
    func kinds() throws {
        let context = self.context()
        #expect(try Templating.resolve("${user:bob}", in: context) == .string(context.userID("bob")))
        #expect(try Templating.resolve("${channel:main}", in: context) == .string(context.channelID("main")))
        #expect(try Templating.resolve("${app}", in: context) == .string("app-1"))
        #expect(try Templating.resolve("${nonce}", in: context) == .string("n0nce1"))
        #expect(try Templating.resolve("${capture:session}", in: context) == .string("s-1"))
        #expect(try Templating.resolve("${capture:welcome.alice.connectionId}", in: context) == .string("c-7"))
        #expect(try Templating.resolve("${capture:frame.payload.ids[1]}", in: context) == .string("b"))
        #expect(try Templating.resolve("${capture:frame.payload.ids.0}", in: context) == .string("a"))
        #expect(try Templating.resolve("${request:join}", in: context) == .int(7))
        #expect(try Templating.resolve("${request:join+1}", in: context) == .int(8))
        #expect(try Templating.resolve("${opcode:JoinChannelRequest}", in: context) == .int(0x0501))
        #expect(try Templating.resolve("${limit:maxChannelsJoined}", in: context) == .int(20))
        #expect(try Templating.resolve("${limit:maxChannelsJoined+1}", in: context) == .int(21))
        #expect(try Templating.resolve("${limit:maxChannelsJoined-2}", in: context) == .int(18))
        #expect(try Templating.resolve("${timer:idleTimeoutMs+500}", in: context) == .int(2000))
        #expect(try Templating.resolve("${timer:offlineRetentionMs}", in: context) == .int(604_800_000))
        #expect(try Templating.resolve("${fill:3}", in: context) == .string("xxx"))
        #expect(try Templating.resolve("${fill:limit:maxAttributeValueBytes+1}", in: context) == .string("xxxxxxxxx"))
        #expect(try Templating.resolve("${token:valid}", in: context) == .string("tok"))
        var repeating = context
        repeating.iteration = 4
        #expect(try Templating.resolve("${i}", in: repeating) == .int(4))
        #expect(try Templating.resolve("${i+1}", in: repeating) == .int(5))
    }

    @Test("Interpolation, nesting, typed values and escapes")
    func interpolation() throws {
        var context = self.context()
        context.iteration = 2
        #expect(try Templating.resolve("c-${i}", in: context) == .string("c-2"))
        #expect(try Templating.resolve("${channel:c-${i}}", in: context) == .string(context.channelID("c-2")))
        #expect(try Templating.resolve("${fill:${limit:maxAttributeValueBytes}}", in: context) == .string("xxxxxxxx"))
        #expect(try Templating.resolve("n=${limit:maxChannelsJoined}", in: context) == .string("n=20"))
        #expect(try Templating.resolve("$${user:a} costs $5", in: context) == .string("${user:a} costs $5"))
        #expect(
            try Templating.resolve("${capture:welcome.alice.limits}", in: context)
                == .object(["maxUserIdBytes": .int(64)])
        )
        let json: JSONValue = .object([
            "list": .array([.string("${request:join}"), .int(1)]), "key": .string("${app}"),
        ])
        #expect(
            try Templating.resolve(json: json, in: context)
                == .object(["list": .array([.int(7), .int(1)]), "key": .string("app-1")])
        )
        #expect(try Templating.integer(.template("${limit:maxChannelsJoined+1}"), in: context) == 21)
        #expect(try Templating.integer(.literal(5), in: context) == 5)
    }

    @Test("Errors name the template")
    func errors() throws {
        let context = self.context()
        #expect(throws: TemplateError.self) { try Templating.resolve("${nope:x}", in: context) }
        do {
            _ = try Templating.resolve("${nope:x}", in: context)
        } catch {
            #expect(error.description.hasPrefix("unknown template ${nope:x}; known: ${user…}"))
        }
        #expect(throws: TemplateError("${i} is used outside a repeat step")) {
            try Templating.resolve("${i}", in: context)
        }
        #expect(throws: TemplateError("unterminated template in \"${user:a\" (a \"${\" has no matching \"}\")")) {
            try Templating.resolve("${user:a", in: context)
        }
        #expect(throws: TemplateError("${request:other}: no request was sent with \"as\": \"other\" before this step"))
        {
            try Templating.resolve("${request:other}", in: context)
        }
        var empty = TemplateContext(nonce: "n", caseID: "c", appID: "a")
        empty.captures = [:]
        #expect(throws: TemplateError("${limit:maxChannelsJoined}: no Welcome has been received yet")) {
            try Templating.resolve("${limit:maxChannelsJoined}", in: empty)
        }
        #expect(throws: TemplateError.self) { try Templating.resolve("${limit:noSuchLimit}", in: context) }
        #expect(throws: TemplateError.self) { try Templating.resolve("${capture:missing}", in: context) }
        #expect(throws: TemplateError.self) { try Templating.resolve("${capture:session.deeper}", in: context) }
        #expect(throws: TemplateError.self) { try Templating.resolve("${user:}", in: context) }
        #expect(throws: TemplateError("\"${app}\" is \"app-1\", not an integer")) {
            try Templating.integer(.template("${app}"), in: context)
        }
    }

    @Test("Static checks find unknown kinds and bad arguments without values")
    func staticChecks() throws {
        #expect(Templating.problems(in: "${user:alice} ${channel:c-${i}} ${fill:limit:x+1} ${token:ttl:5}").isEmpty)
        #expect(
            Templating.problems(in: "${opcode:NoSuchMessage}") == [
                "${opcode:NoSuchMessage}: NoSuchMessage is not a Herald v1 message with an opcode"
            ]
        )
        #expect(
            Templating.problems(in: "${token:forever}") == ["${token:forever}: unknown token kind; see the login step"]
        )
        #expect(Templating.problems(in: "${app:x}") == ["${app} takes no argument"])
        #expect(Templating.problems(in: "${fill:lots}").count == 1)
        #expect(Templating.problems(in: "${whatever}").first?.hasPrefix("unknown template ${whatever}") == true)
        #expect(Templating.problems(in: "${user:a").count == 1)
        #expect(Templating.tokenTemplates(in: .object(["t": .string("${token:expired}")])) == ["token:expired"])
    }

    @Test("Templates nested in a token kind are expanded before the token is made, as evaluation expands them")
    func nestedTokenKind() throws {
        var context = self.context()
        let json = JSONValue.object(["token": .string("${token:ttl:${calc:(${limit:maxChannelsJoined}+2)/2}}")])
        let expressions = Templating.tokenTemplates(in: json, context: context)
        #expect(expressions == ["token:ttl:11"])
        context.tokens["token:ttl:11"] = "minted"
        #expect(try Templating.resolve(json: json, in: context) == .object(["token": .string("minted")]))
    }

    @Test("$generate builds arrays sized from limits; ${index} counts the elements; generators nest")
    func generate() throws {
        var context = self.context()
        let ids = try JSONValue(
            parsing: #"{"$generate": {"count": "${limit:maxAttributeValueBytes-5}", "item": "${user:p${index}}"}}"#
        )
        #expect(
            try Templating.resolve(json: .object(["peerIds": ids]), in: context)
                == .object(["peerIds": .array((0..<3).map { .string(context.userID("p\($0)")) })])
        )
        let attributes = try JSONValue(
            parsing: #"{"$generate": {"count": 2, "item": {"key": "k${index+1}", "value": "${fill:${index+2}}"}}}"#
        )
        #expect(
            try Templating.resolve(json: attributes, in: context)
                == .array([
                    .object(["key": .string("k1"), "value": .string("xx")]),
                    .object(["key": .string("k2"), "value": .string("xxx")]),
                ])
        )
        let nested = try JSONValue(
            parsing: #"{"$generate": {"count": 2, "item": {"$generate": {"count": "${index+1}", "item": "${index}"}}}}"#
        )
        #expect(
            try Templating.resolve(json: nested, in: context)
                == .array([.array([.int(0)]), .array([.int(0), .int(1)])])
        )
        #expect(
            try Templating.resolve(
                json: try JSONValue(parsing: #"{"$generate": {"count": 0, "item": 1}}"#),
                in: context
            ) == .array([])
        )
        context.iteration = 7
        let withRepeat = try JSONValue(parsing: #"{"$generate": {"count": 2, "item": "${i}-${index}"}}"#)
        #expect(try Templating.resolve(json: withRepeat, in: context) == .array([.string("7-0"), .string("7-1")]))
    }

    @Test("$generate and ${index} errors name the problem")
    func generateErrors() throws {
        let context = self.context()
        #expect(throws: TemplateError("${index} is used outside the item of a $generate")) {
            try Templating.resolve("${index}", in: context)
        }
        #expect(throws: TemplateError("$generate: count -1 is not between 0 and 100000")) {
            try Templating.resolve(
                json: try JSONValue(parsing: #"{"$generate": {"count": "${calc:0-1}", "item": 1}}"#),
                in: context
            )
        }
        #expect(throws: TemplateError(#"$generate: count "${app}" is "app-1", not an integer"#)) {
            try Templating.resolve(
                json: try JSONValue(parsing: #"{"$generate": {"count": "${app}", "item": 1}}"#),
                in: context
            )
        }
        #expect(throws: TemplateError("$generate needs an item")) {
            try Templating.resolve(json: try JSONValue(parsing: #"{"$generate": {"count": 1}}"#), in: context)
        }
        #expect(
            Templating.generatorProblems(
                try #require(
                    try JSONValue(parsing: #"{"$generate": {"count": -2, "item": 1, "step": 2}, "x": 1}"#).objectValue
                )
            )
                == [
                    "a $generate object has no other keys (found x)",
                    "$generate: unknown key step; allowed: count, item",
                    "$generate: count -2 is not an integer between 0 and 100000",
                ]
        )
        #expect(
            Templating.generatorProblems(
                try #require(try JSONValue(parsing: #"{"$generate": {"count": "${nope}", "item": 1}}"#).objectValue)
            ).first?
            .hasPrefix("$generate: count: unknown template ${nope}") == true
        )
        #expect(
            Templating.generatorProblems(
                try #require(try JSONValue(parsing: #"{"$generate": {"count": "many", "item": 1}}"#).objectValue)
            )
                == [#"$generate: count "many" is neither a number nor a template"#]
        )
        #expect(Templating.problems(in: "${index+1} ${index-2}").isEmpty)
        #expect(Templating.problems(in: "${indexx}").first?.hasPrefix("unknown template ${indexx}") == true)
    }

    @Test("${calc:…}: integer arithmetic on expanded templates, with precedence, parentheses and clear errors")
    func calc() throws {
        let context = self.context()
        #expect(try Templating.resolve("${calc:1+2*3}", in: context) == .int(7))
        #expect(try Templating.resolve("${calc:(1+2)*3}", in: context) == .int(9))
        #expect(try Templating.resolve("${calc: 17 / 5 }", in: context) == .int(3))
        #expect(try Templating.resolve("${calc:17%5-1}", in: context) == .int(1))
        #expect(try Templating.resolve("${calc:-3--4}", in: context) == .int(1))
        #expect(try Templating.resolve("${calc:-7/2}", in: context) == .int(-3))
        #expect(
            try Templating.resolve(
                "${calc:${limit:maxChannelsJoined}/(${limit:maxAttributeValueBytes}+1)+1}",
                in: context
            )
                == .int(3)
        )
        #expect(try Templating.resolve("n=${calc:2*${limit:maxChannelsJoined}}", in: context) == .string("n=40"))
        #expect(throws: TemplateError(#"${calc:1/0}: division by zero in "1/0""#)) {
            try Templating.resolve("${calc:1/0}", in: context)
        }
        #expect(throws: TemplateError(#"${calc:2*(3+1}: missing ")" in "2*(3+1""#)) {
            try Templating.resolve("${calc:2*(3+1}", in: context)
        }
        #expect(throws: TemplateError(#"${calc:9223372036854775807+1}: overflow in "9223372036854775807+1""#)) {
            try Templating.resolve("${calc:9223372036854775807+1}", in: context)
        }
        #expect(Templating.problems(in: "${calc:1+}") == [#"${calc:1+}: "1+" ends where a number is expected"#])
        #expect(Templating.problems(in: "${calc:2x}") == [#"${calc:2x}: unexpected "x" in "2x""#])
        #expect(Templating.problems(in: "${calc:${limit:maxChannelsJoined}*2}").isEmpty)
        #expect(Templating.problems(in: "${calc}") == ["${calc} needs an expression"])
    }

    @Test("${bytes:…}: the UTF-8 length of the expanded text, for strings of an exact byte length")
    func bytes() throws {
        let context = self.context()
        #expect(try Templating.resolve("${bytes:abc}", in: context) == .int(3))
        #expect(try Templating.resolve("${bytes:\u{E9}\u{20AC}}", in: context) == .int(5))
        #expect(try Templating.resolve("${bytes:}", in: context) == .int(0))
        #expect(try Templating.resolve("${bytes:a:b}", in: context) == .int(3))
        let channel = context.channelID("c")
        #expect(try Templating.resolve("${bytes:${channel:c}}", in: context) == .int(Int64(channel.utf8.count)))
        let padded = try Templating.resolve(
            "${channel:c}${fill:${calc:${limit:maxChannelsJoined}-${bytes:${channel:c}}}}",
            in: context
        )
        #expect(padded.stringValue?.utf8.count == 20)
        #expect(padded.stringValue?.hasPrefix(channel) == true)
        #expect(Templating.problems(in: "${bytes:${user:alice}} ${bytes:x}").isEmpty)
        #expect(
            Templating.problems(in: "${bytes}") == ["${bytes} needs a colon, then the text to measure: ${bytes:<text>}"]
        )
    }
}

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
}

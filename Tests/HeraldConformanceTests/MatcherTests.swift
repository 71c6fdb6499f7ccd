import HeraldConformance
import HeraldMessages
import Testing

@Suite("Payload matcher")
struct MatcherTests {
    private func json(_ text: String) throws -> JSONValue {
        try JSONValue(parsing: text)
    }

    private func match(_ expected: String, _ actual: String, mode: MatchMode = .subset) throws -> MatchResult {
        let actualValue = try self.json(actual)
        return PayloadMatcher.match(try self.json(expected), against: actualValue, canonical: actualValue, mode: mode)
    }

    @Test("Rendering adds default values: enums by name, zero numbers, 64-bit integers as strings, empty lists")
    func defaultsArePresent() throws {
        let rendering = ProtoJSON.render(Herald_V1_JoinChannelResponse())
        #expect(rendering.full["result"] == .string("JOIN_CHANNEL_RESULT_OK"))
        #expect(rendering.canonical == .object([:]))

        var pong = Herald_V1_Pong()
        pong.clientTimeMs = 5
        let full = ProtoJSON.render(pong).full
        #expect(full["clientTimeMs"] == .string("5"))
        #expect(full["serverTimeMs"] == .string("0"))

        let welcome = ProtoJSON.render(Herald_V1_Welcome()).full
        #expect(welcome["capabilities"] == .array([]))
        #expect(welcome["version"] == .int(0))
        #expect(welcome["serverName"] == .string(""))
        #expect(welcome["limits"] == nil)  // unset message fields stay absent

        let disconnect = ProtoJSON.render(Herald_V1_Disconnect()).full
        #expect(disconnect["reason"] == .string("DISCONNECT_REASON_UNSPECIFIED"))
        let ack = ProtoJSON.render(Herald_V1_SendPeerMessageRequest()).full
        #expect(ack["ackMode"] == .string("ACK_MODE_PEER"))
        #expect(ack["enableOfflineMessaging"] == .bool(false))
    }

    @Test("Nested and repeated messages get their defaults too")
    func nestedDefaults() throws {
        var welcome = Herald_V1_Welcome()
        welcome.limits = Herald_V1_ServerLimits()
        welcome.rateLimits = [Herald_V1_RateLimit()]
        let full = ProtoJSON.render(welcome).full
        #expect(full["limits"]?["maxPayloadLength"] == .int(0))
        #expect(full["rateLimits"]?.arrayValue?.first?["rateClass"] == .string("RATE_CLASS_UNSPECIFIED"))
        #expect(full["rateLimits"]?.arrayValue?.first?["count"] == .int(0))
    }

    @Test("A default enum value matches by name")
    func defaultEnumMatches() throws {
        let result = PayloadMatcher.match(
            .object(["result": .string("JOIN_CHANNEL_RESULT_OK")]),
            against: Herald_V1_JoinChannelResponse()
        )
        #expect(result.isMatch)
    }

    @Test("Literal mismatches name the path, the expected and the received value")
    func literalMismatch() throws {
        let result = try self.match(#"{"userIds": ["a", "b", "x"]}"#, #"{"userIds": ["a", "b", "y"], "other": 1}"#)
        #expect(result.mismatches == [#"payload.userIds[2]: expected "x", got "y""#])
        let missing = try self.match(#"{"channel": {"id": "c"}}"#, #"{}"#)
        #expect(missing.mismatches == [#"payload.channel: missing (expected {"id":"c"})"#])
        let length = try self.match(#"{"ids": [1]}"#, #"{"ids": [1, 2]}"#)
        #expect(length.mismatches == ["payload.ids: expected 1 element, got 2: [1,2]"])
    }

    @Test("Numbers equal decimal strings of the same value (64-bit integers are strings)")
    func numericStrings() throws {
        #expect(try self.match(#"{"t": 5}"#, #"{"t": "5"}"#).isMatch)
        #expect(try self.match(#"{"t": "5"}"#, #"{"t": 5}"#).isMatch)
        #expect(try self.match(#"{"t": 5}"#, #"{"t": 5.0}"#).isMatch)
        #expect(!(try self.match(#"{"t": 5}"#, #"{"t": "6"}"#).isMatch))
        #expect(!(try self.match(#"{"t": "a"}"#, #"{"t": "b"}"#).isMatch))
    }

    @Test("$regex")
    func regex() throws {
        #expect(try self.match(#"{"s": {"$regex": "^s-[0-9]+$"}}"#, #"{"s": "s-42"}"#).isMatch)
        let result = try self.match(#"{"s": {"$regex": "^s-"}}"#, #"{"s": "t-1"}"#)
        #expect(result.mismatches == [#"payload.s: expected a match of /^s-/, got "t-1""#])
        #expect(try self.match(#"{"n": {"$regex": "^4"}}"#, #"{"n": 42}"#).isMatch)
    }

    @Test("$any and $absent")
    func presence() throws {
        #expect(try self.match(#"{"a": {"$any": true}}"#, #"{"a": 0}"#).isMatch)
        #expect(
            try self.match(#"{"a": {"$any": true}}"#, #"{}"#).mismatches == ["payload.a: missing (expected a value)"]
        )
        #expect(try self.match(#"{"a": {"$absent": true}}"#, #"{}"#).isMatch)
        #expect(
            try self.match(#"{"a": {"$absent": true}}"#, #"{"a": {"b": 1}}"#).mismatches
                == [#"payload.a: expected no value, got {"b":1}"#]
        )
        #expect(try self.match(#"{"a": {"$absent": false}}"#, #"{"a": 1}"#).isMatch)
    }

    @Test("$oneOf")
    func oneOf() throws {
        #expect(try self.match(#"{"r": {"$oneOf": ["A", "B"]}}"#, #"{"r": "B"}"#).isMatch)
        #expect(
            try self.match(#"{"r": {"$oneOf": ["A", "B"]}}"#, #"{"r": "C"}"#).mismatches
                == [#"payload.r: expected one of ["A","B"], got "C""#]
        )
        let captured = try self.match(
            #"{"r": {"$oneOf": [{"x": 1, "y": {"$capture": "why"}}, {"x": 2}]}}"#,
            #"{"r": {"x": 1, "y": "z"}}"#
        )
        #expect(captured.captures["why"] == .string("z"))
    }

    @Test("$unordered matches multisets of the same length")
    func unordered() throws {
        #expect(try self.match(#"{"c": {"$unordered": ["b", "a", "c"]}}"#, #"{"c": ["a", "b", "c"]}"#).isMatch)
        #expect(
            try self.match(
                #"{"c": {"$unordered": [{"k": {"$regex": "^a"}}, {"k": "a1"}]}}"#,
                #"{"c": [{"k": "a1"}, {"k": "a2"}]}"#
            )
            .isMatch
        )
        let wrong = try self.match(#"{"c": {"$unordered": ["a", "a"]}}"#, #"{"c": ["a", "b"]}"#)
        #expect(wrong.mismatches.count == 1)
        #expect(
            wrong.mismatches[0].hasPrefix(
                #"payload.c: expected the same elements in any order ["a","a"], got ["a","b"]"#
            )
        )
        let length = try self.match(#"{"c": {"$unordered": ["a"]}}"#, #"{"c": ["a", "b"]}"#)
        #expect(length.mismatches == [#"payload.c: expected 1 elements in any order, got 2: ["a","b"]"#])
    }

    @Test("$contains allows more elements")
    func contains() throws {
        #expect(try self.match(#"{"c": {"$contains": ["core"]}}"#, #"{"c": ["channels", "core"]}"#).isMatch)
        let result = try self.match(#"{"c": {"$contains": ["x"]}}"#, #"{"c": ["core"]}"#)
        #expect(
            result.mismatches == [
                #"payload.c: expected elements containing ["x"], got ["core"] (no element matches "x")"#
            ]
        )
    }

    @Test("$gte and $lte, also on decimal strings and combined")
    func bounds() throws {
        #expect(try self.match(#"{"n": {"$gte": 1, "$lte": 10}}"#, #"{"n": 10}"#).isMatch)
        #expect(try self.match(#"{"n": {"$gte": 100}}"#, #"{"n": "1700000000000"}"#).isMatch)
        let result = try self.match(#"{"n": {"$gte": 65536, "$lte": 16777215}}"#, #"{"n": 100}"#)
        #expect(result.mismatches == ["payload.n: expected ≥ 65536, got 100"])
        #expect(
            try self.match(#"{"n": {"$lte": 1}}"#, #"{"n": "x"}"#).mismatches == [
                #"payload.n: expected a number, got "x""#
            ]
        )
    }

    @Test("$capture stores the received value")
    func capture() throws {
        let result = try self.match(
            #"{"id": {"$capture": "sid"}, "n": {"$capture": "n", "$gte": 3}}"#,
            #"{"id": "s-1", "n": 4}"#
        )
        #expect(result.isMatch)
        #expect(result.captures == ["sid": .string("s-1"), "n": .int(4)])
        #expect(
            try self.match(#"{"id": {"$capture": "x"}}"#, #"{}"#).mismatches == [
                "payload.id: missing (nothing to capture)"
            ]
        )
    }

    @Test("exact mode rejects fields the expectation does not mention, unless they hold their default")
    func exact() throws {
        var response = Herald_V1_GetMembersResponse()
        response.userIds = ["a"]
        let rendering = ProtoJSON.render(response)
        let ok = PayloadMatcher.match(
            .object(["userIds": .array([.string("a")])]),
            against: rendering.full,
            canonical: rendering.canonical,
            mode: .exact
        )
        #expect(ok.isMatch)  // result (default OK) need not be mentioned
        let extra = PayloadMatcher.match(
            .object([:]),
            against: rendering.full,
            canonical: rendering.canonical,
            mode: .exact
        )
        #expect(extra.mismatches == [#"payload.userIds: not expected (exact match), got ["a"]"#])
    }

    @Test("Operator problems are found before running")
    func staticProblems() throws {
        #expect(
            PayloadMatcher.problems(in: try self.json(#"{"a": {"$regex": "("}}"#)) == [
                #"payload.a: invalid regular expression "(""#
            ]
        )
        #expect(
            PayloadMatcher.problems(in: try self.json(#"{"a": {"$nope": 1}}"#)).first?.contains(
                "unknown operator $nope"
            ) == true
        )
        #expect(
            PayloadMatcher.problems(in: try self.json(#"{"a": {"$any": true, "b": 1}}"#))
                == ["payload.a: an object mixes operators ($any) and fields"]
        )
        #expect(
            PayloadMatcher.problems(in: try self.json(#"{"a": {"$oneOf": 1}}"#)) == ["payload.a: $oneOf takes an array"]
        )
        #expect(
            PayloadMatcher.problems(in: try self.json(#"{"a": {"$gte": "x"}}"#)) == ["payload.a: $gte takes a number"]
        )
    }

    @Test("$each: every element of a non-empty array matches; the first failures are listed, the rest counted")
    func each() throws {
        let limits = #"{"r": [{"c": "A", "n": 2}, {"c": "B", "n": 3}]}"#
        #expect(try self.match(#"{"r": {"$each": {"n": {"$gte": 1}}}}"#, limits).isMatch)
        #expect(
            try self.match(#"{"r": {"$each": {"n": {"$gte": 3}}}}"#, limits).mismatches == [
                "payload.r[0].n: expected ≥ 3, got 2"
            ]
        )
        #expect(
            try self.match(#"{"r": {"$each": "x"}}"#, #"{"r": []}"#).mismatches == [
                #"payload.r: expected a non-empty array whose every element matches "x", got []"#
            ]
        )
        #expect(try self.match(#"{"r": {"$oneOf": [[], {"$each": "x"}]}}"#, #"{"r": []}"#).isMatch)
        #expect(
            try self.match(#"{"r": {"$each": 1}}"#, #"{"r": 1}"#).mismatches == ["payload.r: expected an array, got 1"]
        )
        #expect(
            try self.match(#"{"r": {"$each": 1}}"#, #"{}"#).mismatches == [
                #"payload.r: missing (expected {"$each":1})"#
            ]
        )
        let many = try self.match(#"{"r": {"$each": 0}}"#, #"{"r": [1, 0, 2, 3, 4, 5, 6, 7, 8]}"#)
        #expect(many.mismatches.count == 6)
        #expect(many.mismatches[0] == "payload.r[0]: expected 0, got 1")
        #expect(many.mismatches[4] == "payload.r[5]: expected 0, got 5")
        #expect(
            many.mismatches[5] == "payload.r: 3 more of the 9 elements do not match either (indices 6, 7, 8)"
        )
        let captured = try self.match(#"{"r": {"$each": {"c": {"$capture": "last"}}}}"#, limits)
        #expect(captured.captures == ["last": .string("B")])
    }

    @Test("$ne: present and different; numbers equal decimal strings, structures compare deeply")
    func notEqual() throws {
        #expect(try self.match(#"{"id": {"$ne": 7}}"#, #"{"id": 8}"#).isMatch)
        #expect(
            try self.match(#"{"id": {"$ne": 7}}"#, #"{"id": "7"}"#).mismatches == [
                #"payload.id: expected a value other than 7, got "7""#
            ]
        )
        #expect(!(try self.match(#"{"id": {"$ne": {"a": [1, "2"]}}}"#, #"{"id": {"a": ["1", 2]}}"#).isMatch))
        #expect(try self.match(#"{"id": {"$ne": {"a": [1]}}}"#, #"{"id": {"a": [1, 2]}}"#).isMatch)
        #expect(try self.match(#"{"id": {"$ne": 0, "$gte": 1}}"#, #"{"id": 3}"#).isMatch)
        #expect(
            try self.match(#"{"id": {"$ne": 7}}"#, #"{}"#).mismatches == [#"payload.id: missing (expected {"$ne":7})"#]
        )
    }

    @Test("$length matches the number of elements with a matcher")
    func length() throws {
        #expect(try self.match(#"{"ids": {"$length": 2}}"#, #"{"ids": ["a", "b"]}"#).isMatch)
        #expect(try self.match(#"{"ids": {"$length": {"$gte": 1, "$lte": 2}}}"#, #"{"ids": ["a"]}"#).isMatch)
        #expect(
            try self.match(#"{"ids": {"$length": 3}}"#, #"{"ids": ["a", "b"]}"#).mismatches == [
                "payload.ids.$length: expected 3, got 2"
            ]
        )
        #expect(
            try self.match(#"{"ids": {"$length": 3}}"#, #"{"ids": "abc"}"#).mismatches == [
                #"payload.ids: expected an array, got "abc""#
            ]
        )
    }

    @Test("$distinct: whole elements, or the values at a field path")
    func distinct() throws {
        #expect(try self.match(#"{"ids": {"$distinct": true}}"#, #"{"ids": ["a", "b", "c"]}"#).isMatch)
        #expect(try self.match(#"{"ids": {"$distinct": true}}"#, #"{"ids": []}"#).isMatch)
        #expect(
            try self.match(#"{"ids": {"$distinct": true}}"#, #"{"ids": ["a", "b", "a"]}"#).mismatches == [
                #"payload.ids: elements 0 and 2 are equal (expected distinct): "a""#
            ]
        )
        #expect(!(try self.match(#"{"ids": {"$distinct": true}}"#, #"{"ids": [5, "5"]}"#).isMatch))
        let limits = #"{"r": [{"c": "A", "n": 1}, {"c": "B", "n": 1}, {"c": "A", "n": 2}]}"#
        #expect(try self.match(#"{"r": {"$distinct": true}}"#, limits).isMatch)
        #expect(
            try self.match(#"{"r": {"$distinct": "c"}}"#, limits).mismatches == [
                #"payload.r: elements 0 and 2 have the same c (expected distinct): "A""#
            ]
        )
        #expect(
            try self.match(#"{"r": {"$distinct": "x"}}"#, limits).mismatches == [
                #"payload.r[0]: no field "x" at the top ($distinct compares x)"#
            ]
        )
    }

    @Test("Static checks of $each, $ne, $length, $distinct and $generate")
    func newOperatorProblems() throws {
        #expect(PayloadMatcher.problems(in: try self.json(#"{"a": {"$each": {"b": {"$nope": 1}}}}"#)).count == 1)
        #expect(
            PayloadMatcher.problems(in: try self.json(#"{"a": {"$ne": {"$gte": 1}}}"#)) == [
                "payload.a: $ne takes a value, not a matcher"
            ]
        )
        #expect(
            PayloadMatcher.problems(in: try self.json(#"{"a": {"$distinct": false}}"#)) == [
                "payload.a: $distinct takes true or a field path"
            ]
        )
        #expect(
            PayloadMatcher.problems(in: try self.json(#"{"a": {"$length": {"$regex": "("}}}"#)) == [
                #"payload.a.$length: invalid regular expression "(""#
            ]
        )
        let generated = #"{"a": {"$oneOf": {"$generate": {"count": 2, "item": {"$regex": "("}}}}}"#
        #expect(
            PayloadMatcher.problems(in: try self.json(generated)) == [
                #"payload.a.$oneOf[*]: invalid regular expression "(""#
            ]
        )
        #expect(
            PayloadMatcher.problems(in: try self.json(#"{"a": {"$generate": {"count": 2, "item": "x"}}}"#)).isEmpty
        )
    }

    @Test("Payload validation checks a generated item as an element of its field, and the operand of $each")
    func generatorValidation() throws {
        let subscribe = Herald_V1_SubscribePeersOnlineStatusRequest.self
        let ids = #"{"peerIds": {"$generate": {"count": "${limit:maxSubscriptions}", "item": "${user:p${index}}"}}}"#
        #expect(ProtoJSON.validationProblem(try self.json(ids), as: subscribe) == nil)
        let set = Herald_V1_SetLocalUserAttributesRequest.self
        let good = #"{"attributes": {"$generate": {"count": 3, "item": {"key": "k${index}", "value": "v"}}}}"#
        #expect(ProtoJSON.validationProblem(try self.json(good), as: set) == nil)
        let typo = #"{"attributes": {"$generate": {"count": 3, "item": {"kee": "k${index}", "value": "v"}}}}"#
        #expect(ProtoJSON.validationProblem(try self.json(typo), as: set) != nil)
        let welcome = Herald_V1_Welcome.self
        #expect(
            ProtoJSON.validationProblem(
                try self.json(#"{"rateLimits": {"$each": {"count": {"$gte": 1}, "rateClass": {"$ne": "X"}}}}"#),
                as: welcome
            ) == nil
        )
        #expect(
            ProtoJSON.validationProblem(try self.json(#"{"rateLimits": {"$each": {"kount": 1}}}"#), as: welcome)
                != nil
        )
    }

    @Test("Payload validation accepts templates and operators but not unknown fields")
    func validation() throws {
        let type = Herald_V1_JoinChannelRequest.self
        #expect(ProtoJSON.validationProblem(try self.json(#"{"channelId": "${channel:a}"}"#), as: type) == nil)
        #expect(ProtoJSON.validationProblem(try self.json(#"{"channelId": {"$regex": "x"}}"#), as: type) == nil)
        let problem = ProtoJSON.validationProblem(try self.json(#"{"channel": "x"}"#), as: type)
        #expect(problem?.hasPrefix("the payload does not parse as herald.v1.JoinChannelRequest") == true)
        let list = Herald_V1_Welcome.self
        #expect(
            ProtoJSON.validationProblem(try self.json(#"{"capabilities": {"$unordered": ["core"]}}"#), as: list) == nil
        )
        #expect(
            ProtoJSON.validationProblem(try self.json(#"{"version": "${limit:x}", "limits": null}"#), as: list) == nil
        )
    }
}

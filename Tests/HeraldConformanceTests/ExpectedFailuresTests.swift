import Testing

@testable import HeraldConformance

@Suite("Expected failures")
struct ExpectedFailuresTests {
    static func result(_ id: String, _ verdict: Verdict) -> CaseResult {
        CaseResult(
            id: id,
            title: id,
            chapter: "09-channels",
            level: "MUST",
            requirements: ["CHAN-1"],
            verdict: verdict,
            durationMs: 1,
            message: verdict == .pass ? "" : "expected A, got B"
        )
    }

    @Test("parses ids and globs with reasons after ' # ' or ' -- '; comments and blank lines are skipped")
    func parsing() throws {
        let list = try ExpectedFailures(
            parsing: """
                # Known failures of our server.

                channels.join.exceed-limit # we allow 50 channels (issue #12)
                  presence.* -- presence is not implemented yet
                tokens.renew.?ad # a -- b # c
                """
        )
        #expect(
            list.entries == [
                .init(pattern: "channels.join.exceed-limit", reason: "we allow 50 channels (issue #12)", line: 3),
                .init(pattern: "presence.*", reason: "presence is not implemented yet", line: 4),
                .init(pattern: "tokens.renew.?ad", reason: "a -- b # c", line: 5),
            ]
        )
    }

    @Test(
        "an entry without a reason is a usage error naming the line",
        arguments: [
            "channels.join.ok",
            "channels.join.ok #",
            "channels.join.ok # ",
            "channels.join.ok#reason",
            "channels.join.ok --reason",
            "-- reason",
            "channels join # two words",
        ]
    )
    func missingReason(line: String) {
        #expect(throws: ExpectedFailuresError.self) {
            try ExpectedFailures(parsing: "# header\n" + line, fileName: "xfail.txt")
        }
        do {
            _ = try ExpectedFailures(parsing: "# header\n" + line, fileName: "xfail.txt")
        } catch {
            #expect(error.description.hasPrefix("xfail.txt:2: "), "\(error)")
        }
    }

    @Test("a pattern listed twice is an error")
    func duplicate() {
        #expect(throws: ExpectedFailuresError.self) {
            try ExpectedFailures(parsing: "a.b # one\na.b # two")
        }
    }

    @Test("a failure or timeout becomes expected-fail; a pass becomes unexpected-pass; error and n/a stay")
    func apply() throws {
        let list = try ExpectedFailures(parsing: "channels.* # not yet")
        let failed = list.apply(to: Self.result("channels.a", .fail))
        #expect(failed.verdict == .expectedFail)
        #expect(failed.expectedFailureReason == "not yet")
        #expect(failed.message == "expected A, got B")
        let timedOut = list.apply(to: Self.result("channels.b", .timeout))
        #expect(timedOut.verdict == .expectedFail)
        #expect(timedOut.message.hasPrefix("timeout: "))
        let passed = list.apply(to: Self.result("channels.c", .pass))
        #expect(passed.verdict == .unexpectedPass)
        #expect(passed.verdict.failsRun)
        #expect(passed.message.contains("channels.*"))
        #expect(list.apply(to: Self.result("channels.d", .error)).verdict == .error)
        #expect(list.apply(to: Self.result("channels.e", .notApplicable)).verdict == .notApplicable)
        #expect(list.apply(to: Self.result("presence.a", .fail)).verdict == .fail)
        #expect(list.apply(to: Self.result("presence.a", .fail)).expectedFailureReason == nil)
    }

    @Test("entries that match no selected case are stale and fail the run")
    func stale() throws {
        let list = try ExpectedFailures(parsing: "channels.a # x\npresence.* # y\ntokens.b -- z")
        #expect(list.staleEntries(selectedIDs: ["channels.a", "channels.b"]) == ["presence.*", "tokens.b"])
        let run = RunResult(
            suite: "s",
            specVersion: "v",
            target: "embedded",
            transport: "tcp",
            nonce: "n",
            startedMs: 0,
            durationMs: 0,
            totalCases: 2,
            selectedCases: 2,
            grantedCapabilities: [],
            cases: [Self.result("channels.a", .fail), Self.result("presence.x", .fail)],
            staleExpectedFailures: []
        )
        let applied = list.apply(to: run)
        #expect(applied.cases.map(\.verdict) == [.expectedFail, .expectedFail])
        #expect(applied.staleExpectedFailures == ["tokens.b"])
        #expect(!applied.passed)
        let exact = try ExpectedFailures(parsing: "channels.a # x\npresence.* # y")
        #expect(exact.apply(to: run).passed)
    }

    @Test(
        "globs: * spans dots, ? is one character, everything else is literal",
        arguments: [
            ("channels.*", "channels.join.ok", true),
            ("channels.*", "channels", false),
            ("*.ok", "channels.join.ok", true),
            ("*", "anything.at.all", true),
            ("channels.join.o?", "channels.join.ok", true),
            ("channels.join.o?", "channels.join.okay", false),
            ("channels.join.ok", "channels.join.ok", true),
            ("channels.join.ok", "channels.join.okk", false),
            ("c*s.*.ok", "channels.join.ok", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            ("", "", true),
        ]
    )
    func glob(pattern: String, text: String, matches: Bool) {
        #expect(ExpectedFailures.Entry(pattern: pattern, reason: "r", line: 1).matches(text) == matches)
    }
}

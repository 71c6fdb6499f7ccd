import Foundation
import HeraldSpec
import NIOPosix
import Synchronization
import Testing

@testable import HeraldConformance

/// A synthetic failing run in the shape of a real crowd failure: every case's transcript has a crowd of 512 members
/// that each connect, say Hello and log in (with realistically long Welcome and LoginRequest payloads), one member
/// (`crowd.17`) that also got an unexpected frame, and the declared actors alice, bob and carol, where carol sets
/// attributes of 12 shapes in turn and alice receives a long run of MemberJoined frames before the step that failed.
enum CrowdRunFixture {
    /// The member that differs in shape from the others.
    static let oddMember = "crowd.17"

    /// One crowd case's transcript.
    static func transcript(members: Int = 512) -> [TranscriptEntry] {
        var entries: [TranscriptEntry] = []
        var time: Int64 = 0
        let welcome =
            #"{"capabilities":["core","channels","presence","peer-messages","channel-attributes"],"#
            + #""limits":{"maxFrameBytes":"1048576","maxMemberEventChannelSize":512,"maxChannelsPerSession":64,"#
            + #""maxPeerMessageBytes":"65536","maxAttributeBytes":"4096"},"#
            + #""timers":{"pingIntervalMs":"30000","channelAttributesEmptyTtlMs":"300000","resumeWindowMs":"60000"},"#
            + #""server":"herald 1.0.0","sessionId":"s-"#
        let token =
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJuMXgtY3Jvd2QuIiwiYXBwIjoiaGVyYWxkLWRldiIsImV4cCI6MTcwMDAw"
            + "MzYwMH0.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU-"
        func add(
            _ actor: String,
            _ direction: TranscriptDirection,
            _ type: String,
            _ requestID: UInt32 = 0,
            _ payload: String = ""
        ) {
            time += 1
            entries.append(
                TranscriptEntry(
                    atMs: time,
                    actor: actor,
                    direction: direction,
                    type: type,
                    requestID: requestID,
                    payload: payload
                )
            )
        }
        for index in 0..<members {
            let member = Crowd.memberName("crowd", index)
            add(member, .transport, "connected", 0, "tcp 127.0.0.1:\(40_000 + index)")
            add(
                member,
                .sent,
                "Hello",
                1,
                #"{"capabilities":["core","channels"],"client":"herald 1.0.0","versions":[1]}"#
            )
            add(member, .received, "Welcome", 1, welcome + "\(index)-5f0c2a9e\",\"version\":1}")
            add(member, .sent, "LoginRequest", 2, #"{"token":""# + token + "\(index)\"}")
            add(
                member,
                .received,
                "LoginResponse",
                2,
                #"{"result":"LOGIN_RESULT_OK","userId":"n1x-crowd."# + "\(index)\"}"
            )
            add(member, .received, "ConnectionStateChanged", 0, #"{"state":"CONNECTION_STATE_READY"}"#)
            if member == Self.oddMember {
                add(member, .received, "ProtocolError", 0, #"{"code":"rate-limited","message":"slow down"}"#)
            }
        }
        for actor in ["alice", "bob"] {
            add(actor, .transport, "connected", 0, "tcp 127.0.0.1:39999")
            add(
                actor,
                .sent,
                "Hello",
                1,
                #"{"capabilities":["core","channels"],"client":"herald 1.0.0","versions":[1]}"#
            )
            add(actor, .received, "Welcome", 1, welcome + "\(actor)\",\"version\":1}")
            add(actor, .sent, "JoinChannelRequest", 3, #"{"channelId":"n1x-big"}"#)
            add(actor, .received, "JoinChannelResponse", 3, #"{"result":"JOIN_CHANNEL_RESULT_OK"}"#)
        }
        // carol sets attributes under 12 keys in turn: frames of 12 shapes that do not fold.
        for index in 0..<240 {
            let attribute = #"{"attributes":{"key\#(index % 12)":"v\#(index)"},"channelId":"n1x-big"}"#
            add("carol", .sent, "SetChannelAttributesRequest", UInt32(10 + index), attribute)
        }
        for index in 0..<300 {
            add("alice", .received, "MemberJoined", 0, #"{"channelId":"n1x-big","userId":"n1x-crowd."# + "\(index)\"}")
            add("bob", .received, "MemberCountUpdated", 0, #"{"channelId":"n1x-big","count":"\#(index + 3)"}"#)
        }
        add("alice", .received, "MemberLeft", 0, #"{"channelId":"n1x-big","userId":"n1x-carol"}"#)
        return entries
    }

    /// The message of the failing step: it names alice (the actor of the step) and crowd.17.
    static let message =
        "steps[9] expect (alice): expected MemberJoined {\"userId\":\"n1x-carol\"}; got MemberLeft "
        + "{\"channelId\":\"n1x-big\",\"userId\":\"n1x-carol\"} (crowd.17 was rate-limited before)\nrequirements: CHAN-14"

    /// A run of `count` failing crowd cases (they share one transcript array).
    static func run(cases count: Int, members: Int = 512) -> RunResult {
        let transcript = Self.transcript(members: members)
        let cases = (0..<count).map { index in
            CaseResult(
                id: "channels.crowd.case-\(index)",
                title: "Crowd case \(index)",
                chapter: "09-channels",
                level: "MUST",
                requirements: ["CHAN-14"],
                verdict: index % 10 == 9 ? .timeout : .fail,
                durationMs: 12_345,
                message: Self.message,
                failedStep: 9,
                transcript: transcript,
                rerunCommand: "herald conform --filter channels.crowd.case-\(index)"
            )
        }
        return RunResult(
            suite: "herald-conformance 0.1.0",
            specVersion: "Herald Spec v1.0",
            target: "tcp://127.0.0.1:7420",
            transport: "tcp",
            nonce: "n1x",
            startedMs: 1_700_000_000_123,
            durationMs: 4321,
            totalCases: count,
            selectedCases: count,
            grantedCapabilities: ["core", "channels"],
            cases: cases,
            staleExpectedFailures: []
        )
    }

    /// Every format's output for `run`: console (everything ``ConsoleReporter`` writes for a non-terminal run),
    /// HTML, JSON and JUnit.
    static func outputs(_ run: RunResult, verbose: Bool = false) throws -> [String: Data] {
        let limits = ReportLimits.forVerbose(verbose)
        let sink = ConsoleReporterTests.Sink()
        let reporter = ConsoleReporter(isTerminal: false, verbose: verbose, write: { sink.write($0) })
        reporter.begin(
            suite: run.suite,
            specVersion: run.specVersion,
            target: run.target,
            selected: run.selectedCases,
            total: run.totalCases
        )
        for result in run.cases { reporter.caseFinished(result) }
        reporter.finish(run)
        return [
            "console": Data(sink.contents.utf8),
            "html": Data(HTMLReport.render(run, verbose: verbose).utf8),
            "json": try JSONReport.render(run, limits: limits),
            "junit": JUnitReport.render(run, limits: limits),
        ]
    }

    /// The sizes in bytes of ``outputs(_:verbose:)``.
    static func sizes(_ run: RunResult, verbose: Bool = false) throws -> [String: Int] {
        try Self.outputs(run, verbose: verbose).mapValues(\.count)
    }
}

/// Runs CPU-heavy fixture work on NIO's blocking thread pool, off Swift's cooperative pool: on a 2-core machine that
/// pool has two threads, and the live-server suites that run beside these tests need them (their clients and the
/// servers' timers run in real time, so a client starved for a minute is rightly cut off by the server).
func offCooperativePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await NIOThreadPool.singleton.runIfActive(body)
}

@Suite("Bounded reports", .serialized)
struct BoundedReportTests {
    static let megabytes5 = 5_000_000

    @Test("a failing run of 600 crowd cases stays under 5 MB in every format (measured at 150, extrapolated)")
    func fullFailingRunIsBounded() async throws {
        // 150 cases already overrun the run's budget, so each further case is only listed; the size grows by the
        // same amount per case from there on. Measuring 120 and 150 cases and extrapolating to 600 (more than the
        // whole corpus) keeps this test cheap enough to run beside the live-server suites on 2 cores.
        let (total, outputs, smaller) = try await offCooperativePool {
            let run = CrowdRunFixture.run(cases: 150)
            let total = run.cases.reduce(0) { $0 + $1.transcript.reduce(0) { $0 + $1.payload.utf8.count } }
            return (total, try CrowdRunFixture.outputs(run), try CrowdRunFixture.sizes(CrowdRunFixture.run(cases: 120)))
        }
        #expect(total > 60_000_000, "the fixture is big: \(total) bytes of payloads")
        for (format, output) in outputs {
            let perCase = max(0, output.count - (smaller[format] ?? 0)) / 30
            let at600 = output.count + perCase * 450
            #expect(at600 < Self.megabytes5, "\(format): \(output.count) bytes for 150 cases, ~\(at600) for 600")
            #expect(perCase < 4_000, "\(format): \(perCase) bytes per listed case")
            #expect(output.count > 50_000, "\(format): \(output.count) bytes; every case is at least listed")
            #expect(String(decoding: output, as: UTF8.self).contains("channels.crowd.case-149"), "\(format)")
        }
        // HERALD_REPORT_SAMPLES=DIR keeps the reports, e.g. for Scripts/check-html-report.sh DIR/report-html.html.
        if let directory = ProcessInfo.processInfo.environment["HERALD_REPORT_SAMPLES"] {
            let extensions = ["console": "txt", "html": "html", "json": "json", "junit": "xml"]
            for (format, output) in outputs {
                let name = "report-\(format).\(extensions[format] ?? "out")"
                try output.write(to: URL(fileURLWithPath: directory).appendingPathComponent(name))
            }
        }
    }

    @Test("--verbose keeps more but stays under 5 MB too")
    func verboseRunIsBounded() async throws {
        // 80 crowd cases overrun the --verbose budget (3 MB) as 500 do; the 500-case test above covers the count.
        let sizes = try await offCooperativePool {
            try CrowdRunFixture.sizes(CrowdRunFixture.run(cases: 80), verbose: true)
        }
        for (format, size) in sizes {
            #expect(size < Self.megabytes5, "\(format): \(size) bytes")
        }
        let few = CrowdRunFixture.run(cases: 3)
        let standard = try CrowdRunFixture.sizes(few)
        for (format, size) in try CrowdRunFixture.sizes(few, verbose: true) {
            #expect(size > standard[format] ?? 0, "\(format): verbose \(size) bytes, standard \(standard[format] ?? 0)")
        }
    }

    @Test("one crowd case's details stay small: crowd members summarised, payloads cut")
    func oneCaseIsBounded() throws {
        let run = CrowdRunFixture.run(cases: 1)
        let sizes = try CrowdRunFixture.sizes(run)
        for (format, size) in sizes {
            #expect(size < 120_000, "\(format): \(size) bytes")
        }
        let digest = ReportDigest(run, limits: .standard)
        #expect(digest.listedOnly == 0)
        #expect(digest.cases[0].detailed)
        #expect(digest.cases[0].bytes <= ReportLimits.standard.caseBytes + 2000)
    }

    @Test("past the run's budget, cases are listed with the first line of the message and the rerun command")
    func budget() async throws {
        let (run, digest, console, html, junit) = try await offCooperativePool {
            let run = CrowdRunFixture.run(cases: 200)
            return (
                run, ReportDigest(run, limits: .standard),
                ConsoleReporter(isTerminal: false, write: { _ in }).summary(run), HTMLReport.render(run),
                JUnitReport.renderString(run)
            )
        }
        #expect(digest.listedOnly > 0)
        #expect(digest.bytes <= ReportLimits.standard.runBytes)
        // Failing cases get details first, in corpus order; the later ones are listed.
        let detailed = digest.cases.map(\.detailed)
        let firstListed = try #require(detailed.firstIndex(of: false))
        #expect(firstListed > 5)
        #expect(!detailed[firstListed...].contains(true))
        let listed = digest.cases[firstListed]
        #expect(listed.transcript.entries.isEmpty)
        #expect(listed.transcript.cut?.leftOutByBudget == true)
        #expect(listed.message.hasPrefix("steps[9] expect (alice): expected MemberJoined"))
        #expect(!listed.message.contains("requirements: CHAN-14"))

        let id = run.cases[firstListed].id
        #expect(console.contains("FAIL \(id): Crowd case \(firstListed)\n  step 9: steps[9] expect (alice)"))
        #expect(console.contains("  rerun: herald conform --filter \(id)\n"))
        #expect(console.contains("(details of \(digest.listedOnly) cases left out"))
        #expect(html.contains("Details of \(digest.listedOnly) cases are left out"))
        let entries = ReportText.count(run.cases[0].transcript.count)
        #expect(html.contains("transcript of \(entries) entries left out"))
        #expect(junit.contains("transcript: … transcript of \(entries) entries left out"))
    }

    @Test("a warning case gets the budget after the failing cases")
    func budgetOrder() async throws {
        let digest = try await offCooperativePool {
            var run = CrowdRunFixture.run(cases: 200)
            run.cases[0].verdict = .warning
            run.cases[0].level = "SHOULD"
            return ReportDigest(run, limits: .standard)
        }
        #expect(!digest.cases[0].detailed)
        #expect(digest.cases[1].detailed)
    }

    @Test("folding keeps the failing actor's frames and the odd crowd member in full, and says what it left out")
    func folding() throws {
        let transcript = CrowdRunFixture.transcript()
        let digest = TranscriptDigest.make(transcript, message: CrowdRunFixture.message, limits: .standard)
        let cut = try #require(digest.cut)
        // The last frames of alice (named by the failing step) are all there, one line each.
        let aliceTail = Array(transcript.filter { $0.actor == "alice" }.suffix(ReportLimits.standard.focusEntries))
        let kept = digest.entries.filter { $0.actor == "alice" }
        #expect(Array(kept.suffix(aliceTail.count)) == aliceTail)
        #expect(digest.entries.last == transcript.last)
        let foldedIndices = Set(cut.folds.map(\.index))
        for (index, entry) in digest.entries.enumerated() where aliceTail.contains(entry) {
            #expect(!foldedIndices.contains(index))
        }
        // crowd.17 differs in shape and the message names it: kept in full. The others are one summary line.
        let odd = transcript.filter { $0.actor == CrowdRunFixture.oddMember }
        #expect(digest.entries.filter { $0.actor == CrowdRunFixture.oddMember }.count == odd.count)
        #expect(cut.crowds.count == 1)
        let crowd = try #require(cut.crowds.first)
        #expect(crowd.members == 511)
        #expect(crowd.memberNames == "crowd.0 … crowd.16, crowd.18 … crowd.511")
        #expect(crowd.shape == "· connected → Hello ← Welcome → LoginRequest ← LoginResponse ← ConnectionStateChanged")
        #expect(crowd.entries == 511 * 6)
        #expect(!digest.entries.contains { $0.actor == "crowd.3" })
        // Everything is accounted for.
        let folded = cut.folds.reduce(0) { $0 + $1.similar }
        let gaps = cut.gaps.reduce(0) { $0 + $1.entries }
        #expect(digest.entries.count + folded + gaps + crowd.entries == transcript.count)
        #expect(cut.omittedEntries == transcript.count - digest.entries.count)
        #expect(cut.totalEntries == transcript.count)
        let actors = try #require(cut.omittedActors)
        #expect(actors >= 511)
        #expect(
            cut.note.hasPrefix(
                "… \(ReportText.count(cut.omittedEntries)) of \(ReportText.count(transcript.count)) entries "
                    + "(of \(actors) actors) folded or left out"
            )
        )
        #expect(cut.note.hasSuffix("more: rerun with the rerun command and --verbose"))
        #expect(digest.actors == "alice, bob, carol, crowd.0 … crowd.511 (512 members)")
        #expect(!cut.gaps.isEmpty)
        // Bounded: at most the lines allowed plus the pinned ones; payloads cut.
        let limits = ReportLimits.standard
        #expect(digest.entries.count <= limits.linesPerCase + limits.focusEntries)
        #expect(digest.entries.allSatisfy { $0.payload.count <= limits.payloadCharacters + 40 })
        let lines = digest.lines()
        #expect(lines.first == crowd.text)
        #expect(lines.last == cut.note)
        #expect(lines.contains { $0.contains("MemberCountUpdated") && $0.contains("similar to +") })
    }

    @Test("similar frames fold into one line with a count; a short transcript is shown whole")
    func repeats() throws {
        var transcript: [TranscriptEntry] = []
        for index in 0..<1000 {
            transcript.append(
                TranscriptEntry(
                    atMs: Int64(index),
                    actor: "alice",
                    direction: .received,
                    type: "MessageDelivered",
                    requestID: UInt32(index + 1),
                    payload: #"{"id":"m-\#(index)","text":"hello \#(index)"}"#
                )
            )
        }
        transcript.append(TranscriptEntry(atMs: 1000, actor: "bob", direction: .received, type: "Pong"))
        let digest = TranscriptDigest.make(transcript, message: "steps[4] expect (bob): no Pong", limits: .standard)
        let cut = try #require(digest.cut)
        #expect(digest.entries.count == 2)
        #expect(cut.folds == [TranscriptCut.Fold(index: 0, similar: 999, lastAtMs: 999, actors: 1)])
        #expect(digest.lines().contains { $0.hasSuffix("(+999 similar to +999 ms)") })

        let short = Array(transcript.prefix(20))
        let whole = TranscriptDigest.make(short, message: "", limits: .standard)
        #expect(whole.cut == nil)
        #expect(whole.entries == short)
    }

    @Test("long payloads and messages are cut, saying how much was left out")
    func cuts() throws {
        let payload = "{\"blob\":\"" + String(repeating: "x", count: 10_000) + "\"}"
        let result = CaseResult(
            id: "a.b",
            title: "t",
            chapter: "01-x",
            level: "MUST",
            requirements: [],
            verdict: .fail,
            durationMs: 1,
            message: String(repeating: "expected this and that\n", count: 1000),
            transcript: [TranscriptEntry(atMs: 1, actor: "alice", direction: .received, type: "X", payload: payload)]
        )
        let digest = CaseDigest(result, limits: .standard)
        #expect(digest.transcript.entries[0].payload.hasSuffix("…(9,711 more characters)"))
        #expect(digest.transcript.cut?.shortenedPayloads == 1)
        #expect(digest.message.split(separator: "\n").count == ReportLimits.standard.messageLines + 1)
        #expect(digest.messageOmittedCharacters == 23_000 - 60 * 23 + 1)
        #expect(digest.message.hasSuffix("…(\(ReportText.count(digest.messageOmittedCharacters)) more characters)"))
        let json = try JSONValue(parsing: try JSONReport.render(ReportFixtures.run(cases: [result])))
        let written = try #require(json["cases"]?.arrayValue?.first)
        #expect(written["messageOmittedCharacters"] == .int(Int64(digest.messageOmittedCharacters)))
        #expect(written["transcriptDigest"]?["shortenedPayloads"] == .int(1))
    }

    @Test("HTML: the closing line and the failure summary come first, before the run's details and the cases")
    func htmlOrder() async throws {
        let (run, html) = try await offCooperativePool {
            let run = CrowdRunFixture.run(cases: 60)
            return (run, HTMLReport.render(run))
        }
        let closing = try #require(html.range(of: ConsoleReporter.closingLine(run)))
        let summary = try #require(html.range(of: "<section class=\"summary\" id=\"failures\">"))
        let meta = try #require(html.range(of: "<table class=\"meta\">"))
        let chapters = try #require(html.range(of: "<section class=\"chapter\""))
        #expect(closing.lowerBound < summary.lowerBound)
        #expect(summary.lowerBound < meta.lowerBound)
        #expect(meta.lowerBound < chapters.lowerBound)
        #expect(html.distance(from: html.startIndex, to: closing.lowerBound) < 10_000)
        // One line per failing case, in order, with the first line of its message.
        let list = html[summary.lowerBound..<meta.lowerBound]
        #expect(list.components(separatedBy: "<li>").count == run.cases.count + 1)
        #expect(
            list.contains(
                "<a href=\"#case-channels.crowd.case-59\"><code>channels.crowd.case-59</code></a>: "
                    + "steps[9] expect (alice): expected MemberJoined"
            )
        )
        // Details are collapsed, and the transcript is one block of text, not a row per frame.
        #expect(!html.contains("<details open"))
        #expect(!html.contains("<table class=\"transcript\""))
    }

    @Test("console: the failure reports, then the summary list, then the closing line last")
    func consoleOrder() throws {
        var run = CrowdRunFixture.run(cases: 30)
        run.cases[3].verdict = .warning
        run.cases[3].level = "SHOULD"
        let text = ConsoleReporter(isTerminal: false, write: { _ in }).summary(run, notes: ["wrote JSON report r.json"])
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let last = try #require(lines.last { !$0.isEmpty })
        #expect(last == ConsoleReporter.closingLine(run))
        let failures = try #require(lines.firstIndex(of: "Failures (29):"))
        let warnings = try #require(lines.firstIndex(of: "Warnings (1):"))
        let note = try #require(lines.firstIndex(of: "wrote JSON report r.json"))
        let list = try #require(lines.firstIndex(of: "Failing cases (29):"))
        let warningList = try #require(lines.lastIndex(of: "Warnings (1):"))
        let lastReport = try #require(lines.lastIndex { $0.hasPrefix("  rerun: ") })
        #expect(failures < warnings && warnings < lastReport && lastReport < note && note < list)
        #expect(list < warningList)
        #expect(
            lines[list + 1] == "  FAIL     channels.crowd.case-0: steps[9] expect (alice): expected MemberJoined "
                + "{\"userId\":\"n1x-carol\"}; got MemberLeft {\"channelId\":\"n1x-big\",\"userId\":\"n1x-carol\"} "
                + "(crowd.17 was rate-limited before)"
        )
        #expect(
            lines[list + 9] == "  TIMEOUT  channels.crowd.case-9: steps[9] expect (alice): expected MemberJoined "
                + "{\"userId\":\"n1x-carol\"}; got MemberLeft {\"channelId\":\"n1x-big\",\"userId\":\"n1x-carol\"} "
                + "(crowd.17 was rate-limited before)"
        )
        #expect(lines[warningList + 1].hasPrefix("  WARN     channels.crowd.case-3: steps[9]"))
        #expect(lines.count - list == 29 + 1 + 2 + 1 + 2 + 1)
    }

    @Test("the JSON report of a cut run validates against the schema and says what it cut")
    func jsonSchema() async throws {
        let (run, data) = try await offCooperativePool {
            let run = CrowdRunFixture.run(cases: 100)
            return (run, try JSONReport.render(run))
        }
        let schemaURL = ReportFixtures.packageRoot.appendingPathComponent(
            "Vectors/schema/conformance-result.schema.json"
        )
        let validator = MiniSchemaValidator(root: try JSONValue(parsing: Data(contentsOf: schemaURL)))
        let instance = try JSONValue(parsing: data)
        let problems = validator.validate(instance)
        #expect(problems.isEmpty, "\(problems.prefix(5))")
        let digest = try #require(instance["reportDigest"])
        #expect(digest["casesCut"] == .int(100))
        let listed = try #require(digest["casesListedOnly"]?.integerValue)
        #expect(listed > 0 && listed < 100)
        let cases = try #require(instance["cases"]?.arrayValue)
        #expect(cases[0]["transcriptDigest"]?["crowds"]?.arrayValue?.count == 1)
        #expect(cases[0]["transcriptDigest"]?["leftOutByBudget"] == .bool(false))
        #expect(cases[99]["transcriptDigest"]?["leftOutByBudget"] == .bool(true))
        #expect(cases[99]["transcript"] == .array([]))
        // What the report kept reads back.
        let decoded = try JSONReport.decode(data)
        #expect(decoded.cases.count == 100)
        #expect(decoded.cases[0].transcript.last == run.cases[0].transcript.last)
    }
}

@Suite("Progress line and ticker")
struct ProgressLineTests {
    static func running(_ entries: [(String, Duration, String)], now: ContinuousClock.Instant) -> [RunActivity.Entry] {
        let activity = RunActivity()
        for (id, age, what) in entries {
            activity.begin(id, at: now - age)
            activity.update(id, what)
        }
        return activity.running
    }

    @Test("never wider than the terminal minus one column, counting characters; shows the longest-running case")
    func fitsWidth() {
        let now = ContinuousClock.now
        let running = Self.running(
            [
                (
                    "channel-attributes.lifetime.empty-channel-expires-after-ttl", .seconds(252),
                    "waiting for the server's 300 s timer channelAttributesEmptyTtlMs (ümlaut ✓ 🙂)"
                ),
                ("channels.join.ok", .seconds(3), "alice: waiting up to 5 s for JoinChannelResponse"),
            ],
            now: now
        )
        for columns in [1, 2, 10, 20, 40, 60, 80, 100, 120, 160, 200, 400] {
            let line = ConsoleReporter.progressLine(
                finished: 123,
                total: 456,
                counts: [.pass: 100, .fail: 20, .warning: 3],
                elapsed: .seconds(312),
                running: running,
                now: now,
                columns: columns
            )
            #expect(line.count <= max(columns - 1, 1), "\(columns): \(line)")
            #expect(!line.contains("\n"))
            if columns >= 120 && columns < 200 {
                // The id is cut first, to leave room for the activity.
                #expect(line.contains("2 running: channel-attributes.lifetime… 4m12s: wa"), "\(line)")
            }
            if columns >= 240 {
                #expect(
                    line.contains(
                        "2 running: channel-attributes.lifetime.empty-channel-expires-after-ttl 4m12s: waiting for the "
                            + "server's 300 s timer"
                    ),
                    "\(line)"
                )
            }
            if columns == 400 {
                #expect(line.hasSuffix("(ümlaut ✓ 🙂)"))
            }
        }
        let idle = ConsoleReporter.progressLine(
            finished: 1,
            total: 2,
            counts: [:],
            elapsed: .seconds(1),
            running: [],
            now: now,
            columns: 200
        )
        #expect(!idle.contains("running"))
        #expect(idle == "[###############---------------] 1/2  pass 0  fail 0  1.00 s")
    }

    @Test("terminal: tick redraws the progress line in place, within the width")
    func terminalTick() {
        let sink = ConsoleReporterTests.Sink()
        let activity = RunActivity()
        let reporter = ConsoleReporter(isTerminal: true, activity: activity, columns: { 80 }, write: { sink.write($0) })
        reporter.tick()
        #expect(sink.contents.isEmpty, "nothing before begin")
        reporter.begin(suite: "s", specVersion: "v", target: "t", selected: 3, total: 3)
        activity.begin("timers.long-one", at: .now - .seconds(75))
        activity.update("timers.long-one", "waiting for the server's 300 s timer channelAttributesEmptyTtlMs")
        reporter.tick()
        reporter.tick()
        let redraws = sink.contents.components(separatedBy: "\r\u{1B}[2K")
        #expect(redraws.count == 2)
        let line = redraws.last ?? ""
        #expect(line.count <= 79)
        #expect(line.contains("1 running: timers.long-one 1m15s: wa"), "\(line)")
        reporter.finish(CrowdRunFixture.run(cases: 0))
        let before = sink.contents
        reporter.tick()
        #expect(sink.contents == before, "nothing after finish")
    }

    @Test("CI output: a still-running line after 60 s of silence, none before")
    func quietLines() {
        let sink = ConsoleReporterTests.Sink()
        let activity = RunActivity()
        let reporter = ConsoleReporter(isTerminal: false, activity: activity, write: { sink.write($0) })
        let start = ContinuousClock.now
        reporter.begin(suite: "s", specVersion: "v", target: "t", selected: 3, total: 3)
        activity.begin("channel-attributes.lifetime", at: start - .seconds(192))
        activity.update("channel-attributes.lifetime", "waiting for the server's 300 s timer")
        activity.begin("channels.join.ok", at: start)
        let header = sink.contents
        reporter.tick(now: start + .seconds(30))
        #expect(sink.contents == header)
        reporter.tick(now: start + .seconds(61))
        #expect(
            sink.contents == header
                + "… still running 2 cases; longest: channel-attributes.lifetime (4m13s): waiting for the server's 300 s "
                + "timer\n"
        )
        reporter.tick(now: start + .seconds(90))
        #expect(sink.contents.components(separatedBy: "still running").count == 2)
        reporter.tick(now: start + .seconds(122))
        #expect(sink.contents.components(separatedBy: "still running").count == 3)
        #expect(!sink.contents.contains("\u{1B}"))
    }

    @Test("the ticker redraws while no case finishes, and stops")
    func ticker() async throws {
        let sink = ConsoleReporterTests.Sink()
        let reporter = ConsoleReporter(isTerminal: true, columns: { 80 }, write: { sink.write($0) })
        reporter.begin(suite: "s", specVersion: "v", target: "t", selected: 3, total: 3)
        reporter.startTicker(every: .milliseconds(20))
        var redraws = 0
        for _ in 0..<200 where redraws < 3 {
            try await Task.sleep(for: .milliseconds(20))
            redraws = sink.contents.components(separatedBy: "[----------] 0/3").count - 1
        }
        #expect(redraws >= 3)
        reporter.stop()
        try await Task.sleep(for: .milliseconds(60))
        let after = sink.contents
        try await Task.sleep(for: .milliseconds(100))
        #expect(sink.contents == after)
    }

    @Test("terminal width: $COLUMNS or 80 when standard output is not a terminal")
    func columns() {
        let columns = ConsoleReporter.terminalColumns()
        #expect(columns > 0)
        if isatty(1) == 0 {
            let environment = ProcessInfo.processInfo.environment["COLUMNS"].flatMap { Int($0) }
            #expect(columns == environment ?? 80)
        }
    }
}

import Foundation
import HeraldProcess
import HeraldSpec
import Synchronization
import Testing

@testable import HeraldConformance

/// Hand-made run results for the report tests.
enum ReportFixtures {
    /// Every verdict, hostile text (control characters, markup, quotes, non-ASCII), a case rerun after an error on
    /// its first attempt, and a stale entry.
    static func run() -> RunResult {
        let transcript = [
            TranscriptEntry(atMs: 0, actor: "alice", direction: .transport, type: "connected", payload: "tcp"),
            TranscriptEntry(
                atMs: 3,
                actor: "alice",
                direction: .sent,
                type: "JoinChannelRequest",
                requestID: 7,
                payload: #"{"channelId":"n-1-main"}"#
            ),
            TranscriptEntry(
                atMs: 12,
                actor: "bob",
                direction: .received,
                type: "MemberJoined",
                flags: 1,
                payload: "{\"userId\":\"<b>&\\\"x\\\"</b>\u{1}\u{1B}[31m\",\"channelId\":\"]]>\u{FFFE}é🙂\"}"
            ),
        ]
        let cases = [
            CaseResult(
                id: "channels.join.ok",
                title: "Join answers OK",
                chapter: "09-channels",
                level: "MUST",
                requirements: ["CHAN-3", "CHAN-11"],
                verdict: .pass,
                durationMs: 12,
                rerunCommand: "herald conform --filter channels.join.ok"
            ),
            CaseResult(
                id: "channels.join.member-joined",
                title: "Others get <MemberJoined> & \"the\" joiner doesn't",
                chapter: "09-channels",
                level: "MUST",
                requirements: ["CHAN-14"],
                verdict: .fail,
                durationMs: 1234,
                message: "expected MemberJoined\nactual: MemberLeft \u{0}\u{7}\u{1F} <script>alert(1)</script>",
                failedStep: 3,
                transcript: transcript,
                rerunCommand: "herald conform --filter 'channels.join.member-joined'"
            ),
            CaseResult(
                id: "channels.leave.timeout",
                title: "Leave",
                chapter: "09-channels",
                level: "MUST",
                requirements: ["CHAN-32"],
                verdict: .timeout,
                durationMs: 10_000,
                message: "no LeaveChannelResponse within 5000 ms",
                failedStep: 2,
                transcript: transcript,
                rerunCommand: "herald conform --filter channels.leave.timeout"
            ),
            CaseResult(
                id: "handshake.hello.first",
                title: "Hello first",
                chapter: "04-handshake",
                level: "MUST",
                requirements: ["HS-2"],
                verdict: .error,
                durationMs: 5,
                message: "connection refused",
                rerunCommand: "herald conform --filter handshake.hello.first"
            ),
            CaseResult(
                id: "handshake.caps.legacy",
                title: "Legacy",
                chapter: "04-handshake",
                level: "SHOULD",
                requirements: ["HS-16"],
                verdict: .notApplicable,
                durationMs: 1,
                message: "capability legacy-signaling not granted"
            ),
            CaseResult(
                id: "handshake.version.bad",
                title: "Bad version",
                chapter: "04-handshake",
                level: "MUST",
                requirements: ["HS-12"],
                verdict: .expectedFail,
                durationMs: 40,
                message: "expected Disconnect, got Welcome",
                failedStep: 1,
                transcript: transcript,
                rerunCommand: "herald conform --filter handshake.version.bad",
                expectedFailureReason: "issue #4: we answer Welcome"
            ),
            CaseResult(
                id: "handshake.version.ok",
                title: "Good version",
                chapter: "04-handshake",
                level: "MUST",
                requirements: ["HS-10"],
                verdict: .unexpectedPass,
                durationMs: 8,
                message: "passed, but listed as expected to fail",
                rerunCommand: "herald conform --filter handshake.version.ok",
                expectedFailureReason: "old bug"
            ),
            Self.warning(transcript),
        ]
        return RunResult(
            suite: "herald-conformance 0.1.0",
            specVersion: "Herald Spec v1.0",
            target: "tcp://127.0.0.1:7420",
            transport: "tcp",
            nonce: "n1x",
            startedMs: 1_700_000_000_123,
            durationMs: 4321,
            totalCases: 10,
            selectedCases: 8,
            grantedCapabilities: ["core", "channels"],
            cases: cases,
            staleExpectedFailures: ["presence.* <old>"]
        )
    }

    /// A SHOULD case that failed without --strict, after an error on its first attempt.
    static func warning(_ transcript: [TranscriptEntry]) -> CaseResult {
        var result = CaseResult(
            id: "presence.subscribe.prompt",
            title: "Presence changes arrive promptly",
            chapter: "07-presence",
            level: "SHOULD",
            requirements: ["PRES-9"],
            verdict: .warning,
            durationMs: 2500,
            message: "steps[2] expect (alice): no PresenceChanged within 2000 ms\nrequirements: PRES-9",
            failedStep: 2,
            transcript: transcript,
            rerunCommand: "herald conform --filter presence.subscribe.prompt"
        )
        result.firstAttempt = FirstAttempt(
            verdict: .error,
            message: "alice: could not connect: connection reset by peer\nretrying",
            durationMs: 31
        )
        return result
    }

    /// A run of the given cases, otherwise like ``run()``, without stale entries.
    static func run(cases: [CaseResult]) -> RunResult {
        var run = Self.run()
        run.cases = cases
        run.selectedCases = cases.count
        run.staleExpectedFailures = []
        return run
    }

    /// The requirements the fixture cites, as a requirement index would give them.
    static func requirements() -> [String: Requirement] {
        let texts: [(String, RequirementLevel, String)] = [
            (
                "CHAN-14", .must,
                "When a session joins a channel, the server MUST send a `MemberJoined` to every other member."
            ),
            ("CHAN-32", .must, "On `LEAVE_CHANNEL_RESULT_OK` the server MUST end the membership."),
            ("HS-2", .must, "A server MUST NOT process a first frame other than Hello."),
            ("HS-10", .must, "A server MUST select the first entry of `Hello.versions` that it implements."),
        ]
        var index: [String: Requirement] = [:]
        for (offset, (id, level, text)) in texts.enumerated() {
            let parts = id.split(separator: "-")
            index[id] = Requirement(
                id: id,
                prefix: String(parts[0]),
                number: Int(parts[1]) ?? 0,
                level: level,
                chapter: "09-channels.md",
                section: "",
                line: offset + 1,
                text: text
            )
        }
        return index
    }

    /// The package's root directory.
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A fresh temporary directory.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("herald-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The path of an executable on `PATH`, if any.
    static func executable(named name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }
}

@Suite("JSON report")
struct JSONReportTests {
    @Test("round trip keeps every field")
    func roundTrip() throws {
        let run = ReportFixtures.run()
        let data = try JSONReport.render(run)
        let decoded = try JSONReport.decode(data)
        #expect(decoded.formatVersion == RunResult.currentFormatVersion)
        #expect(decoded.cases == run.cases)
        #expect(decoded.suite == run.suite)
        #expect(decoded.specVersion == run.specVersion)
        #expect(decoded.target == run.target)
        #expect(decoded.transport == run.transport)
        #expect(decoded.nonce == run.nonce)
        #expect(decoded.startedMs == run.startedMs)
        #expect(decoded.durationMs == run.durationMs)
        #expect(decoded.totalCases == run.totalCases)
        #expect(decoded.selectedCases == run.selectedCases)
        #expect(decoded.grantedCapabilities == run.grantedCapabilities)
        #expect(decoded.staleExpectedFailures == run.staleExpectedFailures)
        #expect(try JSONReport.render(decoded) == data)
    }

    @Test("summary counts every verdict")
    func summary() throws {
        let data = try JSONReport.render(ReportFixtures.run())
        let summary = try #require(try JSONValue(parsing: data)["summary"])
        for key in [
            "passed", "failed", "timeout", "error", "notApplicable", "expectedFail", "unexpectedPass", "warning",
        ] {
            #expect(summary[key] == .int(1), "\(key)")
        }
        #expect(summary["staleExpectedFailures"] == .int(1))
        #expect(summary["runPassed"] == .bool(false))
        #expect(summary["selected"] == .int(8))
        #expect(summary["total"] == .int(10))
    }

    @Test("output conforms to Vectors/schema/conformance-result.schema.json")
    func schemaConformance() throws {
        let schemaURL = ReportFixtures.packageRoot.appendingPathComponent(
            "Vectors/schema/conformance-result.schema.json"
        )
        let validator = MiniSchemaValidator(root: try JSONValue(parsing: Data(contentsOf: schemaURL)))
        var runs = [ReportFixtures.run()]
        var passing = ReportFixtures.run()
        passing.cases = [passing.cases[0]]
        passing.staleExpectedFailures = []
        runs.append(passing)
        for run in runs {
            let instance = try JSONValue(parsing: try JSONReport.render(run))
            let problems = validator.validate(instance)
            #expect(problems.isEmpty, "\(problems)")
        }
        // The validator itself catches an unknown key, a missing key and a wrong type.
        var object = try #require(try JSONValue(parsing: try JSONReport.render(ReportFixtures.run())).objectValue)
        object["extra"] = .int(1)
        object.removeValue(forKey: "nonce")
        object["durationMs"] = .string("slow")
        let problems = validator.validate(.object(object))
        #expect(problems.contains { $0.contains("extra") })
        #expect(problems.contains { $0.contains("nonce") })
        #expect(problems.contains { $0.contains("durationMs") })
    }

    @Test("the schema describes every key the report writes, and requires the non-optional ones")
    func schemaIsExact() throws {
        let schemaURL = ReportFixtures.packageRoot.appendingPathComponent(
            "Vectors/schema/conformance-result.schema.json"
        )
        let schema = try JSONValue(parsing: Data(contentsOf: schemaURL))
        let properties = try #require(schema["properties"]?.objectValue)
        // Every kind of case: the fixture's, a crowd case cut in every way, and (past the budget) listed ones.
        var run = ReportFixtures.run()
        var crowd = CrowdRunFixture.run(cases: 40).cases
        crowd[0].message = String(repeating: "long message\n", count: 500)
        run.cases += crowd
        let object = try #require(try JSONValue(parsing: try JSONReport.render(run)).objectValue)
        #expect(Set(properties.keys) == Set(object.keys))
        let required = Set((schema["required"]?.arrayValue ?? []).compactMap(\.stringValue))
        #expect(required == Set(object.keys))
        let definitions = try #require(schema["$defs"])
        func keys(_ values: [JSONValue]) -> Set<String> {
            values.reduce(into: Set<String>()) { $0.formUnion($1.objectValue.map { Array($0.keys) } ?? []) }
        }
        func expectExact(_ definition: JSONValue?, _ written: [JSONValue], _ name: String) throws {
            let described = try #require(definition?["properties"]?.objectValue, "\(name)")
            #expect(Set(described.keys) == keys(written), "\(name)")
            let required = Set((definition?["required"]?.arrayValue ?? []).compactMap(\.stringValue))
            let always = written.reduce(into: keys(written)) { $0.formIntersection($1.objectValue?.keys ?? [:].keys) }
            #expect(required == always, "\(name): required \(required), always written \(always)")
        }
        let cases = try #require(object["cases"]?.arrayValue)
        try expectExact(definitions["caseResult"], cases, "caseResult")
        try expectExact(
            definitions["caseResult"]?["properties"]?["firstAttempt"],
            cases.compactMap { $0["firstAttempt"] },
            "firstAttempt"
        )
        let digests = cases.compactMap { $0["transcriptDigest"] }
        try expectExact(definitions["transcriptDigest"], digests, "transcriptDigest")
        try expectExact(definitions["fold"], digests.flatMap { $0["folds"]?.arrayValue ?? [] }, "fold")
        try expectExact(definitions["gap"], digests.flatMap { $0["gaps"]?.arrayValue ?? [] }, "gap")
        try expectExact(definitions["crowdSummary"], digests.flatMap { $0["crowds"]?.arrayValue ?? [] }, "crowds")
        try expectExact(definitions["summary"], [object["summary"] ?? .null], "summary")
        try expectExact(definitions["reportDigest"], [object["reportDigest"] ?? .null], "reportDigest")
        try expectExact(
            definitions["transcriptEntry"],
            cases.flatMap { $0["transcript"]?.arrayValue ?? [] },
            "transcriptEntry"
        )
    }

    @Test("the report writes every key of the run and its cases (it writes the run's fields one by one)")
    func writesEveryRunField() throws {
        let run = ReportFixtures.run()
        let encoder = JSONEncoder()
        let plain = try #require(try JSONValue(parsing: try encoder.encode(run)).objectValue)
        let report = try #require(try JSONValue(parsing: try JSONReport.render(run)).objectValue)
        #expect(Set(plain.keys).isSubset(of: Set(report.keys)), "\(Set(plain.keys).subtracting(report.keys))")
        for (key, value) in plain where key != "cases" {
            #expect(report[key] == value, "\(key)")
        }
        let plainCases = plain["cases"]?.arrayValue ?? []
        let reportCases = report["cases"]?.arrayValue ?? []
        #expect(plainCases.count == reportCases.count)
        for (plainCase, reportCase) in zip(plainCases, reportCases) {
            // Nothing of the fixture is long enough to be cut: the cases are written as they are.
            #expect(plainCase == reportCase)
        }
    }
}

/// A validator for the subset of JSON Schema 2020-12 the result schema uses: `type`, `properties`, `required`,
/// `additionalProperties: false`, `items`, `enum`, `const`, `minimum`, `maximum`, `pattern` and local `$ref`s.
struct MiniSchemaValidator {
    var root: JSONValue

    func validate(_ instance: JSONValue) -> [String] {
        var problems: [String] = []
        self.check(instance, against: self.root, path: "$", problems: &problems)
        return problems
    }

    private func resolve(_ schema: JSONValue) -> JSONValue {
        guard let reference = schema["$ref"]?.stringValue, reference.hasPrefix("#/") else { return schema }
        var node: JSONValue? = self.root
        for part in reference.dropFirst(2).split(separator: "/") {
            node = node?[String(part)]
        }
        return node ?? .object([:])
    }

    private func check(_ instance: JSONValue, against rawSchema: JSONValue, path: String, problems: inout [String]) {
        let schema = self.resolve(rawSchema)
        if let type = schema["type"]?.stringValue, !Self.has(type: type, instance) {
            problems.append("\(path): expected \(type), got \(instance.compactText.prefix(40))")
            return
        }
        if let values = schema["enum"]?.arrayValue, !values.contains(instance) {
            problems.append("\(path): \(instance) is not one of \(values)")
        }
        if let value = schema["const"], value != instance {
            problems.append("\(path): \(instance) is not \(value)")
        }
        if let minimum = schema["minimum"]?.numberValue, let number = Self.number(instance), number < minimum {
            problems.append("\(path): \(number) < \(minimum)")
        }
        if let maximum = schema["maximum"]?.numberValue, let number = Self.number(instance), number > maximum {
            problems.append("\(path): \(number) > \(maximum)")
        }
        if let pattern = schema["pattern"]?.stringValue, case .string(let text) = instance,
            text.range(of: pattern, options: .regularExpression) == nil
        {
            problems.append("\(path): '\(text)' does not match \(pattern)")
        }
        if case .object(let object) = instance {
            let properties = schema["properties"]?.objectValue ?? [:]
            for key in schema["required"]?.arrayValue ?? [] {
                if let key = key.stringValue, object[key] == nil {
                    problems.append("\(path): missing required \(key)")
                }
            }
            for (key, value) in object {
                if let property = properties[key] {
                    self.check(value, against: property, path: "\(path).\(key)", problems: &problems)
                } else if schema["additionalProperties"] == .bool(false) {
                    problems.append("\(path): unexpected key \(key)")
                }
            }
        }
        if case .array(let array) = instance, let items = schema["items"] {
            for (index, element) in array.enumerated() {
                self.check(element, against: items, path: "\(path)[\(index)]", problems: &problems)
            }
        }
    }

    private static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .int(let number): Double(number)
        case .double(let number): number
        default: nil
        }
    }

    private static func has(type: String, _ value: JSONValue) -> Bool {
        switch (type, value) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("integer", .int):
            true
        case ("number", .int), ("number", .double):
            true
        case ("integer", .double(let number)):
            number.rounded() == number
        case ("null", .null):
            true
        default:
            false
        }
    }
}

@Suite("JUnit report")
struct JUnitReportTests {
    /// A JUnit schema in the shape of the Jenkins xunit-plugin's `junit-10.xsd` (itself based on Ant's and
    /// Surefire's output), plus `properties` inside `testcase` as Surefire 3, the JUnit Platform, GitLab and the
    /// Jenkins JUnit plugin write and read them (requirement ids are test-case properties).
    static let schema = """
        <?xml version="1.0" encoding="UTF-8"?>
        <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified">
          <xs:simpleType name="seconds">
            <xs:restriction base="xs:string">
              <xs:pattern value="(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\\.[0-9]*)?"/>
            </xs:restriction>
          </xs:simpleType>
          <xs:complexType name="outcome" mixed="true">
            <xs:attribute name="type" type="xs:string"/>
            <xs:attribute name="message" type="xs:string"/>
          </xs:complexType>
          <xs:element name="failure" type="outcome"/>
          <xs:element name="error" type="outcome"/>
          <xs:element name="skipped" type="outcome"/>
          <xs:element name="system-out" type="xs:string"/>
          <xs:element name="system-err" type="xs:string"/>
          <xs:element name="property">
            <xs:complexType>
              <xs:attribute name="name" type="xs:string" use="required"/>
              <xs:attribute name="value" type="xs:string" use="required"/>
            </xs:complexType>
          </xs:element>
          <xs:element name="properties">
            <xs:complexType>
              <xs:sequence><xs:element ref="property" minOccurs="0" maxOccurs="unbounded"/></xs:sequence>
            </xs:complexType>
          </xs:element>
          <xs:element name="testcase">
            <xs:complexType>
              <xs:sequence>
                <xs:element ref="properties" minOccurs="0"/>
                <xs:choice minOccurs="0" maxOccurs="unbounded">
                  <xs:element ref="skipped"/>
                  <xs:element ref="error"/>
                  <xs:element ref="failure"/>
                  <xs:element ref="system-out"/>
                  <xs:element ref="system-err"/>
                </xs:choice>
              </xs:sequence>
              <xs:attribute name="name" type="xs:string" use="required"/>
              <xs:attribute name="classname" type="xs:string"/>
              <xs:attribute name="time" type="seconds"/>
            </xs:complexType>
          </xs:element>
          <xs:element name="testsuite">
            <xs:complexType>
              <xs:choice minOccurs="0" maxOccurs="unbounded">
                <xs:element ref="properties"/>
                <xs:element ref="testcase"/>
                <xs:element ref="system-out"/>
                <xs:element ref="system-err"/>
              </xs:choice>
              <xs:attribute name="name" type="xs:string" use="required"/>
              <xs:attribute name="tests" type="xs:nonNegativeInteger" use="required"/>
              <xs:attribute name="failures" type="xs:nonNegativeInteger" use="required"/>
              <xs:attribute name="errors" type="xs:nonNegativeInteger" use="required"/>
              <xs:attribute name="skipped" type="xs:nonNegativeInteger"/>
              <xs:attribute name="time" type="seconds"/>
              <xs:attribute name="timestamp" type="xs:dateTime"/>
              <xs:attribute name="hostname" type="xs:string"/>
            </xs:complexType>
          </xs:element>
          <xs:element name="testsuites">
            <xs:complexType>
              <xs:sequence><xs:element ref="testsuite" minOccurs="0" maxOccurs="unbounded"/></xs:sequence>
              <xs:attribute name="name" type="xs:string"/>
              <xs:attribute name="time" type="seconds"/>
              <xs:attribute name="tests" type="xs:nonNegativeInteger"/>
              <xs:attribute name="failures" type="xs:nonNegativeInteger"/>
              <xs:attribute name="errors" type="xs:nonNegativeInteger"/>
            </xs:complexType>
          </xs:element>
        </xs:schema>

        """

    static let xmllint = ReportFixtures.executable(named: "xmllint")

    @Test(
        "is valid against the JUnit schema (xmllint --schema)",
        .enabled(if: xmllint != nil, "xmllint is not installed (apt-get install libxml2-utils)")
    )
    func validatesWithXmllint() throws {
        let directory = try ReportFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let schemaFile = directory.appendingPathComponent("junit.xsd")
        try Data(Self.schema.utf8).write(to: schemaFile)
        var empty = ReportFixtures.run()
        empty.cases = []
        empty.staleExpectedFailures = []
        for (name, run) in [("full", ReportFixtures.run()), ("empty", empty)] {
            let report = directory.appendingPathComponent("\(name).xml")
            try JUnitReport.render(run).write(to: report)
            let process = ChildProcess()
            process.executableURL = URL(fileURLWithPath: try #require(Self.xmllint))
            process.arguments = ["--noout", "--schema", schemaFile.path, report.path]
            let errors = Pipe()
            process.standardError = errors
            try process.run()
            let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "\(name): \(output)")
        }
    }

    @Test("maps verdicts to elements and requirements to properties")
    func structure() {
        let xml = JUnitReport.renderString(ReportFixtures.run())
        #expect(xml.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites"))
        #expect(xml.contains(#"<testsuite name="09-channels" tests="3" failures="2" errors="0" skipped="0""#))
        #expect(xml.contains(#"<testsuite name="04-handshake" tests="4" failures="1" errors="1" skipped="1""#))
        #expect(xml.contains(#"<testcase name="channels.join.ok" classname="09-channels" time="0.012">"#))
        #expect(xml.contains(#"<property name="requirement" value="CHAN-3"/>"#))
        #expect(xml.contains(#"<property name="requirement" value="CHAN-11"/>"#))
        #expect(xml.contains(#"<property name="level" value="MUST"/>"#))
        #expect(xml.contains(#"<failure type="fail" message="expected MemberJoined">"#))
        #expect(xml.contains(#"<failure type="timeout""#))
        #expect(xml.contains(#"<failure type="unexpected-pass""#))
        #expect(xml.contains(#"<error type="error" message="connection refused">"#))
        #expect(xml.contains(#"<skipped message="capability legacy-signaling not granted">"#))
        #expect(xml.contains(#"<property name="verdict" value="expected-fail"/>"#))
        #expect(xml.contains(#"<property name="expected-failure-reason" value="issue #4: we answer Welcome"/>"#))
        #expect(xml.contains(#"<testsuite name="expected-failures""#))
        #expect(xml.contains(#"<failure type="stale-expected-failure""#))
        #expect(xml.contains("time=\"1.234\""))
        #expect(xml.contains("time=\"10.000\""))
        #expect(xml.contains("timestamp=\"2023-11-14T22:13:20\""))
        // A warning is a passing test case with a note; the first attempt is a property and a note.
        #expect(xml.contains(#"<testsuite name="07-presence" tests="1" failures="0" errors="0" skipped="0""#))
        #expect(xml.contains(#"<property name="verdict" value="warning"/>"#))
        #expect(
            xml.contains(
                #"<property name="first-attempt" value="error (31 ms): alice: could not connect: connection reset by peer"/>"#
            )
        )
        #expect(
            xml.contains(
                "<system-out>WARNING: a SHOULD case that did not pass; it does not fail the run without --strict\n"
                    + "ERROR on the first attempt while other cases ran: alice: could not connect: connection reset by "
                    + "peer; rerun alone: WARN\nstep 2: steps[2] expect (alice): no PresenceChanged within 2000 ms"
            )
        )
    }

    @Test("escapes markup and writes characters XML cannot carry as \\u{XXXX}")
    func escaping() {
        let xml = JUnitReport.renderString(ReportFixtures.run())
        #expect(!xml.unicodeScalars.contains { !XMLEscaping.isAllowed($0) })
        #expect(xml.contains("\\u{0000}\\u{0007}\\u{001F}"))
        #expect(xml.contains("\\u{0001}\\u{001B}[31m"))
        #expect(xml.contains("\\u{FFFE}é🙂"))
        #expect(xml.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(xml.contains(#"value="Others get &lt;MemberJoined&gt; &amp; &quot;the&quot; joiner doesn&apos;t""#))
        #expect(!xml.contains("<script>"))
        #expect(xml.contains("]]&gt;"))
    }

    @Test("timestamps are UTC civil dates")
    func timestamps() {
        #expect(JUnitReport.timestamp(0) == "1970-01-01T00:00:00")
        #expect(JUnitReport.timestamp(951_782_400_000) == "2000-02-29T00:00:00")
        #expect(JUnitReport.timestamp(1_700_000_000_999) == "2023-11-14T22:13:20")
        #expect(JUnitReport.timestamp(-1000) == "1969-12-31T23:59:59")
    }
}

@Suite("HTML report")
struct HTMLReportTests {
    @Test("one self-contained file with every case, grouped by chapter, without external resources")
    func selfContained() {
        let run = ReportFixtures.run()
        let html = HTMLReport.render(run, requirements: ReportFixtures.requirements())
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.hasSuffix("</html>\n"))
        for result in run.cases {
            #expect(html.contains("id=\"case-\(result.id)\""), "\(result.id)")
        }
        #expect(html.contains("id=\"chapter-09-channels\""))
        #expect(html.contains("id=\"chapter-04-handshake\""))
        for forbidden in ["http://", "https://", "src=", "<link", "@import", "url("] {
            #expect(!html.contains(forbidden), "\(forbidden)")
        }
        // Exactly one inline script: the verdict filter.
        #expect(html.components(separatedBy: "<script").count == 2)
        #expect(!html.contains("<script>alert(1)"))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
    }

    @Test("summary header, failure details and transcript tables")
    func content() {
        let run = ReportFixtures.run()
        let html = HTMLReport.render(run, requirements: ReportFixtures.requirements())
        #expect(html.contains("n1x"))
        #expect(html.contains("tcp://127.0.0.1:7420"))
        #expect(html.contains("4.32 s"))
        #expect(html.contains("FAILED"))
        #expect(html.contains("presence.* &lt;old&gt;"))
        #expect(html.contains("pre class=\"transcript\""))
        #expect(html.contains("JoinChannelRequest"))
        #expect(html.contains("herald conform --filter &#39;channels.join.member-joined&#39;"))
        #expect(html.contains("When a session joins a channel, the server MUST send"))
        #expect(html.contains("Step 3: Message"))
        #expect(html.contains("<span class=\"badge warning\">WARN</span>"))
        #expect(
            html.contains(
                "ERROR on the first attempt while other cases ran: alice: could not connect: connection reset by peer; "
                    + "rerun alone: WARN"
            )
        )
        #expect(
            html.contains("<p class=\"closing\" id=\"closing\">\(HTMLReport.escape(ConsoleReporter.closingLine(run)))")
        )
        #expect(html.contains("<h2>Failing cases (4)</h2>"))
        #expect(html.contains("<h2>Warnings (1)</h2>"))
    }

    @Test("coverage section: per chapter and level, covered, waived and uncovered")
    func coverage() {
        let coverage = CoverageReport(
            requirements: CoverageFixtures.requirements(),
            chapters: ["04-handshake.md", "09-channels.md"],
            cases: [CoverageCase(id: "a", chapter: "04-handshake", requirements: ["HS-1"])],
            waivers: [Waiver(requirement: "HS-2", reason: "client only")]
        )
        let html = HTMLReport.render(ReportFixtures.run(), coverage: coverage)
        #expect(html.contains("Requirement coverage"))
        #expect(html.contains("<td>04-handshake</td>"))
        #expect(html.contains("Uncovered requirements"))
        #expect(html.contains("Waived requirements"))
        #expect(html.contains("client only"))
    }
}

@Suite("Console reporter")
struct ConsoleReporterTests {
    /// Collects what a reporter writes.
    final class Sink: Sendable {
        private let text = Mutex("")
        var contents: String { self.text.withLock { $0 } }
        func write(_ string: String) { self.text.withLock { $0 += string } }
    }

    @Test("closing line: passed, failed, then the other counts and the wall time")
    func closingLine() {
        #expect(
            ConsoleReporter.closingLine(ReportFixtures.run())
                == "1 passed, 1 failed, 1 expected-fail, 1 unexpected-pass, 1 not-applicable, 1 timeout, 1 error, "
                + "1 warning, 1 stale expected-failure entry in 4.32 s"
        )
        var clean = ReportFixtures.run()
        clean.cases = [clean.cases[0]]
        clean.staleExpectedFailures = []
        clean.durationMs = 999
        #expect(
            ConsoleReporter.closingLine(clean)
                == "1 passed, 0 failed, 0 expected-fail, 0 unexpected-pass, 0 not-applicable, 0 timeout, 0 error, "
                + "0 warning in 0.99 s"
        )
    }

    @Test("plain output: one line per case, then failures in full and the closing line last")
    func plainOutput() throws {
        let sink = Sink()
        let reporter = ConsoleReporter(
            isTerminal: false,
            requirements: ReportFixtures.requirements(),
            write: { sink.write($0) }
        )
        let run = ReportFixtures.run()
        reporter.begin(suite: run.suite, specVersion: run.specVersion, target: run.target, selected: 8, total: 10)
        for result in run.cases { reporter.caseFinished(result) }
        reporter.finish(run)
        let text = sink.contents
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.contains("PASS channels.join.ok (12 ms)"))
        #expect(lines.contains("FAIL channels.join.member-joined (1.23 s)"))
        #expect(lines.contains("TIMEOUT channels.leave.timeout (10.00 s)"))
        #expect(lines.contains("N/A handshake.caps.legacy (1 ms)"))
        #expect(lines.contains("cases: 8 selected of 10"))
        #expect(
            lines.contains("WARN presence.subscribe.prompt (2.50 s) — rerun alone after ERROR on the first attempt")
        )
        #expect(lines.contains("Rerun alone after an error (1):"))
        #expect(
            lines.contains(
                "  presence.subscribe.prompt: ERROR on the first attempt while other cases ran: alice: could not "
                    + "connect: connection reset by peer; rerun alone: WARN"
            )
        )
        #expect(lines.contains("Warnings (1):"))
        #expect(lines.contains("WARN presence.subscribe.prompt: Presence changes arrive promptly"))
        #expect(
            lines.contains(
                "  WARN     presence.subscribe.prompt: steps[2] expect (alice): no PresenceChanged within 2000 ms"
            )
        )
        #expect(lines.contains("  FAIL     channels.join.member-joined: expected MemberJoined"))
        #expect(text.contains("herald-conformance 0.1.0 (Herald Spec v1.0)"))
        #expect(text.contains("CHAN-14 (MUST): When a session joins a channel"))
        #expect(text.contains("step 3: expected MemberJoined"))
        #expect(text.contains("rerun: herald conform --filter 'channels.join.member-joined'"))
        #expect(text.contains("JoinChannelRequest #7"))
        #expect(text.contains("alice  →"))
        #expect(text.contains("bob    ←  MemberJoined flags=0x1"))
        #expect(text.contains("XFAIL handshake.version.bad: issue #4: we answer Welcome"))
        #expect(text.contains("presence.* <old>"))
        let last = try #require(lines.last { !$0.isEmpty })
        #expect(last == ConsoleReporter.closingLine(run))
        #expect(!text.contains("\u{1B}[2K"))
    }

    @Test("terminal output redraws one progress line and prints failures above it")
    func terminalOutput() {
        let sink = Sink()
        let reporter = ConsoleReporter(isTerminal: true, write: { sink.write($0) })
        let run = ReportFixtures.run()
        reporter.begin(suite: run.suite, specVersion: run.specVersion, target: run.target, selected: 8, total: 10)
        for result in run.cases { reporter.caseFinished(result) }
        reporter.finish(run)
        let text = sink.contents
        #expect(text.contains("[####"))
        #expect(text.contains("8/8"))
        #expect(text.contains("\r\u{1B}[2KWARN presence.subscribe.prompt"))
        #expect(text.contains("\r\u{1B}[2KFAIL channels.join.member-joined"))
        #expect(!text.contains("PASS channels.join.ok"))
        #expect(text.hasSuffix(ConsoleReporter.closingLine(run) + "\n"))
    }
}

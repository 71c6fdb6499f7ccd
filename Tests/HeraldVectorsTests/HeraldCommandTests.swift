import ArgumentParser
import Foundation
import HeraldMessages
import HeraldSpec
import HeraldVectors
import HeraldWire
import SwiftProtobuf
import Testing

@testable import herald

@Suite struct HeraldCommandTests {
    // MARK: - Parsing

    @Test func rootCommandIsNamedHeraldWithAVersion() {
        #expect(Herald.configuration.commandName == "herald")
        #expect(Herald.configuration.version == HeraldVersion.tool)
    }

    // MARK: - Version and exit statuses

    @Test func versionIsSemanticAndTheNewestChangelogEntry() throws {
        let parts = HeraldVersion.tool.split(separator: ".")
        #expect(parts.count == 3 && parts.allSatisfy { UInt($0) != nil }, "\(HeraldVersion.tool)")
        #expect(HeraldVersion.spec == RequirementIndex.specVersion)
        #expect(HeraldVersion.protocolVersion == String(HeraldFrameHeader.currentVersion))
        let changelog = try String(contentsOf: Project.root.appendingPathComponent("CHANGELOG.md"), encoding: .utf8)
        let entries = changelog.split(separator: "\n").filter { $0.hasPrefix("## [") }.map {
            $0.dropFirst("## [".count).prefix { $0 != "]" }
        }.filter { $0.lowercased() != "unreleased" }
        #expect(entries.first.map(String.init) == HeraldVersion.tool, "CHANGELOG.md entries: \(entries)")
    }

    @Test func versionFlagPrintsTheToolVersion() async throws {
        let output = try await HeraldProcess.run(["--version"])
        #expect(output.status == 0)
        #expect(output.standardOutput == HeraldVersion.tool + "\n")
    }

    @Test func helpDocumentsTheExitStatuses() async throws {
        let output = try await HeraldProcess.run(["--help"])
        #expect(output.status == 0)
        let help = output.standardOutput
        #expect(help.contains("Exit status, the same for every subcommand"), "\(help)")
        for status in [
            "0  done", "1  the thing checked failed", "2  usage or configuration error", "3  the environment",
        ] {
            #expect(help.contains(status), "no '\(status)' in herald --help")
        }
    }

    @Test(arguments: [
        ["decode", "--no-such-flag"], ["encode", "--max-payload-length", "-1"], ["vectors", "verify", "--bogus"],
        ["serve", "--log-level", "loud"], ["token", "mint"], ["spec", "requirements", "--write", "--check"],
        ["no-such-command"],
    ])
    func commandLineErrorsExitTwoInEverySubcommand(_ arguments: [String]) async throws {
        let output = try await HeraldProcess.run(arguments)
        #expect(output.status == 2, "\(arguments): \(output.standardError)")
        #expect(!output.standardError.isEmpty)
    }

    @Test func parsesVectorsVerifyWithDefaults() throws {
        let command = try #require(try Herald.parseAsRoot(["vectors", "verify"]) as? Herald.Vectors.Verify)
        #expect(command.directory == "Vectors")
        #expect(command.filter == nil)
        #expect(!command.verbose)
    }

    @Test func parsesVectorsVerifyWithOptions() throws {
        let command = try #require(
            try Herald.parseAsRoot(["vectors", "verify", "Elsewhere", "--filter", "frame.valid.*", "--verbose"])
                as? Herald.Vectors.Verify
        )
        #expect(command.directory == "Elsewhere")
        #expect(command.filter == "frame.valid.*")
        #expect(command.verbose)
    }

    @Test func parsesDecode() throws {
        let plain = try #require(try Herald.parseAsRoot(["decode"]) as? Herald.Decode)
        #expect(plain.hex == nil)
        #expect(plain.maxPayloadLength == 65_536)
        #expect(!plain.message && !plain.pretty)
        let full = try #require(
            try Herald.parseAsRoot(["decode", "4852", "--max-payload-length", "16", "--message", "--pretty"])
                as? Herald.Decode
        )
        #expect(full.hex == "4852")
        #expect(full.maxPayloadLength == 16)
        #expect(full.message && full.pretty)
    }

    @Test func rejectsAMaximumPayloadLengthAboveTheProtocolCap() {
        #expect(throws: (any Error).self) {
            try Herald.parseAsRoot(["decode", "--max-payload-length", "16777216"])
        }
    }

    @Test func parsesEncode() throws {
        let command = try #require(
            try Herald.parseAsRoot(["encode", "-", "--max-payload-length", "100"]) as? Herald.Encode
        )
        #expect(command.json == "-")
        #expect(command.maxPayloadLength == 100)
    }

    @Test func parsesSpecRequirements() throws {
        let plain = try #require(try Herald.parseAsRoot(["spec", "requirements"]) as? Herald.Spec.Requirements)
        #expect(plain.spec == "Spec" && !plain.write && !plain.check)
        let write = try #require(
            try Herald.parseAsRoot(["spec", "requirements", "--spec", "Other", "--write"])
                as? Herald.Spec.Requirements
        )
        #expect(write.spec == "Other" && write.write)
        let check = try #require(
            try Herald.parseAsRoot(["spec", "requirements", "--check"]) as? Herald.Spec.Requirements
        )
        #expect(check.check)
        #expect(throws: (any Error).self) {
            try Herald.parseAsRoot(["spec", "requirements", "--write", "--check"])
        }
    }

    // MARK: - End to end: decode and encode on the real vectors

    static let validCases = Project.vectorCases.filter { $0.vector.result == .valid }
    static let invalidCases = Project.vectorCases.filter { $0.vector.result == .invalid }

    /// `herald decode` for a vector; long inputs go through standard input (argument lists are limited).
    static func runDecode(_ vector: FrameVector) async throws -> HeraldProcess.Output {
        let viaStandardInput = vector.hex.count > 8_192
        var arguments = [
            "decode", viaStandardInput ? "-" : vector.hex,
            "--max-payload-length", String(vector.effectiveMaximumPayloadLength),
        ]
        if vector.effectiveTransport == .message { arguments.append("--message") }
        return try await HeraldProcess.run(arguments, input: viaStandardInput ? vector.hex : nil)
    }

    @Test(arguments: validCases)
    func decodeOfAValidVectorPrintsItsFrames(_ testCase: VectorCase) async throws {
        let vector = testCase.vector
        let output = try await Self.runDecode(vector)
        #expect(output.status == 0, "\(output.standardError)")
        #expect(output.standardError.isEmpty)
        let lines = output.standardOutput.split(separator: "\n")
        try #require(lines.count == vector.frames.count, "\(lines.count) lines for \(vector.frames.count) frames")
        for (line, expected) in zip(lines, vector.frames) {
            try Self.expectLine(line, describes: expected)
        }
    }

    @Test(arguments: validCases)
    func encodeOfDecodeGivesTheVectorBytes(_ testCase: VectorCase) async throws {
        let vector = testCase.vector
        // Unknown payload fields have no JSON form, so such vectors cannot survive a JSON round trip.
        guard try Self.payloadsSurviveJSON(vector) else { return }
        let decoded = try await Self.runDecode(vector)
        try #require(decoded.status == 0, "\(decoded.standardError)")
        let encoded = try await HeraldProcess.run(
            ["encode", "-", "--max-payload-length", String(vector.effectiveMaximumPayloadLength)],
            input: decoded.standardOutput
        )
        #expect(encoded.status == 0, "\(encoded.standardError)")
        #expect(encoded.standardOutput == vector.hex + "\n")
    }

    @Test(arguments: invalidCases)
    func decodeOfAnInvalidVectorPrintsItsErrorIdentifier(_ testCase: VectorCase) async throws {
        let vector = testCase.vector
        let output = try await Self.runDecode(vector)
        #expect(output.status == 1)
        #expect(
            output.standardError.hasPrefix("error: \(vector.error ?? "?"): "),
            "stderr: \(output.standardError)"
        )
        let lines = output.standardOutput.split(separator: "\n")
        try #require(lines.count == vector.frames.count, "\(lines.count) lines for \(vector.frames.count) frames")
        for (line, expected) in zip(lines, vector.frames) {
            try Self.expectLine(line, describes: expected)
        }
    }

    // MARK: - End to end: small inputs

    @Test func decodeRoundTripsThroughEncodeWithStandardInput() async throws {
        let frame = try HeraldFrame(
            opcode: .loginRequest,
            requestID: 1,
            message: Herald_V1_LoginRequest.with {
                $0.appID = "app"
                $0.userID = "alice"
            }
        )
        let hex = Hex.encode(try frame.encodedBytes())
        let decoded = try await HeraldProcess.run(
            ["decode", "-"],
            input: "0x" + hex.prefix(10) + " \n " + hex.dropFirst(10)
        )
        #expect(decoded.status == 0)
        #expect(
            decoded.standardOutput
                == #"{"header":{"version":1,"flags":0,"flagNames":[],"opcode":257,"opcodeName":"OPCODE_LOGIN_REQUEST","#
                + #""type":"herald.v1.LoginRequest","requestId":1,"payloadLength":12},"#
                + #""payload":{"appId":"app","userId":"alice"}}"# + "\n"
        )
        let encoded = try await HeraldProcess.run(["encode", decoded.standardOutput])
        #expect(encoded.standardOutput == hex + "\n")
    }

    @Test func decodePrettyPrintsWithTwoSpacesInHeaderOrder() async throws {
        let output = try await HeraldProcess.run(["decode", "48520100010100000001000000071205616c696365", "--pretty"])
        #expect(output.status == 0)
        #expect(
            output.standardOutput
                == """
                {
                  "header": {
                    "version": 1,
                    "flags": 0,
                    "flagNames": [],
                    "opcode": 257,
                    "opcodeName": "OPCODE_LOGIN_REQUEST",
                    "type": "herald.v1.LoginRequest",
                    "requestId": 1,
                    "payloadLength": 7
                  },
                  "payload": {
                    "userId": "alice"
                  }
                }

                """
        )
    }

    @Test func encodeAcceptsJSONLinesAndPrettyPrintedValues() async throws {
        let ping = #"{"type":"Ping","requestId":2}"#
        let lines = try await HeraldProcess.run(["encode", "-"], input: ping + "\n" + ping + "\n")
        #expect(lines.status == 0, "\(lines.standardError)")
        #expect(lines.standardOutput == String(repeating: "4852010000030000000200000000", count: 2) + "\n")
        let pretty = try await HeraldProcess.run(
            ["encode", "-"],
            input: "{\n  \"type\": \"Ping\",\n  \"requestId\": 2\n}\n" + ping
        )
        #expect(pretty.standardOutput == lines.standardOutput)
    }

    @Test func encodeAcceptsTypeNamesFlagNamesAndArrays() async throws {
        let output = try await HeraldProcess.run([
            "encode",
            #"[{"type":"herald.v1.Ping","requestId":2},{"opcode":"OPCODE_PEER_MESSAGE","flagNames":["ACK_REQUIRED"],"requestId":9}]"#,
        ])
        #expect(output.status == 0, "\(output.standardError)")
        #expect(output.standardOutput == "48520100000300000002" + "00000000" + "48520101021000000009" + "00000000\n")
    }

    @Test func encodeReportsRuleViolationsWithTheirIdentifier() async throws {
        let output = try await HeraldProcess.run(["encode", #"{"type":"LoginRequest","requestId":0}"#])
        #expect(output.status == 1)
        #expect(output.standardError.hasPrefix("error: invalid-request-id: "))
        let unknown = try await HeraldProcess.run(["encode", #"{"type":"NoSuchMessage","requestId":1}"#])
        #expect(unknown.status == 1)
        #expect(unknown.standardError.hasPrefix("error: unknown type"))
        let badJSON = try await HeraldProcess.run(["encode", "{"])
        #expect(badJSON.status == 2)
        #expect(badJSON.standardError.hasPrefix("error: invalid JSON"))
    }

    @Test func decodeRejectsInvalidHexAsAUsageError() async throws {
        let output = try await HeraldProcess.run(["decode", "48z2"])
        #expect(output.status == 2)
        #expect(output.standardError.hasPrefix("error: invalid hex"))
    }

    @Test func decodePrintsFramesBeforeAnError() async throws {
        let ping = "48520100000300000001" + "00000000"
        let output = try await HeraldProcess.run(["decode", ping + "4852"])
        #expect(output.status == 1)
        #expect(output.standardOutput.split(separator: "\n").count == 1)
        #expect(output.standardError.hasPrefix("error: truncated-header: "))
    }

    // MARK: - End to end: vectors verify

    @Test func vectorsVerifyReportsFailuresAndExitsOne() async throws {
        let directory = try Self.temporaryVectorDirectory(broken: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = try await HeraldProcess.run(["vectors", "verify", directory.path])
        #expect(output.status == 1)
        let lines = output.standardOutput.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.contains { $0.hasPrefix("FAIL test.broken: frame 0: requestId expected 2, got 1") }, "\(lines)")
        #expect(lines.dropLast().last == "1 passed, 1 failed", "\(lines)")
    }

    @Test func vectorsVerifyPassesAndPrintsPassesWhenVerbose() async throws {
        let directory = try Self.temporaryVectorDirectory(broken: false)
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = try await HeraldProcess.run(["vectors", "verify", directory.path, "--verbose"])
        #expect(output.status == 0, "\(output.standardOutput)")
        #expect(output.standardOutput == "PASS test.good\n1 passed, 0 failed\n")
    }

    @Test func vectorsVerifyExitsTwoWhenNothingRuns() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-empty-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = try await HeraldProcess.run(["vectors", "verify", directory.path])
        #expect(output.status == 2)
        #expect(output.standardError.contains("no frame vectors"))
        let filtered = try Self.temporaryVectorDirectory(broken: false)
        defer { try? FileManager.default.removeItem(at: filtered) }
        let none = try await HeraldProcess.run(["vectors", "verify", filtered.path, "--filter", "nothing.*"])
        #expect(none.status == 2)
    }

    @Test func specRequirementsCheckFailsUntilWritten() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-spec-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data("# Framing\n\n- [FRM-1] Senders MUST frame.\n".utf8)
            .write(to: directory.appendingPathComponent("03-framing.md"))
        let before = try await HeraldProcess.run(["spec", "requirements", "--spec", directory.path, "--check"])
        #expect(before.status == 1)
        #expect(before.standardError.contains("herald spec requirements --write"))
        let write = try await HeraldProcess.run(["spec", "requirements", "--spec", directory.path, "--write"])
        #expect(write.status == 0, "\(write.standardError)")
        #expect(write.standardOutput.hasPrefix("1 requirements (MUST 1, SHOULD 0, MAY 0)"))
        let after = try await HeraldProcess.run(["spec", "requirements", "--spec", directory.path, "--check"])
        #expect(after.status == 0, "\(after.standardError)")
    }

    // MARK: - Helpers

    /// Checks one output line of `herald decode` against a vector frame (payload compared as messages).
    static func expectLine(_ line: Substring, describes expected: ExpectedFrame) throws {
        let value = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let header = try #require(value["header"] as? [String: Any])
        #expect(header["version"] as? Int == expected.version)
        #expect(header["flags"] as? Int == expected.flags)
        #expect(header["opcode"] as? Int == expected.opcode)
        #expect(header["opcodeName"] as? String == expected.opcodeName)
        #expect(header["type"] as? String == expected.type)
        #expect(header["requestId"] as? UInt32 == expected.requestId)
        #expect(header["payloadLength"] as? Int == expected.payloadLength)
        let info = try #require(HeraldOpcodeTable.info(forMessageName: expected.type))
        let printed = try info.messageType.init(
            jsonUTF8Bytes: try JSONSerialization.data(withJSONObject: try #require(value["payload"]))
        )
        let wanted = try info.messageType.init(jsonUTF8Bytes: expected.payload.utf8Bytes)
        #expect(printed.isEqualTo(message: wanted), "printed \(line), expected payload \(expected.payload)")
    }

    /// Whether every payload of `vector` re-serializes from its JSON to exactly its payload bytes.
    static func payloadsSurviveJSON(_ vector: FrameVector) throws -> Bool {
        for frame in vector.frames {
            let info = try #require(HeraldOpcodeTable.info(forMessageName: frame.type))
            let message = try info.messageType.init(jsonUTF8Bytes: frame.payload.utf8Bytes)
            let bytes: [UInt8] = try message.serializedBytes()
            if Hex.encode(bytes) != frame.payloadHex { return false }
        }
        return true
    }

    /// A directory with one passing vector and, if `broken`, one whose expected request id is wrong.
    static func temporaryVectorDirectory(broken: Bool) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-vectors-\(UUID())")
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("schema"),
            withIntermediateDirectories: true
        )
        let frame = ExpectedFrame(
            version: 1,
            flags: 0,
            opcode: 3,
            opcodeName: "OPCODE_PING",
            type: "herald.v1.Ping",
            requestId: 1,
            payloadLength: 0,
            payloadHex: "",
            payload: ProtobufJSON("{}")
        )
        let good = FrameVector(
            id: "test.good",
            description: "a ping",
            requirements: ["FRM-1"],
            hex: "4852010000030000000100000000",
            result: .valid,
            frames: [frame]
        )
        var bad = good
        bad.id = "test.broken"
        bad.frames[0].requestId = 2
        let tests = broken ? [good, bad] : [good]
        let file = FrameVectorFile(description: "test", numberOfTests: tests.count, tests: tests)
        try JSONEncoder().encode(file).write(to: directory.appendingPathComponent("valid.json"))
        // Files of other suites and the schema folder are ignored.
        try Data(#"{"suite":"other","tests":[]}"#.utf8).write(to: directory.appendingPathComponent("other.json"))
        try Data("not json".utf8).write(to: directory.appendingPathComponent("schema/frame-vectors.schema.json"))
        return directory
    }
}

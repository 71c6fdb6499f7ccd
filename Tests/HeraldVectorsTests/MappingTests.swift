import Foundation
import HeraldMessages
import HeraldSpec
import HeraldWire
import SwiftProtobuf
import Testing

/// A required input file is missing (reported as a test failure, never a skip).
struct MissingFile: Error, CustomStringConvertible {
    var message: String

    var description: String { self.message }
}

@Suite struct MappingTests {
    /// Opcode messages that no seed row maps to, because no Agora Signaling / RTM API corresponds to them; each
    /// must also be listed in the note below the table in `Spec/mapping.md`.
    static let messagesWithoutSeedRow: [String: String] = [
        "Ping": "liveness (04-handshake.md); Agora SDKs keep their connection alive internally",
        "Pong": "liveness (04-handshake.md); Agora SDKs keep their connection alive internally",
        "ProtocolError": "wire/session error report (13-errors.md); Agora SDKs have no protocol-error callback",
        "TokenPrivilegeWillExpire": "RTM 1.4+ callback that the seed list predates (15-tokens.md)",
        "SubscribePeersOnlineStatusRequest": "RTM presence subscription; not in the seed list (07-presence.md)",
        "SubscribePeersOnlineStatusResponse": "RTM presence subscription; not in the seed list (07-presence.md)",
        "UnsubscribePeersOnlineStatusRequest": "RTM presence subscription; not in the seed list (07-presence.md)",
        "UnsubscribePeersOnlineStatusResponse": "RTM presence subscription; not in the seed list (07-presence.md)",
        "QueryPeersBySubscriptionOptionRequest": "RTM presence subscription; not in the seed list (07-presence.md)",
        "QueryPeersBySubscriptionOptionResponse": "RTM presence subscription; not in the seed list (07-presence.md)",
        "PeersOnlineStatusChanged": "RTM presence subscription event; not in the seed list (07-presence.md)",
    ]

    /// Schema messages that no opcode carries (nested in payloads). Kept here so that the check goes through
    /// SwiftProtobuf's generated types; ``schemaMessageListMatchesTheProtoFiles()`` keeps it in sync.
    static let nonOpcodeMessageTypes: [any SwiftProtobuf.Message.Type] = [
        Herald_V1_Attribute.self,
        Herald_V1_ChannelAttribute.self,
        Herald_V1_ChannelMemberCount.self,
        Herald_V1_MessageBody.self,
        Herald_V1_PeerOnlineStatus.self,
        Herald_V1_RateLimit.self,
        Herald_V1_ServerLimits.self,
        Herald_V1_ServerTimers.self,
        // The actions of TestControlRequest (Spec/18-test-control.md).
        Herald_V1_TestControlBanUser.self,
        Herald_V1_TestControlExpireToken.self,
        Herald_V1_TestControlFailNext.self,
        Herald_V1_TestControlLiftBan.self,
        Herald_V1_TestControlRemoveUser.self,
        Herald_V1_TestControlRestart.self,
    ]

    /// Every message name of the schema, without the `herald.v1.` package prefix.
    static let schemaMessageNames: Set<String> = Set(
        (HeraldOpcodeTable.all + HeraldOpcodeTable.extensions).map(\.name)
            + nonOpcodeMessageTypes.map { String($0.protoMessageName.dropFirst("herald.v1.".count)) }
    )

    static func loadMapping() throws -> MappingTable {
        try MappingTable(specDirectory: Project.specDirectory)
    }

    static func loadSeedRows() throws -> SeedRows {
        let url = Project.seedRowsURL
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw MissingFile(
                message: """
                    The seed rows are missing at \(url.path). They live outside the repository in \
                    shared/seed-rows.tsv beside the clone; set HERALD_SEED_ROWS to the file's path.
                    """
            )
        }
        return try SeedRows(contentsOf: url)
    }

    /// A backticked Herald name without the `herald.v1.` package prefix.
    static func unqualified(_ name: String) -> String {
        name.hasPrefix("herald.v1.") ? String(name.dropFirst("herald.v1.".count)) : name
    }

    /// The message a backticked Herald name refers to: `herald.v1.` and `.field` suffixes removed.
    static func messageName(of name: String) -> String {
        String(Self.unqualified(name).prefix { $0 != "." })
    }

    /// An API name as written in a cell: the name itself, or the part before an argument list.
    static func apiNames(of name: String) -> [String] {
        if let parenthesis = name.firstIndex(of: "(") { return [name, String(name[..<parenthesis])] }
        return [name]
    }

    @Test func seedRowsAreReadable() throws {
        let seeds = try Self.loadSeedRows()
        #expect(!seeds.rows.isEmpty)
    }

    @Test func everySeedRowHasExactlyOneMappingRow() throws {
        let seeds = try Self.loadSeedRows()
        let mapping = try Self.loadMapping()
        let byNumber = Dictionary(grouping: mapping.rows, by: \.number)
        for seed in seeds.rows {
            let rows = byNumber[seed.number] ?? []
            guard rows.count == 1, let row = rows.first else {
                Issue.record("seed row \(seed.number) (\(seed.descriptionEnglish)) has \(rows.count) mapping rows")
                continue
            }
            // The table may abbreviate the seed file name to the part before "_" ("000" for "000_c13….txt").
            #expect(
                row.seed == seed.seed || seed.seed.hasPrefix(row.seed + "_"),
                "mapping.md:\(row.line): seed \(row.seed) ≠ \(seed.seed)"
            )
            #expect(row.kind == seed.kind, "mapping.md:\(row.line): kind \(row.kind) ≠ \(seed.kind)")
            #expect(
                row.description == seed.descriptionEnglish,
                "mapping.md:\(row.line): description \"\(row.description)\" ≠ \"\(seed.descriptionEnglish)\""
            )
        }
        let extra = mapping.rows.filter { !(1...seeds.rows.count).contains($0.number) }
        #expect(extra.isEmpty, "mapping rows without a seed row: \(extra.map { "#\($0.number)" })")
        #expect(
            mapping.rows.count == seeds.rows.count,
            "\(mapping.rows.count) mapping rows for \(seeds.rows.count) seeds"
        )
    }

    @Test func everySeedAPINameAppearsInItsMappingRow() throws {
        let seeds = try Self.loadSeedRows()
        let mapping = try Self.loadMapping()
        let byNumber = Dictionary(grouping: mapping.rows, by: \.number)
        for seed in seeds.rows {
            guard let row = byNumber[seed.number]?.first else { continue }  // reported by the previous test
            let names = Set(row.allNames.flatMap(Self.apiNames))
            let missing = (seed.signaling + seed.rtm).filter { !names.contains($0) }
            #expect(
                missing.isEmpty,
                "mapping.md:\(row.line) (#\(seed.number)): API names not in backticks: \(missing.joined(separator: ", "))"
            )
        }
    }

    @Test func everyHeraldCellIsClientSideOrNamesSchemaMessages() throws {
        let mapping = try Self.loadMapping()
        let schema = try ProtoSchema(directory: Project.specDirectory.appendingPathComponent("proto/herald/v1"))
        for row in mapping.rows where !row.isClientSide {
            let names = row.heraldNames.map(Self.unqualified)
            #expect(
                names.contains(where: Self.schemaMessageNames.contains),
                "mapping.md:\(row.line) (#\(row.number)): the Herald cell names no message and is not client-side:"
            )
            let unknown = names.filter { !schema.declares($0) }
            #expect(
                unknown.isEmpty,
                """
                mapping.md:\(row.line) (#\(row.number)): not in the schema (message, enum, enum value or field): \
                \(unknown.joined(separator: ", "))
                """
            )
        }
    }

    @Test func everyOpcodeMessageIsMappedOrListedWithAReason() throws {
        let mapping = try Self.loadMapping()
        // Client-side cells count too: they name the frames the client-side behaviour relies on.
        let named = Set(mapping.rows.flatMap(\.heraldNames).map(Self.messageName))
        let unmapped = HeraldOpcodeTable.all.map(\.name).filter { !named.contains($0) }
        let unexplained = unmapped.filter { Self.messagesWithoutSeedRow[$0] == nil }
        #expect(unexplained.isEmpty, "opcode messages named by no mapping row: \(unexplained.joined(separator: ", "))")
        let stale = Self.messagesWithoutSeedRow.keys.filter(named.contains).sorted()
        #expect(stale.isEmpty, "allow-listed but named by a mapping row (remove from the list): \(stale)")
        let noteNames = Set(mapping.noteNames.map(Self.messageName))
        let notInNote = unmapped.filter { !noteNames.contains($0) }
        #expect(notInNote.isEmpty, "unmapped messages not listed in the note below the table: \(notInNote)")
    }

    /// Every frame that a seed row maps to is exercised by the engine's tests: each message the row names appears, as
    /// its generated Swift type, in a test of `Tests/HeraldEngineTests` (requests are sent and responses and events
    /// decoded there, so a name that appears is a frame the tests drive or check).
    @Test func everyFrameOfAMappedRowIsExercisedByAnEngineTest() throws {
        let mapping = try Self.loadMapping()
        let directory = Project.root.appendingPathComponent("Tests/HeraldEngineTests")
        var sources = ""
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        where name.hasSuffix(".swift") && name != "EngineHarness.swift" {
            sources += try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
        }
        var checked = 0
        for row in mapping.rows where !row.isClientSide {
            let messages = Set(row.heraldNames.map(Self.messageName)).filter(Self.schemaMessageNames.contains)
            let missing = messages.filter { !sources.contains("Herald_V1_\($0)") }.sorted()
            checked += messages.count
            #expect(
                missing.isEmpty,
                "mapping.md:\(row.line) (#\(row.number)): no engine test uses \(missing.joined(separator: ", "))"
            )
        }
        #expect(checked > 100)
    }

    @Test func schemaMessageListMatchesTheProtoFiles() throws {
        let directory = Project.specDirectory.appendingPathComponent("proto/herald/v1")
        var declared: Set<String> = []
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) where name.hasSuffix(".proto") {
            let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
            for line in text.split(separator: "\n") where line.hasPrefix("message ") {
                declared.insert(String(line.dropFirst("message ".count).prefix { $0.isLetter || $0.isNumber }))
            }
        }
        let missing = declared.subtracting(Self.schemaMessageNames).sorted()
        let extra = Self.schemaMessageNames.subtracting(declared).sorted()
        #expect(missing.isEmpty, "declared in the proto files but missing from the test's list: \(missing)")
        #expect(extra.isEmpty, "in the test's list but not declared in the proto files: \(extra)")
    }

    // MARK: - Parsers on small inputs

    @Test func parsesTheMappingTableAndItsNote() throws {
        let table = try MappingTable(
            markdown: """
                # Mapping

                | # | Seed | Section | Kind | Description | Signaling | RTM (Objective-C) | RTM (C++) | Herald | HeraldClient |
                | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
                | 1 | `000_a.txt` | Login | method | log in | `login`, `login2` | `loginByToken:user:completion:` | `login()` | `LoginRequest` → `LoginResponse` | `HeraldClient.login(userID:token:)` |
                | 2 | `000_a.txt` | Login | method | destroy | `destroy` | N/A | N/A | client-side: frees memory \\| nothing on the wire | `HeraldClient.close()` |

                Messages without a row: `Hello`, `Welcome`.
                """
        )
        #expect(table.rows.count == 2)
        #expect(table.rows[0].seed == "000_a.txt")
        #expect(table.rows[0].heraldNames == ["LoginRequest", "LoginResponse"])
        #expect(table.rows[0].allNames.isSuperset(of: ["login", "login2", "loginByToken:user:completion:", "login()"]))
        #expect(table.rows[1].isClientSide)
        #expect(table.rows[1].herald == "client-side: frees memory | nothing on the wire")
        #expect(table.rows[0].heraldClientNames == ["HeraldClient.login(userID:token:)"])
        #expect(table.rows[1].heraldClientNames == ["HeraldClient.close()"])
        #expect(table.noteNames == ["Hello", "Welcome"])
    }

    @Test func parsesSeedRows() throws {
        let seeds = try SeedRows(
            tsv: "seed\tsection\tkind\tdescription\tdescription_en\tsignaling\trtm\n"
                + "000_a.txt\t登录\tmethod\t登录\tlog in\tlogin,login2\tloginByToken\n"
                + "000_a.txt\t登录\tevent\t状态\tstate\tN/A\tconnectionStateChanged\n"
        )
        #expect(seeds.rows.count == 2)
        #expect(seeds.rows[0].signaling == ["login", "login2"])
        #expect(seeds.rows[1].signaling.isEmpty)
        #expect(seeds.rows[1].number == 2)
        #expect(seeds.rows[1].descriptionEnglish == "state")
    }
}

/// The declarations of `Spec/proto/herald/v1/*.proto`: messages with their fields, enums with their values.
///
/// Just enough of the proto3 grammar for the schema's flat style (no nested types, no `map<>`, no `oneof`).
struct ProtoSchema {
    var messages: [String: Set<String>] = [:]
    var enums: [String: Set<String>] = [:]

    init(directory: URL) throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter {
            $0.hasSuffix(".proto")
        }
        for file in files.sorted() {
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            var current: (kind: String, name: String)?
            for rawLine in text.split(separator: "\n") {
                let line = String(rawLine.prefix { $0 != "/" }).trimmingCharacters(in: .whitespaces)
                let words = line.split(whereSeparator: { $0 == " " || $0 == "=" || $0 == ";" || $0 == "{" })
                    .map(String.init)
                if line.hasPrefix("message ") || line.hasPrefix("enum "), words.count >= 2 {
                    current = (words[0], words[1])
                    if words[0] == "message" { self.messages[words[1], default: []] = [] }
                    if words[0] == "enum" { self.enums[words[1], default: []] = [] }
                } else if line.hasPrefix("}") {
                    current = nil
                } else if let block = current, !line.isEmpty, !line.hasPrefix("reserved"), !line.hasPrefix("option") {
                    if block.kind == "enum", let value = words.first {
                        self.enums[block.name, default: []].insert(value)
                    } else if block.kind == "message", words.count >= 2 {
                        // `[repeated] type name = N;`
                        self.messages[block.name, default: []].insert(words[words[0] == "repeated" ? 2 : 1])
                    }
                }
            }
        }
    }

    /// Whether `name` is a message, an enum, an enum value, a field of some message, or `Type.member`.
    func declares(_ name: String) -> Bool {
        if let dot = name.firstIndex(of: ".") {
            let type = String(name[..<dot])
            let member = String(name[name.index(after: dot)...])
            return self.messages[type]?.contains(member) == true || self.enums[type]?.contains(member) == true
        }
        return self.messages[name] != nil || self.enums[name] != nil
            || self.enums.values.contains { $0.contains(name) } || self.messages.values.contains { $0.contains(name) }
    }
}

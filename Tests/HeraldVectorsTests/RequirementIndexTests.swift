import Foundation
import HeraldSpec
import Testing

@Suite struct RequirementIndexTests {
    // MARK: - The real specification

    @Test func specParsesWithoutProblems() throws {
        let index = try Project.requirementIndex.get()
        #expect(index.diagnostics.isEmpty, "\(index.diagnostics.map(\.description).joined(separator: "\n"))")
        #expect(!index.requirements.isEmpty, "no requirements found in \(Project.specDirectory.path)")
    }

    @Test func requirementIDsAreUnique() throws {
        let index = try Project.requirementIndex.get()
        let ids = index.requirements.map(\.id)
        let duplicates = Dictionary(grouping: ids, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted()
        #expect(duplicates.isEmpty, "duplicate ids: \(duplicates.joined(separator: ", "))")
    }

    @Test func framingRequirementsOneToTwentyOneExist() throws {
        let index = try Project.requirementIndex.get()
        let missing = (1...21).map { "FRM-\($0)" }.filter { index.requirement(withID: $0) == nil }
        #expect(missing.isEmpty, "missing framing requirements: \(missing.joined(separator: ", "))")
        for number in 1...21 {
            if let requirement = index.requirement(withID: "FRM-\(number)") {
                #expect(requirement.chapter == "03-framing.md", "FRM-\(number) is in \(requirement.chapter)")
            }
        }
    }

    @Test func requirementsJSONIsUpToDate() throws {
        let index = try Project.requirementIndex.get()
        let generated = try index.renderJSON()
        let file = Project.specDirectory.appendingPathComponent(RequirementIndex.fileName)
        let committed = try? Data(contentsOf: file)
        guard committed != generated else { return }
        let old = String(decoding: committed ?? Data(), as: UTF8.self).split(
            separator: "\n",
            omittingEmptySubsequences: false
        )
        let new = String(decoding: generated, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        let line =
            zip(old, new).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(old.count, new.count)
        let committedLine = line < old.count ? String(old[line]) : "(end of file)"
        let generatedLine = line < new.count ? String(new[line]) : "(end of file)"
        Issue.record(
            """
            Spec/requirements.json is out of date with the Markdown; run `swift run herald spec requirements --write`. \
            First difference at line \(line + 1): committed \(committedLine.trimmingCharacters(in: .whitespaces)), \
            generated \(generatedLine.trimmingCharacters(in: .whitespaces))
            """
        )
    }

    // MARK: - The parser, on small documents

    @Test func parsesParagraphAndListItemRequirements() {
        let index = RequirementIndex(documents: [
            SpecDocument(
                name: "03-framing.md",
                text: """
                    # 3. Framing

                    ## 3.1 Header

                    [FRM-1] A sender MUST produce
                      this layout, with `ACK_REQUIRED`
                    continued here.

                    - [FRM-2] The receiver SHOULD NOT buffer.
                    - [FRM-3] A receiver MAY log; it is OPTIONAL.
                      More text.
                    - Not a requirement.

                    ```
                    [FRM-9] MUST be ignored inside a fence.
                    ```
                    See [FRM-1](#header) for details.
                    """
            )
        ])
        #expect(index.diagnostics.isEmpty)
        #expect(index.requirements.map(\.id) == ["FRM-1", "FRM-2", "FRM-3"])
        let first = index.requirements[0]
        #expect(first.text == "A sender MUST produce this layout, with `ACK_REQUIRED` continued here.")
        #expect(first.line == 5)
        #expect(first.section == "3.1 Header")
        #expect(first.level == .must)
        #expect(first.chapter == "03-framing.md")
        #expect(index.requirements[1].level == .should)
        #expect(index.requirements[2].level == .may)
        #expect(index.requirements[2].text == "A receiver MAY log; it is OPTIONAL. More text.")
    }

    @Test func levelFollowsTheStrongestKeyword() {
        let index = RequirementIndex(documents: [
            SpecDocument(
                name: "01-overview.md",
                text: """
                    - [OVR-1] A client MAY retry and the server SHALL NOT mind.
                    - [OVR-2] It is NOT RECOMMENDED; a server MAY refuse.
                    - [OVR-3] Support is REQUIRED.
                    - [OVR-4] This is OPTIONAL.
                    """
            )
        ])
        #expect(index.requirements.map(\.level) == [.must, .should, .must, .may])
    }

    @Test func reportsDuplicateIDsMissingKeywordsAndMalformedTags() {
        let index = RequirementIndex(documents: [
            SpecDocument(name: "README.md", text: "[ERR-1] The server MUST answer.\n"),
            SpecDocument(
                name: "13-errors.md",
                text: """
                    [ERR-1] The server MUST answer again.

                    [ERR-2] The server answers (lower-case must does not count, nor `MUST` in code).

                    [ERR-03] Leading zero MUST fail.

                    [err-4] Lower case MUST fail.

                    [ERR-5]No space MUST fail.

                    [ERR-#:name] An unnumbered placeholder MUST fail.

                    [link]: https://example.com
                    """
            ),
        ])
        let kinds = index.diagnostics.map(\.kind)
        #expect(kinds == [.duplicateID, .missingKeyword, .malformedTag, .malformedTag, .malformedTag, .malformedTag])
        #expect(index.diagnostics.map(\.line) == [1, 3, 5, 7, 9, 11])
        #expect(index.diagnostics[0].description.hasPrefix("13-errors.md:1: duplicate-id: ERR-1"))
        #expect(index.requirements.map(\.id) == ["ERR-1"])
        #expect(index.requirements[0].chapter == "README.md")
    }

    @Test func reportsKeywordsOutsideTaggedRequirements() {
        let index = RequirementIndex(documents: [
            SpecDocument(
                name: "02-transports.md",
                text: """
                    # Servers MAY listen anywhere

                    Informative text where a client MUST NOT appear,
                    but `MUST` in code and lower-case must are fine.

                    | Column | Servers SHOULD |
                    | --- | --- |

                    - [TRN-1] Servers MUST listen
                      and SHOULD log.

                    ```
                    A fence MAY say anything.
                    ```
                    """
            )
        ])
        #expect(index.requirements.map(\.id) == ["TRN-1"])
        #expect(index.diagnostics.map(\.kind) == Array(repeating: .keywordOutsideRequirement, count: 3))
        #expect(index.diagnostics.map(\.line) == [1, 3, 6])
        #expect(index.diagnostics[1].message.hasPrefix("MUST outside a tagged requirement"))
    }

    @Test func rendersSortedPrettyJSONWithATrailingNewline() throws {
        let index = RequirementIndex(documents: [
            SpecDocument(name: "README.md", text: "# Index\n\n[OVR-2] Clients MAY read a/b.\n"),
            SpecDocument(name: "02-transports.md", text: "# T\n\n- [TRN-1] Servers MUST listen.\n"),
        ])
        let text = String(decoding: try index.renderJSON(), as: UTF8.self)
        #expect(
            text == """
                {
                  "count" : 2,
                  "countsByLevel" : {
                    "MAY" : 1,
                    "MUST" : 1,
                    "SHOULD" : 0
                  },
                  "generatedBy" : "herald spec requirements --write",
                  "requirements" : [
                    {
                      "chapter" : "README.md",
                      "id" : "OVR-2",
                      "level" : "MAY",
                      "line" : 3,
                      "section" : "Index",
                      "text" : "Clients MAY read a/b."
                    },
                    {
                      "chapter" : "02-transports.md",
                      "id" : "TRN-1",
                      "level" : "MUST",
                      "line" : 3,
                      "section" : "T",
                      "text" : "Servers MUST listen."
                    }
                  ],
                  "specVersion" : "1.0.1"
                }

                """
        )
    }
}

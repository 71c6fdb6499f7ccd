import Foundation

/// The "Agora RTM → HeraldClient" table of the client library's documentation, generated from `Spec/mapping.md`.
///
/// One line per distinct pair of Agora names and `HeraldClient` API, in mapping order: the two seed files name the
/// same API in Objective-C and C++, and their rows collapse into one.
public enum MigrationGuide {
    /// Where the generated page lives, relative to the repository root.
    public static let path = "Sources/HeraldClient/Docs.docc/Migration.md"

    /// The Markdown page.
    public static func render(_ table: MappingTable) -> String {
        var lines = [
            "# Migrating from Agora RTM",
            "",
            "Every Agora RTM and Signaling method and callback, and the HeraldClient API that takes its place.",
            "",
            "## Overview",
            "",
            "This page is generated from `Spec/mapping.md` by `herald spec migration --write`; edit the mapping, not",
            "this page. The mapping's last column also names the Herald frames behind each row.",
            "",
            "Agora's result callbacks (`AgoraRtmSendPeerMessageBlock`, `onSendMessageResult`, …) become the return",
            "value or the thrown ``HeraldClientError`` of the `async` method; its ``HeraldClientError/result`` carries the",
            "result code with Agora's number. Delegate callbacks become cases of ``HeraldClientEvent``, read from",
            "``HeraldClient/events()`` or handed to a ``HeraldClientDelegate``.",
            "",
            "| Agora RTM (Objective-C) | Agora RTM (C++) | Signaling | HeraldClient |",
            "| --- | --- | --- | --- |",
        ]
        var seen = Set<String>()
        for row in table.rows {
            let cells = [row.rtmObjectiveC, row.rtmCpp, row.signaling, row.heraldClient].map(Self.cell)
            let line = "| " + cells.joined(separator: " | ") + " |"
            if seen.insert(line).inserted { lines.append(line) }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A cell with its pipes escaped; `N/A` becomes an en dash.
    private static func cell(_ text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed == "N/A" { return "–" }
        return trimmed.replacingOccurrences(of: "|", with: "\\|")
    }
}

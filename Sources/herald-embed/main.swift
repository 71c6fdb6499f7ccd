// herald-embed OUTPUT GROUP=PATH…
//
// The build tool behind the EmbedCorpus plugin: writes a Swift file that holds each input file's text as a raw
// string literal, grouped (`scenarios`, `spec`), in the order given, plus a fingerprint of all of them.

import Foundation

/// The input files of one group, as (file name, text).
var groups: [String: [(name: String, text: String)]] = ["scenarios": [], "spec": [], "clientScenarios": []]
let arguments = CommandLine.arguments.dropFirst()
guard let output = arguments.first else {
    FileHandle.standardError.write(Data("usage: herald-embed OUTPUT GROUP=PATH…\n".utf8))
    exit(2)
}
for argument in arguments.dropFirst() {
    guard let equals = argument.firstIndex(of: "="), groups[String(argument[..<equals])] != nil else {
        FileHandle.standardError.write(
            Data("herald-embed: \(argument) is not scenarios=PATH, spec=PATH or clientScenarios=PATH\n".utf8)
        )
        exit(2)
    }
    let path = String(argument[argument.index(after: equals)...])
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
        FileHandle.standardError.write(Data("herald-embed: cannot read \(path) as UTF-8 text\n".utf8))
        exit(1)
    }
    groups[String(argument[..<equals]), default: []].append(((path as NSString).lastPathComponent, text))
}

/// A raw string literal holding `text` exactly: enough `#` that no `"""#…` or `\#…` inside ends it or escapes.
func literal(_ text: String) -> String {
    var hashes = 1
    while text.contains("\"\"\"" + String(repeating: "#", count: hashes))
        || text.contains("\\" + String(repeating: "#", count: hashes))
    {
        hashes += 1
    }
    let fence = String(repeating: "#", count: hashes)
    // Control characters other than tab and line feed may not stand in a string literal: escape them (a raw
    // string's escapes carry its delimiter's `#`s).
    var body = ""
    body.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
    for scalar in text.unicodeScalars {
        if (scalar.value < 0x20 && scalar != "\t" && scalar != "\n") || scalar.value == 0x7F {
            body += "\\" + fence + "u{" + String(scalar.value, radix: 16) + "}"
        } else {
            body.unicodeScalars.append(scalar)
        }
    }
    // The literal is everything between the line break after the opening and the one before the closing delimiter.
    return fence + "\"\"\"\n" + body + "\n\"\"\"" + fence
}

/// FNV-1a, 64 bits, over every group name, file name and text: the corpus fingerprint.
var hash: UInt64 = 0xcbf2_9ce4_8422_2325
for group in groups.keys.sorted() {
    for (name, text) in groups[group]! {
        for byte in (group + "\u{0}" + name + "\u{0}" + text + "\u{0}").utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
    }
}

var source = """
    // Generated at build time by herald-embed (the EmbedCorpus plugin) from Vectors/scenarios, Vectors/client-scenarios and Spec. Do not edit.

    extension EmbeddedCorpus {
        static let fingerprintValue = "\(String(hash, radix: 16))"

    """
for group in ["scenarios", "spec", "clientScenarios"] {
    source += "    static let \(group)Files: [(name: String, text: String)] = [\n"
    for (name, text) in groups[group]! {
        source += "        (\"\(name)\", \n" + literal(text) + "),\n"
    }
    source += "    ]\n"
}
source += "}\n"
do {
    try Data(source.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
} catch {
    FileHandle.standardError.write(Data("herald-embed: cannot write \(output): \(error)\n".utf8))
    exit(1)
}

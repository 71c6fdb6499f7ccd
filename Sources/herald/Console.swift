import ArgumentParser
import Foundation

/// Output helpers shared by the subcommands.
enum Console {
    /// Writes `line` and a newline to standard error.
    static func error(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Writes `text` to standard output without buffering, so it is ordered with standard error.
    static func output(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// Reads an operand: the argument itself, or all of standard input when it is `-` or missing.
    static func readOperand(_ argument: String?) -> [UInt8] {
        guard let argument, argument != "-" else {
            return Array(FileHandle.standardInput.readDataToEndOfFile())
        }
        return Array(argument.utf8)
    }
}

extension ExitCode {
    /// Exit status 2: the command was used wrongly or had nothing to do (bad hex, no vectors).
    static let usage = ExitCode(2)
}

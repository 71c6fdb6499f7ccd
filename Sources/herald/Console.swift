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

/// A mistake in the command line, or in a file it names: the command prints the message and exits with status 2.
struct UsageError: Error {
    /// What is wrong, naming the flag to change.
    var message: String

    /// Creates an error with its message.
    init(_ message: String) {
        self.message = message
    }
}

/// The exit statuses of every `herald` subcommand (documented in `herald --help`).
extension ExitCode {
    // 0 (`success`): done; for `herald serve`, stopped by SIGINT or SIGTERM.
    // 1 (`failure`): the thing checked failed: conformance cases, vectors, a frame, the requirement index; for
    //   `herald serve`, the server failed while running.

    /// Exit status 2: the command was used wrongly or had nothing to do: a bad flag or flag value, a configuration
    /// that breaks a rule of the specification, an input file that cannot be read or used (bad hex, no vectors).
    static let usage = ExitCode(2)

    /// Exit status 3: the command line is fine but the environment refused: the conformance target is unreachable,
    /// a listener cannot be opened (address in use), the data directory or its database cannot be created.
    static let environment = ExitCode(3)
}

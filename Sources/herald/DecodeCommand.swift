import ArgumentParser
import HeraldVectors
import HeraldWire

extension Herald {
    /// `herald decode [HEX | -]`: prints the frames in a hex byte string as JSON.
    struct Decode: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "decode",
            abstract: "Decode Herald frames from hex and print each as one JSON object per line.",
            discussion: """
                Whitespace in the hex is ignored and one leading 0x is allowed. Frames decoded before an invalid \
                one are printed; then "error: <identifier>: <message>" goes to standard error and the exit status \
                is 1. Invalid hex exits with status 2.
                """
        )

        @Argument(help: "The bytes as hex, or - (or nothing) to read the hex from standard input.")
        var hex: String?

        @Option(help: "The receiver's maximum payload length in bytes.")
        var maxPayloadLength: Int = HeraldFrameHeader.defaultMaximumPayloadLength

        @Flag(help: "Apply the WebSocket rule: the input is one message carrying exactly one frame.")
        var message = false

        @Flag(help: "Pretty-print each frame over several lines.")
        var pretty = false

        func validate() throws {
            guard (0...HeraldFrameHeader.absoluteMaximumPayloadLength).contains(self.maxPayloadLength) else {
                throw ValidationError(
                    "--max-payload-length must be between 0 and \(HeraldFrameHeader.absoluteMaximumPayloadLength)"
                )
            }
        }

        func run() async throws {
            let text = String(decoding: Console.readOperand(self.hex), as: UTF8.self)
            let bytes: [UInt8]
            do {
                bytes = try Hex.decodeLenient(text)
            } catch {
                Console.error("error: invalid hex: \(error)")
                throw ExitCode.usage
            }
            let observation = FrameVectorVerifier.observe(
                bytes,
                transport: self.message ? .message : .stream,
                maximumPayloadLength: self.maxPayloadLength
            )
            for decoded in observation.frames {
                let line = try FrameJSON.render(decoded.frame, message: decoded.message)
                Console.output((self.pretty ? JSONText.prettyPrinted(line) : line) + "\n")
            }
            if let error = observation.error {
                Console.error("error: \(error.code): \(error.message)")
                throw ExitCode.failure
            }
        }
    }
}

import ArgumentParser
import HeraldVectors
import HeraldWire

extension Herald {
    /// `herald encode [JSON | -]`: the inverse of `decode`.
    struct Encode: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "encode",
            abstract: "Encode frames described in JSON and print the bytes as lowercase hex.",
            discussion: """
                Input: one frame object, an array of them, or JSON Lines (the output of herald decode works; no \
                input encodes no frames). \
                A frame names its opcode with "opcode" (number or OPCODE_… name) or "type" \
                ("herald.v1.LoginRequest" or "LoginRequest"); "requestId" is required except for events; \
                "flags" (number) or "flagNames"; "payload" in the protobuf JSON mapping, or "payloadHex". Header \
                fields may also sit in a "header" object. Errors print "error: <identifier or reason>" and exit 1; \
                input that is not JSON exits 2.
                """
        )

        @Argument(help: "The JSON, or - (or nothing) to read it from standard input.")
        var json: String?

        @Option(help: "The receiver's maximum payload length in bytes; larger frames are refused.")
        var maxPayloadLength: Int = HeraldFrameHeader.defaultMaximumPayloadLength

        func validate() throws {
            guard (0...HeraldFrameHeader.absoluteMaximumPayloadLength).contains(self.maxPayloadLength) else {
                throw ValidationError(
                    "--max-payload-length must be between 0 and \(HeraldFrameHeader.absoluteMaximumPayloadLength)"
                )
            }
        }

        func run() async throws {
            let values: [Any]
            do {
                values = try JSONText.values(in: Console.readOperand(self.json))
            } catch {
                Console.error("error: invalid JSON: \(error)")
                throw ExitCode.usage
            }
            var bytes: [UInt8] = []
            for (index, value) in values.enumerated() {
                do {
                    for frame in try FrameJSON.frames(from: value, maximumPayloadLength: self.maxPayloadLength) {
                        bytes += try frame.encodedBytes(maximumPayloadLength: self.maxPayloadLength)
                    }
                } catch let error as FrameJSONError {
                    let location = values.count > 1 ? "value \(index + 1): " : ""
                    if let identifier = error.identifier {
                        Console.error("error: \(identifier): \(location)\(error.message)")
                    } else {
                        Console.error("error: \(location)\(error.message)")
                    }
                    throw ExitCode.failure
                } catch let error as WireError {
                    Console.error("error: \(error.code): \(error.message)")
                    throw ExitCode.failure
                }
            }
            Console.output(Hex.encode(bytes) + "\n")
        }
    }
}

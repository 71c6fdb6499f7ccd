import HeraldMessages
import HeraldWire
import NIOCore
import SwiftProtobuf

/// The verdict on one frame vector.
public struct FrameVectorResult: Hashable, Sendable {
    /// The vector's id.
    public var id: String
    /// `nil` if the vector passed; otherwise what differed, expected vs actual.
    public var failure: String?

    /// Creates a result.
    public init(id: String, failure: String?) {
        self.id = id
        self.failure = failure
    }

    /// Whether the vector passed.
    public var passed: Bool { self.failure == nil }
}

/// What a receiver made of a vector's bytes: the frames (with decoded messages) before the first failure, and
/// that failure.
public struct FrameVectorObservation: Sendable {
    /// One decoded frame and its decoded payload message.
    public struct DecodedFrame: Sendable {
        /// The frame.
        public var frame: HeraldFrame
        /// The payload decoded as the opcode's message type.
        public var message: any SwiftProtobuf.Message
    }

    /// The frames fully decoded (header and payload) before the first failure.
    public var frames: [DecodedFrame]
    /// The first failure (header, payload or end of stream), or `nil`.
    public var error: WireError?
}

/// Checks frame vectors against `HeraldWire`, exactly as Spec/03-framing.md and `Vectors/README.md` describe.
///
/// The bytes are fed through ``HeraldWire/HeraldFrameReader`` (transport `stream`) or
/// ``HeraldWire/HeraldWire/decodeSingleFrame(_:maximumPayloadLength:)-(ByteBuffer,_)`` (transport `message`), and
/// each frame's payload is decoded in order; the first failure is the result. A valid vector must decode without
/// failure into exactly its `frames`, and re-encoding the decoded messages must give exactly the bytes the vector
/// expects. `HeraldWire` keeps unknown fields, so the messages as decoded must re-encode to `canonicalHex` (or `hex`);
/// the payloads are also decoded a second time with unknown fields discarded, and those must re-encode to
/// `knownFieldsHex` (else `canonicalHex`, else `hex`), so both kinds of decoder that FRM-12 allows are checked. An
/// invalid vector must fail with its `error`, after exactly its `frames`.
public enum FrameVectorVerifier {
    /// How the input bytes are handed to the stream decoder (the result must not depend on it, FRM-17).
    public enum Feeding: Hashable, Sendable, CustomStringConvertible {
        /// All bytes in one read.
        case whole
        /// Two reads: bytes `0..<offset`, then the rest.
        case split(at: Int)
        /// Reads of `size` bytes (the last one may be shorter).
        case chunks(size: Int)

        /// `whole`, `split at N` or `chunks of N`.
        public var description: String {
            switch self {
            case .whole: "whole"
            case .split(let offset): "split at \(offset)"
            case .chunks(let size): "chunks of \(size)"
            }
        }

        /// The byte ranges of each read over `count` bytes.
        func ranges(count: Int) -> [Range<Int>] {
            switch self {
            case .whole:
                return [0..<count]
            case .split(let offset):
                let cut = min(max(offset, 0), count)
                return [0..<cut, cut..<count]
            case .chunks(let size):
                let step = max(size, 1)
                return stride(from: 0, to: count, by: step).map { $0..<min($0 + step, count) }
            }
        }
    }

    /// Decodes `bytes` as a receiver with the given transport and limit would.
    ///
    /// - Parameters:
    ///   - bytes: The input.
    ///   - transport: `stream` (incremental decoder) or `message` (one WebSocket message).
    ///   - maximumPayloadLength: The receiver's maximum payload length.
    ///   - feeding: How stream input is split into reads; ignored for `message`.
    /// - Returns: The frames decoded before the first failure and that failure.
    public static func observe(
        _ bytes: [UInt8],
        transport: FrameVector.Transport = .stream,
        maximumPayloadLength: Int = HeraldFrameHeader.defaultMaximumPayloadLength,
        feeding: Feeding = .whole
    ) -> FrameVectorObservation {
        var frames: [HeraldFrame] = []
        var error: WireError?
        switch transport {
        case .stream:
            var reader = HeraldFrameReader(maximumPayloadLength: maximumPayloadLength)
            do {
                for range in feeding.ranges(count: bytes.count) {
                    frames += try reader.append(bytes[range])
                }
                try reader.finish()
            } catch let failure {
                error = failure
            }
        case .message:
            do {
                frames = [
                    try HeraldWire.decodeSingleFrame(
                        ByteBuffer(bytes: bytes),
                        maximumPayloadLength: maximumPayloadLength
                    )
                ]
            } catch let failure {
                error = failure
            }
        }
        var decoded: [FrameVectorObservation.DecodedFrame] = []
        for frame in frames {
            do {
                decoded.append(.init(frame: frame, message: try frame.decodeMessage()))
            } catch let failure {
                // A payload failure comes before anything that follows the frame in the stream.
                return FrameVectorObservation(frames: decoded, error: failure)
            }
        }
        return FrameVectorObservation(frames: decoded, error: error)
    }

    /// Verifies one vector.
    ///
    /// - Parameters:
    ///   - vector: The vector.
    ///   - feeding: How stream input is split into reads (ignored for `message` vectors).
    /// - Returns: Pass, or a failure that says what was expected and what was observed.
    public static func verify(_ vector: FrameVector, feeding: Feeding = .whole) -> FrameVectorResult {
        FrameVectorResult(id: vector.id, failure: self.failure(of: vector, feeding: feeding))
    }

    /// Verifies one vector once per feeding and returns the first failure (stream vectors only are re-fed;
    /// a `message` vector is checked once).
    ///
    /// - Parameters:
    ///   - vector: The vector.
    ///   - feedings: The ways to split the input, for example `[.whole, .chunks(size: 1)]`.
    /// - Returns: Pass, or the first failure.
    public static func verifyAllFeedings(_ vector: FrameVector, feedings: [Feeding]) -> FrameVectorResult {
        let feedings = vector.effectiveTransport == .message ? [.whole] : feedings
        for feeding in feedings {
            let result = self.verify(vector, feeding: feeding)
            if !result.passed { return result }
        }
        return FrameVectorResult(id: vector.id, failure: nil)
    }

    private static func failure(of vector: FrameVector, feeding: Feeding) -> String? {
        if let problem = self.formatProblem(of: vector) { return problem }
        let bytes: [UInt8]
        do {
            bytes = try Hex.decode(vector.hex)
        } catch {
            return "hex: \(error)"
        }
        let maximum = vector.effectiveMaximumPayloadLength
        let observation = self.observe(
            bytes,
            transport: vector.effectiveTransport,
            maximumPayloadLength: maximum,
            feeding: feeding
        )
        let context = feeding == .whole ? "" : " (fed as \(feeding))"
        switch vector.result {
        case .valid:
            if let error = observation.error {
                return "expected valid, got error \(error.code) after \(observation.frames.count) frame(s): "
                    + "\(error.message)\(context)"
            }
        case .invalid:
            let expected = vector.error ?? ""
            guard let error = observation.error else {
                return "expected error \(expected), but the input decoded without error into "
                    + "\(observation.frames.count) frame(s)\(context)"
            }
            guard error.code.description == expected else {
                return "expected error \(expected), got \(error.code) after \(observation.frames.count) frame(s): "
                    + "\(error.message)\(context)"
            }
        }
        if let difference = self.compare(expected: vector.frames, actual: observation.frames) {
            return difference + context
        }
        if vector.result == .valid, let difference = self.compareReencodings(observation.frames, vector) {
            return difference
        }
        return nil
    }

    /// Checks the vector's own consistency before running it.
    private static func formatProblem(of vector: FrameVector) -> String? {
        if vector.id.isEmpty { return "the vector has an empty id" }
        if vector.hex != vector.hex.lowercased() { return "hex must be lowercase" }
        if let maximum = vector.maxPayloadLength, maximum < 0 {
            return "maxPayloadLength \(maximum) is negative"
        }
        switch vector.result {
        case .valid:
            if let error = vector.error { return "a valid vector must not name an error (has \"\(error)\")" }
            if vector.effectiveTransport == .message, vector.frames.count != 1 {
                return "a valid message-transport vector must have exactly 1 frame, has \(vector.frames.count)"
            }
        case .invalid:
            guard let error = vector.error else { return "an invalid vector must name its error" }
            if WireError.Code(identifier: error) == nil {
                let known = WireError.Code.allCodes.map(\.description).joined(separator: ", ")
                return "error \"\(error)\" is not a wire error identifier (\(known))"
            }
        }
        if vector.result == .invalid, vector.canonicalHex != nil || vector.knownFieldsHex != nil {
            return "only valid vectors carry canonicalHex or knownFieldsHex"
        }
        if let canonical = vector.canonicalHex, canonical == vector.hex {
            return "canonicalHex equals hex; it must be absent then"
        }
        if let known = vector.knownFieldsHex, known == vector.expectedReencodingHex {
            return "knownFieldsHex equals the keep-unknown re-encoding; it must be absent then"
        }
        for hex in [vector.canonicalHex, vector.knownFieldsHex].compactMap(\.self) where hex != hex.lowercased() {
            return "canonicalHex and knownFieldsHex must be lowercase"
        }
        for (index, frame) in vector.frames.enumerated() where frame.payloadHex != frame.payloadHex.lowercased() {
            return "frame \(index): payloadHex must be lowercase"
        }
        return nil
    }

    /// Compares expected and decoded frames field by field; `nil` if they match.
    static func compare(
        expected: [ExpectedFrame],
        actual: [FrameVectorObservation.DecodedFrame]
    ) -> String? {
        for (index, (want, got)) in zip(expected, actual).enumerated() {
            if let difference = self.compare(want, got) {
                return "frame \(index): \(difference)"
            }
        }
        guard expected.count == actual.count else {
            return "expected \(expected.count) frame(s), decoded \(actual.count)"
        }
        return nil
    }

    private static func compare(_ want: ExpectedFrame, _ got: FrameVectorObservation.DecodedFrame) -> String? {
        let header = got.frame.header
        let payloadBytes = Array(got.frame.payload.readableBytesView)
        guard let info = got.frame.opcodeInfo else {
            return "decoded an opcode outside the table (\(header.opcode.rawValue))"
        }
        let fields: [(String, String, String)] = [
            ("version", "\(want.version)", "\(header.version)"),
            ("flags", "\(want.flags)", "\(header.flags.rawValue)"),
            ("opcode", "\(want.opcode)", "\(header.opcode.rawValue)"),
            ("opcodeName", want.opcodeName, info.opcodeName),
            ("type", want.type, info.fullMessageName),
            ("requestId", "\(want.requestId)", "\(header.requestID)"),
            ("payloadLength", "\(want.payloadLength)", "\(header.payloadLength)"),
            ("payloadHex", want.payloadHex, Hex.encode(payloadBytes)),
        ]
        for (name, expected, actual) in fields where expected != actual {
            guard expected.count + actual.count > 128 else { return "\(name) expected \(expected), got \(actual)" }
            return "\(name) differs: "
                + Self.firstDifference(expected: Array(expected.utf8), actual: Array(actual.utf8))
        }
        let expectedMessage: any SwiftProtobuf.Message
        do {
            expectedMessage = try info.messageType.init(jsonUTF8Bytes: want.payload.utf8Bytes)
        } catch {
            return "payload JSON does not parse as \(info.fullMessageName): \(error)"
        }
        if PayloadComparison.equal(expectedMessage, got.message) { return nil }
        let actualJSON = (try? got.message.jsonString()) ?? "?"
        let expectedJSON = (try? expectedMessage.jsonString()) ?? want.payload.text
        return "payload expected \(expectedJSON), got \(actualJSON)"
    }

    /// Re-encodes the decoded frames twice (FRM-18), keeping and dropping unknown fields, and compares each with
    /// the re-encoding the vector expects for that kind of decoder.
    private static func compareReencodings(
        _ frames: [FrameVectorObservation.DecodedFrame],
        _ vector: FrameVector
    ) -> String? {
        let kept = self.reencode(frames, vector) { $0.message }
        if let difference = self.compareHex(kept, expected: vector.expectedReencodingHex) {
            let name = vector.canonicalHex == nil ? "hex" : "canonicalHex"
            return "re-encoding the decoded messages (unknown fields kept) does not give \(name): \(difference)"
        }
        let dropped = self.reencode(frames, vector) { decoded throws(WireError) in
            try decoded.frame.decodeMessage(discardingUnknownFields: true)
        }
        if let difference = self.compareHex(dropped, expected: vector.expectedKnownFieldsReencodingHex) {
            let name =
                vector.knownFieldsHex == nil ? (vector.canonicalHex == nil ? "hex" : "canonicalHex") : "knownFieldsHex"
            return "re-encoding the decoded messages without unknown fields does not give \(name): \(difference)"
        }
        return nil
    }

    /// The frames re-encoded with the messages `message` picks; an error message if encoding fails.
    private static func reencode(
        _ frames: [FrameVectorObservation.DecodedFrame],
        _ vector: FrameVector,
        message: (FrameVectorObservation.DecodedFrame) throws(WireError) -> any SwiftProtobuf.Message
    ) -> Result<[UInt8], WireError> {
        var encoded: [UInt8] = []
        do throws(WireError) {
            for decoded in frames {
                let frame = try HeraldFrame(
                    opcode: decoded.frame.opcode,
                    requestID: decoded.frame.requestID,
                    flags: decoded.frame.flags,
                    message: try message(decoded)
                )
                encoded += try frame.encodedBytes(maximumPayloadLength: vector.effectiveMaximumPayloadLength)
            }
        } catch {
            return .failure(error)
        }
        return .success(encoded)
    }

    /// `nil` if `result` holds exactly the bytes of `expected`; otherwise where they differ.
    private static func compareHex(_ result: Result<[UInt8], WireError>, expected: String) -> String? {
        switch result {
        case .failure(let error):
            return "encoding failed: \(error.code): \(error.message)"
        case .success(let bytes):
            let actual = Hex.encode(bytes)
            guard actual != expected else { return nil }
            return Self.firstDifference(expected: Array(expected.utf8), actual: Array(actual.utf8))
        }
    }

    /// Describes where two hex strings first differ, in bytes, with a little context.
    static func firstDifference(expected: [UInt8], actual: [UInt8]) -> String {
        let index =
            zip(expected, actual).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            ?? min(expected.count, actual.count)
        let start = index - index % 2
        func excerpt(_ text: [UInt8]) -> String {
            guard start < text.count else { return "(end)" }
            let end = min(text.count, start + 16)
            return String(decoding: text[start..<end], as: UTF8.self) + (end < text.count ? "…" : "")
        }
        return "first difference at byte \(start / 2): expected \(excerpt(expected)), got \(excerpt(actual)) "
            + "(expected \(expected.count / 2) bytes, got \(actual.count / 2))"
    }
}

/// Semantic comparison of payload messages.
enum PayloadComparison {
    /// Whether `expected` (parsed from JSON, so without unknown fields) equals `actual` (decoded from bytes).
    ///
    /// Unknown fields cannot be written in the protobuf JSON mapping, so when the messages differ the decoded one
    /// is compared again after a JSON round trip, which drops unknown fields at every depth. The payload bytes
    /// themselves are compared separately (`payloadHex`).
    static func equal(_ expected: any SwiftProtobuf.Message, _ actual: any SwiftProtobuf.Message) -> Bool {
        if expected.isEqualTo(message: actual) { return true }
        guard let json: [UInt8] = try? actual.jsonUTF8Bytes(),
            let stripped = try? type(of: actual).init(jsonUTF8Bytes: json)
        else {
            return false
        }
        return expected.isEqualTo(message: stripped)
    }
}

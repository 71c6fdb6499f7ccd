import Foundation

/// A file of frame vectors (`Vectors/frames/*.json`, suite `herald-frames`).
///
/// The shape is fixed by `Vectors/schema/frame-vectors.schema.json`; every implementation reads the same files.
public struct FrameVectorFile: Codable, Hashable, Sendable {
    /// The suite name every frame-vector file carries.
    public static let suiteName = "herald-frames"

    /// The file-format version this package reads and writes: 2 added ``FrameVector/canonicalHex`` and
    /// ``FrameVector/knownFieldsHex``.
    public static let currentSchemaVersion = 2

    /// Always ``suiteName``.
    public var suite: String
    /// The version of the file format (``FrameVectorFile/currentSchemaVersion``).
    public var schemaVersion: Int
    /// The Herald protocol version the vectors are for (1).
    public var protocolVersion: Int
    /// What the file contains.
    public var description: String?
    /// The number of entries in ``tests``; checked.
    public var numberOfTests: Int
    /// Label name → what it means and which bug class it catches.
    public var labels: [String: String]?
    /// The vectors.
    public var tests: [FrameVector]

    /// Creates a file.
    public init(
        suite: String = FrameVectorFile.suiteName,
        schemaVersion: Int = FrameVectorFile.currentSchemaVersion,
        protocolVersion: Int = 1,
        description: String? = nil,
        numberOfTests: Int,
        labels: [String: String]? = nil,
        tests: [FrameVector]
    ) {
        self.suite = suite
        self.schemaVersion = schemaVersion
        self.protocolVersion = protocolVersion
        self.description = description
        self.numberOfTests = numberOfTests
        self.labels = labels
        self.tests = tests
    }
}

/// One frame vector: an input byte string and what a receiver must make of it.
public struct FrameVector: Codable, Hashable, Sendable {
    /// How the bytes reach the receiver.
    public enum Transport: String, Codable, Hashable, Sendable {
        /// A byte stream (TCP, TLS): frames are decoded incrementally; the split into reads must not matter.
        case stream
        /// One WebSocket binary message, which must carry exactly one frame.
        case message
    }

    /// The expected verdict.
    public enum Verdict: String, Codable, Hashable, Sendable {
        /// Every frame decodes and nothing is left over.
        case valid
        /// Decoding fails with ``FrameVector/error``.
        case invalid
    }

    /// The stable dotted identifier, for example `frame.valid.login-request.basic`.
    public var id: String
    /// What the vector checks.
    public var description: String
    /// The requirement ids (e.g. `FRM-2`) the vector exercises.
    public var requirements: [String]
    /// Labels defined in the file's `labels` table.
    public var labels: [String]?
    /// The receiver's maximum payload length; `nil` means 65536.
    public var maxPayloadLength: Int?
    /// The transport; `nil` means ``Transport/stream``.
    public var transport: Transport?
    /// The whole input, lowercase hex.
    public var hex: String
    /// Valid vectors only: what re-encoding the decoded frames gives for a decoder that keeps unknown fields,
    /// when that differs from ``hex`` (the input is valid but not canonical, FRM-24); `nil` means ``hex``.
    public var canonicalHex: String?
    /// Valid vectors only: what re-encoding gives for a decoder that drops unknown fields (FRM-12 allows it),
    /// when that differs from the keep-unknown re-encoding; `nil` means ``canonicalHex``, else ``hex``.
    public var knownFieldsHex: String?
    /// The verdict.
    public var result: Verdict
    /// For invalid vectors: the wire error identifier (e.g. `bad-magic`).
    public var error: String?
    /// The frames decoded: all of them (valid), or those fully decoded before the error (invalid).
    public var frames: [ExpectedFrame]

    /// Creates a vector.
    public init(
        id: String,
        description: String,
        requirements: [String],
        labels: [String]? = nil,
        maxPayloadLength: Int? = nil,
        transport: Transport? = nil,
        hex: String,
        canonicalHex: String? = nil,
        knownFieldsHex: String? = nil,
        result: Verdict,
        error: String? = nil,
        frames: [ExpectedFrame]
    ) {
        self.id = id
        self.description = description
        self.requirements = requirements
        self.labels = labels
        self.maxPayloadLength = maxPayloadLength
        self.transport = transport
        self.hex = hex
        self.canonicalHex = canonicalHex
        self.knownFieldsHex = knownFieldsHex
        self.result = result
        self.error = error
        self.frames = frames
    }

    /// ``maxPayloadLength`` or the protocol default 65536.
    public var effectiveMaximumPayloadLength: Int {
        self.maxPayloadLength ?? 65_536
    }

    /// The expected re-encoding for a decoder that keeps unknown fields: ``canonicalHex`` or ``hex``.
    public var expectedReencodingHex: String {
        self.canonicalHex ?? self.hex
    }

    /// The expected re-encoding for a decoder that drops unknown fields: ``knownFieldsHex``, else
    /// ``expectedReencodingHex``.
    public var expectedKnownFieldsReencodingHex: String {
        self.knownFieldsHex ?? self.expectedReencodingHex
    }

    /// ``transport`` or ``Transport/stream``.
    public var effectiveTransport: Transport {
        self.transport ?? .stream
    }
}

/// One expected frame of a vector.
public struct ExpectedFrame: Codable, Hashable, Sendable {
    /// The version byte.
    public var version: Int
    /// The flags byte.
    public var flags: Int
    /// The opcode's wire value.
    public var opcode: Int
    /// The opcode's enum value name, for example `OPCODE_LOGIN_REQUEST`.
    public var opcodeName: String
    /// The payload's full message name, for example `herald.v1.LoginRequest`.
    public var type: String
    /// The request id.
    public var requestId: UInt32
    /// The payload length in bytes.
    public var payloadLength: Int
    /// The payload bytes, lowercase hex.
    public var payloadHex: String
    /// The payload in the protobuf JSON mapping.
    public var payload: ProtobufJSON

    /// Creates an expected frame.
    public init(
        version: Int,
        flags: Int,
        opcode: Int,
        opcodeName: String,
        type: String,
        requestId: UInt32,
        payloadLength: Int,
        payloadHex: String,
        payload: ProtobufJSON
    ) {
        self.version = version
        self.flags = flags
        self.opcode = opcode
        self.opcodeName = opcodeName
        self.type = type
        self.requestId = requestId
        self.payloadLength = payloadLength
        self.payloadHex = payloadHex
        self.payload = payload
    }
}

/// A payload in the protobuf JSON mapping, kept as compact JSON text for SwiftProtobuf (`init(jsonString:)`).
///
/// In a vector file it is an ordinary JSON value. Object keys are sorted, so equal objects have equal text
/// whatever their member order; numbers go through `JSONSerialization` (integers exactly, others as `Double`).
public struct ProtobufJSON: Codable, Hashable, Sendable, CustomStringConvertible {
    /// The compact JSON text.
    public var text: String

    /// Wraps JSON text as is (for example `{}`).
    public init(_ text: String) {
        self.text = text
    }

    /// The text as UTF-8 bytes, for `init(jsonUTF8Bytes:)`.
    public var utf8Bytes: [UInt8] { Array(self.text.utf8) }

    /// The text.
    public var description: String { self.text }

    /// Decodes any JSON value and keeps its compact text.
    public init(from decoder: any Decoder) throws {
        self.text = JSONText.compact(try JSONTree(from: decoder).value)
    }

    /// Encodes the value the text describes (`null` if the text is not JSON).
    public func encode(to encoder: any Encoder) throws {
        let value = (try? JSONText.parse(Data(self.text.utf8))) ?? NSNull()
        try JSONTree(value).encode(to: encoder)
    }
}

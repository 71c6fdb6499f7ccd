/// An error found while decoding or encoding Herald frames.
///
/// Every failure of the codec is reported as a `WireError`. Its ``code`` is one of the twelve wire error
/// identifiers of the Herald error registry (Spec/03-framing.md, Spec/13-errors.md); the identifier string
/// (`code.description`, for example `"frame-too-large"`) is what the spec, the test vectors and
/// `ProtocolError.code` use.
///
/// Equality and hashing consider only ``code``, so tests and vector runners can compare against a freshly made
/// error such as `WireError(.badMagic)`. The ``message``, the ``cause`` and the source location are for humans.
public struct WireError: Error, Hashable, CustomStringConvertible {
    /// The kind of wire error: one of the stable identifiers of Spec/03-framing.md.
    ///
    /// `Code` is a struct rather than an enum so that new codes can be added without breaking source
    /// compatibility. Use ``description`` to get the identifier and ``init(identifier:)`` to parse one.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable, CaseIterable {
            case truncatedHeader
            case truncatedPayload
            case trailingBytes
            case badMagic
            case unsupportedVersion
            case reservedFlags
            case unknownOpcode
            case invalidFlags
            case invalidRequestID
            case lengthOutOfRange
            case frameTooLarge
            case malformedPayload
        }

        private var wrapped: Wrapped

        private init(_ wrapped: Wrapped) {
            self.wrapped = wrapped
        }

        /// `truncated-header`: the stream ended with fewer bytes than a 14-byte header left (FRM-14).
        public static let truncatedHeader = Code(.truncatedHeader)
        /// `truncated-payload`: the stream or message ended after a complete header but inside its payload (FRM-15).
        public static let truncatedPayload = Code(.truncatedPayload)
        /// `trailing-bytes`: a WebSocket message carried bytes after its one frame (FRM-21).
        public static let trailingBytes = Code(.trailingBytes)
        /// `bad-magic`: the first two header bytes are not `0x48 0x52` ("HR") (FRM-2).
        public static let badMagic = Code(.badMagic)
        /// `unsupported-version`: the header's version byte is not 1 (FRM-3).
        public static let unsupportedVersion = Code(.unsupportedVersion)
        /// `reserved-flags`: a reserved flag bit (`0x02`–`0x80`) is set (FRM-4).
        public static let reservedFlags = Code(.reservedFlags)
        /// `unknown-opcode`: the opcode is not in the v1 opcode table (FRM-5).
        public static let unknownOpcode = Code(.unknownOpcode)
        /// `invalid-flags`: `ACK_REQUIRED` is set on a frame whose opcode is not an event (FRM-6).
        public static let invalidFlags = Code(.invalidFlags)
        /// `invalid-request-id`: the request id breaks the rule for the opcode's kind (FRM-7).
        public static let invalidRequestID = Code(.invalidRequestID)
        /// `length-out-of-range`: the payload length exceeds the protocol cap `0x00FFFFFF` (FRM-8).
        public static let lengthOutOfRange = Code(.lengthOutOfRange)
        /// `frame-too-large`: the payload length exceeds the receiver's maximum payload length (FRM-9).
        public static let frameTooLarge = Code(.frameTooLarge)
        /// `malformed-payload`: the payload is not a valid encoding of the opcode's message type (FRM-11).
        public static let malformedPayload = Code(.malformedPayload)

        /// All wire error codes, in the order of the Herald error registry.
        public static let allCodes: [Code] = Wrapped.allCases.map { Code($0) }

        /// The stable identifier of this code, for example `"frame-too-large"`.
        ///
        /// This is the string used by the spec, by `Vectors/frames/*.json` (`"error"`) and in
        /// `ProtocolError.code` on the wire.
        public var description: String {
            switch self.wrapped {
            case .truncatedHeader: "truncated-header"
            case .truncatedPayload: "truncated-payload"
            case .trailingBytes: "trailing-bytes"
            case .badMagic: "bad-magic"
            case .unsupportedVersion: "unsupported-version"
            case .reservedFlags: "reserved-flags"
            case .unknownOpcode: "unknown-opcode"
            case .invalidFlags: "invalid-flags"
            case .invalidRequestID: "invalid-request-id"
            case .lengthOutOfRange: "length-out-of-range"
            case .frameTooLarge: "frame-too-large"
            case .malformedPayload: "malformed-payload"
            }
        }

        /// Parses a stable identifier such as `"bad-magic"`.
        ///
        /// - Parameter identifier: A wire error identifier, case-sensitive.
        /// - Returns: The code, or `nil` if `identifier` is not one of the wire error identifiers.
        public init?(identifier: String) {
            guard let code = Code.allCodes.first(where: { $0.description == identifier }) else {
                return nil
            }
            self = code
        }
    }

    /// The kind of error; the only property that takes part in equality and hashing.
    public var code: Code
    /// A human-readable explanation of what was wrong. Not part of equality.
    public var message: String
    /// The underlying error, when this error wraps one (for example SwiftProtobuf's `BinaryDecodingError`).
    public var cause: (any Error & Sendable)?
    private var file: String
    private var line: Int

    /// Creates a wire error.
    ///
    /// - Parameters:
    ///   - code: The kind of error.
    ///   - message: A human-readable explanation; defaults to the code's identifier.
    ///   - cause: The underlying error, if any.
    ///   - file: The source file that raised the error; leave the default.
    ///   - line: The source line that raised the error; leave the default.
    public init(
        _ code: Code,
        _ message: String? = nil,
        cause: (any Error & Sendable)? = nil,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.message = message ?? code.description
        self.cause = cause
        self.file = file
        self.line = line
    }

    /// A description with the identifier, the message, the cause (if any) and where the error was raised.
    public var description: String {
        var text = "WireError(\(self.code)): \(self.message)"
        if let cause = self.cause {
            text += " (cause: \(String(describing: cause)))"
        }
        text += " [\(self.file):\(self.line)]"
        return text
    }

    /// Compares two errors by ``code`` only.
    ///
    /// - Parameters:
    ///   - lhs: An error.
    ///   - rhs: Another error.
    /// - Returns: `true` if both errors have the same code.
    public static func == (lhs: WireError, rhs: WireError) -> Bool {
        lhs.code == rhs.code
    }

    /// Hashes ``code`` only, consistent with `==`.
    ///
    /// - Parameter hasher: The hasher to feed.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.code)
    }
}

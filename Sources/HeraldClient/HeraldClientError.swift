import Foundation
import SwiftProtobuf

/// An operation of a ``HeraldClient`` that did not succeed.
///
/// ``code`` says what kind of failure it is; its description (`"operation-failed"`, `"connection-lost"`, …) is a
/// stable identifier. When the server answered with a failure, ``result`` holds the answer's result code: its name
/// in the schema (`PEER_MESSAGE_RESULT_PEER_UNREACHABLE`) and its numeric value, which is the value of the matching
/// Agora RTM error code (`AgoraRtmSendPeerMessageErrorPeerUnreachable` = 3), so that code migrated from Agora can
/// keep comparing numbers.
///
/// Equality and hashing consider ``code`` and ``result``; the ``message`` is for humans.
public struct HeraldClientError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    ///
    /// A struct rather than an enum, so that codes can be added without breaking source compatibility.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The stable identifier, for example `"operation-failed"`.
        public let description: String

        private init(_ description: String) { self.description = description }

        /// `operation-failed`: the server answered the request with a result other than OK (see ``result``).
        public static let operationFailed = Code("operation-failed")
        /// `invalid-address`: a server URL breaks TRN-1 to TRN-3.
        public static let invalidAddress = Code("invalid-address")
        /// `invalid-argument`: the app passed a value the client refuses before sending (a limit of the server's
        /// `Welcome` is exceeded, or an empty id).
        public static let invalidArgument = Code("invalid-argument")
        /// `not-logged-in`: the operation needs a session and there is none (Agora's `NOT_LOGGED_IN`, 102).
        public static let notLoggedIn = Code("not-logged-in")
        /// `already-logged-in`: ``HeraldClient/login(userID:token:)`` was called on a client with a session or a
        /// login under way.
        public static let alreadyLoggedIn = Code("already-logged-in")
        /// `connect-failed`: the transport could not be opened (TCP, TLS, WebSocket handshake).
        public static let connectFailed = Code("connect-failed")
        /// `handshake-failed`: the server's `Welcome` did not come, or chose a version the client did not offer.
        public static let handshakeFailed = Code("handshake-failed")
        /// `connection-lost`: the connection ended while the request was in flight; whether the server carried it
        /// out is unknown.
        public static let connectionLost = Code("connection-lost")
        /// `timeout`: no answer within the client's request timeout.
        public static let timeout = Code("timeout")
        /// `capability-not-granted`: the server did not grant the capability the operation needs (HS-19).
        public static let capabilityNotGranted = Code("capability-not-granted")
        /// `protocol-error`: the server answered the request with a `ProtocolError` (HS-76), or sent something the
        /// protocol does not allow; see ``message``.
        public static let protocolError = Code("protocol-error")
        /// `invalid-state`: the object is not in a state that allows the call (an invitation already sent, a channel
        /// released).
        public static let invalidState = Code("invalid-state")
        /// `client-closed`: ``HeraldClient/close()`` was called.
        public static let clientClosed = Code("client-closed")
    }

    /// A result code of a response: its schema name and numeric value (Agora's value of the same code).
    public struct Result: Hashable, Sendable, CustomStringConvertible {
        /// The enum value's name in the schema, for example `PEER_MESSAGE_RESULT_PEER_UNREACHABLE`.
        public let name: String
        /// The numeric value on the wire, which is Agora's numeric error code.
        public let value: Int

        /// Creates a result from its name and value.
        public init(name: String, value: Int) {
            self.name = name
            self.value = value
        }

        /// The result of `response`, whose `result` field holds `value`.
        init(_ value: some SwiftProtobuf.Enum, of response: some SwiftProtobuf.Message) {
            self.value = value.rawValue
            self.name = Self.name(in: response) ?? "\(type(of: value))(\(value.rawValue))"
        }

        /// `NAME (value)`.
        public var description: String { "\(self.name) (\(self.value))" }

        /// The schema name of the `result` field of `response`, as its JSON form writes it; `nil` for a value the
        /// schema does not define (JSON writes it as a number).
        private static func name(in response: some SwiftProtobuf.Message) -> String? {
            guard let json = try? response.jsonString(), let start = json.range(of: "\"result\":\"") else {
                return nil
            }
            let rest = json[start.upperBound...]
            return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
        }
    }

    /// The kind of failure.
    public var code: Code
    /// The server's result code, for ``Code/operationFailed``.
    public var result: Result?
    /// What happened, for humans.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String = "", result: Result? = nil) {
        self.code = code
        self.message = message
        self.result = result
    }

    /// `code: message`, with the result when there is one.
    public var description: String {
        var text = self.code.description
        if let result { text += " \(result)" }
        if !self.message.isEmpty { text += ": \(self.message)" }
        return text
    }

    /// Compares ``code`` and ``result``.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.code == rhs.code && lhs.result == rhs.result
    }

    /// Hashes ``code`` and ``result``.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.code)
        hasher.combine(self.result)
    }
}

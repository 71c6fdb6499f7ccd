import HeraldMessages
import NIOCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension BenchClient {
    /// Connects to `target`, logs in as `userID` with `token`, and calls `completion` once logged in (or failed).
    public func connectAndLogin(
        to target: BenchTarget,
        appID: String,
        userID: String,
        token: String,
        completion: @escaping (Result<Void, BenchError>) -> Void
    ) {
        self.connect(to: target) { [self] result in
            switch result {
            case .failure(let error):
                completion(.failure(error))
            case .success:
                self.login(appID: appID, userID: userID, token: token) { answer in
                    guard let response = answer.decode(Herald_V1_LoginResponse.self) else {
                        completion(
                            .failure(
                                BenchError(
                                    .unreachable,
                                    "\(userID): no LoginResponse"
                                        + (answer.protocolError.map { " (ProtocolError \($0.code): \($0.message))" }
                                            ?? "")
                                )
                            )
                        )
                        return
                    }
                    guard response.result == .ok else {
                        completion(.failure(BenchError(.unreachable, "\(userID): login refused: \(response.result)")))
                        return
                    }
                    completion(.success(()))
                }
            }
        }
    }
}

extension BenchClient {
    /// One short session: connects to `target`, logs in as `userID`, runs `session` (which gets the login's answer
    /// and calls `next` with `nil` to go on, or with the name of what failed), logs out and closes the connection.
    ///
    /// Counts `login.ok`, `logout.ok` and `cycle.ok`, or the problem that ended the cycle: `connect.failed` (counted
    /// by ``connect(to:sendHello:completion:)``), `login.<outcome>`, `session`'s name, or `logout.<outcome>` (``BenchAnswer/outcome(_:)``). Then calls
    /// `completion`, with `true` when the cycle succeeded.
    public func cycle(
        to target: BenchTarget,
        appID: String,
        userID: String,
        token: String,
        session: @escaping (BenchClient, BenchAnswer, _ next: @escaping (String?) -> Void) -> Void,
        completion: @escaping (_ succeeded: Bool) -> Void
    ) {
        let end = { [self] (failure: String?) in
            if let failure {
                self.stats.problem(failure, "\(userID): \(failure)")
            } else {
                self.stats.count("cycle.ok")
            }
            self.close()
            completion(failure == nil)
        }
        self.connect(to: target) { [self] result in
            if case .failure(let error) = result {
                // `connect` counted `connect.failed`.
                self.stats.note("connect.failed: \(userID): \(error)")
                self.close()
                return completion(false)
            }
            self.login(appID: appID, userID: userID, token: token) { [self] login in
                let response = login.decode(Herald_V1_LoginResponse.self)
                guard response?.result == .ok else { return end("login.\(login.outcome(response?.result))") }
                self.stats.count("login.ok")
                session(self, login) { [self] failure in
                    if let failure { return end(failure) }
                    self.send(opcode: .logoutRequest, Herald_V1_LogoutRequest()) { [self] answer in
                        let logout = answer.decode(Herald_V1_LogoutResponse.self)
                        guard logout?.result == .ok else {
                            return end("logout.\(answer.outcome(logout?.result))")
                        }
                        self.stats.count("logout.ok")
                        end(nil)
                    }
                }
            }
        }
    }
}

extension BenchClient {
    /// Counts the problem `closed.by-server` when the server closes this connection (not after ``close()``).
    public func countClosesByServer() {
        self.onClosed = { client in
            if !client.closedByClient { client.stats.problem("closed.by-server", client.name) }
        }
    }
}

extension BenchAnswer {
    /// A counter suffix for an answer that was not OK: `result`'s name when a response arrived,
    /// `protocol-error-<code>`, `connection-closed`, or `undecodable`.
    public func outcome(_ result: Any?) -> String {
        if let result { return "\(result)" }
        if let error = self.protocolError { return "protocol-error-\(error.code)" }
        return self.connectionClosed ? "connection-closed" : "undecodable"
    }
}

/// A message body that names its sender and its position in the sender's sequence to one receiver, so that a
/// receiver can find lost, duplicated and reordered messages: 8 bytes sender index, 8 bytes sequence number (both
/// big-endian), then padding.
public struct BenchBody: Sendable, Hashable {
    /// The sender's index in the run.
    public var sender: UInt64
    /// The sequence number, from 1, per sender and receiver (or per sender and channel).
    public var sequence: UInt64

    /// Creates a body.
    public init(sender: UInt64, sequence: UInt64) {
        self.sender = sender
        self.sequence = sequence
    }

    /// The message body: `MESSAGE_TYPE_RAW` with this body's 16 bytes padded with zeros to `size` bytes.
    public func message(size: Int) -> Herald_V1_MessageBody {
        var raw = [UInt8]()
        raw.reserveCapacity(max(16, size))
        for shift in stride(from: 56, through: 0, by: -8) {
            raw.append(UInt8(truncatingIfNeeded: self.sender >> UInt64(shift)))
        }
        for shift in stride(from: 56, through: 0, by: -8) {
            raw.append(UInt8(truncatingIfNeeded: self.sequence >> UInt64(shift)))
        }
        if size > raw.count { raw.append(contentsOf: repeatElement(0, count: size - raw.count)) }
        var body = Herald_V1_MessageBody()
        body.type = .raw
        body.raw = Data(raw)
        return body
    }

    /// Reads a body written by ``message(size:)``; `nil` when `body` is not one.
    public init?(_ body: Herald_V1_MessageBody) {
        guard body.type == .raw, body.raw.count >= 16 else { return nil }
        var sender: UInt64 = 0
        var sequence: UInt64 = 0
        body.raw.withUnsafeBytes { bytes in
            for index in 0..<8 { sender = sender << 8 | UInt64(bytes[index]) }
            for index in 8..<16 { sequence = sequence << 8 | UInt64(bytes[index]) }
        }
        self.init(sender: sender, sequence: sequence)
    }
}

import Foundation
import HeraldClient
import Synchronization

/// The adapter of `HeraldClient` for `herald conform client` (Spec/19-client-conformance.md): reads adapter
/// commands from standard input, runs them on a ``HeraldClient``, and writes replies and the client's events to
/// standard output, one JSON object per line.
///
/// Everything specific to the library is in ``perform(_:_:)`` and ``eventObject(_:)``: about 150 lines that map
/// commands to API calls and events to JSON. The rest (lines in, lines out, one task per command) is the same for
/// any Swift client library.
public final class ClientAdapter: Sendable {
    /// Makes the connector of each client: `NIOClientConnector` with the command's TLS options, or a mutant's.
    public typealias ConnectorFactory = @Sendable (ClientTLSOptions) -> any ClientConnector

    private let connectorFactory: ConnectorFactory
    private let name: String
    private let client = Mutex<HeraldClient?>(nil)
    private let invitations = Mutex<(local: [String: LocalInvitation], remote: [String: RemoteInvitation])>(([:], [:]))
    private let output = Mutex(FileHandle.standardOutput)

    /// Creates an adapter.
    ///
    /// - Parameters:
    ///   - name: The name the `hello` reply gives (`herald-swift`; a mutant's name says which).
    ///   - connectorFactory: Makes each client's connector.
    public init(
        name: String = "herald-swift",
        connectorFactory: @escaping ConnectorFactory = { NIOClientConnector(tls: $0) }
    ) {
        self.name = name
        self.connectorFactory = connectorFactory
    }

    /// Serves commands until `shutdown` or the end of standard input.
    public func run() async {
        let lines = AsyncStream<String> { continuation in
            Thread {
                while let line = readLine(strippingNewline: true) { continuation.yield(line) }
                continuation.finish()
            }.start()
        }
        await withTaskGroup(of: Void.self) { group in
            for await line in lines {
                guard let data = line.data(using: .utf8), !line.isEmpty,
                    let command = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
                    let id = command["id"] as? Int, let name = command["cmd"] as? String
                else {
                    FileHandle.standardError.write(Data("herald client-adapter: ignoring line \(line)\n".utf8))
                    continue
                }
                if name == "shutdown" {
                    await self.client.withLock { $0 }?.close()
                    self.write(["id": id, "ok": true, "result": [String: Any]()])
                    break
                }
                let arguments = Arguments(command)
                group.addTask {
                    do {
                        let result = try await self.perform(name, arguments)
                        self.write(["id": id, "ok": true, "result": result])
                    } catch let error as HeraldClientError {
                        self.write(["id": id, "ok": false, "error": Self.errorObject(error)])
                    } catch let error as AdapterError {
                        self.write(["id": id, "ok": false, "error": ["code": error.code, "message": error.message]])
                    } catch {
                        self.write(["id": id, "ok": false, "error": ["code": "error", "message": "\(error)"]])
                    }
                }
            }
            group.cancelAll()
        }
        await self.client.withLock { $0 }?.close()
    }

    // MARK: The mapping: commands to HeraldClient calls

    private func perform(_ command: String, _ arguments: Arguments) async throws -> [String: Any] {
        if command == "hello" {
            return ["protocol": "herald-adapter/1", "name": self.name, "version": "1.0", "library": "HeraldClient"]
        }
        if command == "create" {
            let address = try ServerAddress(parsing: try arguments.string("url"))
            let tls = arguments.object("tls")
            let options = ClientTLSOptions(
                insecure: tls?["insecure"] as? Bool ?? false,
                trustRootsFile: tls?["trustRootsFile"] as? String
            )
            var configuration = HeraldClient.Configuration(address: address, appID: try arguments.string("appId"))
            configuration.clientName = "HeraldClient (herald client-adapter)"
            let client = HeraldClient(configuration: configuration, connector: self.connectorFactory(options))
            self.client.withLock { $0 = client }
            let events = await client.events()
            Task { for await event in events { if let object = self.eventObject(event) { self.write(object) } } }
            return [:]
        }
        guard let client = self.client.withLock({ $0 }) else { throw AdapterError("invalid-argument", "no client") }
        switch command {
        case "login": try await client.login(userID: try arguments.string("userId"), token: arguments.text("token"))
        case "logout": try await client.logout()
        case "renewToken": _ = try await client.renewToken(try arguments.string("token"))
        case "close": await client.close()
        case "sendPeerMessage":
            let message =
                if let raw = arguments.text("rawBase64", nil).flatMap({ Data(base64Encoded: $0) }) {
                    HeraldMessage(raw: raw, description: arguments.text("text"))
                } else {
                    HeraldMessage(text: arguments.text("text"))
                }
            let options = PeerMessageOptions(
                enableOfflineMessaging: arguments.bool("offline"),
                ackMode: arguments.text("ackMode", "peer") == "server" ? .server : .peer
            )
            let sent = try await client.send(message, toPeer: try arguments.string("peerId"), options: options)
            return [
                "messageId": String(sent.messageID),
                "result": sent.cachedByServer ? "PEER_MESSAGE_RESULT_CACHED_BY_SERVER" : "PEER_MESSAGE_RESULT_OK",
            ]
        case "queryPeersOnlineStatus":
            let states = try await client.queryPeersOnlineStatus(arguments.strings("peerIds"))
            return ["states": states.mapValues { Self.schemaName("PEER_ONLINE_STATE_", $0) }]
        case "subscribePeersOnlineStatus": try await client.subscribePeersOnlineStatus(arguments.strings("peerIds"))
        case "unsubscribePeersOnlineStatus":
            try await client.unsubscribePeersOnlineStatus(arguments.strings("peerIds"))
        case "setLocalUserAttributes": try await client.setLocalUserAttributes(arguments.attributes())
        case "addOrUpdateLocalUserAttributes": try await client.addOrUpdateLocalUserAttributes(arguments.attributes())
        case "deleteLocalUserAttributes": try await client.deleteLocalUserAttributes(keys: arguments.strings("keys"))
        case "getUserAttributes":
            let attributes = try await client.userAttributes(of: try arguments.string("userId"))
            return ["attributes": attributes.map { ["key": $0.key, "value": $0.value] }]
        case "joinChannel": try await client.channel(try arguments.string("channelId")).join()
        case "leaveChannel": try await client.channel(try arguments.string("channelId")).leave()
        case "sendChannelMessage":
            try await client.channel(try arguments.string("channelId")).send(
                HeraldMessage(text: arguments.text("text"))
            )
        case "getChannelMembers":
            return ["userIds": try await client.channel(try arguments.string("channelId")).members()]
        case "getChannelMemberCount":
            return ["counts": try await client.channelMemberCounts(arguments.strings("channelIds"))]
        case "addOrUpdateChannelAttributes":
            try await client.addOrUpdateChannelAttributes(
                arguments.attributes(),
                of: try arguments.string("channelId"),
                options: ChannelAttributeOptions(notifyMembers: arguments.bool("notify"))
            )
        case "getChannelAttributes":
            let attributes = try await client.channelAttributes(of: try arguments.string("channelId"))
            return ["attributes": attributes.map { ["key": $0.key, "value": $0.value] }]
        case "sendInvitation":
            let invitation = client.callManager.createLocalInvitation(
                calleeID: try arguments.string("calleeId"),
                channelID: arguments.text("channelId")
            )
            invitation.content = arguments.text("content")
            self.invitations.withLock { $0.local[invitation.invitationID] = invitation }
            try await client.callManager.send(invitation)
            return ["invitationId": invitation.invitationID]
        case "cancelInvitation": try await client.callManager.cancel(try self.local(arguments))
        case "acceptInvitation", "refuseInvitation":
            let invitation = try self.remote(arguments)
            invitation.response = arguments.text("response")
            if command == "acceptInvitation" {
                try await client.callManager.accept(invitation)
            } else {
                try await client.callManager.refuse(invitation)
            }
        default: throw AdapterError("unsupported", "no command \(command)")
        }
        return [:]
    }

    // MARK: The mapping: HeraldClient events to adapter events

    private func eventObject(_ event: HeraldClientEvent) -> [String: Any]? {
        switch event {
        case .connectionStateChanged(let state, let reason):
            return [
                "event": "connectionState", "state": Self.schemaName("CONNECTION_STATE_", state),
                "reason": Self.schemaName("CONNECTION_CHANGE_REASON_", reason),
            ]
        case .peerMessage(let message):
            var object: [String: Any] = [
                "event": "peerMessage", "fromUserId": message.fromUserID, "text": message.message.text,
                "messageId": String(message.messageID), "offline": message.isOffline,
            ]
            if let raw = message.message.raw { object["rawBase64"] = raw.base64EncodedString() }
            return object
        case .channelMessage(let message):
            return [
                "event": "channelMessage", "channelId": message.channelID, "fromUserId": message.fromUserID,
                "text": message.message.text, "messageId": String(message.messageID),
            ]
        case .memberJoined(let channel, let user):
            return ["event": "memberJoined", "channelId": channel, "userId": user]
        case .memberLeft(let channel, let user, _):
            return ["event": "memberLeft", "channelId": channel, "userId": user]
        case .memberCountUpdated(let channel, let count):
            return ["event": "memberCount", "channelId": channel, "count": count]
        case .peersOnlineStatusChanged(let states):
            return [
                "event": "peersOnlineStatus", "states": states.mapValues { Self.schemaName("PEER_ONLINE_STATE_", $0) },
            ]
        case .channelAttributesUpdated(let channel, let attributes, _, _, _):
            return [
                "event": "channelAttributes", "channelId": channel,
                "attributes": attributes.map { ["key": $0.key, "value": $0.value] },
            ]
        case .remoteInvitation(let invitation, let state):
            self.invitations.withLock { $0.remote[invitation.invitationID] = invitation }
            return [
                "event": "remoteInvitation", "invitationId": invitation.invitationID, "callerId": invitation.callerID,
                "content": invitation.content, "channelId": invitation.channelID,
                "state": Self.schemaName("REMOTE_INVITATION_STATE_", state),
            ]
        case .localInvitation(let invitation, let state):
            return [
                "event": "localInvitation", "invitationId": invitation.invitationID, "calleeId": invitation.calleeID,
                "response": invitation.response, "state": Self.schemaName("LOCAL_INVITATION_STATE_", state),
            ]
        case .tokenExpired: return ["event": "tokenExpired"]
        case .disconnected(let reason, _):
            return ["event": "disconnected", "reason": Self.schemaName("DISCONNECT_REASON_", reason)]
        case .protocolFault(let what): return ["event": "protocolFault", "code": what]
        case .tokenPrivilegeWillExpire, .channelMemberList, .invitationMessage, .restored, .missedEvents: return nil
        }
    }

    private func local(_ arguments: Arguments) throws -> LocalInvitation {
        let id = try arguments.string("invitationId")
        guard let invitation = self.invitations.withLock({ $0.local[id] }) else {
            throw AdapterError("invalid-argument", "no local invitation \(id)")
        }
        return invitation
    }

    private func remote(_ arguments: Arguments) throws -> RemoteInvitation {
        let id = try arguments.string("invitationId")
        guard let invitation = self.invitations.withLock({ $0.remote[id] }) else {
            throw AdapterError("invalid-argument", "no remote invitation \(id)")
        }
        return invitation
    }

    // MARK: Plumbing

    private static func errorObject(_ error: HeraldClientError) -> [String: Any] {
        let code =
            switch error.code {
            case .operationFailed: "failed"
            case .invalidAddress, .invalidArgument: "invalid-argument"
            case .timeout: "timeout"
            case .connectionLost: "connection-lost"
            case .notLoggedIn: "not-logged-in"
            default: error.message.contains("TLS") || error.message.contains("certificate") ? "tls" : "error"
            }
        var object: [String: Any] = ["code": code, "message": error.description]
        if let result = error.result {
            object["value"] = result.value
            if !result.name.contains("(") { object["result"] = result.name }
        }
        return object
    }

    /// The schema name of an enum value: `CONNECTION_STATE_` + the Swift case name in upper snake case, or the
    /// number for a value the schema does not define.
    static func schemaName(_ prefix: String, _ value: some RawRepresentable<Int>) -> Any {
        let text = String(describing: value)
        guard !text.hasPrefix("UNRECOGNIZED") else { return value.rawValue }
        var name = prefix
        for character in text {
            if character.isUppercase { name += "_" }
            name += character.uppercased()
        }
        return name
    }

    private func write(_ object: [String: Any]) {
        guard
            var data = try? JSONSerialization.data(
                withJSONObject: object,
                options: [.sortedKeys, .withoutEscapingSlashes]
            )
        else { return }
        data.append(UInt8(ascii: "\n"))
        self.output.withLock { $0.write(data) }
    }
}

/// A command the adapter cannot run: `code` is one of the adapter protocol's error codes.
struct AdapterError: Error {
    var code: String
    var message: String

    init(_ code: String, _ message: String) {
        self.code = code
        self.message = message
    }
}

/// The members of one command.
struct Arguments: @unchecked Sendable {
    let members: [String: Any]

    init(_ members: [String: Any]) { self.members = members }

    func string(_ key: String) throws -> String {
        guard let value = self.members[key] as? String else {
            throw AdapterError("invalid-argument", "\(key) is missing or not a string")
        }
        return value
    }

    func text(_ key: String, _ fallback: String = "") -> String { self.members[key] as? String ?? fallback }
    func text(_ key: String, _ fallback: String?) -> String? { self.members[key] as? String ?? fallback }
    func bool(_ key: String) -> Bool { self.members[key] as? Bool ?? false }
    func strings(_ key: String) -> [String] { self.members[key] as? [String] ?? [] }
    func object(_ key: String) -> [String: Any]? { self.members[key] as? [String: Any] }

    func attributes() -> [Attribute] {
        (self.members["attributes"] as? [[String: Any]] ?? []).map {
            Attribute(key: $0["key"] as? String ?? "", value: $0["value"] as? String ?? "")
        }
    }
}

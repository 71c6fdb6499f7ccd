import Foundation
import HeraldClient
import HeraldSpec
import Testing

/// Each `HeraldClient` name of `Spec/mapping.md`, with code that uses that very symbol: the table only compiles
/// while every symbol exists with those argument labels. The closures are never run.
let mappingSymbols: [String: @Sendable (HeraldClient) async throws -> Void] = [
    "Attribute.init(key:value:)": { _ in _ = Attribute(key: "k", value: "v") },
    "Attribute.key": { _ in _ = \Attribute.key },
    "Attribute.value": { _ in _ = \Attribute.value },
    "CallManager.accept(_:)": { _ in _ = CallManager.accept(_:) },
    "CallManager.cancel(_:)": { _ in _ = CallManager.cancel(_:) },
    "CallManager.createLocalInvitation(calleeID:channelID:invitationID:)": { c in
        _ = c.callManager.createLocalInvitation(calleeID: "u", channelID: "c", invitationID: "i")
    },
    "CallManager.events()": { _ in _ = CallManager.events },
    "CallManager.refuse(_:)": { _ in _ = CallManager.refuse(_:) },
    "CallManager.send(_:requirePeerOnline:)": { _ in _ = CallManager.send(_:requirePeerOnline:) },
    "ChannelAttribute.key": { _ in _ = \ChannelAttribute.key },
    "ChannelAttribute.lastUpdatedBy": { _ in _ = \ChannelAttribute.lastUpdatedBy },
    "ChannelAttribute.lastUpdatedMs": { _ in _ = \ChannelAttribute.lastUpdatedMs },
    "ChannelAttribute.value": { _ in _ = \ChannelAttribute.value },
    "ChannelAttributeOptions.init(notifyMembers:)": { _ in _ = ChannelAttributeOptions(notifyMembers: true) },
    "ChannelUsers.memberCount": { _ in _ = \ChannelUsers.memberCount },
    "ChannelUsers.userIDs": { _ in _ = \ChannelUsers.userIDs },
    "HeraldChannel.events()": { _ in _ = HeraldChannel.events },
    "HeraldChannel.isJoined": { c in _ = await c.channel("c").isJoined },
    "HeraldChannel.join(legacyMemberList:)": { _ in _ = HeraldChannel.join(legacyMemberList:) },
    "HeraldChannel.leave()": { _ in _ = HeraldChannel.leave },
    "HeraldChannel.members()": { _ in _ = HeraldChannel.members },
    "HeraldChannel.send(_:enableHistoricalMessaging:)": { _ in _ = HeraldChannel.send(_:enableHistoricalMessaging:) },
    "HeraldClient.addOrUpdateChannelAttributes(_:of:options:)": { c in
        try await c.addOrUpdateChannelAttributes([], of: "c", options: ChannelAttributeOptions())
    },
    "HeraldClient.addOrUpdateLocalUserAttributes(_:)": { c in try await c.addOrUpdateLocalUserAttributes([]) },
    "HeraldClient.callManager": { c in _ = c.callManager },
    "HeraldClient.channel(_:)": { c in _ = c.channel("c") },
    "HeraldClient.channelAttributes(of:)": { c in _ = try await c.channelAttributes(of: "c") },
    "HeraldClient.channelAttributes(of:keys:)": { c in _ = try await c.channelAttributes(of: "c", keys: []) },
    "HeraldClient.channelMemberCounts(_:)": { c in _ = try await c.channelMemberCounts([]) },
    "HeraldClient.clearChannelAttributes(of:options:)": { c in
        try await c.clearChannelAttributes(of: "c", options: ChannelAttributeOptions())
    },
    "HeraldClient.clearLocalUserAttributes()": { c in try await c.clearLocalUserAttributes() },
    "HeraldClient.close()": { c in await c.close() },
    "HeraldClient.connectionChangeReason": { c in _ = await c.connectionChangeReason },
    "HeraldClient.connectionState": { c in _ = await c.connectionState },
    "HeraldClient.deleteChannelAttributes(keys:of:options:)": { c in
        try await c.deleteChannelAttributes(keys: [], of: "c", options: ChannelAttributeOptions())
    },
    "HeraldClient.deleteLocalUserAttributes(keys:)": { c in try await c.deleteLocalUserAttributes(keys: []) },
    "HeraldClient.events()": { c in _ = await c.events() },
    "HeraldClient.events(where:)": { c in _ = await c.events(where: { _ in true }) },
    "HeraldClient.init(address:appID:connector:)": { _ in
        _ = HeraldClient(address: ServerAddress(scheme: .tcp, host: "h"), appID: "a", connector: NIOClientConnector())
    },
    "HeraldClient.init(configuration:connector:clock:)": { c in
        _ = HeraldClient(configuration: c.configuration, connector: NIOClientConnector(), clock: SystemClientClock())
    },
    "HeraldClient.joinedChannels": { c in _ = await c.joinedChannels },
    "HeraldClient.login(userID:token:)": { c in try await c.login(userID: "u", token: "t") },
    "HeraldClient.logout()": { c in try await c.logout() },
    "HeraldClient.queryChannelUsers(_:userID:)": { c in _ = try await c.queryChannelUsers("c", userID: "u") },
    "HeraldClient.queryPeersOnlineStatus(_:)": { c in _ = try await c.queryPeersOnlineStatus([]) },
    "HeraldClient.renewToken(_:)": { c in try await c.renewToken("t") },
    "HeraldClient.send(_:toPeer:options:)": { c in
        try await c.send(HeraldMessage(text: "m"), toPeer: "u", options: PeerMessageOptions())
    },
    "HeraldClient.sendChannelMessageFromOutside(_:to:)": { c in
        try await c.sendChannelMessageFromOutside(HeraldMessage(text: "m"), to: "c")
    },
    "HeraldClient.sendDTMF(_:to:channelID:extra:)": { c in try await c.sendDTMF("1", to: "u", channelID: "c", extra: "")
    },
    "HeraldClient.setChannelAttributes(_:of:options:)": { c in
        try await c.setChannelAttributes([], of: "c", options: ChannelAttributeOptions())
    },
    "HeraldClient.setDelegate(_:)": { c in await c.setDelegate(nil) },
    "HeraldClient.setLocalUserAttributes(_:)": { c in try await c.setLocalUserAttributes([]) },
    "HeraldClient.tokenExpiresMs": { c in _ = await c.tokenExpiresMs },
    "HeraldClient.userAttributes(of:)": { c in _ = try await c.userAttributes(of: "u") },
    "HeraldClient.userAttributes(of:keys:)": { c in _ = try await c.userAttributes(of: "u", keys: []) },
    "HeraldClient.welcome": { c in _ = await c.welcome },
    "HeraldClientDelegate.handle(_:from:)": { c in
        let delegate: (any HeraldClientDelegate)? = nil
        await delegate?.handle(.protocolFault("f"), from: c)
    },
    "HeraldClientError.result": { _ in _ = \HeraldClientError.result },
    "HeraldClientEvent.channelAttributesUpdated": { _ in _ = HeraldClientEvent.channelAttributesUpdated },
    "HeraldClientEvent.channelMemberList": { _ in _ = HeraldClientEvent.channelMemberList },
    "HeraldClientEvent.channelMessage": { _ in _ = HeraldClientEvent.channelMessage },
    "HeraldClientEvent.connectionStateChanged": { _ in _ = HeraldClientEvent.connectionStateChanged },
    "HeraldClientEvent.disconnected": { _ in _ = HeraldClientEvent.disconnected },
    "HeraldClientEvent.invitationMessage": { _ in _ = HeraldClientEvent.invitationMessage },
    "HeraldClientEvent.localInvitation": { _ in _ = HeraldClientEvent.localInvitation },
    "HeraldClientEvent.memberCountUpdated": { _ in _ = HeraldClientEvent.memberCountUpdated },
    "HeraldClientEvent.memberJoined": { _ in _ = HeraldClientEvent.memberJoined },
    "HeraldClientEvent.memberLeft": { _ in _ = HeraldClientEvent.memberLeft },
    "HeraldClientEvent.peerMessage": { _ in _ = HeraldClientEvent.peerMessage },
    "HeraldClientEvent.remoteInvitation": { _ in _ = HeraldClientEvent.remoteInvitation },
    "HeraldClientEvent.tokenExpired": { _ in _ = HeraldClientEvent.tokenExpired },
    "HeraldClientEvent.tokenPrivilegeWillExpire": { _ in _ = HeraldClientEvent.tokenPrivilegeWillExpire },
    "HeraldMessage.init(raw:description:)": { _ in _ = HeraldMessage(raw: Data(), description: "") },
    "HeraldMessage.init(text:)": { _ in _ = HeraldMessage(text: "") },
    "HeraldMessage.raw": { _ in _ = \HeraldMessage.raw },
    "HeraldMessage.text": { _ in _ = \HeraldMessage.text },
    "LocalInvitation.calleeID": { _ in _ = \LocalInvitation.calleeID },
    "LocalInvitation.content": { _ in _ = \LocalInvitation.content },
    "LocalInvitation.error": { _ in _ = \LocalInvitation.error },
    "LocalInvitation.response": { _ in _ = \LocalInvitation.response },
    "LocalInvitation.state": { _ in _ = \LocalInvitation.state },
    "PeerMessageOptions.init(enableOfflineMessaging:enableHistoricalMessaging:ackMode:)": { _ in
        _ = PeerMessageOptions(enableOfflineMessaging: true, enableHistoricalMessaging: false, ackMode: .peer)
    },
    "ReceivedChannelMessage.fromUserID": { _ in _ = \ReceivedChannelMessage.fromUserID },
    "ReceivedChannelMessage.message": { _ in _ = \ReceivedChannelMessage.message },
    "ReceivedPeerMessage.fromUserID": { _ in _ = \ReceivedPeerMessage.fromUserID },
    "ReceivedPeerMessage.isOffline": { _ in _ = \ReceivedPeerMessage.isOffline },
    "ReceivedPeerMessage.message": { _ in _ = \ReceivedPeerMessage.message },
    "RemoteInvitation.callerID": { _ in _ = \RemoteInvitation.callerID },
    "RemoteInvitation.channelID": { _ in _ = \RemoteInvitation.channelID },
    "RemoteInvitation.content": { _ in _ = \RemoteInvitation.content },
    "RemoteInvitation.error": { _ in _ = \RemoteInvitation.error },
    "RemoteInvitation.response": { _ in _ = \RemoteInvitation.response },
    "RemoteInvitation.state": { _ in _ = \RemoteInvitation.state },
    "SentMessage.cachedByServer": { _ in _ = \SentMessage.cachedByServer },
    "SentMessage.messageID": { _ in _ = \SentMessage.messageID },
    "ServerAddress.init(parsing:)": { _ in _ = try ServerAddress(parsing: "tcp://h") },
]

@Suite struct MappingSymbolTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func mapping() throws -> MappingTable {
        try MappingTable(specDirectory: Self.root.appendingPathComponent("Spec"))
    }

    @Test func everyRowNamesHeraldClientSymbolsThatExist() throws {
        let table = try Self.mapping()
        #expect(table.rows.count == 142)
        var named = Set<String>()
        for row in table.rows {
            let names = row.heraldClientNames
            #expect(!names.isEmpty, "row \(row.number) (\(row.description)) names no HeraldClient symbol")
            for name in names {
                #expect(mappingSymbols[name] != nil, "row \(row.number): \(name) is not a known HeraldClient symbol")
            }
            named.formUnion(names)
        }
        // The table above holds no symbol the mapping does not name, so it cannot hide a typo.
        #expect(Set(mappingSymbols.keys).subtracting(named).isEmpty)
    }

    /// How a test calls or reads a symbol: `.login(userID:` for a method, `HeraldMessage(text:` for an initializer,
    /// `.state` for a property, `.peerMessage` for an event case.
    static func usage(of symbol: String) -> [String] {
        let type = String(symbol.prefix { $0 != "." })
        let member = String(symbol.dropFirst(type.count + 1))
        guard let open = member.firstIndex(of: "(") else { return [".\(member)"] }
        let base = String(member[..<open])
        let firstLabel = member[member.index(after: open)...].prefix { $0 != ":" && $0 != ")" }
        let call = firstLabel.isEmpty || firstLabel == "_" ? "(" : "(\(firstLabel):"
        if base == "init" { return ["\(type)\(call)", ".init\(call)"] }
        return [".\(base)\(call)", ".\(base)(\n"]
    }

    @Test func aTestExercisesEverySymbol() throws {
        let directory = Self.root.appendingPathComponent("Tests/HeraldClientTests")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".swift") && $0 != "MappingSymbolTests.swift" }
        let tests = try files.map { try String(contentsOf: directory.appendingPathComponent($0), encoding: .utf8) }
            .joined(separator: "\n")
        for symbol in mappingSymbols.keys.sorted() {
            let usages = Self.usage(of: symbol)
            #expect(usages.contains { tests.contains($0) }, "no test uses \(symbol) (looked for \(usages))")
        }
    }

    @Test func theMigrationPageIsGeneratedFromTheMapping() throws {
        let committed = try String(
            contentsOf: Self.root.appendingPathComponent(MigrationGuide.path),
            encoding: .utf8
        )
        #expect(
            committed == MigrationGuide.render(try Self.mapping()),
            "\(MigrationGuide.path) is out of date: run `swift run herald spec migration --write`"
        )
    }
}

import ArgumentParser
import Foundation
import HeraldClient
import HeraldEngine

/// `herald chat`: a terminal chat on the `HeraldClient` library's public API, the library's example program.
struct Chat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Chat from the terminal: peer and channel messages, presence and calls (an example of HeraldClient).",
        discussion: """
            Logs in as --user and reads lines from standard input. A line of text goes to the current channel \
            (--channel or /join); commands start with a slash:

              /msg USER TEXT   a peer message (returns once USER's client has it)
              /join CHANNEL    join a channel and make it the current one
              /leave           leave the current channel
              /who             the current channel's members
              /online USER...  the users' online state
              /call USER       invite USER to a call in the current channel
              /accept, /refuse answer the last call invitation received
              /quit            log out and exit (end of input does the same)

            The token is --token, or one minted here from the app secret (--app-secret-file or HERALD_APP_SECRET, \
            as "herald token mint" does); without either, the server must allow tokenless login for the app.

            Exit status: 0 after /quit or the end of input; 1 the login failed; 2 a flag is wrong.
            """
    )

    @Argument(help: "The server: tcp://host[:port], tls://…, ws://host[:port][/path] or wss://….")
    var url = "tcp://127.0.0.1:7420"

    @Option(help: "The app id.")
    var appID = "herald-dev"

    @Option(help: "The user to log in as.")
    var user: String

    @Option(help: "The token (a JWT); see also --app-secret-file.")
    var token: String?

    @Option(help: "A file holding the app secret, to mint a token for --user here.")
    var appSecretFile: String?

    @Option(help: "A channel to join at once.")
    var channel: String?

    @Flag(help: "Do not verify the server's TLS certificate (development servers only, TRN-8).")
    var insecure = false

    func run() async throws {
        let address: ServerAddress
        do {
            address = try ServerAddress(parsing: self.url)
        } catch {
            throw ValidationError(error.description)
        }
        let token = try await self.loginToken()
        let connector = NIOClientConnector(tls: ClientTLSOptions(insecure: self.insecure))
        let client = HeraldClient(address: address, appID: self.appID, connector: connector)
        let events = await client.events()
        let printer = Task { await Self.printEvents(events) }
        do {
            try await client.login(userID: self.user, token: token)
        } catch {
            Console.error("herald chat: \(error)")
            throw ExitCode.failure
        }
        print("* logged in to \(address) as \(self.user); /quit to leave")
        var current = self.channel
        if let channel = self.channel { _ = await Self.run("/join \(channel)", client, &current) }
        for await line in Self.standardInputLines() {
            guard await Self.run(line, client, &current) else { break }
        }
        await client.close()
        printer.cancel()
    }

    private func loginToken() async throws -> String {
        if let token = self.token { return token }
        let environment = ProcessInfo.processInfo.environment
        guard
            let (secret, _) = try AppSecretSource.select(
                secret: nil,
                file: self.appSecretFile,
                environment: environment
            )
        else { return "" }
        return try await TokenMinter.mint(
            appID: self.appID,
            userID: self.user,
            secret: secret,
            issuedAt: Int64(Date().timeIntervalSince1970),
            lifetimeSeconds: 3600
        )
    }

    /// Carries out one input line; `false` to stop.
    private static func run(_ line: String, _ client: HeraldClient, _ current: inout String?) async -> Bool {
        let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard let first = words.first else { return true }
        do {
            switch first {
            case "/quit":
                return false
            case "/msg" where words.count >= 3:
                let text = words.dropFirst(2).joined(separator: " ")
                try await client.send(HeraldMessage(text: text), toPeer: words[1])
                print("* delivered to \(words[1])")
            case "/join" where words.count == 2:
                try await client.channel(words[1]).join()
                current = words[1]
                print("* joined \(words[1])")
            case "/leave":
                guard let channel = current else { return true }
                try await client.channel(channel).leave()
                current = nil
                print("* left \(channel)")
            case "/who":
                guard let channel = current else { return Self.say("* join a channel first") }
                print(
                    "* in \(channel): " + (try await client.channel(channel).members()).sorted().joined(separator: ", ")
                )
            case "/online" where words.count >= 2:
                let states = try await client.queryPeersOnlineStatus(Array(words.dropFirst()))
                for (user, state) in states.sorted(by: { $0.key < $1.key }) { print("* \(user): \(state)") }
            case "/call" where words.count == 2:
                let call = client.callManager.createLocalInvitation(calleeID: words[1], channelID: current ?? "")
                try await client.callManager.send(call)
                print("* calling \(words[1]) (\(call.invitationID))")
            case "/accept", "/refuse":
                guard let invitation = await Self.lastInvitation.take() else { return Self.say("* no call to answer") }
                if first == "/accept" {
                    try await client.callManager.accept(invitation)
                } else {
                    try await client.callManager.refuse(invitation)
                }
            default:
                if first.hasPrefix("/") { return Self.say("* unknown command or arguments: \(line)") }
                guard let channel = current else { return Self.say("* join a channel first, or /msg USER TEXT") }
                try await client.channel(channel).send(HeraldMessage(text: line))
            }
        } catch {
            print("* \(error)")
        }
        return true
    }

    private static func say(_ text: String) -> Bool {
        print(text)
        return true
    }

    /// The last call invitation received, for /accept and /refuse.
    private actor LastInvitation {
        var invitation: RemoteInvitation?
        func set(_ invitation: RemoteInvitation?) { self.invitation = invitation }
        func take() -> RemoteInvitation? {
            defer { self.invitation = nil }
            return self.invitation
        }
    }

    private static let lastInvitation = LastInvitation()

    private static func printEvents(_ events: AsyncStream<HeraldClientEvent>) async {
        for await event in events {
            switch event {
            case .peerMessage(let message):
                print("[\(message.fromUserID)] \(message.message.text)" + (message.isOffline ? " (while offline)" : ""))
            case .channelMessage(let message):
                print("#\(message.channelID) <\(message.fromUserID)> \(message.message.text)")
            case .memberJoined(let channel, let user):
                print("* \(user) joined #\(channel)")
            case .memberLeft(let channel, let user, let reason):
                print("* \(user) left #\(channel) (\(reason))")
            case .remoteInvitation(let invitation, .invitationReceived):
                await Self.lastInvitation.set(invitation)
                print("* \(invitation.callerID) is calling; /accept or /refuse")
            case .remoteInvitation(let invitation, let state):
                print("* call \(invitation.invitationID) from \(invitation.callerID): \(state)")
            case .localInvitation(let invitation, let state):
                print("* call \(invitation.invitationID) to \(invitation.calleeID): \(state)")
            case .connectionStateChanged(let state, let reason):
                print("* connection: \(state) (\(reason))")
            case .restored(let restoration):
                print("* reconnected; rejoined \(restoration.rejoinedChannels.joined(separator: ", "))")
            case .protocolFault(let why):
                print("* protocol fault: \(why)")
            default:
                break
            }
        }
    }

    /// Standard input's lines, read on a thread of their own.
    private static func standardInputLines() -> AsyncStream<String> {
        AsyncStream { continuation in
            let thread = Thread {
                while let line = readLine() { continuation.yield(line) }
                continuation.finish()
            }
            thread.start()
        }
    }
}

/// Prints a line at once (standard output may be a pipe, where `Swift.print` would hold it back).
private func print(_ text: String) {
    Console.output(text + "\n")
}

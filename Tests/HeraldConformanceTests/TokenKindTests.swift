import Foundation
import HeraldEngine
import HeraldServer
import Testing

@testable import HeraldConformance

/// The app-ID-only app of the runner tests' server.
private let openAppID = "conformance-tests-open"

/// The runner tests' server, serving ``openAppID`` in app-ID-only mode beside ``RunnerFixtures/appID``.
private func configurationWithOpenApp() -> HeraldServerConfiguration {
    var configuration = RunnerFixtures.configuration()
    configuration.engine.apps.append(
        AppCredentials(appID: openAppID, secrets: [RunnerFixtures.secret], allowsTokenlessLogin: true)
    )
    return configuration
}

/// The header and claims set of a token, as their JSON texts.
private func segments(_ token: String) throws -> (header: String, claims: String) {
    let parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    try #require(parts.count == 3)
    func decode(_ segment: String) throws -> String {
        var base64 = String(segment.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
        while base64.count % 4 != 0 { base64 += "=" }
        return String(decoding: try #require(Data(base64Encoded: base64)), as: UTF8.self)
    }
    return (try decode(parts[0]), try decode(parts[1]))
}

@Suite("Token kinds for TOK-6 and cases of app-ID-only mode")
struct TokenKindTests {
    @Test("extra-claims and extra-header parse, print, and map to their TokenKind")
    func kindsParse() {
        #expect(TokenSpec("extra-claims") == .extraClaims)
        #expect(TokenSpec("extra-header") == .extraHeader)
        #expect(TokenSpec("extra-claims")?.description == "extra-claims")
        #expect(TokenSpec("extra-header")?.description == "extra-header")
        #expect(TokenSpec("extra-other") == nil)
        #expect(TokenKind.extraClaims.description == "extra-claims")
        #expect(TokenKind.extraHeader.description == "extra-header")
        #expect(Templating.problems(in: "${token:extra-claims}${token:extra-header}").isEmpty)
        #expect(!Templating.problems(in: "${token:extra-nothing}").isEmpty)
    }

    @Test("An extra-claims token carries the standard claims first, then undefined ones, and verifies")
    func extraClaimsToken() async throws {
        let source = SecretTokenSource(secret: RunnerFixtures.secret)
        let token = try await source.token(for: TokenRequest(appID: "app", userID: "alice", kind: .extraClaims))
        let (header, claims) = try segments(token)
        #expect(header == #"{"alg":"HS256","typ":"JWT"}"#)
        #expect(claims.hasPrefix(#"{"aud":"app","sub":"alice","iat":"#))
        for member in [
            #""jti":"#, #""scope":"chat presence""#, #""roles":["member","tester"]"#,
            #""nested":[1,2.5,-300,true,false,null,"é ✓"]"#, #""Aud":"app-other""#, #""SUB":"alice-other""#,
            #""EXP":1"#, #""Iat":"#, #""NBF":"#,
        ] {
            #expect(claims.contains(member), "no \(member) in \(claims)")
        }
        // The case variants come after the claims they imitate.
        let exp = try #require(claims.range(of: #""exp":"#))
        let variant = try #require(claims.range(of: #""EXP":"#))
        #expect(exp.lowerBound < variant.lowerBound)
        #expect(try JSONSerialization.jsonObject(with: Data(claims.utf8)) is [String: Any])

        let verifier = JWTTokenVerifier(apps: [AppCredentials(appID: "app", secrets: [RunnerFixtures.secret])])
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        let verdict = verifier.verifyLogin(token: token, appID: "app", userID: "alice", nowMs: nowMs)
        guard case .verified(let verified) = verdict else {
            Issue.record("the extra-claims token does not verify: \(verdict)")
            return
        }
        #expect(verified.expiresMs > nowMs + 3_000_000)
    }

    @Test("An extra-header token carries alg and typ first, then undefined members, and verifies")
    func extraHeaderToken() async throws {
        let source = SecretTokenSource(secret: RunnerFixtures.secret, issuer: "https://issuer.test")
        let token = try await source.token(for: TokenRequest(appID: "app", userID: "alice", kind: .extraHeader))
        let (header, claims) = try segments(token)
        #expect(
            header
                == #"{"alg":"HS256","typ":"JWT","x-herald-conformance":"a header member Herald does not define","#
                + #""ext":{"nested":[1,true,null,"é"]},"ALG":"none","Typ":"herald-unknown"}"#
        )
        #expect(claims.hasPrefix(#"{"aud":"app","sub":"alice","iat":"#))
        #expect(claims.hasSuffix(#","iss":"https://issuer.test"}"#))
        let verifier = JWTTokenVerifier(apps: [AppCredentials(appID: "app", secrets: [RunnerFixtures.secret])])
        let verdict = verifier.verifyRenewal(
            token: token,
            appID: "app",
            userID: "alice",
            nowMs: Int64(Date().timeIntervalSince1970 * 1000)
        )
        guard case .verified = verdict else {
            Issue.record("the extra-header token does not verify: \(verdict)")
            return
        }
    }

    @Test("Token commands get the new kinds in HERALD_TOKEN_KIND; the tokenless source cannot make them")
    func otherSources() async throws {
        let command = CommandTokenSource(command: #"echo "$HERALD_APP_ID/$HERALD_TOKEN_KIND""#)
        #expect(
            try await command.token(for: TokenRequest(appID: "a", userID: "u", kind: .extraClaims)) == "a/extra-claims"
        )
        #expect(
            try await command.token(for: TokenRequest(appID: "a", userID: "u", kind: .extraHeader)) == "a/extra-header"
        )
        for kind in [TokenKind.extraClaims, .extraHeader] {
            await #expect(throws: TokenUnavailable.self) {
                try await TokenlessTokenSource().token(for: TokenRequest(appID: "a", userID: "u", kind: kind))
            }
        }
    }

    @Test("A case's app is main by default or app-id-only; other values are rejected with the case named")
    func caseApp() throws {
        let loader = ScenarioLoader(requirementIDs: nil)
        let plain = try loader.load(files: [
            ("04-handshake.json", LoaderFixtures.file(LoaderFixtures.scenario("handshake.plain")))
        ])
        #expect(plain.cases.first?.scenario.app == .main)
        let open = try RunnerFixtures.corpusCase(
            #"""
            {"id": "handshake.open", "title": "t", "requirements": ["HS-40"], "level": "MUST", "app": "app-id-only",
             "actors": ["alice"], "steps": [{"connect": {"actor": "alice"}}]}
            """#
        )
        #expect(open.scenario.app == .appIDOnly)
        let bad = Data(
            #"""
            {"suite": "herald-scenarios", "schemaVersion": 1, "protocolVersion": 1, "chapter": "04-handshake",
             "description": "test", "cases": [{"id": "handshake.bad", "title": "t", "requirements": ["HS-40"],
             "level": "MUST", "app": "tokenless", "actors": ["alice"], "steps": [{"sync": "alice"}]}]}
            """#.utf8
        )
        let error = #expect(throws: ScenarioLoadError.self) {
            try loader.load(files: [("04-handshake.json", bad)])
        }
        #expect(error?.description.contains("case handshake.bad, app: ") == true, "\(String(describing: error))")
    }

    @Test("Cases of app-ID-only mode are not applicable without --app-id-only, and use that app with it")
    func appIDOnlyCases() async throws {
        let scenario = try RunnerFixtures.corpusCase(
            #"""
            {"id": "handshake.app-id-only", "title": "t", "requirements": ["HS-40"], "level": "MUST",
             "app": "app-id-only", "actors": ["alice", "bob", "carol"], "steps": [
               {"connect": {"actor": "alice"}},
               {"send": {"actor": "alice", "type": "LoginRequest",
                         "payload": {"appId": "${app}", "userId": "${user:alice}", "token": ""}, "as": "login"}},
               {"expect": {"actor": "alice", "response": "login",
                           "payload": {"result": "LOGIN_RESULT_OK", "tokenExpiresMs": "0"}}},
               {"connect": {"actor": "bob"}}, {"login": {"actor": "bob", "token": "none"}},
               {"connect": {"actor": "carol"}}, {"login": {"actor": "carol", "token": "extra-claims"}},
               {"send": {"actor": "carol", "type": "RenewTokenRequest", "payload": {"token": "${token:valid}"},
                         "as": "renew"}},
               {"expect": {"actor": "carol", "response": "renew", "payload": {"result": "RENEW_TOKEN_RESULT_OK"}}}
            ]}
            """#
        )
        try await RunnerFixtures.withServer(configurationWithOpenApp()) { listeners in
            let environment = try await RunnerFixtures.environment(try RunnerFixtures.target(listeners, .tcp))
            let skipped = await RunnerFixtures.judged(environment, scenario)
            #expect(skipped.verdict == .notApplicable)
            #expect(
                skipped.message
                    == "the case needs an app in app-ID-only mode (Spec/15-tokens.md §15.5); name one that the "
                    + "target serves with --app-id-only APPID"
            )

            var named = environment
            named.appIDOnlyAppID = openAppID
            let passed = await RunnerFixtures.judged(named, scenario)
            #expect(passed.verdict == .pass, "\(RunnerFixtures.describe([passed]))")

            // The main app refuses the empty token (TOK-16): the case really ran against the app-ID-only app.
            named.appIDOnlyAppID = RunnerFixtures.appID
            let refused = await RunnerFixtures.judged(named, scenario)
            #expect(refused.verdict == .fail)
            #expect(refused.message.contains("LOGIN_RESULT_INVALID_TOKEN"), "\(refused.message)")
        }
    }

    @Test("--app-id-only is for a TARGET, must not be empty, and is kept in rerun commands")
    func option() async {
        var options = ConformOptions()
        options.appIDOnly = "open"
        let (embedded, _, embeddedErrors) = await ConformCommandTests.conform(options)
        #expect(embedded == .usage)
        #expect(embeddedErrors.contains("--app-id-only"))
        options.target = "tcp://127.0.0.1:7420"
        options.appIDOnly = ""
        let (empty, _, emptyErrors) = await ConformCommandTests.conform(options)
        #expect(empty == .usage)
        #expect(emptyErrors.hasPrefix("error: --app-id-only needs"))
        options.appIDOnly = "open app"
        #expect(
            ConformDriver(options: options).rerunCommandMaker()("tokens.x")
                == "herald conform tcp://127.0.0.1:7420 --app-id-only 'open app' --filter tokens.x --verbose"
        )
    }
}

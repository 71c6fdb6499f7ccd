import HeraldEngine
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Fixtures for the token tests.
enum TokenFixture {
    static let app = "app"
    static let user = "alice"
    static let secretA = Array("0123456789abcdef0123456789abcdef".utf8)
    static let secretB = Array("fedcba9876543210fedcba9876543210-b".utf8)
    static let secretC = Array("a third secret that nobody configured".utf8)
    static let iat: Int64 = 1_767_225_600
    static let exp: Int64 = 1_767_229_200
    static let nowMs: Int64 = 1_767_225_600_000
    static let header = #"{"alg":"HS256","typ":"JWT"}"#

    static let exampleAppID = "4f2a9c1e8b7d4e6fa1c3b5d7e9f01234"
    static let exampleSecret = Array("herald-example-app-secret-32bytes!!".utf8)
    static let exampleHeader = #"{"alg":"HS256","typ":"JWT"}"#
    static let exampleClaims =
        #"{"iss":"https://auth.example.com","aud":"4f2a9c1e8b7d4e6fa1c3b5d7e9f01234","sub":"alice","#
        + #""iat":1767225600,"exp":1767229200}"#
    static let exampleToken =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
        + ".eyJpc3MiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20iLCJhdWQiOiI0ZjJhOWMxZThiN2Q0ZTZmYTFjM2I1ZDdlOWYwMTIzNCIsInN1"
        + "YiI6ImFsaWNlIiwiaWF0IjoxNzY3MjI1NjAwLCJleHAiOjE3NjcyMjkyMDB9"
        + ".yIY3m7tLHytoXuiNkaZsi2DwjAsL8iIgYahCijsgpQw"

    /// A verifier for app `app` with `secretA`.
    static func verifier(
        secrets: [[UInt8]] = [secretA],
        tokenless: Bool = false,
        maximumLifetimeSeconds: Int64? = nil,
        acceptedIssuers: Set<String>? = nil
    ) -> JWTTokenVerifier {
        JWTTokenVerifier(
            apps: [
                AppCredentials(appID: app, secrets: secrets, allowsTokenlessLogin: tokenless),
                AppCredentials(appID: "other", secrets: [secretB]),
            ],
            maximumLifetimeSeconds: maximumLifetimeSeconds,
            acceptedIssuers: acceptedIssuers
        )
    }

    /// A claims set: `aud` "app", `sub` "alice", `iat` and `exp` as above, with members replaced (or removed, for
    /// `nil`) and added from `changes`. Values are raw JSON.
    static func claims(_ changes: KeyValuePairs<String, String?> = [:]) -> String {
        var members: [(name: String, value: String)] = [
            ("aud", #""app""#), ("sub", #""alice""#), ("iat", "\(iat)"), ("exp", "\(exp)"),
        ]
        for (name, value) in changes {
            if let index = members.firstIndex(where: { $0.name == name }) {
                if let value { members[index].value = value } else { members.remove(at: index) }
            } else if let value {
                members.append((name, value))
            }
        }
        return "{" + members.map { "\"\($0.name)\":\($0.value)" }.joined(separator: ",") + "}"
    }

    /// A token with `header` and `claims`, correctly signed under `secret`.
    static func token(
        header: String = header,
        claims: String = claims(),
        secret: [UInt8] = secretA
    ) async throws
        -> String
    {
        try await TokenMinter.sign(headerJSON: header, claimsJSON: claims, secret: secret)
    }

    /// Base64url without padding of raw bytes.
    static func base64URL(_ bytes: [UInt8]) -> String {
        String(
            Data(bytes).base64EncodedString().compactMap { character -> Character? in
                switch character {
                case "+": "-"
                case "/": "_"
                case "=": nil
                default: character
                }
            }
        )
    }

    /// A token built from raw segment bytes, with a dummy (wrong) signature.
    static func rawToken(header: [UInt8], claims: [UInt8]) -> String {
        base64URL(header) + "." + base64URL(claims) + "." + base64URL(Array(repeating: 7, count: 32))
    }
}

/// Verifies `token` both as a login and as a renewal.
private func verdicts(
    _ token: String,
    verifier: JWTTokenVerifier = TokenFixture.verifier(),
    appID: String = TokenFixture.app,
    userID: String = TokenFixture.user,
    nowMs: Int64 = TokenFixture.nowMs
) async -> (login: TokenVerdict, renewal: TokenVerdict) {
    let login = verifier.verifyLogin(token: token, appID: appID, userID: userID, nowMs: nowMs)
    let renewal = verifier.verifyRenewal(token: token, appID: appID, userID: userID, nowMs: nowMs)
    return (login, renewal)
}

/// One token and the verdict it must get, as a login and as a renewal.
struct TokenTestCase: Sendable, CustomTestStringConvertible {
    var name: String
    var header: String = TokenFixture.header
    var claims: String = TokenFixture.claims()
    var expected: TokenVerdict

    var testDescription: String { self.name }
}

private let verifiedDefault = TokenVerdict.verified(VerifiedToken(expiresMs: TokenFixture.exp * 1000))

@Suite("Tokens (Spec/15-tokens.md)")
struct TokenTests {
    // MARK: Spec §15.8 example

    @Test("§15.8: the example token is reproduced by signing its header and claims")
    func exampleTokenIsReproduced() async throws {
        let token = try await TokenMinter.sign(
            headerJSON: TokenFixture.exampleHeader,
            claimsJSON: TokenFixture.exampleClaims,
            secret: TokenFixture.exampleSecret
        )
        #expect(token == TokenFixture.exampleToken)
    }

    @Test("§15.8: the example token verifies from iat − 60 s until just before exp")
    func exampleTokenValidityWindow() async {
        let verifier = JWTTokenVerifier(
            apps: [AppCredentials(appID: TokenFixture.exampleAppID, secrets: [TokenFixture.exampleSecret])]
        )
        let verified = TokenVerdict.verified(VerifiedToken(expiresMs: 1_767_229_200_000))
        let expectations: [(Int64, TokenVerdict)] = [
            (1_767_225_539_999, .failed(.notYetValid)),
            (1_767_225_540_000, verified),
            (1_767_225_600_000, verified),
            (1_767_229_199_999, verified),
            (1_767_229_200_000, .failed(.expired)),
            (1_767_300_000_000, .failed(.expired)),
        ]
        for (nowMs, expected) in expectations {
            let result = await verdicts(
                TokenFixture.exampleToken,
                verifier: verifier,
                appID: TokenFixture.exampleAppID,
                nowMs: nowMs
            )
            #expect(result.login == expected, "login at \(nowMs)")
            #expect(result.renewal == expected, "renewal at \(nowMs)")
        }
    }

    @Test("§15.8: the example token for bob is NOT_AUTHORIZED; under another app's secret INVALID_TOKEN")
    func exampleTokenWrongUserAndApp() async {
        let verifier = JWTTokenVerifier(
            apps: [
                AppCredentials(appID: TokenFixture.exampleAppID, secrets: [TokenFixture.exampleSecret]),
                AppCredentials(appID: "another-app", secrets: [TokenFixture.secretB]),
            ]
        )
        let bob = await verdicts(
            TokenFixture.exampleToken,
            verifier: verifier,
            appID: TokenFixture.exampleAppID,
            userID: "bob",
            nowMs: 1_767_225_600_000
        )
        #expect(bob.login == .failed(.subject))
        #expect(bob.renewal == .failed(.subject))
        let other = await verdicts(
            TokenFixture.exampleToken,
            verifier: verifier,
            appID: "another-app",
            nowMs: 1_767_225_600_000
        )
        #expect(other.login == .failed(.signature))
        #expect(other.renewal == .failed(.signature))
    }

    // MARK: Minting

    @Test("Minted tokens round-trip, with and without an issuer")
    func mintedTokensRoundTrip() async throws {
        let plain = try await TokenMinter.mint(
            appID: TokenFixture.app,
            userID: TokenFixture.user,
            secret: TokenFixture.secretA,
            issuedAt: TokenFixture.iat,
            lifetimeSeconds: 3600
        )
        let withIssuer = try await TokenMinter.mint(
            appID: TokenFixture.app,
            userID: TokenFixture.user,
            secret: TokenFixture.secretA,
            issuedAt: TokenFixture.iat,
            lifetimeSeconds: 3600,
            issuer: "https://auth.example.com"
        )
        for token in [plain, withIssuer] {
            #expect(token.split(separator: ".", omittingEmptySubsequences: false).count == 3)
            let result = await verdicts(token)
            #expect(result.login == verifiedDefault)
            #expect(result.renewal == verifiedDefault)
        }
        let restricted = TokenFixture.verifier(acceptedIssuers: ["https://auth.example.com"])
        #expect(await verdicts(withIssuer, verifier: restricted).login == verifiedDefault)
        #expect(await verdicts(plain, verifier: restricted).login == .failed(.claims))
        let lifetime = TokenFixture.verifier(maximumLifetimeSeconds: 3600)
        #expect(await verdicts(plain, verifier: lifetime).login == verifiedDefault)
    }

    @Test("A minted token's header is HS256 with typ JWT, and its times are integers")
    func mintedTokenShape() async throws {
        let token = try await TokenMinter.mint(
            appID: TokenFixture.app,
            userID: TokenFixture.user,
            secret: TokenFixture.secretA,
            issuedAt: TokenFixture.iat,
            lifetimeSeconds: 60
        )
        let segments = token.split(separator: ".").map(String.init)
        let header = try #require(Self.decodeSegment(segments[0]))
        let claims = try #require(Self.decodeSegment(segments[1]))
        #expect(header.contains(#""alg":"HS256""#))
        #expect(header.contains(#""typ":"JWT""#))
        #expect(claims.contains(#""iat":1767225600"#))
        #expect(claims.contains(#""exp":1767225660"#))
        #expect(claims.contains(#""aud":"app""#))
        #expect(claims.contains(#""sub":"alice""#))
    }

    @Test("The minter refuses short secrets and lifetimes that are not positive")
    func minterRefusesBadInput() async {
        await #expect(throws: TokenMinterError.self) {
            _ = try await TokenMinter.mint(
                appID: "a",
                userID: "u",
                secret: Array(repeating: 1, count: 31),
                issuedAt: 0,
                lifetimeSeconds: 10
            )
        }
        await #expect(throws: TokenMinterError.self) {
            _ = try await TokenMinter.mint(
                appID: "a",
                userID: "u",
                secret: TokenFixture.secretA,
                issuedAt: 0,
                lifetimeSeconds: 0
            )
        }
        await #expect(throws: TokenMinterError.self) {
            _ = try await TokenMinter.mint(
                appID: "a",
                userID: "u",
                secret: TokenFixture.secretA,
                issuedAt: Int64.max,
                lifetimeSeconds: 1
            )
        }
    }

    // MARK: Step 1

    static let malformedShapeCases: [(String, String)] = [
        ("empty header segment", ".eyJhIjoxfQ.AAAA"),
        ("empty claims segment", "eyJhbGciOiJIUzI1NiJ9..AAAA"),
        ("empty signature segment (unsigned)", "eyJhbGciOiJIUzI1NiJ9.eyJhIjoxfQ."),
        ("two segments", "eyJhbGciOiJIUzI1NiJ9.eyJhIjoxfQ"),
        ("one segment", "eyJhbGciOiJIUzI1NiJ9"),
        ("four segments", TokenFixture.exampleToken + ".AAAA"),
        ("padding '='", TokenFixture.exampleToken + "="),
        ("padding inside the header", "eyJhbGciOiJIUzI1NiJ9=.eyJhIjoxfQ.AAAA"),
        ("standard base64 '+'", TokenFixture.exampleToken + "+"),
        ("standard base64 '/'", "eyJhbGciOiJIUzI1NiJ9.eyJhIjoxfQ.AA/A"),
        ("character outside the alphabet", "eyJhbGciOiJIUzI1NiJ9.eyJhIjoxfQ.AA*A"),
        ("whitespace", "eyJhbGciOiJIUzI1NiJ9 .eyJhIjoxfQ.AAAA"),
        ("impossible length", "eyJhbGciOiJIUzI1NiJ9.eyJhIjoxfQ.AAAAA"),
        ("set bits after the last byte", String(TokenFixture.exampleToken.dropLast()) + "x"),
    ]

    @Test("Step 1: tokens that are not three canonical base64url segments", arguments: malformedShapeCases)
    func malformedShape(name: String, token: String) async {
        let result = await verdicts(token)
        #expect(result.login == .failed(.malformed), "\(name)")
        #expect(result.renewal == .failed(.malformed), "\(name)")
    }

    static let malformedJSONCases: [(String, [UInt8], [UInt8])] = [
        ("header not JSON", Array("alg:HS256".utf8), Array(TokenFixture.claims().utf8)),
        ("header a JSON array", Array(#"["alg","HS256"]"#.utf8), Array(TokenFixture.claims().utf8)),
        ("header a JSON string", Array(#""HS256""#.utf8), Array(TokenFixture.claims().utf8)),
        ("claims not JSON", Array(TokenFixture.header.utf8), Array("aud=app".utf8)),
        ("claims truncated", Array(TokenFixture.header.utf8), Array(TokenFixture.claims().dropLast().utf8)),
        ("claims with trailing data", Array(TokenFixture.header.utf8), Array((TokenFixture.claims() + "{}").utf8)),
        ("claims with trailing comma", Array(TokenFixture.header.utf8), Array(#"{"aud":"app",}"#.utf8)),
        ("claims invalid UTF-8", Array(TokenFixture.header.utf8), [0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D]),
        ("claims overlong UTF-8", Array(TokenFixture.header.utf8), [0x7B, 0x22, 0xC0, 0xAF, 0x22, 0x3A, 0x31, 0x7D]),
        ("claims lone surrogate escape", Array(TokenFixture.header.utf8), Array(#"{"x":"\ud800"}"#.utf8)),
        ("claims raw control character", Array(TokenFixture.header.utf8), Array("{\"x\":\"a\u{01}b\"}".utf8)),
        ("claims leading zero", Array(TokenFixture.header.utf8), Array(#"{"exp":01}"#.utf8)),
        ("claims single quotes", Array(TokenFixture.header.utf8), Array("{'aud':'app'}".utf8)),
        (
            "claims byte order mark", Array(TokenFixture.header.utf8),
            [0xEF, 0xBB, 0xBF] + Array(TokenFixture.claims().utf8)
        ),
        ("header duplicate member", Array(#"{"alg":"HS256","alg":"HS256"}"#.utf8), Array(TokenFixture.claims().utf8)),
        (
            "claims duplicate member",
            Array(TokenFixture.header.utf8),
            Array(TokenFixture.claims(["sub": #""alice","sub":"alice""#]).utf8)
        ),
        (
            "claims duplicate member spelled with an escape",
            Array(TokenFixture.header.utf8),
            Array(TokenFixture.claims(["\\u0073ub": #""alice""#]).utf8)
        ),
        (
            "claims nested duplicate member",
            Array(TokenFixture.header.utf8),
            Array(TokenFixture.claims(["extra": #"{"a":1,"a":2}"#]).utf8)
        ),
        (
            "claims nested too deeply",
            Array(TokenFixture.header.utf8),
            Array(
                TokenFixture.claims(["extra": String(repeating: "[", count: 100) + String(repeating: "]", count: 100)])
                    .utf8
            )
        ),
    ]

    @Test("Step 1: header or claims that are not a JSON object", arguments: malformedJSONCases)
    func malformedJSON(name: String, header: [UInt8], claims: [UInt8]) async {
        let result = await verdicts(TokenFixture.rawToken(header: header, claims: claims))
        #expect(result.login == .failed(.malformed), "\(name)")
        #expect(result.renewal == .failed(.malformed), "\(name)")
    }

    @Test("Step 1 comes before step 2 and step 3, even with a correct signature")
    func malformedClaimsCorrectlySigned() async throws {
        let token = try await TokenFixture.token(header: #"{"alg":"none"}"#, claims: "not json")
        let result = await verdicts(token)
        #expect(result.login == .failed(.malformed))
        #expect(result.renewal == .failed(.malformed))
    }

    // MARK: Step 2

    static let headerCases: [TokenTestCase] = [
        TokenTestCase(name: "alg none", header: #"{"alg":"none"}"#, expected: .failed(.header)),
        TokenTestCase(name: "alg HS512", header: #"{"alg":"HS512","typ":"JWT"}"#, expected: .failed(.header)),
        TokenTestCase(name: "alg RS256", header: #"{"alg":"RS256"}"#, expected: .failed(.header)),
        TokenTestCase(name: "alg lowercase hs256", header: #"{"alg":"hs256"}"#, expected: .failed(.header)),
        TokenTestCase(name: "alg missing", header: #"{"typ":"JWT"}"#, expected: .failed(.header)),
        TokenTestCase(name: "alg not a string", header: #"{"alg":256}"#, expected: .failed(.header)),
        TokenTestCase(name: "alg in an array", header: #"{"alg":["HS256"]}"#, expected: .failed(.header)),
        TokenTestCase(
            name: "crit present",
            header: #"{"alg":"HS256","crit":["exp"],"exp":1}"#,
            expected: .failed(.header)
        ),
        TokenTestCase(name: "crit empty", header: #"{"alg":"HS256","crit":[]}"#, expected: .failed(.header)),
        TokenTestCase(name: "crit null", header: #"{"alg":"HS256","crit":null}"#, expected: .failed(.header)),
        TokenTestCase(name: "typ JOSE", header: #"{"alg":"HS256","typ":"JOSE"}"#, expected: .failed(.header)),
        TokenTestCase(
            name: "typ JWT with a space",
            header: #"{"alg":"HS256","typ":"JWT "}"#,
            expected: .failed(.header)
        ),
        TokenTestCase(name: "typ not a string", header: #"{"alg":"HS256","typ":1}"#, expected: .failed(.header)),
        TokenTestCase(name: "typ null", header: #"{"alg":"HS256","typ":null}"#, expected: .failed(.header)),
        TokenTestCase(
            name: "typ jwt lowercase accepted",
            header: #"{"alg":"HS256","typ":"jwt"}"#,
            expected: verifiedDefault
        ),
        TokenTestCase(
            name: "typ Jwt mixed case accepted",
            header: #"{"alg":"HS256","typ":"Jwt"}"#,
            expected: verifiedDefault
        ),
        TokenTestCase(name: "typ absent accepted", header: #"{"alg":"HS256"}"#, expected: verifiedDefault),
        TokenTestCase(
            name: "unknown header members and kid ignored",
            header: #"{"kid":"no-such-key","alg":"HS256","cty":"x","x":{"y":[1,null,true]}}"#,
            expected: verifiedDefault
        ),
        TokenTestCase(
            name: "kid of another type ignored",
            header: #"{"alg":"HS256","kid":17}"#,
            expected: verifiedDefault
        ),
        TokenTestCase(
            name: "alg HS512 with claims that fail later",
            header: #"{"alg":"HS512"}"#,
            claims: TokenFixture.claims(["aud": nil]),
            expected: .failed(.header)
        ),
    ]

    @Test("Step 2: the JOSE header", arguments: headerCases)
    func header(testCase: TokenTestCase) async throws {
        let token = try await TokenFixture.token(header: testCase.header, claims: testCase.claims)
        let result = await verdicts(token)
        #expect(result.login == testCase.expected)
        #expect(result.renewal == testCase.expected)
    }

    // MARK: Step 3

    @Test("Step 3: a signature under another secret, or a tampered token, fails")
    func wrongSignature() async throws {
        let wrongSecret = try await TokenFixture.token(secret: TokenFixture.secretC)
        let result = await verdicts(wrongSecret)
        #expect(result.login == .failed(.signature))
        #expect(result.renewal == .failed(.signature))

        let good = try await TokenFixture.token()
        let parts = good.split(separator: ".").map(String.init)
        let otherClaims = TokenFixture.base64URL(Array(TokenFixture.claims(["sub": #""mallory""#]).utf8))
        let tampered = [parts[0], otherClaims, parts[2]].joined(separator: ".")
        #expect(await verdicts(tampered, userID: "mallory").login == .failed(.signature))
        let truncatedSignature = parts[0] + "." + parts[1] + "." + String(parts[2].dropLast(3))
        #expect(await verdicts(truncatedSignature).login == .failed(.signature))
    }

    @Test("Step 3: an unsigned token never reaches the claims, however wrong they are")
    func signatureBeforeClaims() async throws {
        let token = try await TokenFixture.token(
            claims: TokenFixture.claims(["aud": #""elsewhere""#, "exp": "1"]),
            secret: TokenFixture.secretC
        )
        let result = await verdicts(token, userID: "someone-else")
        #expect(result.login == .failed(.signature))
        #expect(result.renewal == .failed(.signature))
    }

    @Test("Step 3: unknown app, an app with no secret, and a secret shorter than 32 bytes verify nothing")
    func noUsableSecret() async throws {
        let token = try await TokenFixture.token()
        #expect(await verdicts(token, appID: "unknown").login == .failed(.signature))
        let tokenlessOnly = TokenFixture.verifier(secrets: [], tokenless: true)
        #expect(await verdicts(token, verifier: tokenlessOnly).login == .failed(.signature))
        #expect(await verdicts(token, verifier: tokenlessOnly).renewal == .failed(.signature))
        let short = JWTTokenVerifier(
            apps: [
                AppCredentials(
                    appID: TokenFixture.exampleAppID,
                    secrets: [Array(TokenFixture.exampleSecret.prefix(31))]
                )
            ]
        )
        let example = await verdicts(TokenFixture.exampleToken, verifier: short, appID: TokenFixture.exampleAppID)
        #expect(example.login == .failed(.signature))
    }

    @Test("TOK-3: with two secrets, tokens under either verify")
    func keyRotation() async throws {
        let verifier = TokenFixture.verifier(secrets: [TokenFixture.secretA, TokenFixture.secretB])
        for secret in [TokenFixture.secretA, TokenFixture.secretB] {
            let token = try await TokenFixture.token(secret: secret)
            let result = await verdicts(token, verifier: verifier)
            #expect(result.login == verifiedDefault)
            #expect(result.renewal == verifiedDefault)
        }
        let third = try await TokenFixture.token(secret: TokenFixture.secretC)
        #expect(await verdicts(third, verifier: verifier).login == .failed(.signature))
    }

    // MARK: Step 4

    static let claimCases: [TokenTestCase] = [
        TokenTestCase(name: "aud missing", claims: TokenFixture.claims(["aud": nil]), expected: .failed(.claims)),
        TokenTestCase(name: "sub missing", claims: TokenFixture.claims(["sub": nil]), expected: .failed(.claims)),
        TokenTestCase(name: "exp missing", claims: TokenFixture.claims(["exp": nil]), expected: .failed(.claims)),
        TokenTestCase(name: "iat missing", claims: TokenFixture.claims(["iat": nil]), expected: .failed(.claims)),
        TokenTestCase(
            name: "exp a string",
            claims: TokenFixture.claims(["exp": #""1767229200""#]),
            expected: .failed(.claims)
        ),
        TokenTestCase(
            name: "iat a string",
            claims: TokenFixture.claims(["iat": #""1767225600""#]),
            expected: .failed(.claims)
        ),
        TokenTestCase(name: "exp null", claims: TokenFixture.claims(["exp": "null"]), expected: .failed(.claims)),
        TokenTestCase(name: "exp a boolean", claims: TokenFixture.claims(["exp": "true"]), expected: .failed(.claims)),
        TokenTestCase(name: "aud a number", claims: TokenFixture.claims(["aud": "1"]), expected: .failed(.claims)),
        TokenTestCase(
            name: "aud an object",
            claims: TokenFixture.claims(["aud": #"{"app":1}"#]),
            expected: .failed(.claims)
        ),
        TokenTestCase(
            name: "aud array with a number",
            claims: TokenFixture.claims(["aud": #"["app",1]"#]),
            expected: .failed(.claims)
        ),
        TokenTestCase(name: "sub a number", claims: TokenFixture.claims(["sub": "7"]), expected: .failed(.claims)),
        TokenTestCase(
            name: "sub an array",
            claims: TokenFixture.claims(["sub": #"["alice"]"#]),
            expected: .failed(.claims)
        ),
        TokenTestCase(name: "nbf a string", claims: TokenFixture.claims(["nbf": #""0""#]), expected: .failed(.claims)),
        TokenTestCase(name: "nbf null", claims: TokenFixture.claims(["nbf": "null"]), expected: .failed(.claims)),
        TokenTestCase(
            name: "exp equal to iat",
            claims: TokenFixture.claims(["exp": "\(TokenFixture.iat)"]),
            expected: .failed(.claims)
        ),
        TokenTestCase(
            name: "exp before iat",
            claims: TokenFixture.claims(["exp": "\(TokenFixture.iat - 1)"]),
            expected: .failed(.claims)
        ),
        TokenTestCase(
            name: "exp a fraction above iat",
            claims: TokenFixture.claims(["exp": "\(TokenFixture.iat).001"]),
            expected: .verified(VerifiedToken(expiresMs: TokenFixture.iat * 1000 + 1))
        ),
        TokenTestCase(
            name: "claims fail before audience",
            claims: TokenFixture.claims(["aud": #""other""#, "sub": nil]),
            expected: .failed(.claims)
        ),
        TokenTestCase(
            name: "claims fail before expiry",
            claims: TokenFixture.claims(["iat": "1", "exp": "1"]),
            expected: .failed(.claims)
        ),
        TokenTestCase(
            name: "iss of any type ignored without an issuer restriction",
            claims: TokenFixture.claims(["iss": "42"]),
            expected: verifiedDefault
        ),
        TokenTestCase(
            name: "other claims ignored",
            claims: TokenFixture.claims(["jti": #""x""#, "custom": #"{"n":[1.5e3,-0,null,false,"\u00e9\n"]}"#]),
            expected: verifiedDefault
        ),
    ]

    @Test("Step 4: claim presence and types", arguments: claimCases)
    func claims(testCase: TokenTestCase) async throws {
        let token = try await TokenFixture.token(header: testCase.header, claims: testCase.claims)
        let result = await verdicts(token)
        #expect(result.login == testCase.expected)
        #expect(result.renewal == testCase.expected)
    }

    @Test("Step 4 / TOK-10: a lifetime above the configured maximum fails; exactly the maximum passes")
    func maximumLifetime() async throws {
        let token = try await TokenFixture.token()
        let exact = TokenFixture.verifier(maximumLifetimeSeconds: TokenFixture.exp - TokenFixture.iat)
        #expect(await verdicts(token, verifier: exact).login == verifiedDefault)
        let shorter = TokenFixture.verifier(maximumLifetimeSeconds: TokenFixture.exp - TokenFixture.iat - 1)
        let result = await verdicts(token, verifier: shorter)
        #expect(result.login == .failed(.claims))
        #expect(result.renewal == .failed(.claims))
        let fractional = try await TokenFixture.token(claims: TokenFixture.claims(["exp": "\(TokenFixture.exp).5"]))
        #expect(await verdicts(fractional, verifier: exact).login == .failed(.claims))
    }

    @Test("Step 4: with accepted issuers, iss must be one of them")
    func issuerRestriction() async throws {
        let verifier = TokenFixture.verifier(acceptedIssuers: ["https://auth.example.com", "backup"])
        let expectations: [(String?, TokenVerdict)] = [
            (#""https://auth.example.com""#, verifiedDefault),
            (#""backup""#, verifiedDefault),
            (#""https:\/\/auth.example.com""#, verifiedDefault),
            (#""https://evil.example.com""#, .failed(.claims)),
            (#""BACKUP""#, .failed(.claims)),
            ("1", .failed(.claims)),
            (#"["backup"]"#, .failed(.claims)),
            (nil, .failed(.claims)),
        ]
        for (issuer, expected) in expectations {
            let token = try await TokenFixture.token(claims: TokenFixture.claims(["iss": issuer]))
            let result = await verdicts(token, verifier: verifier)
            #expect(result.login == expected, "iss \(issuer ?? "absent")")
            #expect(result.renewal == expected, "iss \(issuer ?? "absent")")
        }
    }

    // MARK: Steps 5 and 6

    static let audienceCases: [TokenTestCase] = [
        TokenTestCase(
            name: "aud another app",
            claims: TokenFixture.claims(["aud": #""other""#]),
            expected: .failed(.audience)
        ),
        TokenTestCase(
            name: "aud differs in case",
            claims: TokenFixture.claims(["aud": #""APP""#]),
            expected: .failed(.audience)
        ),
        TokenTestCase(
            name: "aud array containing the app",
            claims: TokenFixture.claims(["aud": #"["x","app"]"#]),
            expected: verifiedDefault
        ),
        TokenTestCase(
            name: "aud array of one",
            claims: TokenFixture.claims(["aud": #"["app"]"#]),
            expected: verifiedDefault
        ),
        TokenTestCase(
            name: "aud array without the app",
            claims: TokenFixture.claims(["aud": #"["x","y"]"#]),
            expected: .failed(.audience)
        ),
        TokenTestCase(
            name: "aud empty array",
            claims: TokenFixture.claims(["aud": "[]"]),
            expected: .failed(.audience)
        ),
        TokenTestCase(
            name: "aud escaped equal",
            claims: TokenFixture.claims(["aud": #""\u0061pp""#]),
            expected: verifiedDefault
        ),
        TokenTestCase(
            name: "sub another user",
            claims: TokenFixture.claims(["sub": #""bob""#]),
            expected: .failed(.subject)
        ),
        TokenTestCase(
            name: "sub differs in case",
            claims: TokenFixture.claims(["sub": #""Alice""#]),
            expected: .failed(.subject)
        ),
        TokenTestCase(
            name: "sub with a trailing space",
            claims: TokenFixture.claims(["sub": #""alice ""#]),
            expected: .failed(.subject)
        ),
        TokenTestCase(
            name: "audience before subject",
            claims: TokenFixture.claims(["aud": #""other""#, "sub": #""bob""#]),
            expected: .failed(.audience)
        ),
        TokenTestCase(
            name: "audience before expiry",
            claims: TokenFixture.claims(["aud": #""other""#, "iat": "1", "exp": "2"]),
            expected: .failed(.audience)
        ),
        TokenTestCase(
            name: "subject before expiry",
            claims: TokenFixture.claims(["sub": #""bob""#, "iat": "1", "exp": "2"]),
            expected: .failed(.subject)
        ),
    ]

    @Test("Steps 5 and 6: audience and subject", arguments: audienceCases)
    func audienceAndSubject(testCase: TokenTestCase) async throws {
        let token = try await TokenFixture.token(header: testCase.header, claims: testCase.claims)
        let result = await verdicts(token)
        #expect(result.login == testCase.expected)
        #expect(result.renewal == testCase.expected)
    }

    @Test("Step 6: sub is compared byte for byte, without Unicode normalization")
    func subjectByteForByte() async throws {
        let composed = "jos\u{E9}"
        let decomposed = "jose\u{301}"
        #expect(composed == decomposed)  // Swift's String equality would accept it.
        let token = try await TokenFixture.token(claims: TokenFixture.claims(["sub": "\"\(decomposed)\""]))
        #expect(await verdicts(token, userID: decomposed).login == verifiedDefault)
        #expect(await verdicts(token, userID: composed).login == .failed(.subject))
        #expect(await verdicts(token, userID: composed).renewal == .failed(.subject))
    }

    // MARK: Step 7

    @Test("Step 7 / TOK-12: iat up to 60 s in the future passes; more fails")
    func issuedAtSkew() async throws {
        let now = TokenFixture.nowMs
        let expectations: [(String, TokenVerdict)] = [
            ("\(TokenFixture.iat + 59)", verifiedDefault),
            ("\(TokenFixture.iat + 60)", verifiedDefault),
            ("\(TokenFixture.iat + 60).001", .failed(.notYetValid)),
            ("\(TokenFixture.iat + 61)", .failed(.notYetValid)),
            ("\(TokenFixture.iat - 86_400)", verifiedDefault),
        ]
        for (iat, expected) in expectations {
            let token = try await TokenFixture.token(claims: TokenFixture.claims(["iat": iat]))
            let result = await verdicts(token, nowMs: now)
            #expect(result.login == expected, "iat \(iat)")
            #expect(result.renewal == expected, "iat \(iat)")
        }
    }

    @Test("Step 7 / TOK-12: nbf up to 60 s in the future passes; more fails")
    func notBeforeSkew() async throws {
        let expectations: [(String, TokenVerdict)] = [
            ("\(TokenFixture.iat - 10)", verifiedDefault),
            ("\(TokenFixture.iat + 59)", verifiedDefault),
            ("\(TokenFixture.iat + 60)", verifiedDefault),
            ("\(TokenFixture.iat + 61)", .failed(.notYetValid)),
            ("\(TokenFixture.iat + 1000)", .failed(.notYetValid)),
        ]
        for (nbf, expected) in expectations {
            let token = try await TokenFixture.token(claims: TokenFixture.claims(["nbf": nbf]))
            let result = await verdicts(token)
            #expect(result.login == expected, "nbf \(nbf)")
            #expect(result.renewal == expected, "nbf \(nbf)")
        }
        let later = try await TokenFixture.token(claims: TokenFixture.claims(["nbf": "\(TokenFixture.iat + 1000)"]))
        let atNbf = await verdicts(later, nowMs: (TokenFixture.iat + 940) * 1000)
        #expect(atNbf.login == verifiedDefault)
    }

    @Test("TOK-7 vs TOK-23: a login checks audience and subject before time; a renewal checks time first")
    func loginAndRenewalOrder() async throws {
        let future = "\(TokenFixture.iat + 3600)"
        let cases: [(String, TokenVerdict, TokenVerdict)] = [
            (
                TokenFixture.claims(["aud": #""other""#, "iat": future, "exp": future + "0"]), .failed(.audience),
                .failed(.notYetValid)
            ),
            (
                TokenFixture.claims(["sub": #""bob""#, "iat": future, "exp": future + "0"]), .failed(.subject),
                .failed(.notYetValid)
            ),
            (TokenFixture.claims(["aud": #""other""#, "nbf": future]), .failed(.audience), .failed(.notYetValid)),
            (
                TokenFixture.claims([
                    "iat": "\(TokenFixture.iat - 100)", "exp": "\(TokenFixture.iat - 50)", "nbf": future,
                ]),
                .failed(.notYetValid),
                .failed(.notYetValid)
            ),
        ]
        for (claims, login, renewal) in cases {
            let token = try await TokenFixture.token(claims: claims)
            let result = await verdicts(token)
            #expect(result.login == login, "\(claims)")
            #expect(result.renewal == renewal, "\(claims)")
        }
    }

    // MARK: Step 8

    @Test("Step 8 / TOK-12: no skew on exp; a token is expired at exactly exp")
    func expiry() async throws {
        let token = try await TokenFixture.token()
        let expectations: [(Int64, TokenVerdict)] = [
            (TokenFixture.exp * 1000 - 1, verifiedDefault),
            (TokenFixture.exp * 1000, .failed(.expired)),
            (TokenFixture.exp * 1000 + 1, .failed(.expired)),
        ]
        for (nowMs, expected) in expectations {
            let result = await verdicts(token, nowMs: nowMs)
            #expect(result.login == expected, "now \(nowMs)")
            #expect(result.renewal == expected, "now \(nowMs)")
        }
    }

    @Test("TOK-11: fractional and exponent NumericDates; expiresMs is exp × 1000 rounded down")
    func fractionalTimes() async throws {
        let expectations: [(String, Int64, TokenVerdict)] = [
            ("1767229200.5", 1_767_229_200_499, .verified(VerifiedToken(expiresMs: 1_767_229_200_500))),
            ("1767229200.5", 1_767_229_200_500, .failed(.expired)),
            ("1767229200.9999", 1_767_229_200_999, .verified(VerifiedToken(expiresMs: 1_767_229_200_999))),
            ("1767229200.0004", 1_767_229_200_000, .verified(VerifiedToken(expiresMs: 1_767_229_200_000))),
            ("1.7672292E9", TokenFixture.nowMs, verifiedDefault),
            ("17672292000e-1", TokenFixture.nowMs, verifiedDefault),
            ("1767229200.000", TokenFixture.nowMs, verifiedDefault),
            ("1e400", TokenFixture.nowMs, .verified(VerifiedToken(expiresMs: Int64.max))),
        ]
        for (exp, nowMs, expected) in expectations {
            let token = try await TokenFixture.token(claims: TokenFixture.claims(["exp": exp]))
            let result = await verdicts(token, nowMs: nowMs)
            #expect(result.login == expected, "exp \(exp) at \(nowMs)")
            #expect(result.renewal == expected, "exp \(exp) at \(nowMs)")
        }
        let fractionalIat = try await TokenFixture.token(claims: TokenFixture.claims(["iat": "1767225660.5"]))
        #expect(await verdicts(fractionalIat).login == .failed(.notYetValid))
        #expect(await verdicts(fractionalIat, nowMs: TokenFixture.nowMs + 500).login == verifiedDefault)
        let negativeIat = try await TokenFixture.token(claims: TokenFixture.claims(["iat": "-1.5"]))
        #expect(await verdicts(negativeIat).login == verifiedDefault)
    }

    // MARK: Members the chapter does not define

    @Test("TOK-6: claims and header members the chapter does not define are ignored; names are case-sensitive")
    func undefinedMembersIgnored() async throws {
        let claims = TokenFixture.claims([
            "jti": #""id-1""#, "roles": #"["a",{"b":[1,2.5,-3e2,true,false,null]}]"#, "scope": "null",
            "Aud": #""other""#, "SUB": #""bob""#, "EXP": "1", "Iat": "\(TokenFixture.iat + 86_400)",
            "NBF": "\(TokenFixture.iat + 86_400)", "Nbf": #""not a number""#,
        ])
        let header =
            #"{"alg":"HS256","typ":"JWT","kid":"unknown-key","x-private":{"nested":[true]},"ALG":"none","#
            + #""Typ":"other","Crit":["exp"],"cty":"not-a-jwt"}"#
        let withClaims = try await TokenFixture.token(claims: claims)
        let withHeader = try await TokenFixture.token(header: header)
        let withBoth = try await TokenFixture.token(header: header, claims: claims)
        for token in [withClaims, withHeader, withBoth] {
            let result = await verdicts(token)
            #expect(result.login == verifiedDefault)
            #expect(result.renewal == verifiedDefault)
        }
        // Ignoring them does not mask a real failure.
        #expect(await verdicts(withBoth, userID: "bob").login == .failed(.subject))
        #expect(await verdicts(withBoth, nowMs: TokenFixture.exp * 1000).login == .failed(.expired))
    }

    // MARK: App-ID-only mode

    @Test("TOK-14/TOK-16: empty and _no_need_token are tokenless in app-ID-only mode, INVALID_TOKEN otherwise")
    func tokenlessModes() async throws {
        let open = TokenFixture.verifier(tokenless: true)
        let closed = TokenFixture.verifier(tokenless: false)
        for token in ["", "_no_need_token"] {
            let accepted = await verdicts(token, verifier: open)
            #expect(accepted.login == .tokenless)
            #expect(accepted.renewal == .tokenless)
            let refused = await verdicts(token, verifier: closed)
            #expect(refused.login == .failed(.malformed))
            #expect(refused.renewal == .failed(.malformed))
            #expect(await verdicts(token, verifier: open, appID: "unknown").login == .failed(.malformed))
        }
        #expect(await verdicts("_NO_NEED_TOKEN", verifier: open).login == .failed(.malformed))
        #expect(await verdicts(" ", verifier: open).login == .failed(.malformed))
    }

    @Test("TOK-15: in app-ID-only mode any other token is verified normally")
    func tokenlessModeVerifiesRealTokens() async throws {
        let open = TokenFixture.verifier(tokenless: true)
        let good = try await TokenFixture.token()
        #expect(await verdicts(good, verifier: open).login == verifiedDefault)
        let expired = await verdicts(good, verifier: open, nowMs: TokenFixture.exp * 1000)
        #expect(expired.login == .failed(.expired))
        let wrong = try await TokenFixture.token(secret: TokenFixture.secretC)
        #expect(await verdicts(wrong, verifier: open).login == .failed(.signature))
        #expect(await verdicts("garbage", verifier: open).login == .failed(.malformed))
    }

    // MARK: Helpers

    private static func decodeSegment(_ segment: String) -> String? {
        var base64 = String(segment.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}

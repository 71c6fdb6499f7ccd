import HeraldMessages
import HeraldWire
import Testing

/// Keeps the README's "Using the codec from your package" example compiling and correct.
@Suite struct ReadmeExampleTests {
    @Test func readmeExampleEncodesAndDecodesALogin() throws {
        var login = Herald_V1_LoginRequest()
        login.appID = "0123456789abcdef0123456789abcdef"
        login.userID = "alice"
        login.token = "<a JWT from your token service>"

        let frame = try HeraldFrame(opcode: .loginRequest, requestID: 1, message: login)
        let bytes = try frame.encodedBytes()

        var reader = HeraldFrameReader()
        var decodedUsers: [String] = []
        for received in try reader.append(bytes) {
            let decoded = try received.decodeMessage(as: Herald_V1_LoginRequest.self)
            #expect(received.header.opcode == .loginRequest)
            decodedUsers.append(decoded.userID)
        }
        try reader.finish()
        #expect(decodedUsers == ["alice"])
    }
}

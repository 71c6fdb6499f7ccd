import HeraldClient
import Testing

/// Server URLs as Spec/02-transports.md §2.1 defines them (TRN-1 to TRN-3).
@Suite struct ServerAddressTests {
    @Test(arguments: [
        ("tcp://example.com", "tcp://example.com:7420"),
        ("tls://example.com:9000", "tls://example.com:9000"),
        ("ws://example.com", "ws://example.com:7421/herald"),
        ("wss://example.com/rt?x=1", "wss://example.com:7421/rt?x=1"),
        ("WS://[::1]:8080", "ws://[::1]:8080/herald"),
        ("tcp://127.0.0.1/", "tcp://127.0.0.1:7420"),
    ])
    func parsesWithDefaults(url: String, expected: String) throws {
        #expect(try ServerAddress(parsing: url).url == expected)
    }

    @Test(arguments: [
        "example.com:7420",  // not a URL
        "http://example.com",  // unknown scheme
        "tcp://user:pass@example.com",  // TRN-3
        "tcp://example.com/path",  // TRN-2
        "tls://example.com?x=1",  // TRN-2
        "ws://example.com/#frag",
        "tcp://example.com:0",
        "tcp://example.com:65536",
        "tcp://::1",
        "tcp://",
    ])
    func refuses(url: String) {
        let error = #expect(throws: HeraldClientError.self) { try ServerAddress(parsing: url) }
        #expect(error?.code == .invalidAddress)
    }

    @Test func knowsIPAddressesFromNames() throws {
        #expect(try ServerAddress(parsing: "tls://10.0.0.1").hostIsIPAddress)
        #expect(try ServerAddress(parsing: "tls://[::1]").hostIsIPAddress)
        #expect(try !ServerAddress(parsing: "tls://herald.example").hostIsIPAddress)
    }
}

import Foundation
import HeraldServer

/// The TLS identity of the embedded reference engine: a self-signed P-256 certificate for `localhost` and
/// `127.0.0.1`, valid from 2026-01-01 to 2125-12-31, and its private key.
///
/// The key is public on purpose. It protects nothing: the embedded engine listens on the loopback interface for
/// the length of one `herald conform` run, and the runner trusts exactly this certificate for it. It exists so that
/// the default run also exercises the TLS transport (ALPN, TRN-11) without generating certificates at run time.
/// Made with `openssl ca -selfsign` (EC prime256v1, SHA-256, subjectAltName DNS:localhost, IP:127.0.0.1,
/// extendedKeyUsage serverAuth).
enum EmbeddedTLSIdentity {
    /// The certificate, PEM.
    static let certificatePEM = """
        -----BEGIN CERTIFICATE-----
        MIIB1zCCAXygAwIBAgIBATAKBggqhkjOPQQDAjBBMRIwEAYDVQQDDAlsb2NhbGhv
        c3QxKzApBgNVBAoMIkhlcmFsZCBlbWJlZGRlZCBjb25mb3JtYW5jZSB0YXJnZXQw
        IBcNMjYwMTAxMDAwMDAwWhgPMjEyNTEyMzEwMDAwMDBaMEExEjAQBgNVBAMMCWxv
        Y2FsaG9zdDErMCkGA1UECgwiSGVyYWxkIGVtYmVkZGVkIGNvbmZvcm1hbmNlIHRh
        cmdldDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABB4lg5i2AFbCXDxDY+vSAkNh
        kplpowkx0KswA9kHGp994sheHpUUQYp4s26EPpST1/i6QeqVQfsyx2QDlKUcALqj
        YzBhMBoGA1UdEQQTMBGCCWxvY2FsaG9zdIcEfwAAATAPBgNVHRMBAf8EBTADAQH/
        MB0GA1UdDgQWBBTX1OrgN+jS1kADfJYu6Gf9EU/qwjATBgNVHSUEDDAKBggrBgEF
        BQcDATAKBggqhkjOPQQDAgNJADBGAiEA9VWqGT6cpivwUTTRVx5Uh+krGeOcDYmY
        AD1VAUmm7ngCIQDpzIqo71vQw47S5JXy5gZqAIh4li7EFDiyZ5GhlWdVkQ==
        -----END CERTIFICATE-----
        """

    /// The private key (PKCS #8), PEM.
    static let privateKeyPEM = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSY636fPh9bn/694A
        ZHoEhRU49toUvYLHnW0nMSRNqgGhRANCAAQeJYOYtgBWwlw8Q2Pr0gJDYZKZaaMJ
        MdCrMAPZBxqffeLIXh6VFEGKeLNuhD6Uk9f4ukHqlUH7MsdkA5SlHAC6
        -----END PRIVATE KEY-----
        """

    /// Writes the certificate and the key to a new temporary directory.
    ///
    /// - Returns: The files for ``HeraldServer/TLSFiles`` and the directory to remove afterwards.
    static func writeFiles() throws -> (files: TLSFiles, directory: URL) {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("herald-embedded-tls-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let certificate = directory.appendingPathComponent("certificate.pem")
        let key = directory.appendingPathComponent("key.pem")
        try Data((Self.certificatePEM + "\n").utf8).write(to: certificate)
        try Data((Self.privateKeyPEM + "\n").utf8).write(to: key)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: key.path)
        return (TLSFiles(certificateChainPath: certificate.path, privateKeyPath: key.path), directory)
    }
}

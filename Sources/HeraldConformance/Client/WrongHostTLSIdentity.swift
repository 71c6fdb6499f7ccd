import Foundation

/// The second TLS identity of `herald conform client`: a self-signed P-256 certificate for
/// `wrong-host.herald.invalid` only, and its private key, for the listener that checks that a client verifies the
/// certificate's name against the host it connected to (TRN-8).
///
/// The client under test is told to trust exactly this certificate and then connects to `localhost`: the chain is
/// trusted, the name is not the host's, and a conforming client refuses the connection. Like
/// ``EmbeddedTLSIdentity`` the key protects nothing (loopback, one run). Made with `openssl req -x509` (EC
/// prime256v1, SHA-256, subjectAltName DNS:wrong-host.herald.invalid, extendedKeyUsage serverAuth, 100 years).
enum WrongHostTLSIdentity {
    /// The certificate, PEM.
    static let certificatePEM = """
        -----BEGIN CERTIFICATE-----
        MIIB3DCCAYKgAwIBAgIUM2q3nNMjJ6s2eMQhRpeCzR6bRhIwCgYIKoZIzj0EAwIw
        JDEiMCAGA1UEAwwZd3JvbmctaG9zdC5oZXJhbGQuaW52YWxpZDAgFw0yNjEyMDcy
        MzM5NTdaGA8yMTI2MTExMzIzMzk1N1owJDEiMCAGA1UEAwwZd3JvbmctaG9zdC5o
        ZXJhbGQuaW52YWxpZDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABITS3QJJ7H+E
        UmMy+oVTf4pW4Yug80Mii3Hf4/xgoz+K47UcgzhRXjPVw4IOtB/kkFlNh/iNbmtu
        EcOGoX8dWfSjgY8wgYwwHQYDVR0OBBYEFO8bi/WFsGUdcjP4PaoXmiHczO3fMB8G
        A1UdIwQYMBaAFO8bi/WFsGUdcjP4PaoXmiHczO3fMA8GA1UdEwEB/wQFMAMBAf8w
        JAYDVR0RBB0wG4IZd3JvbmctaG9zdC5oZXJhbGQuaW52YWxpZDATBgNVHSUEDDAK
        BggrBgEFBQcDATAKBggqhkjOPQQDAgNIADBFAiAibiwApzNS9NLJFIOBoD7dX3FJ
        hF4Vf/c1AAL99xRLTQIhAJaotliBt08ehXXZJi3k9GvgdC3y5OGQkwBAYQxMRNAo
        -----END CERTIFICATE-----
        """

    /// The private key (PKCS #8), PEM.
    static let privateKeyPEM = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQglQwQvpXXf2QkG4Gf
        aWvZX+aQZYPJcxDMEY03savL6AOhRANCAASE0t0CSex/hFJjMvqFU3+KVuGLoPND
        Iotx3+P8YKM/iuO1HIM4UV4z1cOCDrQf5JBZTYf4jW5rbhHDhqF/HVn0
        -----END PRIVATE KEY-----
        """
}

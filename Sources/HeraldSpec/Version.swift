/// The versions of the Herald tools, the protocol and the specification, in one place.
///
/// `herald --version`, the conformance reports and the release archive all take their version from here, and a
/// test checks that the newest entry of `CHANGELOG.md` is ``tool``. HeraldSpec has no dependencies, so every module
/// can import it.
public enum HeraldVersion {
    /// The version of the `herald` tool, the reference server and the conformance suite (semantic versioning).
    public static let tool = "0.3.0"

    /// The protocol version: the major version of the wire protocol, as in the ALPN identifier `herald/1`, the
    /// WebSocket subprotocol `herald.v1` and the schema package `herald.v1`.
    public static let protocolVersion = "1"

    /// The version of the specification (`Spec/`), as written into `Spec/requirements.json`.
    public static let spec = RequirementIndex.specVersion

    /// One line for `herald --version`: the tool version, then the protocol and specification versions, such as
    /// `0.3.0 (protocol 1, spec 1.0.1)`.
    public static var summary: String {
        "\(Self.tool) (protocol \(Self.protocolVersion), spec \(Self.spec))"
    }
}

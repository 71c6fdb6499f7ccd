/// The conformance corpus built into the `herald` binary, so that `herald conform` runs anywhere: the scenario files
/// of `Vectors/scenarios` (the cases and `waivers.json`) and the requirement sources of `Spec` (`README.md` and the
/// `NN-*.md` chapters), as they were when the binary was built.
///
/// The EmbedCorpus build-tool plugin generates the file contents from the repository at build time, so they are
/// never older than the sources.
public enum EmbeddedCorpus {
    /// Each scenario file as (file name, UTF-8 text), in name order, `waivers.json` included.
    public static var scenarios: [(name: String, text: String)] {
        Self.scenariosFiles
    }

    /// Each client scenario file (`Vectors/client-scenarios`) as (file name, UTF-8 text), in name order,
    /// `waivers.json` included.
    public static var clientScenarios: [(name: String, text: String)] {
        Self.clientScenariosFiles
    }

    /// Each requirement source of the Spec as (file name, text): `README.md` and the `NN-*.md` chapters.
    public static var spec: [(name: String, text: String)] {
        Self.specFiles
    }

    /// A fingerprint of every embedded file (FNV-1a, 64 bits, in hexadecimal): two binaries with the same
    /// fingerprint carry the same corpus.
    public static var fingerprint: String {
        Self.fingerprintValue
    }
}

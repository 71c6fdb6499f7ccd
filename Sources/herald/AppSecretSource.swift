import HeraldEngine
import HeraldServer

/// Where `herald serve` and `herald token mint` take the app secret from: `--app-secret`, `--app-secret-file`, or
/// the `HERALD_APP_SECRET` environment variable, in that order of precedence.
enum AppSecretSource: Sendable, Hashable, CustomStringConvertible {
    /// `--app-secret SECRET`.
    case flag
    /// `--app-secret-file PATH`.
    case file(String)
    /// The ``variable`` environment variable.
    case environment

    /// The environment variable that holds the app secret when neither flag is given.
    static let variable = "HERALD_APP_SECRET"

    /// The source, for messages: `--app-secret`, `the file PATH (--app-secret-file)`, `HERALD_APP_SECRET`.
    var description: String {
        switch self {
        case .flag: "--app-secret"
        case .file(let path): "the file \(path) (--app-secret-file)"
        case .environment: Self.variable
        }
    }

    /// Reads the secret from the first source given, and checks its length (TOK-1).
    ///
    /// - Returns: The secret and its source, or `nil` when no source is given.
    /// - Throws: ``UsageError`` naming the source: an unreadable file, an empty variable, a short secret.
    static func select(
        secret: String?,
        file: String?,
        environment: [String: String]
    ) throws(UsageError) -> (secret: [UInt8], source: AppSecretSource)? {
        let selected: (secret: [UInt8], source: AppSecretSource)
        if let secret {
            selected = (Array(secret.utf8), .flag)
        } else if let file {
            do {
                selected = (try AppSecretFile.read(path: file), .file(file))
            } catch let error as FileAccessError {
                throw UsageError(error.description(flag: "--app-secret-file"))
            } catch {
                throw UsageError("\(error) (--app-secret-file)")
            }
        } else if let value = environment[Self.variable] {
            guard !value.isEmpty else {
                throw UsageError(
                    "\(Self.variable) is set but empty; unset it, or set it to the app secret (at least "
                        + "\(TokenMinter.minimumSecretLength) bytes, TOK-1)"
                )
            }
            selected = (Array(value.utf8), .environment)
        } else {
            return nil
        }
        guard selected.secret.count >= TokenMinter.minimumSecretLength else {
            throw UsageError(
                "the app secret from \(selected.source) is \(selected.secret.count) bytes; it must be at least "
                    + "\(TokenMinter.minimumSecretLength) (TOK-1)"
            )
        }
        return selected
    }
}

import ArgumentParser
import Foundation
import HeraldBench
import HeraldEngine
import HeraldMessages
import HeraldServer

extension Herald {
    /// `herald bench …`: load and soak tests against any Herald server.
    struct Bench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "bench",
            abstract: "Load and soak tests against a Herald server (see Benchmarks/README.md).",
            discussion: """
                Every scenario logs in with real tokens minted from the app secret (give the server's: \
                --app-secret-file, --app-secret or HERALD_APP_SECRET), checks that every message arrives once and \
                in order and that no stream has a seq gap, and prints a table (and JSON with --json FILE). With \
                --server-pid PID (a server on this machine) the roundtrip, overload, latency, fanout, login, idle \
                and churn scenarios also report the server's CPU time, write and read syscalls and context \
                switches per operation over the measured region (from /proc), beside the load generator's own CPU.

                Exit status: 0 every check passed; 1 a check failed; 2 a flag is wrong; 3 the server cannot be \
                reached or refuses the logins.
                """,
            subcommands: [
                RoundTrip.self, Fanout.self, Latency.self, Login.self, Idle.self, Soak.self, Stall.self, Overload.self,
                Churn.self,
            ]
        )
    }
}

/// The options every `herald bench` scenario takes.
struct BenchCommonOptions: ParsableArguments {
    @Option(help: "The server, tcp://HOST:PORT.")
    var url = "tcp://127.0.0.1:7420"

    @Option(help: "The app id (the server's --app-id).")
    var appID = "herald-dev"

    @Option(help: "The app secret, at least 32 bytes (TOK-1); see also HERALD_APP_SECRET.")
    var appSecret: String?

    @Option(help: "A file holding the app secret (trailing line breaks are ignored).")
    var appSecretFile: String?

    @Option(help: "Event-loop threads of the load generator.")
    var threads = 1

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    func validate() throws {
        if self.appSecret != nil && self.appSecretFile != nil {
            throw ValidationError("give --app-secret or --app-secret-file, not both")
        }
        if self.threads <= 0 {
            throw ValidationError("--threads must be positive")
        }
    }

    /// The target and credentials, or exit 2 with a message.
    func resolve() throws -> (BenchTarget, BenchCredentials) {
        do throws(UsageError) {
            guard
                let selected = try AppSecretSource.select(
                    secret: self.appSecret,
                    file: self.appSecretFile,
                    environment: ProcessInfo.processInfo.environment
                )
            else {
                throw UsageError(
                    "no app secret: give the server's --app-secret-file FILE (herald serve generates "
                        + "herald-data/app-secret), --app-secret SECRET, or set \(AppSecretSource.variable)"
                )
            }
            let target: BenchTarget
            do {
                target = try BenchTarget(url: self.url)
            } catch {
                throw UsageError(error.message)
            }
            if self.appID.isEmpty {
                throw UsageError("--app-id must not be empty")
            }
            return (target, BenchCredentials(appID: self.appID, secret: selected.secret))
        } catch {
            Console.error("error: \(error.message)")
            throw ExitCode.usage
        }
    }

    /// Prints `report` as a table, writes its JSON if asked, and exits 1 when a check failed.
    func finish(_ report: BenchReport) throws {
        Console.output(report.table)
        if let json = self.json {
            do {
                try Data(try report.json().utf8).write(to: URL(fileURLWithPath: json))
            } catch {
                Console.error("error: cannot write --json \(json): \(error)")
                throw ExitCode.failure
            }
        }
        if !report.passed { throw ExitCode.failure }
    }

    /// Resolves the target and credentials, runs `scenario` with `options` (its progress lines go to standard
    /// error, prefixed with `name`), prints its report and exits as ``finish(_:)`` and ``exit(for:)`` say.
    func run<Options>(
        _ name: String,
        _ options: Options,
        _ scenario: (BenchTarget, BenchCredentials, Options, @escaping @Sendable (String) -> Void)
            async throws(BenchError) -> BenchReport
    ) async throws {
        let (target, credentials) = try self.resolve()
        let report: BenchReport
        do {
            report = try await scenario(target, credentials, options) { Console.error("\(name): \($0)") }
        } catch {
            throw Self.exit(for: error)
        }
        try self.finish(report)
    }

    /// Maps a run error to its exit status.
    static func exit(for error: BenchError) -> ExitCode {
        Console.error("error: \(error.message)")
        switch error.code {
        case .usage, .token: return .usage
        case .unreachable: return ExitCode(3)
        default: return .failure
        }
    }
}

/// `--server-pid`, for the scenarios that sample the server's resource use (``ServerProbe``).
struct BenchProbeOptions: ParsableArguments {
    @Option(
        help: """
            The server's pid, on this machine: its CPU time (/proc/PID/stat), read and write syscalls \
            (/proc/PID/io) and context switches (/proc/PID/task/*/status) are sampled before and after the \
            measured region and reported per operation.
            """
    )
    var serverPID: Int32?
}

extension Herald.Bench {
    /// `herald bench roundtrip`: acknowledged peer round trips.
    struct RoundTrip: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "roundtrip",
            abstract: "Acknowledged peer messages, a window of them in flight per sender/receiver pair."
        )

        @OptionGroup var common: BenchCommonOptions

        @OptionGroup var probe: BenchProbeOptions

        @Option(help: "Sender/receiver pairs.")
        var pairs = 1

        @Option(help: "Messages in flight per sender.")
        var window = 1

        @Option(help: "Seconds of sending.")
        var duration = 10

        @Option(help: "Bytes per message body (at least 16).")
        var payloadBytes = 256

        @Option(help: "peer (answer after the receiver's DeliveryAck) or server.")
        var ackMode = "peer"

        func validate() throws {
            guard self.pairs > 0, self.window > 0, self.duration > 0 else {
                throw ValidationError("--pairs, --window and --duration must be positive")
            }
            guard self.payloadBytes >= 16 else { throw ValidationError("--payload-bytes must be at least 16") }
            guard ["peer", "server"].contains(self.ackMode) else {
                throw ValidationError("--ack-mode is peer or server")
            }
        }

        func run() async throws {
            var options = PeerLoadOptions()
            options.pairs = self.pairs
            options.window = self.window
            options.duration = .seconds(self.duration)
            options.payloadBytes = self.payloadBytes
            options.threads = self.common.threads
            options.ackMode = self.ackMode == "peer" ? .peer : .server
            options.serverPID = self.probe.serverPID
            try await self.common.run("roundtrip", options, PeerLoadBenchmark.runner(.roundTrip))
        }
    }
}

extension Herald.Bench {
    /// `herald bench soak`: the bounded soak test.
    struct Soak: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "soak",
            abstract: "A bounded soak: many clients, mixed traffic, an exact account of every message.",
            discussion: """
                Runs --clients connections against one server for --duration seconds: peer messages in both \
                acknowledgement modes and to logged-out users (offline caching), channels with join/leave churn, \
                user and channel attributes, invitations, token renewals, one client that never reads, one that \
                never acknowledges, and --fuzzers connections sending fuzzed frames. Then every client logs in \
                once more, collects its cached messages, and the run checks: 0 lost, 0 duplicated, 0 reordered, \
                0 seq gaps, 0 slow-consumer disconnects of clients that read and acknowledge, 0 TOO_OFTEN, and \
                (with --server-pid or --server-pid-file) the server's RSS flat after warm-up. The server may be \
                killed and restarted meanwhile (Scripts/soak.sh does): clients reconnect, and only messages \
                answered CACHED_BY_SERVER or acknowledged by their receiver are owed across the restart.
                """
        )

        @OptionGroup var common: BenchCommonOptions

        @Option(help: "Client connections (at least 20 more than --fuzzers).")
        var clients = 1000

        @Option(help: "Seconds of traffic.")
        var duration = 180

        @Option(help: "Seconds after the start, and after a server restart, during which RSS may grow.")
        var warmUp = 30

        @Option(help: "The server's pid, to sample its RSS.")
        var serverPID: Int32?

        @Option(help: "A file holding the server's pid, read at every sample (for runs that restart the server).")
        var serverPIDFile: String?

        @Option(help: "The largest RSS growth after warm-up that passes, in MiB.")
        var rssBound = 16

        @Option(help: "Connections sending fuzzed frames.")
        var fuzzers = 4

        @Option(help: "Milliseconds a message may still be on its way after its answer (kill accounting).")
        var graceMs = 2000

        @Option(help: "The longest answer time of a message that passes, in milliseconds.")
        var maxLatencyMs = 2000

        @Option(help: "Seconds over which the clients log in.")
        var ramp = 5

        func validate() throws {
            guard self.fuzzers >= 0, self.clients >= 20 + self.fuzzers else {
                throw ValidationError("--clients must be at least 20 more than --fuzzers")
            }
            guard self.duration > 0, self.warmUp >= 0, self.rssBound >= 0, self.ramp >= 0 else {
                throw ValidationError("--duration must be positive; --warm-up, --rss-bound and --ramp not negative")
            }
            if self.serverPID != nil && self.serverPIDFile != nil {
                throw ValidationError("give --server-pid or --server-pid-file, not both")
            }
        }

        func run() async throws {
            var options = SoakOptions()
            options.clients = self.clients
            options.duration = .seconds(self.duration)
            options.warmUp = .seconds(self.warmUp)
            options.threads = self.common.threads
            options.serverPID = self.serverPID
            options.serverPIDFile = self.serverPIDFile
            options.rssBoundMiB = self.rssBound
            options.fuzzers = self.fuzzers
            options.graceMs = self.graceMs
            options.maxLatencyMs = self.maxLatencyMs
            options.rampSeconds = self.ramp
            try await self.common.run("soak", options, SoakBenchmark.run)
        }
    }
}

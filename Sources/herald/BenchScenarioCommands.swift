import ArgumentParser
import HeraldBench

extension Herald.Bench {
    /// `herald bench stall`: a never-acking receiver cut off with cacheable deliveries, beside a control pair.
    struct Stall: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "stall",
            abstract: "Does a never-acking receiver, cut off with cacheable deliveries, stall everybody else?",
            discussion: """
                A control pair sends --rate acknowledged (ACK_MODE_PEER) messages per second. Phase 1 (--baseline \
                seconds) measures its latency alone. In phase 2 flooders (each within its advertised message rate) \
                send cacheable ACK_MODE_SERVER messages to a receiver that reads everything and never acknowledges, \
                until the server cuts it off as a slow consumer at max_outbound_queue_frames outstanding \
                deliveries and caches them; the control pair keeps sending. Then the receiver logs in again and \
                must get every accepted message. Passes when the control pair gets no TOO_OFTEN and its phase-2 \
                p99 is within --p99-margin-ms of the baseline p99.

                The server must cache at least max_outbound_queue_frames offline messages per user: start it with \
                --max-offline-messages 4096 (the default, 200, is refused with a message).
                """
        )

        @OptionGroup var common: BenchCommonOptions

        @Option(help: "Messages per second of the control pair.")
        var rate = 50

        @Option(help: "Seconds of phase 1 (baseline).")
        var baseline = 10

        @Option(help: "Shortest length of phase 2 in seconds (it lasts at least 3 s past the cut-off).")
        var pressure = 10

        @Option(help: "Flooder sessions (0: enough to pass the outbound limit within one rate window).")
        var flooders = 0

        @Option(help: "Bytes per message body (at least 16).")
        var payloadBytes = 256

        @Option(help: "Seconds the flood may take to get the receiver cut off.")
        var cutOffTimeout = 60

        @Option(help: "How far phase-2 p99 may exceed the baseline p99, in milliseconds.")
        var p99MarginMs = 50

        func validate() throws {
            guard self.rate > 0, self.baseline > 0, self.pressure > 0, self.cutOffTimeout > 0 else {
                throw ValidationError("--rate, --baseline, --pressure and --cut-off-timeout must be positive")
            }
            guard self.flooders >= 0, self.p99MarginMs >= 0 else {
                throw ValidationError("--flooders and --p99-margin-ms must not be negative")
            }
            guard self.payloadBytes >= 16 else { throw ValidationError("--payload-bytes must be at least 16") }
        }

        func run() async throws {
            var options = StallOptions()
            options.rate = self.rate
            options.baseline = .seconds(self.baseline)
            options.pressure = .seconds(self.pressure)
            options.flooders = self.flooders
            options.payloadBytes = self.payloadBytes
            options.cutOffTimeout = .seconds(self.cutOffTimeout)
            options.p99MarginMs = self.p99MarginMs
            options.threads = max(2, self.common.threads)
            try await self.common.run("stall", options, StallBenchmark.run)
        }
    }

    /// `herald bench churn`: login/renew/logout cycles and renewals; the server's RSS must stay flat.
    struct Churn: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "churn",
            abstract: "Login, renew, logout cycles and long-session renewals; the server's RSS must stay flat.",
            discussion: """
                --parallel connections repeat connect, login, renew token, logout, close for --cycles cycles in \
                all, while --long-sessions sessions stay logged in and renew their token --renewals times in all \
                (each within its advertised renewal rate, 2 per 1000 ms by default: start the server with \
                --rate-limit renew-token=1000/1000 for many renewals). The server's RSS (/proc/PID/status VmRSS) \
                is read before, after the warm-up (the first --warm-up-percent of cycles and renewals, then 1 s of \
                quiet) and at the end (after 1 s of quiet). Passes when every step succeeded and the end RSS is \
                within --rss-bound MiB of the post-warm-up one.
                """
        )

        @OptionGroup var common: BenchCommonOptions

        @Option(help: "Connect, login, renew, logout cycles in all.")
        var cycles = 10_000

        @Option(help: "Connections doing cycles at once.")
        var parallel = 8

        @Option(help: "Renewals by the long sessions in all.")
        var renewals = 1000

        @Option(help: "Sessions that stay logged in and renew.")
        var longSessions = 16

        @Option(help: "Percent of the cycles and renewals done before the post-warm-up RSS sample.")
        var warmUpPercent = 10

        @Option(
            help: """
                The server's pid (required: its RSS is the verdict); its CPU time, syscalls and context switches \
                after the warm-up are reported per cycle.
                """
        )
        var serverPID: Int32

        @Option(help: "The largest RSS growth after warm-up that passes, in MiB.")
        var rssBound = 5

        func validate() throws {
            guard self.cycles > 0, self.parallel > 0, self.longSessions > 0, self.renewals >= 0 else {
                throw ValidationError(
                    "--cycles, --parallel and --long-sessions must be positive, --renewals not negative"
                )
            }
            guard (0..<100).contains(self.warmUpPercent), self.rssBound >= 0 else {
                throw ValidationError("--warm-up-percent is 0 to 99 and --rss-bound not negative")
            }
        }

        func run() async throws {
            var options = ChurnOptions()
            options.cycles = self.cycles
            options.parallel = self.parallel
            options.renewals = self.renewals
            options.longSessions = self.longSessions
            options.warmUpPercent = self.warmUpPercent
            options.serverPID = self.serverPID
            options.rssBoundMiB = self.rssBound
            options.threads = self.common.threads
            try await self.common.run("churn", options, ChurnBenchmark.run)
        }
    }
}

/// What distinguishes the open-loop peer-message scenarios (`overload`, `latency`) on the command line.
protocol OpenLoopScenario {
    /// The scenario.
    static var kind: PeerLoadBenchmark.Kind { get }
    /// The default `--pairs`.
    static var pairs: Int { get }
    /// The subcommand's name and help.
    static var configuration: CommandConfiguration { get }
}

/// `herald bench overload`: more acknowledged traffic than the server carries; nobody may be cut off.
enum OverloadScenario: OpenLoopScenario {
    static let kind = PeerLoadBenchmark.Kind.overload
    static let pairs = 100
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "overload",
            abstract: "Offer more acknowledged peer messages than the server carries; nobody may be cut off.",
            discussion: """
                --pairs sender/receiver pairs offer --rate ACK_MODE_PEER messages per second in total (open loop, \
                at most --window in flight per sender); receivers acknowledge at once. Reports the achieved rate, \
                latency and every ProtocolError and Disconnect (slow-consumer above all). Passes when nobody is \
                disconnected.

                The per-pair rate must fit the server's advertised message rate limit (180 per 3000 ms per session \
                by default): use more pairs, or start the server with --no-rate-limit messages.
                """
        )
    }
}

/// `herald bench latency`: fixed-rate acknowledged peer messages, latency from the due time.
enum LatencyScenario: OpenLoopScenario {
    static let kind = PeerLoadBenchmark.Kind.latency
    static let pairs = 10
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "latency",
            abstract: "Latency of acknowledged peer messages at a fixed rate, measured from each message's due time.",
            discussion: """
                --pairs sender/receiver pairs send --rate ACK_MODE_PEER messages per second in total on a fixed \
                schedule (open loop: each message is sent at its due time whatever the answers do). Latency is \
                measured from the due time, so that a stall delays every message due during it (no coordinated \
                omission), to the SendPeerMessageResponse and to the receipt at the receiver: p50, p90, p99, \
                p99.9 and max (HDR histograms). Passes when every message was sent when due, answered OK and \
                received once, in order, and nobody was disconnected.

                The per-pair rate must fit the server's advertised message rate limit (180 per 3000 ms per session \
                by default, 60/s): start the server with --no-rate-limit messages.
                """
        )
    }
}

extension Herald.Bench {
    /// `herald bench overload`.
    typealias Overload = OpenLoop<OverloadScenario>
    /// `herald bench latency`.
    typealias Latency = OpenLoop<LatencyScenario>

    /// An open-loop peer-message scenario: `--pairs` pairs offer `--rate` messages per second in total.
    struct OpenLoop<Scenario: OpenLoopScenario>: AsyncParsableCommand {
        static var configuration: CommandConfiguration { Scenario.configuration }

        @OptionGroup var common: BenchCommonOptions

        @OptionGroup var probe: BenchProbeOptions

        @Option(help: "Messages per second offered in total, over all pairs.")
        var rate = 10_000

        @Option(help: "Sender/receiver pairs.")
        var pairs = Scenario.pairs

        @Option(help: "Seconds of sending.")
        var duration = 10

        @Option(
            help: """
                Most messages in flight per sender (a message due while it is full is not sent, and counted); \
                above max_outbound_queue_frames (1,024) so that a receiver's outstanding deliveries can reach LIM-17.
                """
        )
        var window = 4096

        @Option(help: "Bytes per message body (at least 16).")
        var payloadBytes = 256

        func validate() throws {
            guard self.rate > 0, self.pairs > 0, self.duration > 0, self.window > 0 else {
                throw ValidationError("--rate, --pairs, --duration and --window must be positive")
            }
            guard self.payloadBytes >= 16 else { throw ValidationError("--payload-bytes must be at least 16") }
        }

        func run() async throws {
            var options = PeerLoadOptions()
            options.rate = self.rate
            options.pairs = self.pairs
            options.duration = .seconds(self.duration)
            options.window = self.window
            options.payloadBytes = self.payloadBytes
            options.threads = self.common.threads
            options.serverPID = self.probe.serverPID
            try await self.common.run(
                Scenario.configuration.commandName ?? "bench",
                options,
                PeerLoadBenchmark.runner(Scenario.kind)
            )
        }
    }
}

extension Herald.Bench {
    /// `herald bench fanout`: one publisher, one channel, many subscribers.
    struct Fanout: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "fanout",
            abstract: "One publisher sends channel messages to a channel of many subscribers.",
            discussion: """
                --subscribers connections log in and join one channel, and so does a publisher, which sends \
                --messages channel messages, --window in flight. Every subscriber reads each ChannelMessage by its \
                bytes (seq and body number, no decoding) and checks that it gets every message once and in order \
                and that the channel's seq has no gap. Reports deliveries per second (messages × subscribers), \
                the publisher's answer latency and each message's completion time (send to receipt by the last \
                subscriber).

                The publisher keeps to the server's advertised message rate limit (60/s by default): start the \
                server with --no-rate-limit messages to measure the fan-out.
                """
        )

        @OptionGroup var common: BenchCommonOptions

        @OptionGroup var probe: BenchProbeOptions

        @Option(help: "Subscriber connections in the channel.")
        var subscribers = 1000

        @Option(help: "Channel messages the publisher sends.")
        var messages = 2000

        @Option(help: "Messages in flight from the publisher.")
        var window = 16

        @Option(help: "Bytes per message body (at least 16).")
        var payloadBytes = 256

        func validate() throws {
            guard self.subscribers > 0, self.messages > 0, self.window > 0 else {
                throw ValidationError("--subscribers, --messages and --window must be positive")
            }
            guard self.payloadBytes >= 16 else { throw ValidationError("--payload-bytes must be at least 16") }
        }

        func run() async throws {
            var options = FanoutOptions()
            options.subscribers = self.subscribers
            options.messages = self.messages
            options.window = self.window
            options.payloadBytes = self.payloadBytes
            options.threads = self.common.threads
            options.serverPID = self.probe.serverPID
            try await self.common.run("fanout", options, FanoutBenchmark.run)
        }
    }

    /// `herald bench login`: logins per second with real tokens.
    struct Login: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "login",
            abstract: "Logins per second: connect, Hello, login with a real token, logout, close.",
            discussion: """
                Runs --logins cycles, --concurrency at a time, each as its own user: a new TCP connection, Hello, \
                LoginRequest with a JWT (all minted before the measured region), LoginResponse OK, logout, close. \
                Reports logins per second and the login latency from the connect and from the LoginRequest. \
                Passes when every login and logout was answered OK.
                """
        )

        @OptionGroup var common: BenchCommonOptions

        @OptionGroup var probe: BenchProbeOptions

        @Option(help: "Login cycles in all, each a distinct user.")
        var logins = 5000

        @Option(help: "Cycles in flight at a time.")
        var concurrency = 16

        func validate() throws {
            guard self.logins > 0, self.concurrency > 0 else {
                throw ValidationError("--logins and --concurrency must be positive")
            }
        }

        func run() async throws {
            var options = LoginOptions()
            options.logins = self.logins
            options.concurrency = self.concurrency
            options.threads = self.common.threads
            options.serverPID = self.probe.serverPID
            try await self.common.run("login", options, LoginBenchmark.run)
        }
    }

    /// `herald bench idle`: the server's memory per idle logged-in connection.
    struct Idle: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "idle",
            abstract: "Many idle logged-in connections: the server's RSS per connection.",
            discussion: """
                Opens --connections connections (--concurrency at a time), each logged in as its own user, reads \
                the server's RSS (/proc/PID/status VmRSS of --server-pid) before the first and 2 s after the last \
                login, and reports the growth per connection. The connections then stay idle for --hold seconds, \
                sending only the Pings the protocol asks for (HS-41), and are closed. Passes when every connection \
                logged in and stayed logged in.

                Both this process and the server need a file descriptor per connection: the tool raises its own \
                soft limit to the hard one, and refuses to run (naming the limit) when that or the server's \
                limit (/proc/PID/limits) is too low: start the server from a shell with ulimit -n 65536.
                """
        )

        @OptionGroup var common: BenchCommonOptions

        @OptionGroup var probe: BenchProbeOptions

        @Option(help: "Connections, each logged in as its own user.")
        var connections = 10_000

        @Option(help: "Connections being opened and logged in at a time.")
        var concurrency = 128

        @Option(help: "Seconds the connections stay idle after the RSS sample.")
        var hold = 5

        func validate() throws {
            guard self.connections > 0, self.concurrency > 0, self.hold >= 0 else {
                throw ValidationError("--connections and --concurrency must be positive, --hold not negative")
            }
        }

        func run() async throws {
            var options = IdleOptions()
            options.connections = self.connections
            options.concurrency = self.concurrency
            options.hold = .seconds(self.hold)
            options.threads = self.common.threads
            options.serverPID = self.probe.serverPID
            try await self.common.run("idle", options, IdleBenchmark.run)
        }
    }
}

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
            let (target, credentials) = try self.common.resolve()
            var options = StallOptions()
            options.rate = self.rate
            options.baseline = .seconds(self.baseline)
            options.pressure = .seconds(self.pressure)
            options.flooders = self.flooders
            options.payloadBytes = self.payloadBytes
            options.cutOffTimeout = .seconds(self.cutOffTimeout)
            options.p99MarginMs = self.p99MarginMs
            options.threads = max(2, self.common.threads)
            let report: BenchReport
            do {
                report = try await StallBenchmark.run(target: target, credentials: credentials, options: options) {
                    Console.error("stall: \($0)")
                }
            } catch {
                throw BenchCommonOptions.exit(for: error)
            }
            try self.common.finish(report)
        }
    }

    /// `herald bench overload`: more acknowledged traffic than the server carries; nobody may be cut off.
    struct Overload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
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

        @OptionGroup var common: BenchCommonOptions

        @Option(help: "Messages per second offered in total.")
        var rate = 10_000

        @Option(help: "Sender/receiver pairs.")
        var pairs = 100

        @Option(help: "Seconds of sending.")
        var duration = 10

        @Option(
            help: """
                Most messages in flight per sender; above max_outbound_queue_frames (1,024) so that a receiver's \
                outstanding deliveries can reach LIM-17.
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
            let (target, credentials) = try self.common.resolve()
            var options = OverloadOptions()
            options.rate = self.rate
            options.pairs = self.pairs
            options.duration = .seconds(self.duration)
            options.window = self.window
            options.payloadBytes = self.payloadBytes
            options.threads = self.common.threads
            let report: BenchReport
            do {
                report = try await OverloadBenchmark.run(target: target, credentials: credentials, options: options) {
                    Console.error("overload: \($0)")
                }
            } catch {
                throw BenchCommonOptions.exit(for: error)
            }
            try self.common.finish(report)
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

        @Option(help: "The server's pid (required: its RSS is the verdict).")
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
            let (target, credentials) = try self.common.resolve()
            var options = ChurnOptions()
            options.cycles = self.cycles
            options.parallel = self.parallel
            options.renewals = self.renewals
            options.longSessions = self.longSessions
            options.warmUpPercent = self.warmUpPercent
            options.serverPID = self.serverPID
            options.rssBoundMiB = self.rssBound
            options.threads = self.common.threads
            let report: BenchReport
            do {
                report = try await ChurnBenchmark.run(target: target, credentials: credentials, options: options) {
                    Console.error("churn: \($0)")
                }
            } catch {
                throw BenchCommonOptions.exit(for: error)
            }
            try self.common.finish(report)
        }
    }
}

import Foundation

/// The time budget of one case, derived from the target rather than fixed.
///
/// A case may wait on the server's own timers (`waitTimer` steps, and waits such as
/// `"withinMs": "${timer:invitationExpiryMs}"`), and may connect crowds whose size comes from the server's limits. A
/// fixed budget either cuts such cases short against a server with long default timers (an invitation case waits
/// about one 60 s `invitationExpiryMs`) or lets a hung case run for many minutes against one with short timers. The
/// budget is therefore the sum of three parts:
///
/// - **base**: the case's `timeoutMs`, or the runner's default (30 s), for its ordinary round trips; scaled by
///   `--timeout-scale`;
/// - **server timers**: every wait the case's steps take on a timer that the target advertised in `Welcome.timers`
///   (evaluated against the probe's `Welcome`), at the server's own pace, so not scaled;
/// - **crowds**: ``perCrowdMemberMs`` for each crowd member a `forEach` step runs, scaled.
public struct CaseBudget: Sendable, Hashable, CustomStringConvertible {
    /// The allowance per crowd member run by a `forEach` step (connect, `Hello`/`Welcome`, login and a few more
    /// round trips on a busy machine), before scaling.
    public static let perCrowdMemberMs: Int64 = 150

    /// The case's own budget for ordinary round trips, scaled.
    public var base: Duration
    /// The waits on the server's advertised timers, unscaled.
    public var serverTimers: Duration
    /// The allowance for crowd members, scaled.
    public var crowds: Duration
    /// The names of the timers the case waits on (`invitationExpiryMs`), in the order first used.
    public var timerNames: [String]
    /// The number of crowd members the case runs (each `forEach` counts its crowd once).
    public var crowdMembers: Int64
    /// The timeout scale the budget was computed with.
    public var timeoutScale: Double

    /// The whole budget.
    public var total: Duration {
        self.base + self.serverTimers + self.crowds
    }

    /// How the budget was made up, e.g. `95 s: 30 s base + 65 s of the server's timers (invitationExpiryMs)`.
    public var description: String {
        var text = "\(Self.text(self.total)): \(Self.text(self.base)) base"
        if self.timeoutScale != 1 {
            text += " (after --timeout-scale \(self.timeoutScale))"
        }
        if self.serverTimers > .zero {
            text +=
                " + \(Self.text(self.serverTimers)) of the server's advertised timers ("
                + self.timerNames.joined(separator: ", ") + ")"
        }
        if self.crowds > .zero {
            text += " + \(Self.text(self.crowds)) for \(self.crowdMembers) crowd members"
        }
        return text
    }

    /// Computes the budget of a case against the timers and limits of `welcome` (the probe's `Welcome` in protobuf
    /// JSON, or `nil` when no probe ran: then only the base counts).
    ///
    /// - Parameters:
    ///   - scenario: The case.
    ///   - welcome: The target's `Welcome`.
    ///   - defaultBaseMs: The base when the case has no `timeoutMs`.
    ///   - timeoutScale: `--timeout-scale`.
    public init(scenario: ScenarioCase, welcome: JSONValue?, defaultBaseMs: Int64, timeoutScale: Double) {
        self.timeoutScale = timeoutScale
        self.base = Self.scaled(Int64(scenario.timeoutMs ?? Int(defaultBaseMs)), timeoutScale)
        var context = TemplateContext(nonce: "budget", caseID: scenario.id, appID: "budget")
        context.limits = welcome?["limits"]
        context.timers = welcome?["timers"]
        var walker = Walker(context: context, crowds: scenario.crowds ?? [:])
        walker.walk(scenario.steps, times: 1)
        self.serverTimers = .milliseconds(walker.timerMs)
        self.timerNames = walker.timerNames
        self.crowdMembers = walker.crowdMembers
        self.crowds = Self.scaled(walker.crowdMembers * Self.perCrowdMemberMs, timeoutScale)
    }

    static func scaled(_ milliseconds: Int64, _ scale: Double) -> Duration {
        .milliseconds(Int64((Double(max(0, milliseconds)) * scale).rounded()))
    }

    /// `950 ms`, `12 s`, `8 min 14 s`.
    static func text(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        if milliseconds < 1000 { return "\(milliseconds) ms" }
        let seconds = (milliseconds + 500) / 1000
        if seconds < 120 { return "\(seconds) s" }
        return "\(seconds / 60) min \(seconds % 60) s"
    }

    /// Adds up the timer waits and crowd members of a list of steps.
    private struct Walker {
        var context: TemplateContext
        var crowds: [String: IntExpression]
        var timerMs: Int64 = 0
        var timerNames: [String] = []
        var crowdMembers: Int64 = 0

        mutating func walk(_ steps: [Step], times: Int64) {
            for step in steps {
                self.walk(step, times: times)
            }
        }

        mutating func walk(_ step: Step, times: Int64) {
            switch step {
            case .waitTimer(let body):
                var milliseconds = 0.0
                if let timer = body.timer, let value = self.context.timers?[timer]?.integerValue {
                    milliseconds = Double(value) * (body.factor ?? 1)
                    self.note(timer)
                }
                // The slack of a timer wait belongs to it; a waitTimer without a timer is an ordinary wait of the
                // case, covered by the base like any literal wait.
                if body.timer != nil, let plus = body.plusMs,
                    let value = try? Templating.integer(plus, in: self.context),
                    value > 0
                {
                    milliseconds += Double(value)
                }
                self.timerMs += Int64(milliseconds.rounded()) * times
            case .connect(let body), .reconnect(let body):
                self.wait(body.withinMs, times: times)
            case .login(let body):
                self.wait(body.withinMs, times: times)
            case .expect(let body):
                self.wait(body.withinMs, times: times)
            case .expectAnyOf(let body):
                self.wait(body.withinMs, times: times)
            case .expectUnordered(let body):
                self.wait(body.withinMs, times: times)
            case .expectClosed(let body):
                self.wait(body.withinMs, times: times)
            case .expectNone(let body):
                self.wait(body.forMs, times: times)
            case .repeat(let body):
                // A count known before the case runs multiplies; one that depends on a capture counts once.
                let count = (try? Templating.integer(body.times, in: self.context)).map { max(0, $0) } ?? 1
                self.walk(body.steps, times: times * max(1, min(count, 10_000)))
            case .forEach(let body):
                let size =
                    self.crowds[body.crowd].flatMap { try? Templating.integer($0, in: self.context) }.map {
                        max(0, min($0, Crowd.maximumSize))
                    } ?? 0
                let concurrency = max(
                    1,
                    body.concurrency.flatMap { try? Templating.integer($0, in: self.context) }
                        ?? ForEachStep.defaultConcurrency
                )
                self.crowdMembers += size * times
                // Members run `concurrency` at a time: their timer waits overlap within a round.
                let rounds = (size + concurrency - 1) / concurrency
                self.walk(body.steps, times: times * max(1, rounds))
            case .send, .sendRaw, .ack, .sync, .drop, .webSocketUpgrade, .restartTarget:
                break
            }
        }

        /// Counts a wait that is written in terms of a server timer (`${timer:…}`); other waits are ordinary round
        /// trips, covered by the base.
        mutating func wait(_ expression: IntExpression?, times: Int64) {
            guard case .template(let text)? = expression, text.contains("timer:"),
                let value = try? Templating.integer(.template(text), in: self.context), value > 0
            else { return }
            for name in Self.timerNames(in: text) { self.note(name) }
            self.timerMs += value * times
        }

        mutating func note(_ timer: String) {
            if !self.timerNames.contains(timer) { self.timerNames.append(timer) }
        }

        /// The timer fields named in `${timer:NAME±n}` templates of `text`.
        static func timerNames(in text: String) -> [String] {
            var names: [String] = []
            var rest = Substring(text)
            while let range = rest.range(of: "timer:") {
                let name = rest[range.upperBound...].prefix { $0.isLetter || $0.isNumber }
                if !name.isEmpty { names.append(String(name)) }
                rest = rest[range.upperBound...]
            }
            return names
        }
    }
}

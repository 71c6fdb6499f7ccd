// Crowds: groups of extra actors whose size comes from the target (`"crowds": {"crowd":
// "${limit:maxMemberEventChannelSize+1}"}`), acted on by `forEach` steps.

/// Names of crowd members and the steps one member runs.
public enum Crowd {
    /// The largest crowd a case may use.
    public static let maximumSize: Int64 = 10_000

    /// The actor name of member `index` of `crowd`: `<crowd>.<index>` (e.g. `crowd.17`). Its user id is
    /// `${user:<crowd>.<index>}`; declared actors cannot contain a dot, so the names never collide.
    public static func memberName(_ crowd: String, _ index: Int) -> String {
        "\(crowd).\(index)"
    }

    /// `steps` with every use of `crowd` as an actor (and as `login.user`) replaced by `member`.
    public static func steps(_ steps: [Step], of crowd: String, for member: String) -> [Step] {
        steps.map { Self.step($0, of: crowd, for: member) }
    }

    private static func step(_ step: Step, of crowd: String, for member: String) -> Step {
        func rename(_ actor: String) -> String {
            actor == crowd ? member : actor
        }
        switch step {
        case .connect(var body):
            body.actor = rename(body.actor)
            return .connect(body)
        case .reconnect(var body):
            body.actor = rename(body.actor)
            return .reconnect(body)
        case .login(var body):
            body.actor = rename(body.actor)
            body.user = body.user.map(rename)
            return .login(body)
        case .send(var body):
            body.actor = rename(body.actor)
            return .send(body)
        case .sendRaw(var body):
            body.actor = rename(body.actor)
            return .sendRaw(body)
        case .ack(var body):
            body.actor = rename(body.actor)
            return .ack(body)
        case .expect(var body):
            body.actor = body.actor.map(rename)
            return .expect(body)
        case .expectAnyOf(var body):
            body.actor = rename(body.actor)
            return .expectAnyOf(body)
        case .expectUnordered(var body):
            body.actor = rename(body.actor)
            return .expectUnordered(body)
        case .expectNone(var body):
            body.actor = rename(body.actor)
            return .expectNone(body)
        case .sync(var body):
            body.actor = rename(body.actor)
            return .sync(body)
        case .drop(var body):
            body.actor = rename(body.actor)
            return .drop(body)
        case .expectClosed(var body):
            body.actor = rename(body.actor)
            return .expectClosed(body)
        case .repeat(var body):
            body.steps = Self.steps(body.steps, of: crowd, for: member)
            return .repeat(body)
        case .waitTimer, .forEach, .webSocketUpgrade, .restartTarget:
            return step
        }
    }
}

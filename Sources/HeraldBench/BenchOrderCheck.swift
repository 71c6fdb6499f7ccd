/// Checks that the numbered messages of one sender (``BenchBody/sequence``, from 1) reach one receiver once each
/// and in order.
public struct BenchOrderCheck: Sendable, Hashable {
    /// What one received number means.
    public enum Outcome: Sendable, Hashable {
        /// The next number: in order.
        case inOrder
        /// A number at or below the last one in order: a duplicate or a reordered message.
        case late
        /// A number past the next one: `skipped` messages are missing (lost, or reordered and still to come).
        case gap(skipped: UInt64)
    }

    /// The number expected next.
    public private(set) var expected: UInt64 = 1

    /// Creates a check expecting number 1.
    public init() {}

    /// Takes `sequence` and says whether it was in order.
    public mutating func receive(_ sequence: UInt64) -> Outcome {
        if sequence == self.expected {
            self.expected += 1
            return .inOrder
        }
        if sequence < self.expected { return .late }
        let skipped = sequence - self.expected
        self.expected = sequence + 1
        return .gap(skipped: skipped)
    }
}

extension BenchStats {
    /// Counts `received` and checks `sequence` with `check` (``check(_:_:who:)``).
    public mutating func receive(_ sequence: UInt64, _ check: inout BenchOrderCheck, who: @autoclosure () -> String) {
        self.count("received")
        self.check(sequence, &check, who: who())
    }

    /// Checks `sequence` with `check`: a late number counts `received.out-of-order`, a skipped one `received.gap`
    /// (problems noted with `who`).
    public mutating func check(_ sequence: UInt64, _ check: inout BenchOrderCheck, who: @autoclosure () -> String) {
        switch check.receive(sequence) {
        case .inOrder:
            break
        case .late:
            self.problem("received.out-of-order", "\(who()): \(sequence) after \(check.expected - 1)")
        case .gap(let skipped):
            self.problem("received.gap", "\(who()): \(sequence), \(skipped) skipped")
        }
    }
}

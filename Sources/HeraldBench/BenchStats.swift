import Histogram

/// What one event loop's connections recorded: counters and a latency histogram.
///
/// One value per event loop, used only on that loop (no lock on the hot path); ``merge(_:)`` combines them at the
/// end of a run.
public struct BenchStats: Sendable {
    /// Named counters, for example `protocol-error.slow-consumer` or `sent.peer-message`.
    public var counters: [String: Int] = [:]
    /// Request-to-response latency in microseconds.
    public var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    /// Further latency distributions by name, in microseconds (for example `answer from schedule`).
    public var histograms: [String: Histogram<UInt64>] = [:]
    /// The first problems seen, with details (at most ``maximumNotes``).
    public var notes: [String] = []
    /// How many notes are kept.
    public static let maximumNotes = 50

    /// Creates empty statistics.
    public init() {}

    /// Adds `amount` to counter `name`.
    @inlinable
    public mutating func count(_ name: String, _ amount: Int = 1) {
        self.counters[name, default: 0] += amount
    }

    /// Records one latency sample in microseconds.
    public mutating func recordLatency(microseconds: UInt64) {
        _ = self.latency.record(min(microseconds, self.latency.highestTrackableValue))
    }

    /// Records `nanoseconds` in microseconds into the distribution `name` (created on first use, up to 60 s).
    public mutating func record(_ name: String, nanoseconds: UInt64) {
        Scenario.record(nanoseconds, into: &self.histograms[name, default: Scenario.histogram()])
    }

    /// The distribution `name` (empty when nothing was recorded).
    public func histogram(_ name: String) -> Histogram<UInt64> {
        self.histograms[name] ?? Scenario.histogram()
    }

    /// Counts problem `name` and keeps `detail` if fewer than ``maximumNotes`` notes are kept.
    ///
    /// Problems of clients counted apart (names starting with `fuzz.` or `sink.`) are counted but not noted.
    public mutating func problem(_ name: String, _ detail: @autoclosure () -> String) {
        self.count(name)
        if self.notes.count < Self.maximumNotes && !name.hasPrefix("fuzz.") && !name.hasPrefix("sink.") {
            self.notes.append("\(name): \(detail())")
        }
    }

    /// Keeps `detail` if fewer than ``maximumNotes`` notes are kept (for a problem counted elsewhere).
    public mutating func note(_ detail: @autoclosure () -> String) {
        if self.notes.count < Self.maximumNotes { self.notes.append(detail()) }
    }

    /// The value of counter `name` (0 when never counted).
    public subscript(_ name: String) -> Int {
        self.counters[name] ?? 0
    }

    /// Adds `other`'s counters, samples and notes.
    public mutating func merge(_ other: BenchStats) {
        for (name, value) in other.counters { self.counters[name, default: 0] += value }
        self.latency.add(other.latency)
        for (name, histogram) in other.histograms {
            self.histograms[name, default: Scenario.histogram()].add(histogram)
        }
        for note in other.notes where self.notes.count < Self.maximumNotes { self.notes.append(note) }
    }
}

import Histogram

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The result of a benchmark run: figures, checks and their verdict, printable as a table and as JSON.
public struct BenchReport: Sendable, Codable {
    /// One measured figure.
    public struct Figure: Sendable, Codable, Hashable {
        /// Its name, for example `msg/s`.
        public var name: String
        /// Its value.
        public var value: Double
        /// Its unit, for example `µs`; empty for a plain count.
        public var unit: String

        /// Creates a figure.
        public init(name: String, value: Double, unit: String = "") {
            self.name = name
            self.value = value
            self.unit = unit
        }

        /// The value and its unit, as printed.
        var text: String {
            BenchReport.format(self.value) + (self.unit.isEmpty ? "" : " \(self.unit)")
        }
    }

    /// One pass/fail check.
    public struct Check: Sendable, Codable, Hashable {
        /// What is checked, for example `lost messages`.
        public var name: String
        /// Whether it passed.
        public var passed: Bool
        /// The observed value and the criterion, for example `0 (must be 0)`.
        public var detail: String

        /// Creates a check.
        public init(name: String, passed: Bool, detail: String) {
            self.name = name
            self.passed = passed
            self.detail = detail
        }
    }

    /// The scenario, for example `roundtrip` or `soak`.
    public var scenario: String
    /// The target URL.
    public var target: String
    /// The parameters of the run, as given.
    public var parameters: [String: String]
    /// The figures, in display order.
    public var figures: [Figure]
    /// The checks, in display order.
    public var checks: [Check]
    /// All counters of the run.
    public var counters: [String: Int]
    /// The first problems seen, with details.
    public var notes: [String]
    /// The server's and the load generator's resource use over the measured regions (see ``ServerProbe``).
    public var usage: [BenchUsage] = []

    /// Creates a report.
    public init(
        scenario: String,
        target: String,
        parameters: [String: String],
        figures: [Figure] = [],
        checks: [Check] = [],
        counters: [String: Int] = [:],
        notes: [String] = []
    ) {
        self.scenario = scenario
        self.target = target
        self.parameters = parameters
        self.figures = figures
        self.checks = checks
        self.counters = counters
        self.notes = notes
    }

    /// Whether every check passed.
    public var passed: Bool {
        self.checks.allSatisfy(\.passed)
    }

    /// Adds the latency percentiles of `stats` (p50, p90, p99, p99.9, max) as figures, in microseconds.
    public mutating func addLatency(_ stats: BenchStats, label: String = "latency") {
        self.addLatency(stats.latency, label: label)
    }

    /// Adds the percentiles of `histogram` (microseconds: p50, p90, p99, p99.9, max) as figures.
    public mutating func addLatency(_ histogram: Histogram<UInt64>, label: String) {
        guard histogram.totalCount > 0 else { return }
        for (name, percentile) in [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9)] {
            self.figures.append(
                Figure(name: "\(label) \(name)", value: Double(histogram.valueAtPercentile(percentile)), unit: "µs")
            )
        }
        self.figures.append(Figure(name: "\(label) max", value: Double(histogram.max), unit: "µs"))
    }

    /// Adds `usage` (printed in its own section), with a note when the server was not sampled.
    public mutating func add(_ usage: BenchUsage) {
        self.usage.append(usage)
        if usage.server == nil && !self.notes.contains(Self.unsampledNote) {
            self.notes.append(Self.unsampledNote)
        }
    }

    static let unsampledNote =
        "server CPU, syscalls and context switches not sampled: give --server-pid PID of a server on this machine"

    /// The report as an aligned text table: parameters, figures, checks, notes and non-zero counters.
    public var table: String {
        var lines: [String] = ["herald bench \(self.scenario) against \(self.target)"]
        if !self.parameters.isEmpty {
            lines.append(
                "  " + self.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            )
        }
        func rows(_ title: String, _ items: [(String, String)]) {
            guard !items.isEmpty else { return }
            lines.append("")
            lines.append(title)
            let width = items.map(\.0.count).max() ?? 0
            for (name, value) in items {
                lines.append("  " + name + String(repeating: " ", count: width - name.count) + "  " + value)
            }
        }
        rows("figures", self.figures.map { ($0.name, $0.text) })
        for usage in self.usage {
            let counts = usage.operations.map { "\(Self.format($0.value)) × \($0.name)" }.joined(separator: ", ")
            rows(
                "resources, \(usage.label) (\(Self.format(usage.seconds)) s, \(counts))",
                usage.figures.map { ($0.name, $0.text) }
            )
        }
        rows("checks", self.checks.map { ($0.name, ($0.passed ? "PASS  " : "FAIL  ") + $0.detail) })
        rows(
            "counters",
            self.counters.filter { $0.value != 0 }.sorted { $0.key < $1.key }.map { ($0.key, "\($0.value)") }
        )
        if !self.notes.isEmpty {
            lines.append("")
            lines.append("notes (first \(self.notes.count))")
            lines.append(contentsOf: self.notes.map { "  " + $0 })
        }
        if !self.checks.isEmpty {
            lines.append("")
            lines.append(
                self.passed
                    ? "verdict: PASS"
                    : "verdict: FAIL (\(self.checks.filter { !$0.passed }.map(\.name).joined(separator: ", ")))"
            )
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The report as pretty-printed JSON with sorted keys.
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
    }

    /// A whole number as it is, a value of at least 1 with two decimals, a smaller one with three significant
    /// digits (so that 0.0312 write syscalls per delivery do not print as 0.03).
    static func format(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) }
        guard abs(value) < 1, value.isFinite else { return String((value * 100).rounded() / 100) }
        var scale = 1000.0
        while abs(value) * scale < 100 && scale < 1e12 { scale *= 10 }
        return String((value * scale).rounded() / scale)
    }
}

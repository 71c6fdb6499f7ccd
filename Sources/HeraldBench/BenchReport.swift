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
        guard stats.latency.totalCount > 0 else { return }
        for (name, percentile) in [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9)] {
            self.figures.append(
                Figure(name: "\(label) \(name)", value: Double(stats.latency.valueAtPercentile(percentile)), unit: "µs")
            )
        }
        self.figures.append(Figure(name: "\(label) max", value: Double(stats.latency.max), unit: "µs"))
    }

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
        rows("figures", self.figures.map { ($0.name, Self.format($0.value) + ($0.unit.isEmpty ? "" : " \($0.unit)")) })
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

    static func format(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) }
        let scaled = (value * 100).rounded() / 100
        return String(scaled)
    }
}

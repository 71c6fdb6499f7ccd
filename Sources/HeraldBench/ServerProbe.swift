#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Cumulative resource counters of one process, or their difference over a measured region.
public struct ProcessCounters: Sendable, Hashable, Codable {
    /// CPU time in user and kernel mode, in microseconds (`/proc/PID/stat` utime + stime, or `getrusage`).
    public var cpuMicroseconds: Double
    /// Read system calls (`/proc/PID/io` `syscr`); `nil` when unknown (another user's process, or not Linux).
    public var readSyscalls: Int?
    /// Write system calls (`/proc/PID/io` `syscw`); `nil` when unknown.
    public var writeSyscalls: Int?
    /// Voluntary and involuntary context switches of all threads; `nil` when unknown.
    public var contextSwitches: Int?

    /// Creates counters.
    public init(
        cpuMicroseconds: Double,
        readSyscalls: Int? = nil,
        writeSyscalls: Int? = nil,
        contextSwitches: Int? = nil
    ) {
        self.cpuMicroseconds = cpuMicroseconds
        self.readSyscalls = readSyscalls
        self.writeSyscalls = writeSyscalls
        self.contextSwitches = contextSwitches
    }

    /// What happened from `earlier` to `self` (a count unknown at either end stays unknown).
    public func since(_ earlier: ProcessCounters) -> ProcessCounters {
        func difference(_ later: Int?, _ before: Int?) -> Int? {
            guard let later, let before else { return nil }
            return later - before
        }
        return ProcessCounters(
            cpuMicroseconds: self.cpuMicroseconds - earlier.cpuMicroseconds,
            readSyscalls: difference(self.readSyscalls, earlier.readSyscalls),
            writeSyscalls: difference(self.writeSyscalls, earlier.writeSyscalls),
            contextSwitches: difference(self.contextSwitches, earlier.contextSwitches)
        )
    }
}

/// The server's and the load generator's resource use over a measured region, per operation of the scenario.
public struct BenchUsage: Sendable, Codable, Hashable {
    /// What was measured, for example `measured region` or `hold`.
    public var label: String
    /// Wall-clock length of the region in seconds.
    public var seconds: Double
    /// The operations done in the region, the scenario's unit first (for example `round trip`, or `delivery`
    /// then `message`), with their counts.
    public var operations: [BenchReport.Figure]
    /// The server's use (from `/proc`), `nil` without `--server-pid`.
    public var server: ProcessCounters? = nil
    /// The load generator's own use (`getrusage(RUSAGE_SELF)`, all its threads).
    public var generator: ProcessCounters
    /// The derived figures, as printed: CPU share, CPU µs, syscalls and context switches per operation.
    public var figures: [BenchReport.Figure]

    /// The use from mark `start` to mark `end` (``ServerProbe/mark()``), per operation (`operations`: name and
    /// count, the scenario's unit first).
    public init(
        label: String = "measured region",
        from start: ServerProbe.Mark,
        to end: ServerProbe.Mark,
        operations: [(String, Int)]
    ) {
        self.label = label
        self.seconds = Double(end.nanoseconds &- start.nanoseconds) / 1e9
        self.operations = operations.map { BenchReport.Figure(name: $0.0, value: Double($0.1)) }
        if let before = start.server, let after = end.server { self.server = after.since(before) }
        self.generator = end.generator.since(start.generator)
        self.figures = Self.figures(
            seconds: self.seconds,
            operations: self.operations,
            server: self.server,
            generator: self.generator
        )
    }

    /// CPU share, CPU µs per operation, and (for the server) syscalls and context switches per operation.
    static func figures(
        seconds: Double,
        operations: [BenchReport.Figure],
        server: ProcessCounters?,
        generator: ProcessCounters
    ) -> [BenchReport.Figure] {
        var figures: [BenchReport.Figure] = []
        let wallMicroseconds = max(seconds, 1e-6) * 1e6
        for (who, counters) in [("server", server), ("generator", generator)] {
            guard let counters else { continue }
            figures.append(
                .init(name: "\(who) CPU", value: counters.cpuMicroseconds / wallMicroseconds * 100, unit: "% of a core")
            )
            for operation in operations where operation.value > 0 {
                let per = "per \(operation.name)"
                figures.append(
                    .init(name: "\(who) CPU \(per)", value: counters.cpuMicroseconds / operation.value, unit: "µs")
                )
                let counts = [
                    ("write syscalls", counters.writeSyscalls), ("read syscalls", counters.readSyscalls),
                    ("context switches", counters.contextSwitches),
                ]
                for (name, count) in counts where who == "server" {
                    if let count {
                        figures.append(.init(name: "\(who) \(name) \(per)", value: Double(count) / operation.value))
                    }
                }
            }
        }
        return figures
    }

}

/// Samples the server process (`--server-pid`, on this machine) and the load generator before and after a
/// scenario's measured region: CPU time, read and write system calls and context switches.
///
/// The server's figures come from `/proc/PID/stat` (fields 14 and 15, utime and stime, in clock ticks of
/// `sysconf(_SC_CLK_TCK)`), `/proc/PID/io` (`syscr`, `syscw`) and the sum of `voluntary_ctxt_switches` and
/// `nonvoluntary_ctxt_switches` over `/proc/PID/task/*/status`; the generator's from `getrusage(RUSAGE_SELF)`.
public struct ServerProbe: Sendable {
    /// The counters of both processes at one instant.
    public struct Mark: Sendable, Hashable {
        /// The monotonic clock in nanoseconds.
        public var nanoseconds: UInt64
        /// The server's counters, `nil` without a server pid.
        public var server: ProcessCounters?
        /// The load generator's counters.
        public var generator: ProcessCounters
    }

    /// The server's pid, `nil` when not sampled.
    public let serverPID: Int32?

    /// Creates a probe of `serverPID` (or of the load generator alone when `nil`).
    ///
    /// - Throws: ``BenchError`` with ``BenchError/Code/usage`` when `/proc/PID/stat` cannot be read.
    public init(serverPID: Int32?) throws(BenchError) {
        if let serverPID, ProcFS.counters(pid: serverPID) == nil {
            throw BenchError(
                .usage,
                "--server-pid \(serverPID): cannot read /proc/\(serverPID)/stat (no such process on this machine?)"
            )
        }
        self.serverPID = serverPID
    }

    /// Samples both processes now.
    public func mark() -> Mark {
        Mark(
            nanoseconds: Scenario.now(),
            server: self.serverPID.flatMap { ProcFS.counters(pid: $0) },
            generator: ProcFS.ownCounters()
        )
    }

    /// The server's resident set size in KiB (`VmRSS`), `nil` without a pid or when unreadable.
    public func serverRSS() -> Int? {
        self.serverPID.flatMap { Scenario.rss(pid: $0) }
    }
}

/// Reading and parsing `/proc` files (Linux); each parser takes the file's text so that tests can feed samples.
enum ProcFS {
    /// The whole file at `path`, read with `open`/`read` (`/proc` files report a size of 0); `nil` if unreadable.
    static func contents(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// utime and stime (fields 14 and 15) of a `/proc/PID/stat` line, in clock ticks.
    ///
    /// Field 2, the command name in parentheses, may hold spaces and parentheses: fields are counted after the
    /// last `)`.
    static func cpuTicks(stat: String) -> (user: UInt64, system: UInt64)? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        // After ")": field 3 (state) is the first.
        let fields = stat[stat.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count > 12, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return nil }
        return (user, system)
    }

    /// The number after `key:` in a `key: value` file (`/proc/PID/status`, `/proc/PID/io`); the first word of
    /// the value, so `VmRSS:\t  66732 kB` gives 66732.
    static func value(_ key: String, in text: String) -> Int? {
        for line in text.split(separator: "\n") where line.hasPrefix(key) {
            let rest = line.dropFirst(key.count)
            guard rest.first == ":" else { continue }
            return Int(rest.dropFirst().split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
        }
        return nil
    }

    /// Voluntary plus involuntary context switches of one `/proc/PID/task/TID/status`.
    static func contextSwitches(status: String) -> Int? {
        guard let voluntary = Self.value("voluntary_ctxt_switches", in: status),
            let involuntary = Self.value("nonvoluntary_ctxt_switches", in: status)
        else { return nil }
        return voluntary + involuntary
    }

    /// The soft and hard `Max open files` of a `/proc/PID/limits` file (`Int.max` for `unlimited`).
    static func openFilesLimit(limits: String) -> (soft: Int, hard: Int)? {
        for line in limits.split(separator: "\n") where line.hasPrefix("Max open files") {
            let words = line.dropFirst("Max open files".count).split(separator: " ", omittingEmptySubsequences: true)
            guard words.count >= 2 else { return nil }
            func number(_ word: Substring) -> Int? { word == "unlimited" ? Int.max : Int(word) }
            guard let soft = number(words[0]), let hard = number(words[1]) else { return nil }
            return (soft, hard)
        }
        return nil
    }

    /// The counters of process `pid`; `nil` when `/proc/PID/stat` cannot be read. Syscalls are `nil` when
    /// `/proc/PID/io` cannot be read (it needs the same user, or root).
    static func counters(pid: Int32) -> ProcessCounters? {
        guard let stat = Self.contents("/proc/\(pid)/stat"), let ticks = Self.cpuTicks(stat: stat) else { return nil }
        let ticksPerSecond = Double(max(1, sysconf(Int32(_SC_CLK_TCK))))
        var counters = ProcessCounters(cpuMicroseconds: Double(ticks.user + ticks.system) * 1e6 / ticksPerSecond)
        if let io = Self.contents("/proc/\(pid)/io") {
            counters.readSyscalls = Self.value("syscr", in: io)
            counters.writeSyscalls = Self.value("syscw", in: io)
        }
        var switches: Int?
        for task in Self.directory("/proc/\(pid)/task") {
            if let status = Self.contents("/proc/\(pid)/task/\(task)/status"),
                let count = Self.contextSwitches(status: status)
            {
                switches = (switches ?? 0) + count
            }
        }
        counters.contextSwitches = switches
        return counters
    }

    #if canImport(Glibc)
    private static var ownProcess: __rusage_who_t { __rusage_who_t(RUSAGE_SELF.rawValue) }
    #else
    private static var ownProcess: Int32 { RUSAGE_SELF }
    #endif

    /// The load generator's own counters (`getrusage(RUSAGE_SELF)`: every thread), with its syscalls from
    /// `/proc/self/io` where readable.
    static func ownCounters() -> ProcessCounters {
        var usage = rusage()
        getrusage(Self.ownProcess, &usage)
        func microseconds(_ time: timeval) -> Double { Double(time.tv_sec) * 1e6 + Double(time.tv_usec) }
        var counters = ProcessCounters(
            cpuMicroseconds: microseconds(usage.ru_utime) + microseconds(usage.ru_stime),
            contextSwitches: Int(usage.ru_nvcsw + usage.ru_nivcsw)
        )
        if let io = Self.contents("/proc/self/io") {
            counters.readSyscalls = Self.value("syscr", in: io)
            counters.writeSyscalls = Self.value("syscw", in: io)
        }
        return counters
    }

    /// The names in directory `path` other than `.` and `..` (empty when unreadable).
    static func directory(_ path: String) -> [String] {
        guard let handle = opendir(path) else { return [] }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = Self.name(of: entry)
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The name of a directory entry, read up to its terminating NUL and no further.
    ///
    /// `d_name` is declared as 256 bytes, but a record returned by `readdir` is only `d_reclen` bytes long: copying
    /// the whole field (as `entry.pointee.d_name` does) reads past the last record of glibc's buffer, and crashed a
    /// test process whose buffer ended where its heap did.
    static func name(of entry: UnsafePointer<dirent>) -> String {
        let offset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        return String(cString: (UnsafeRawPointer(entry) + offset).assumingMemoryBound(to: CChar.self))
    }
}

/// The file-descriptor budget of the load generator and of the server.
public enum BenchDescriptors {
    #if canImport(Glibc)
    private static var resource: __rlimit_resource_t { __rlimit_resource_t(RLIMIT_NOFILE.rawValue) }
    #else
    private static var resource: Int32 { RLIMIT_NOFILE }
    #endif

    /// Raises this process's `RLIMIT_NOFILE` soft limit to its hard limit if `needed` descriptors do not fit.
    ///
    /// - Throws: ``BenchError`` with ``BenchError/Code/usage`` when even the hard limit is below `needed`.
    public static func reserve(_ needed: Int, for what: String) throws(BenchError) {
        var limit = rlimit()
        guard getrlimit(Self.resource, &limit) == 0 else { return }
        guard limit.rlim_cur < rlim_t(needed) else { return }
        if limit.rlim_max < rlim_t(needed) {
            throw BenchError(
                .usage,
                "\(what) needs about \(needed) file descriptors, but this process may open at most "
                    + "\(limit.rlim_max) (hard RLIMIT_NOFILE): raise it (ulimit -Hn, /etc/security/limits.conf, "
                    + "LimitNOFILE= for a service) and run again, or ask for fewer connections"
            )
        }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Self.resource, &limit)
    }

    /// ``reserve(_:for:)``, and checks that server `pid` (when given and its `/proc/PID/limits` readable) may
    /// open as many.
    ///
    /// - Throws: ``BenchError`` with ``BenchError/Code/usage`` when this process's hard limit or the server's soft
    ///   limit is below `needed`.
    public static func reserve(_ needed: Int, serverPID pid: Int32?, for what: String) throws(BenchError) {
        try Self.reserve(needed, for: what)
        guard let pid, let text = ProcFS.contents("/proc/\(pid)/limits"),
            let limit = ProcFS.openFilesLimit(limits: text)
        else { return }
        guard limit.soft < needed else { return }
        let hard = limit.hard == Int.max ? "unlimited" : "\(limit.hard)"
        throw BenchError(
            .usage,
            "\(what) needs about \(needed) file descriptors in the server, but server \(pid) may open only "
                + "\(limit.soft) (its soft RLIMIT_NOFILE, /proc/\(pid)/limits; hard limit \(hard)): restart it from a "
                + "shell with ulimit -n \(max(needed, 65_536))"
        )
    }
}

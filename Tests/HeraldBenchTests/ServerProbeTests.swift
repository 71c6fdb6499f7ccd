import Foundation
import Testing

@testable import HeraldBench

#if canImport(Glibc)
import Glibc
#endif

/// The `/proc` parsers of ``ServerProbe`` read sample files as Linux writes them, and ``BenchUsage`` derives its
/// per-operation figures.
@Suite struct ServerProbeTests {
    @Test func readsUserAndSystemTicksAfterTheCommandName() {
        // Field 2 may hold spaces and parentheses; utime and stime are fields 14 and 15.
        let stat =
            "4242 (herald (serve) x) S 1 4242 4242 0 -1 4194560 1200 0 0 0 731 268 0 0 20 0 9 0 4598900 "
            + "3133440 416 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
        let ticks = ProcFS.cpuTicks(stat: stat)
        #expect(ticks?.user == 731)
        #expect(ticks?.system == 268)
        #expect(ProcFS.cpuTicks(stat: "4242 (herald) S 1 2") == nil)
    }

    @Test func readsSyscallsAndContextSwitches() {
        let io = "rchar: 6976\nwchar: 120\nsyscr: 10\nsyscw: 7\nread_bytes: 0\nwrite_bytes: 0\n"
        #expect(ProcFS.value("syscr", in: io) == 10)
        #expect(ProcFS.value("syscw", in: io) == 7)
        #expect(ProcFS.value("sysc", in: io) == nil)
        let status =
            "Name:\therald\nVmRSS:\t   66732 kB\nvoluntary_ctxt_switches:\t1500\nnonvoluntary_ctxt_switches:\t42\n"
        #expect(ProcFS.value("VmRSS", in: status) == 66732)
        #expect(ProcFS.contextSwitches(status: status) == 1542)
        #expect(ProcFS.contextSwitches(status: "Name:\therald\n") == nil)
    }

    @Test func readsTheOpenFilesLimit() {
        let limits = """
            Limit                     Soft Limit           Hard Limit           Units
            Max processes             95364                95364                processes
            Max open files            1024                 524288               files
            """
        let limit = ProcFS.openFilesLimit(limits: limits)
        #expect(limit?.soft == 1024)
        #expect(limit?.hard == 524_288)
        let unlimited = ProcFS.openFilesLimit(
            limits: "Max open files            unlimited            unlimited            files"
        )
        #expect(unlimited?.soft == Int.max)
    }

    @Test func samplesThisProcess() throws {
        let own = ProcFS.ownCounters()
        #expect(own.cpuMicroseconds > 0)
        let pid = Int32(try #require(Int(ProcFS.contents("/proc/self/stat")?.split(separator: " ").first ?? "")))
        let counters = try #require(ProcFS.counters(pid: pid))
        #expect(counters.contextSwitches != nil)
        #expect(ProcFS.counters(pid: -5) == nil)
    }

    /// A `readdir` record is only as long as its name: reading the name must stop at its NUL. The record here ends
    /// at the last byte before an inaccessible page, as the last record of glibc's buffer may; reading the whole
    /// 256-byte `d_name` field crashes the process.
    @Test func readsAnEntryNameUpToItsEndOnly() throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let mapping = try #require(
            mmap(nil, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            "mmap"
        )
        #expect(mapping != MAP_FAILED)
        defer { munmap(mapping, 2 * page) }
        #expect(mprotect(mapping + page, page, PROT_NONE) == 0)
        let name = Array("1354".utf8) + [0]
        let offset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        let record = mapping + page - (offset + name.count)
        #expect(Int(bitPattern: record) % MemoryLayout<dirent>.alignment == 0)
        record.storeBytes(of: 0xA2_D71F, toByteOffset: 0, as: UInt64.self)
        for (index, byte) in name.enumerated() {
            record.storeBytes(of: byte, toByteOffset: offset + index, as: UInt8.self)
        }
        #expect(ProcFS.name(of: record.assumingMemoryBound(to: dirent.self)) == "1354")
    }

    @Test func listsADirectoryWithoutItsDotEntries() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-procfs-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let long = String(repeating: "n", count: 255)
        for name in ["1", "1354", long] {
            #expect(FileManager.default.createFile(atPath: directory.appendingPathComponent(name).path, contents: nil))
        }
        #expect(ProcFS.directory(directory.path).sorted() == ["1", "1354", long])
        #expect(ProcFS.directory(directory.appendingPathComponent("absent").path).isEmpty)
    }

    @Test func derivesFiguresPerOperation() {
        let start = ServerProbe.Mark(
            nanoseconds: 1_000_000_000,
            server: ProcessCounters(cpuMicroseconds: 7, readSyscalls: 1, writeSyscalls: 2, contextSwitches: 3),
            generator: ProcessCounters(cpuMicroseconds: 100)
        )
        let end = ServerProbe.Mark(
            nanoseconds: 3_000_000_000,
            server: ProcessCounters(
                cpuMicroseconds: 1_000_007,
                readSyscalls: 51,
                writeSyscalls: 202,
                contextSwitches: 33
            ),
            generator: ProcessCounters(cpuMicroseconds: 500_100)
        )
        let usage = BenchUsage(from: start, to: end, operations: [("delivery", 1000), ("message", 10)])
        #expect(usage.seconds == 2)
        let figures = Dictionary(uniqueKeysWithValues: usage.figures.map { ($0.name, $0.value) })
        #expect(figures["server CPU"] == 50)
        #expect(figures["server CPU per delivery"] == 1000)
        #expect(figures["server CPU per message"] == 100_000)
        #expect(figures["server write syscalls per delivery"] == 0.2)
        #expect(figures["server context switches per message"] == 3)
        #expect(figures["generator CPU per delivery"] == 500)
        #expect(figures["generator write syscalls per delivery"] == nil)
        let later = ProcessCounters(cpuMicroseconds: 10, readSyscalls: 5, writeSyscalls: nil, contextSwitches: 9)
        let delta = later.since(
            ProcessCounters(cpuMicroseconds: 4, readSyscalls: 2, writeSyscalls: 1, contextSwitches: 3)
        )
        #expect(delta == ProcessCounters(cpuMicroseconds: 6, readSyscalls: 3, writeSyscalls: nil, contextSwitches: 6))
    }

    @Test func printsSmallValuesWithThreeSignificantDigits() {
        #expect(BenchReport.format(0.031_249) == "0.0312")
        #expect(BenchReport.format(12.3456) == "12.35")
        #expect(BenchReport.format(42) == "42")
    }
}

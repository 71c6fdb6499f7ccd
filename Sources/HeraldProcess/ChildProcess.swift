import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failure to start a ``ChildProcess``.
public struct ChildProcessError: Error, CustomStringConvertible {
    /// What failed, with the `errno` text.
    public var description: String
}

/// A child process started with `posix_spawn`: the part of Foundation's `Process` interface that Herald's tools and
/// tests use, without its crash.
///
/// On Linux, Foundation's `Process.run()` lists `/proc/self/fd` to close the descriptors a child must not inherit,
/// and copies each entry's whole 256-byte `d_name` field, past the end of the record: when glibc's `readdir` buffer
/// ends at an unmapped page, the parent dies with SIGSEGV. It did, twice, in test runs with about 1,350 descriptors
/// open. This type closes those descriptors with `posix_spawn_file_actions_addclosefrom_np` instead (glibc 2.34 and
/// later), so nothing is listed.
public final class ChildProcess: @unchecked Sendable {
    /// The program, an absolute path.
    public var executableURL: URL?
    /// The arguments after the program's name.
    public var arguments: [String] = []
    /// The environment; `nil` inherits this process's.
    public var environment: [String: String]?
    /// The working directory; `nil` inherits this process's.
    public var currentDirectoryURL: URL?
    /// Standard input: a `Pipe` (the child reads its reading end), a `FileHandle`, or `nil` to inherit.
    public var standardInput: Any?
    /// Standard output: a `Pipe` (the child writes its writing end), a `FileHandle`, or `nil` to inherit.
    public var standardOutput: Any?
    /// Standard error, as ``standardOutput``.
    public var standardError: Any?
    /// Whether the child leads a new process group, so that ``signalGroup(_:)`` reaches the programs it starts too
    /// (a `/bin/sh -c` command line's children).
    public var startsProcessGroup = false
    /// Called once, on a thread of its own, when the child has ended.
    public var terminationHandler: (@Sendable (ChildProcess) -> Void)?

    private struct State {
        var pid: pid_t = 0
        var status: Int32?
        var launched = false
    }

    private let state = Mutex(State())
    private let exited = DispatchGroup()

    /// Creates a process; ``run()`` starts it.
    public init() {}

    /// The child's pid, 0 before ``run()``.
    public var processIdentifier: Int32 { self.state.withLock { $0.pid } }

    /// Whether the child has been started and has not ended.
    public var isRunning: Bool { self.state.withLock { $0.launched && $0.status == nil } }

    /// The exit status, or the number of the signal that ended the child; 0 while it runs.
    public var terminationStatus: Int32 { self.state.withLock { $0.status ?? 0 } }

    /// Sends SIGTERM.
    public func terminate() { self.signal(SIGTERM) }

    /// Sends SIGINT.
    public func interrupt() { self.signal(SIGINT) }

    /// Sends `signal` to a running child.
    public func signal(_ signal: Int32) {
        let pid = self.state.withLock { $0.launched && $0.status == nil ? $0.pid : 0 }
        if pid > 0 { kill(pid, signal) }
    }

    /// Sends `signal` to the child's process group (``startsProcessGroup``), which outlives the child: programs it
    /// started are reached after it has ended.
    public func signalGroup(_ signal: Int32) {
        let pid = self.state.withLock { $0.launched ? $0.pid : 0 }
        if pid > 0 { kill(-pid, signal) }
    }

    /// Waits until the child has ended or `timeout` has passed.
    ///
    /// - Returns: Whether the child has ended.
    public func waitUntilExit(timeout: Duration) -> Bool {
        let (seconds, attoseconds) = timeout.components
        let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
        return self.exited.wait(timeout: .now() + .nanoseconds(nanoseconds)) == .success
    }

    /// Blocks until the child has ended.
    public func waitUntilExit() {
        self.exited.wait()
    }

    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private typealias AddChdir =
        @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    /// glibc's extensions, looked up at run time (the Swift Glibc module does not declare them).
    private static let addCloseFrom: AddCloseFrom? = dlsym(
        UnsafeMutableRawPointer(bitPattern: 0),
        "posix_spawn_file_actions_addclosefrom_np"
    )
    .map { unsafeBitCast($0, to: AddCloseFrom.self) }
    private static let addChdir: AddChdir? = dlsym(
        UnsafeMutableRawPointer(bitPattern: 0),
        "posix_spawn_file_actions_addchdir_np"
    )
    .map { unsafeBitCast($0, to: AddChdir.self) }

    /// The descriptor the child gets as `target` (0, 1 or 2), and the parent's copy of the other end to close.
    private static func descriptors(_ stream: Any?, input: Bool) -> (child: Int32, parentCloses: FileHandle?)? {
        switch stream {
        case let pipe as Pipe:
            return input
                ? (pipe.fileHandleForReading.fileDescriptor, pipe.fileHandleForReading)
                : (pipe.fileHandleForWriting.fileDescriptor, pipe.fileHandleForWriting)
        case let handle as FileHandle:
            return (handle.fileDescriptor, nil)
        default:
            return nil
        }
    }

    /// Starts the child.
    ///
    /// - Throws: ``ChildProcessError`` when there is no executable or `posix_spawn` fails.
    public func run() throws {
        guard let executable = self.executableURL?.path else {
            throw ChildProcessError(description: "no executable")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let streams = [
            Self.descriptors(self.standardInput, input: true),
            Self.descriptors(self.standardOutput, input: false),
            Self.descriptors(self.standardError, input: false),
        ]
        for (target, stream) in streams.enumerated() {
            guard let stream else { continue }
            posix_spawn_file_actions_adddup2(&actions, stream.child, Int32(target))
        }
        if let addCloseFrom = Self.addCloseFrom {
            _ = addCloseFrom(&actions, 3)
        }
        var program = executable
        var arguments = [executable] + self.arguments
        if let directory = self.currentDirectoryURL?.path {
            if let addChdir = Self.addChdir {
                _ = addChdir(&actions, directory)
            } else {
                program = "/bin/sh"
                arguments = ["/bin/sh", "-c", "cd -- \"$0\" && exec \"$@\"", directory] + arguments
            }
        }
        let environment =
            (self.environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        // The child starts with no signal blocked and every signal at its default action: it inherits neither the
        // mask of the thread that spawns it nor this process's ignored SIGPIPE.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        if self.startsProcessGroup {
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= POSIX_SPAWN_SETPGROUP
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        var pid = pid_t()
        let result = posix_spawn(&pid, program, &actions, &attributes, &argv, &envp)
        guard result == 0 else {
            throw ChildProcessError(description: "cannot start \(executable): \(String(cString: strerror(result)))")
        }
        for stream in streams {
            try? stream?.parentCloses?.close()
        }
        let child = pid
        self.exited.enter()
        self.state.withLock {
            $0.pid = pid
            $0.launched = true
        }
        let thread = Thread { [self] in
            var status: Int32 = 0
            while waitpid(child, &status, 0) == -1 && errno == EINTR {}
            // WIFEXITED: the low 7 bits are 0 and the status is the next byte; otherwise the signal number.
            let code = status & 0x7F == 0 ? (status >> 8) & 0xFF : status & 0x7F
            self.state.withLock { $0.status = code }
            self.exited.leave()
            self.terminationHandler?(self)
        }
        thread.start()
    }
}

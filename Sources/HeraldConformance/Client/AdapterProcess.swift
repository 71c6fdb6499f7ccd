import Foundation
import HeraldProcess
import Synchronization

/// A message from an adapter (Spec/19-client-conformance.md §19.1).
enum AdapterMessage: Sendable {
    /// The reply to the command with this id: the whole object.
    case reply(id: Int64, JSONValue)
    /// An event: its name and the whole object.
    case event(name: String, JSONValue)
    /// A line that is not a reply or an event of the adapter protocol.
    case malformed(String)
    /// The adapter closed its standard output (or ended).
    case ended
}

/// One run of an adapter: `/bin/sh -c COMMAND` with pipes on its standard streams.
///
/// Its output is read on a thread of its own, one line at a time (at most ``maximumLineBytes``); standard error is
/// kept as its last ``keptErrorLines`` lines for the report.
final class AdapterProcess: Sendable {
    /// The longest line accepted from the adapter.
    static let maximumLineBytes = 1 << 20
    /// How many lines of standard error the report keeps.
    static let keptErrorLines = 40
    /// The most messages buffered unread; past it the adapter is flooding and the run stops reading it.
    static let maximumBuffered = 100_000

    let messages = InboundQueue<AdapterMessage>()
    private let process: ChildProcess
    private let input: FileHandle
    private let errors = Mutex<[String]>([])
    private let buffered = Atomic<Int>(0)
    private let recorder: TranscriptRecorder
    private let nextID = Mutex<Int64>(0)
    private let exit: ExitSignal

    /// Starts `command`.
    ///
    /// - Throws: ``ChildProcessError`` when the shell cannot be started.
    init(command: String, recorder: TranscriptRecorder, environment: [String: String] = [:]) throws {
        let stdin = Pipe()
        let stdout = Pipe()
        let stderr = Pipe()
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        process.startsProcessGroup = true
        let exit = ExitSignal()
        process.terminationHandler = { _ in exit.fire() }
        self.exit = exit
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        self.process = process
        self.input = stdin.fileHandleForWriting
        self.recorder = recorder
        try process.run()
        let output = stdout.fileHandleForReading
        let errorOutput = stderr.fileHandleForReading
        Thread { [self] in self.readOutput(output) }.start()
        Thread { [self] in self.readErrors(errorOutput) }.start()
    }

    /// Sends a command; returns its id.
    @discardableResult
    func send(_ command: String, arguments: [String: JSONValue]) -> Int64 {
        let id = self.nextID.withLock {
            $0 += 1
            return $0
        }
        var object = arguments
        object["id"] = .int(id)
        object["cmd"] = .string(command)
        let line = JSONValue.object(object).compactText
        self.recorder.record(
            actor: "adapter",
            direction: .sent,
            type: command,
            requestID: UInt32(clamping: id),
            payload: line
        )
        do {
            try self.input.write(contentsOf: Data((line + "\n").utf8))
        } catch {
            self.messages.push(.malformed("cannot write to the adapter's standard input: \(error)"))
        }
        return id
    }

    /// The last lines of the adapter's standard error.
    var errorTail: [String] {
        self.errors.withLock { $0 }
    }

    /// Marks one buffered message as consumed.
    func consumed() {
        self.buffered.subtract(1, ordering: .relaxed)
    }

    /// Asks the adapter to exit (`shutdown`, then end of input), and kills its process group after `grace`.
    func stop(grace: Duration = .seconds(5)) async {
        self.send("shutdown", arguments: [:])
        try? self.input.close()
        // Waiting blocks no thread: the cooperative pool is shared with everything else in the process.
        let ended = await self.exit.wait(timeout: grace)
        if !ended {
            self.recorder.recordTransport(actor: "adapter", event: "killed", detail: "did not exit within \(grace)")
        }
        // Programs the adapter started (its shell's children) go with it.
        self.process.signalGroup(SIGKILL)
        if !ended { _ = await self.exit.wait(timeout: .seconds(5)) }
    }

    private func readOutput(_ handle: FileHandle) {
        var pending: [UInt8] = []
        var overflow = false
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            for byte in chunk {
                if byte == UInt8(ascii: "\n") {
                    if overflow {
                        self.deliver(.malformed("a line longer than \(Self.maximumLineBytes) bytes"))
                    } else {
                        self.line(pending)
                    }
                    pending.removeAll(keepingCapacity: true)
                    overflow = false
                } else if pending.count < Self.maximumLineBytes {
                    pending.append(byte)
                } else {
                    overflow = true
                }
            }
        }
        if !pending.isEmpty { self.line(pending) }
        self.recorder.recordTransport(actor: "adapter", event: "closed", detail: "standard output ended")
        self.messages.push(.ended)
    }

    private func line(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard !text.allSatisfy(\.isWhitespace) else { return }
        guard let json = try? JSONValue(parsing: Data(bytes)), let object = json.objectValue else {
            self.recorder.recordTransport(actor: "adapter", event: "malformed", detail: text)
            self.deliver(.malformed("not a JSON object: \(text.prefix(200))"))
            return
        }
        if let id = object["id"]?.integerValue, object["ok"] != nil {
            self.recorder.record(
                actor: "adapter",
                direction: .received,
                type: "reply",
                requestID: UInt32(clamping: id),
                payload: json.compactText
            )
            self.deliver(.reply(id: id, json))
        } else if let name = object["event"]?.stringValue {
            self.recorder.record(actor: "adapter", direction: .received, type: name, payload: json.compactText)
            self.deliver(.event(name: name, json))
        } else {
            self.recorder.recordTransport(actor: "adapter", event: "malformed", detail: text)
            self.deliver(.malformed("neither a reply (id and ok) nor an event: \(text.prefix(200))"))
        }
    }

    private func deliver(_ message: AdapterMessage) {
        guard self.buffered.add(1, ordering: .relaxed).newValue <= Self.maximumBuffered else { return }
        self.messages.push(message)
    }

    private func readErrors(_ handle: FileHandle) {
        var pending = Data()
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            pending.append(chunk)
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[pending.startIndex..<newline].prefix(2_000), as: UTF8.self)
                pending.removeSubrange(pending.startIndex...newline)
                self.errors.withLock { lines in
                    lines.append(line)
                    if lines.count > Self.keptErrorLines { lines.removeFirst(lines.count - Self.keptErrorLines) }
                }
            }
            if pending.count > 4_000 { pending.removeAll() }
        }
    }
}

/// Fires once, when the adapter's process has ended; tasks wait for it, with a timeout, without blocking a thread.
private final class ExitSignal: Sendable {
    private struct State {
        var fired = false
        var next = 0
        var waiters: [Int: CheckedContinuation<Bool, Never>] = [:]
    }

    private let state = Mutex(State())

    func fire() {
        let waiters = self.state.withLock { state in
            state.fired = true
            defer { state.waiters = [:] }
            return state.waiters.values
        }
        for waiter in waiters { waiter.resume(returning: true) }
    }

    /// Whether the process ended within `timeout` (at once if it has already).
    func wait(timeout: Duration) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let id: Int? = self.state.withLock { state in
                if state.fired { return nil }
                state.next += 1
                state.waiters[state.next] = continuation
                return state.next
            }
            guard let id else { return continuation.resume(returning: true) }
            Task {
                try? await Task.sleep(for: timeout)
                let waiter = self.state.withLock { $0.waiters.removeValue(forKey: id) }
                waiter?.resume(returning: false)
            }
        }
    }
}

import Foundation
import HeraldMessages
import HeraldWire
import NIOCore
import SwiftProtobuf

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The runner's side of test control (Spec/18-test-control.md): the probe for the capability and the restart of the
/// target for `restartTarget` steps.
public enum RunnerTestControl {
    /// The capability's name.
    public static let capability = HeraldOpcodeTable.testControlCapability

    /// Why a restart could not be done.
    enum Failure: Error {
        /// The target cannot be restarted by this run (no test control, no `--restart-command`).
        case notApplicable(String)
        /// The target misbehaved: the case fails.
        case fail(String)
        /// The runner could not do its part.
        case error(String)
    }

    /// Restarts the target in `mode` and returns once it has answered a `Hello` with `Welcome` again.
    ///
    /// With the capability granted and a key, the runner asks for the restart with `TestControlRequest` on a
    /// connection of its own, checks the `TestControlResponse`, and waits until the server closes that connection
    /// (after `Disconnect` SERVER_SHUTDOWN for a graceful restart, HS-57; without any frame for a crash), which shows
    /// that the restart has taken effect. Without them, a crash runs `--restart-command`.
    static func restart(
        _ mode: RestartTargetStep.Mode,
        environment: ExecutionEnvironment,
        recorder: TranscriptRecorder,
        within: Duration
    ) async throws(Failure) {
        let granted = environment.probe?.grantedCapabilities.contains(Self.capability) ?? false
        if granted, let key = environment.testControlKey {
            try await Self.restartWithTestControl(mode, key: key, environment: environment, recorder: recorder)
        } else if mode == .crash, let command = environment.restartCommand {
            recorder.recordTransport(actor: "-", event: "restart-command", detail: command)
            let status = await Self.runShell(command)
            guard status == 0 else {
                throw Failure.error("--restart-command \(command) exited with status \(status)")
            }
        } else {
            throw Failure.notApplicable(
                mode == .crash
                    ? "restarting the target needs test control (--test-control-key) or --restart-command"
                    : "a graceful restart needs test control: the target must grant \(Self.capability) and the run "
                        + "needs its key (--test-control-key)"
            )
        }
        try await Self.waitUntilServing(environment: environment, within: within)
    }

    private static func restartWithTestControl(
        _ mode: RestartTargetStep.Mode,
        key: String,
        environment: ExecutionEnvironment,
        recorder: TranscriptRecorder
    ) async throws(Failure) {
        let wait = environment.scaled(10_000)
        let connection: ConformanceConnection
        do {
            connection = try await environment.connector.connect(actor: "restart", recorder: recorder)
        } catch {
            throw Failure.error("cannot connect to ask for the restart: \(error.description)")
        }
        defer { Task { await connection.close() } }
        do {
            var hello = Herald_V1_Hello()
            hello.versions = [1]
            hello.clientName = environment.clientName
            hello.capabilities = [Self.capability]
            try await connection.send(try HeraldFrame(requestID: 1, message: hello))
            guard case .frame(let welcome)? = await connection.nextEvent(until: .now + wait),
                welcome.typeName == "Welcome"
            else {
                throw Failure.error("the connection that asks for the restart got no Welcome")
            }
            var request = Herald_V1_TestControlRequest()
            request.key = key
            request.restart.mode = mode == .crash ? .crash : .graceful
            try await connection.send(
                try HeraldFrame(extensionOpcode: HeraldOpcodeTable.testControlRequest, requestID: 2, message: request)
            )
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure.error("cannot ask for the restart: \(error)")
        }
        guard case .frame(let answer)? = await connection.nextEvent(until: .now + wait) else {
            throw Failure.fail("no TestControlResponse to the restart request")
        }
        guard answer.typeName == "TestControlResponse", answer.frame.requestID == 2,
            let response = try? answer.frame.decodeMessage(as: Herald_V1_TestControlResponse.self)
        else {
            throw Failure.fail("expected TestControlResponse to the restart request, got \(answer.summary)")
        }
        guard response.result == .ok else {
            throw Failure.fail("the restart request was answered \(response.result) (\(response.message))")
        }
        // The restart has taken effect once the server has closed this connection too.
        var sawShutdown = false
        while true {
            guard let event = await connection.nextEvent(until: .now + wait) else {
                throw Failure.fail("the server did not close the connection that asked for the restart")
            }
            switch event {
            case .frame(let frame) where frame.typeName == "Disconnect" && mode == .graceful:
                let reason = (try? frame.frame.decodeMessage(as: Herald_V1_Disconnect.self))?.reason
                guard reason == .serverShutdown else {
                    throw Failure.fail(
                        "a graceful restart sent Disconnect \(String(describing: reason)), not SERVER_SHUTDOWN"
                    )
                }
                sawShutdown = true
            case .frame(let frame):
                throw Failure.fail("\(mode) restart: expected the connection to close, got \(frame.summary)")
            case .failure, .closed:
                if mode == .graceful && !sawShutdown {
                    throw Failure.fail("a graceful restart closed the connection without Disconnect SERVER_SHUTDOWN")
                }
                return
            }
        }
    }

    /// Waits until a standard `Hello` is answered with `Welcome` again.
    private static func waitUntilServing(environment: ExecutionEnvironment, within: Duration) async throws(Failure) {
        let deadline = ContinuousClock.now + within
        var last = "no attempt"
        while ContinuousClock.now < deadline {
            do {
                _ = try await Runner.probe(
                    connector: environment.connector,
                    timeout: environment.scaled(2000),
                    clientName: environment.clientName,
                    lag: environment.lag
                )
                return
            } catch {
                last = error.description
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        throw Failure.fail("the target did not serve again within \(within) of the restart: \(last)")
    }

    /// Runs `command` with `/bin/sh -c` (the runner's environment and output) and returns its exit status.
    ///
    /// `posix_spawn` and `waitpid` rather than `Process`: a restart command typically leaves a new server process
    /// behind, and Foundation's `Process.waitUntilExit()` on Linux was seen not to return for such a command. The wait
    /// blocks a Dispatch thread, not one of the concurrency pool.
    private static func runShell(_ command: String) async -> Int32 {
        await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
            DispatchQueue.global().async {
                var pid = pid_t()
                let arguments = ["/bin/sh", "-c", command]
                var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
                defer { for pointer in argv { free(pointer) } }
                let spawned = posix_spawn(&pid, "/bin/sh", nil, nil, &argv, environ)
                guard spawned == 0 else {
                    continuation.resume(returning: -1)
                    return
                }
                var status: Int32 = 0
                while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
                // WIFEXITED / WEXITSTATUS: the low 7 bits are 0 for a normal exit; the status is in the next byte.
                continuation.resume(returning: status & 0x7F == 0 ? (status >> 8) & 0xFF : -1)
            }
        }
    }
}

extension Runner {
    /// Whether the target grants `herald.test-control` to a `Hello` that names it (Spec/18-test-control.md): a
    /// server grants it only on request, so the standard probe, which asks for everything, never sees it.
    ///
    /// - Throws: ``ProbeError`` when the connection fails or no `Welcome` arrives within `timeout`.
    public static func probeTestControl(
        connector: ClientConnector,
        timeout: Duration = .seconds(10),
        lag: RunnerLag? = nil
    ) async throws(ProbeError) -> Bool {
        let result = try await Self.probe(
            connector: connector,
            timeout: timeout,
            capabilities: [RunnerTestControl.capability],
            lag: lag
        )
        return result.grantedCapabilities.contains(RunnerTestControl.capability)
    }
}

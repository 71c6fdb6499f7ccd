import HeraldEngine
import HeraldWire
import NIOCore
import Synchronization

/// The frames of one connection that wait while the connection's own output is backed up (Spec/14-limits.md
/// LIM-21, LIM-22).
///
/// The task reading the connection keeps reading while its output is backed up: `DeliveryAck`s and `Ping`s go to the
/// engine at once (``HeraldServer`` decides which frames never wait), every other frame is held here, in order, and
/// a drainer task hands the held frames to the engine once the transport has taken enough of the output. Only when
/// ``capacity`` frames are held does the reader stop reading, so a client that reads and acknowledges promptly
/// never has its acknowledgements stuck behind its own requests.
///
/// The reader calls ``isEmpty``, ``hold(_:arrivedAtMs:)``, ``waitForSpace()`` and ``waitUntilEmpty()``; the drainer,
/// which exists exactly while frames are held, calls ``first()`` and ``removeFirst()``. A frame stays held until the
/// engine has processed it, so an empty buffer means that every held frame has been processed.
final class HeldInput: Sendable {
    /// The most frames held before the reader stops reading.
    let capacity: Int
    /// The number of frames held, readable without the lock (the reader checks it before every frame).
    private let count = Atomic<Int>(0)
    private let state = Mutex(State())

    private struct State {
        var frames = CircularBuffer<(frame: HeraldFrame, arrivedAtMs: Int64)>()
        /// The reader, waiting for room or for the buffer to empty.
        var waiter: (continuation: CheckedContinuation<Void, Never>, untilEmpty: Bool)?
    }

    /// Creates an empty buffer that holds at most `capacity` frames (at least one).
    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Whether no frame is held (and so no held frame is still being processed).
    var isEmpty: Bool {
        self.count.load(ordering: .acquiring) == 0
    }

    /// Whether the buffer is full: the reader must wait before it reads more.
    var isFull: Bool {
        self.count.load(ordering: .acquiring) >= self.capacity
    }

    /// Holds a frame after those already held.
    ///
    /// - Returns: `true` when the buffer was empty: the caller must start a drainer.
    func hold(_ frame: HeraldFrame, arrivedAtMs: Int64) -> Bool {
        self.state.withLock { state in
            state.frames.append((frame, arrivedAtMs))
            return self.count.wrappingAdd(1, ordering: .releasing).oldValue == 0
        }
    }

    /// The oldest held frame, which the drainer processes next.
    func first() -> (frame: HeraldFrame, arrivedAtMs: Int64)? {
        self.state.withLock { $0.frames.first }
    }

    /// Removes the oldest held frame once it has been processed.
    ///
    /// - Returns: The next frame to process, or `nil` when none is left (the drainer then ends).
    func removeFirst() -> (frame: HeraldFrame, arrivedAtMs: Int64)? {
        let (next, waiter) = self.state.withLock { state in
            _ = state.frames.popFirst()
            let remaining = self.count.wrappingSubtract(1, ordering: .releasing).newValue
            var waiter: CheckedContinuation<Void, Never>?
            if let waiting = state.waiter, remaining == 0 || (!waiting.untilEmpty && remaining < self.capacity) {
                waiter = waiting.continuation
                state.waiter = nil
            }
            return (state.frames.first, waiter)
        }
        waiter?.resume()
        return next
    }

    /// Returns once fewer than ``capacity`` frames are held (or the task is cancelled).
    func waitForSpace() async {
        await self.wait(untilEmpty: false)
    }

    /// Returns once every held frame has been processed (or the task is cancelled).
    func waitUntilEmpty() async {
        await self.wait(untilEmpty: true)
    }

    private func wait(untilEmpty: Bool) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = self.state.withLock { state in
                    let held = state.frames.count
                    if held == 0 || (!untilEmpty && held < self.capacity) || Task.isCancelled {
                        return true
                    }
                    state.waiter = (continuation, untilEmpty)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = self.state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter?.continuation
            }
            waiter?.resume()
        }
    }
}

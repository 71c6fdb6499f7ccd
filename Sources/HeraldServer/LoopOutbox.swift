import HeraldEngine
import NIOCore
import Synchronization

/// The frames the engine has written for the connections of one event loop and that the loop has not written yet.
///
/// The engine (on its own loop) appends a connection's frames of one input with ``submit(_:_:)``; the first
/// submission after the outbox was emptied schedules one task on the connections' loop, which writes everything
/// submitted until it runs and then flushes each connection once. However many inputs a tick carries, a connection
/// costs one flush (one `writev`) per tick, and the loop is woken once per tick, not once per frame or per input.
final class LoopOutbox: Sendable {
    /// A connection's frames of one engine input.
    private struct Entry {
        var sink: ChannelSink
        var frames: OutboundBytes
    }

    let eventLoop: any EventLoop
    private let entries = Mutex<[Entry]>([])
    /// Storage the loop reuses between runs (the two lists trade places, so neither is reallocated).
    private let spare: NIOLoopBoundBox<Spare?>

    private final class Spare {
        var entries: [Entry] = []
        var flush: [ChannelSink] = []
    }

    /// Creates the outbox of `eventLoop`.
    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        self.spare = NIOLoopBoundBox.makeEmptyBox(valueType: Spare.self, eventLoop: eventLoop)
    }

    /// Queues a connection's frames; called on the engine's loop, never blocks.
    func submit(_ sink: ChannelSink, _ frames: OutboundBytes) {
        let first = self.entries.withLock { entries in
            entries.append(Entry(sink: sink, frames: frames))
            return entries.count == 1
        }
        if first {
            self.eventLoop.execute {
                self.run()
            }
        }
    }

    /// Writes every queued frame, then flushes each connection written to once.
    private func run() {
        let spare: Spare
        if let existing = self.spare.value {
            spare = existing
        } else {
            spare = Spare()
            self.spare.value = spare
        }
        var batch: [Entry] = []
        swap(&batch, &spare.entries)
        self.entries.withLock { swap(&$0, &batch) }
        var flush: [ChannelSink] = []
        swap(&flush, &spare.flush)
        for entry in batch where entry.sink.writeOnLoop(entry.frames) {
            flush.append(entry.sink)
        }
        batch.removeAll(keepingCapacity: true)
        spare.entries = batch
        for sink in flush {
            sink.flushOnLoop()
        }
        flush.removeAll(keepingCapacity: true)
        spare.flush = flush
    }
}

/// One ``LoopOutbox`` per event loop of a group.
struct LoopOutboxes: Sendable {
    private let byLoop: [ObjectIdentifier: LoopOutbox]

    /// Creates an outbox for every loop of `group`.
    init(group: any EventLoopGroup) {
        var byLoop: [ObjectIdentifier: LoopOutbox] = [:]
        for loop in group.makeIterator() {
            byLoop[ObjectIdentifier(loop)] = LoopOutbox(eventLoop: loop)
        }
        self.byLoop = byLoop
    }

    /// The outbox of `loop`; a loop outside the group (which a channel never has) gets an outbox of its own.
    func outbox(of loop: any EventLoop) -> LoopOutbox {
        self.byLoop[ObjectIdentifier(loop)] ?? LoopOutbox(eventLoop: loop)
    }
}

import NIOCore
import NIOPosix

/// The event loops a benchmark's clients run on, each with its own ``BenchLoopStats``.
///
/// Clients are spread over the loops round-robin; a loop carries many connections, and no state is shared between
/// loops while a run is going on.
public final class BenchLoops: Sendable {
    /// The group.
    public let group: MultiThreadedEventLoopGroup
    /// Its loops, in order.
    public let loops: [any EventLoop]
    private let stats: [NIOLoopBound<BenchLoopStats>]

    /// Starts `threads` event loops.
    public init(threads: Int) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        let loops = Array(group.makeIterator())
        var stats: [NIOLoopBound<BenchLoopStats>] = []
        for loop in loops {
            stats.append(try await loop.submit { NIOLoopBound(BenchLoopStats(), eventLoop: loop) }.get())
        }
        self.group = group
        self.loops = loops
        self.stats = stats
    }

    /// The loop for client number `index` (round-robin).
    public func loop(for index: Int) -> any EventLoop {
        self.loops[index % self.loops.count]
    }

    /// The statistics of `loop`; use only on that loop.
    public func stats(on loop: any EventLoop) -> BenchLoopStats {
        for bound in self.stats where bound.eventLoop === loop {
            return bound.value
        }
        preconditionFailure("the loop is not one of this group's")
    }

    /// Merges the statistics of every loop (read on each loop).
    public func collect() async throws -> BenchStats {
        var total = BenchStats()
        for bound in self.stats {
            let part = try await bound.eventLoop.submit { bound.value.stats }.get()
            total.merge(part)
        }
        return total
    }

    /// Stops the loops.
    public func shutdown() async {
        try? await self.group.shutdownGracefully()
    }
}

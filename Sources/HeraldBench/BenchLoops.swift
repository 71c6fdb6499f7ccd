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

    /// Starts `threads` event loops, or throws ``BenchError`` with ``BenchError/Code/run``.
    public static func start(threads: Int) async throws(BenchError) -> BenchLoops {
        do {
            return try await BenchLoops(threads: threads)
        } catch {
            throw BenchError(.run, "cannot start event loops: \(error)")
        }
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

    /// Creates one `T` on each loop, in order, with the loop's statistics; use each only on its loop.
    public func onEach<T>(
        _ make: @escaping @Sendable (any EventLoop, BenchLoopStats) -> T
    ) async throws(BenchError) -> [NIOLoopBound<T>] {
        var values: [NIOLoopBound<T>] = []
        for bound in self.stats {
            let loop = bound.eventLoop
            do {
                values.append(try await loop.submit { NIOLoopBound(make(loop, bound.value), eventLoop: loop) }.get())
            } catch {
                throw BenchError(.run, "\(error)")
            }
        }
        return values
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

    /// ``collect()``, or throws ``BenchError`` with ``BenchError/Code/run``.
    public func results() async throws(BenchError) -> BenchStats {
        do {
            return try await self.collect()
        } catch {
            throw BenchError(.run, "cannot collect the results: \(error)")
        }
    }

    /// Stops the loops.
    public func shutdown() async {
        try? await self.group.shutdownGracefully()
    }
}

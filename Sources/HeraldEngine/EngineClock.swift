import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The time source of a ``HeraldEngine``.
///
/// The engine reads the time only through this protocol: every timer, timestamp and token check uses
/// ``nowMilliseconds()``. Production servers use ``SystemEngineClock``; tests use ``ManualEngineClock`` and move
/// time forward explicitly, so no test ever sleeps.
public protocol EngineClock: Sendable {
    /// The current time in Unix milliseconds. Successive calls never go backwards.
    func nowMilliseconds() -> Int64
}

/// A clock that follows the system's wall clock at start-up and then advances monotonically.
///
/// The wall clock is read once; later readings add the elapsed time of a monotonic clock, so a wall-clock step
/// (NTP, an operator changing the time) never fires timers early or late.
public struct SystemEngineClock: EngineClock {
    private let startWallMilliseconds: Int64
    private let start: ContinuousClock.Instant

    /// Creates a clock anchored at the current wall-clock time.
    public init() {
        self.startWallMilliseconds = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
        self.start = ContinuousClock.now
    }

    /// The current time in Unix milliseconds.
    public func nowMilliseconds() -> Int64 {
        let elapsed = ContinuousClock.now - self.start
        let (seconds, attoseconds) = elapsed.components
        return self.startWallMilliseconds + seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

/// A clock that only moves when told to: the virtual clock of engine tests.
public final class ManualEngineClock: EngineClock {
    private let current: Mutex<Int64>

    /// Creates a clock that reads `startMilliseconds` until it is advanced.
    public init(startMilliseconds: Int64 = 1_767_225_600_000) {
        self.current = Mutex(startMilliseconds)
    }

    /// The current virtual time in Unix milliseconds.
    public func nowMilliseconds() -> Int64 {
        self.current.withLock { $0 }
    }

    /// Moves the clock forward by `milliseconds` (which must not be negative).
    public func advance(by milliseconds: Int64) {
        precondition(milliseconds >= 0, "a clock never goes backwards")
        self.current.withLock { $0 += milliseconds }
    }
}

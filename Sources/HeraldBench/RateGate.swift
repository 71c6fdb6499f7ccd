import HeraldMessages

/// A client-side copy of the server's advertised rate limits (`Welcome.rate_limits`, Spec/14-limits.md §14.3), so
/// that a load client never sends a request the server may legitimately refuse with `*_TOO_OFTEN`.
///
/// Each class allows `count − 1` operations per `window_ms + 20 %` (a margin for the time between this client's
/// send and the server's count); a class the server does not advertise is unlimited.
public struct RateGate {
    private struct Window {
        var limit: Int
        var windowNanoseconds: UInt64
        var stamps: [UInt64] = []
    }

    private var windows: [Herald_V1_RateClass: Window] = [:]

    /// Creates a gate from the Welcome's rate limits.
    public init(_ limits: [Herald_V1_RateLimit]) {
        for limit in limits where limit.count > 0 && limit.windowMs > 0 {
            self.windows[limit.rateClass] = Window(
                limit: max(1, Int(limit.count) - 1),
                windowNanoseconds: UInt64(limit.windowMs) * 1_200_000
            )
        }
    }

    /// Takes one operation of `rateClass` at `now` if the budget allows; `false` (nothing taken) if not.
    public mutating func take(_ rateClass: Herald_V1_RateClass, now: UInt64) -> Bool {
        guard var window = self.windows[rateClass] else { return true }
        // A stamp counts while less than a window old.
        if let firstKept = window.stamps.firstIndex(where: { $0 &+ window.windowNanoseconds > now }) {
            if firstKept > 0 { window.stamps.removeFirst(firstKept) }
        } else {
            window.stamps.removeAll(keepingCapacity: true)
        }
        guard window.stamps.count < window.limit else {
            self.windows[rateClass] = window
            return false
        }
        window.stamps.append(now)
        self.windows[rateClass] = window
        return true
    }

    /// Whether one operation of `rateClass` would be allowed at `now` (nothing taken).
    public func allows(_ rateClass: Herald_V1_RateClass, now: UInt64) -> Bool {
        guard let window = self.windows[rateClass] else { return true }
        return window.stamps.filter { $0 &+ window.windowNanoseconds > now }.count < window.limit
    }
}

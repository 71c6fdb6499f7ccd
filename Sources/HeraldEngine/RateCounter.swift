/// A sliding-window rate counter (Spec/14-limits.md §14.3): at most `count` events in any window
/// (t − window, t]. Memory is bounded by `count`.
struct RateCounter: Sendable {
    let limit: RateLimitValue
    /// Times of counted events, oldest first; never more than `limit.count` entries.
    private var times: [Int64] = []
    private var head = 0

    init(_ limit: RateLimitValue) {
        self.limit = limit
        self.times.reserveCapacity(min(limit.count, 64))
    }

    /// Whether an event at `now` is allowed (without counting it).
    func allows(at now: Int64) -> Bool {
        let live = self.times.count - self.head
        if live < self.limit.count { return true }
        // The oldest of the last `count` events must have left the window.
        return self.times[self.head] <= now - self.limit.windowMs
    }

    /// Counts an event at `now`. Call only after ``allows(at:)`` returned true.
    mutating func record(at now: Int64) {
        self.times.append(now)
        if self.times.count - self.head > self.limit.count {
            self.head += 1
        }
        if self.head > 64 && self.head * 2 > self.times.count {
            self.times.removeFirst(self.head)
            self.head = 0
        }
    }

    /// Allows and counts in one step; returns whether the event was allowed.
    mutating func take(at now: Int64) -> Bool {
        guard self.allows(at: now) else { return false }
        self.record(at: now)
        return true
    }
}

/// A sliding-window rate counter (Spec/14-limits.md §14.3): at most `count` events in any window
/// (t − window, t]. Memory is bounded by `count`.
///
/// Events are counted at their arrival time (LIM-24), which the engine may see out of step with its clock; a time
/// earlier than the last counted event's is taken as that event's time, so the counted times never go backwards.
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
        let now = max(now, self.times[self.times.count - 1])
        // The oldest of the last `count` events must have left the window.
        return self.times[self.head] <= now - self.limit.windowMs
    }

    /// Counts an event at `now`. Call only after ``allows(at:)`` returned true.
    mutating func record(at now: Int64) {
        self.times.append(max(now, self.times.last ?? now))
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

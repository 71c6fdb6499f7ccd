/// The engine's timers: a binary min-heap of deadlines with lazy cancellation.
///
/// Timers with equal deadlines fire in the order they were scheduled. Cancelling is O(1); cancelled entries are
/// dropped when they reach the top, and the heap is compacted when more than half of it is cancelled, so its size
/// stays bounded by twice the number of live timers.
///
/// Each action is stored once, in ``live``; the heap holds only deadlines and serials (16 bytes an entry), so that
/// the timers of many idle connections, and the cancelled entries still waiting to reach the top, cost little.
struct TimerQueue {
    struct Entry {
        var deadline: Int64
        var serial: UInt64
    }

    private var heap: [Entry] = []
    /// Live timers by serial.
    private var live: [UInt64: TimerAction] = [:]
    private var nextSerial: UInt64 = 1

    /// The number of live timers.
    var count: Int { self.live.count }

    /// The number of heap entries, cancelled ones included (at most about twice ``count``).
    var heapCount: Int { self.heap.count }

    /// Schedules `action` at `deadline`; returns a handle for ``cancel(_:)``.
    @discardableResult
    mutating func schedule(_ action: TimerAction, at deadline: Int64) -> UInt64 {
        let serial = self.nextSerial
        self.nextSerial += 1
        self.live[serial] = action
        self.heap.append(Entry(deadline: deadline, serial: serial))
        self.siftUp(self.heap.count - 1)
        return serial
    }

    /// Cancels a timer; cancelling a fired or cancelled timer does nothing.
    mutating func cancel(_ serial: UInt64) {
        guard self.live.removeValue(forKey: serial) != nil else { return }
        if self.heap.count > 64 && self.live.count * 2 < self.heap.count {
            self.heap.removeAll { self.live[$0.serial] == nil }
            self.heapify()
        }
    }

    /// The earliest live deadline.
    mutating func nextDeadline() -> Int64? {
        self.dropCancelledTop()
        return self.heap.first?.deadline
    }

    /// Removes and returns the earliest live timer whose deadline is at or before `now`.
    mutating func popDue(now: Int64) -> TimerAction? {
        self.dropCancelledTop()
        guard let top = self.heap.first, top.deadline <= now else { return nil }
        self.removeTop()
        return self.live.removeValue(forKey: top.serial)
    }

    private mutating func dropCancelledTop() {
        while let top = self.heap.first, self.live[top.serial] == nil {
            self.removeTop()
        }
    }

    private mutating func removeTop() {
        let last = self.heap.removeLast()
        if !self.heap.isEmpty {
            self.heap[0] = last
            self.siftDown(0)
        }
    }

    private static func before(_ a: Entry, _ b: Entry) -> Bool {
        a.deadline != b.deadline ? a.deadline < b.deadline : a.serial < b.serial
    }

    private mutating func siftUp(_ index: Int) {
        var child = index
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.before(self.heap[child], self.heap[parent]) else { return }
            self.heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ index: Int) {
        var parent = index
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < self.heap.count && Self.before(self.heap[left], self.heap[smallest]) { smallest = left }
            if right < self.heap.count && Self.before(self.heap[right], self.heap[smallest]) { smallest = right }
            if smallest == parent { return }
            self.heap.swapAt(parent, smallest)
            parent = smallest
        }
    }

    private mutating func heapify() {
        var index = self.heap.count / 2
        while index > 0 {
            index -= 1
            self.siftDown(index)
        }
    }
}

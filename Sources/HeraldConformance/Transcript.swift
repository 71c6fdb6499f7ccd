import HeraldMessages
import HeraldWire
import Synchronization

/// Collects the wire transcript of one case: every frame of every actor, in order, with times relative to the
/// case's start. Safe to use from NIO event loops and tasks at once.
public final class TranscriptRecorder: Sendable {
    private let start: ContinuousClock.Instant
    private let storage = Mutex<[TranscriptEntry]>([])

    /// Creates a recorder whose clock starts now (or at `start`).
    public init(start: ContinuousClock.Instant = .now) {
        self.start = start
    }

    /// Milliseconds since the start.
    public var elapsedMs: Int64 {
        let elapsed = ContinuousClock.now - self.start
        return elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
    }

    /// The entries so far, in order.
    public var entries: [TranscriptEntry] {
        self.storage.withLock { $0 }
    }

    /// Appends an entry stamped with the current time.
    public func record(
        actor: String,
        direction: TranscriptDirection,
        type: String,
        requestID: UInt32 = 0,
        flags: UInt8 = 0,
        payload: String = ""
    ) {
        let entry = TranscriptEntry(
            atMs: self.elapsedMs,
            actor: actor,
            direction: direction,
            type: type,
            requestID: requestID,
            flags: flags,
            payload: payload
        )
        self.storage.withLock { $0.append(entry) }
    }

    /// Records a frame the actor sent.
    public func recordSent(actor: String, frame: HeraldFrame, payload: JSONValue?) {
        self.record(
            actor: actor,
            direction: .sent,
            type: frame.opcodeInfo?.name ?? Transcript.opcodeText(UInt16(truncatingIfNeeded: frame.opcode.rawValue)),
            requestID: frame.requestID,
            flags: frame.flags.rawValue,
            payload: payload?.compactText ?? ""
        )
    }

    /// Records a received frame.
    public func recordReceived(actor: String, frame: ReceivedFrame) {
        self.record(
            actor: actor,
            direction: .received,
            type: frame.typeName,
            requestID: frame.frame.requestID,
            flags: frame.frame.flags.rawValue,
            payload: frame.rendering?.full.compactText ?? "undecodable payload: \(frame.decodeError ?? "?")"
        )
    }

    /// Records a transport event (`connected`, `closed`, `dropped`, `raw`, `text`, `error`).
    public func recordTransport(actor: String, event: String, detail: String = "") {
        self.record(actor: actor, direction: .transport, type: event, payload: detail)
    }
}

/// Text renderings of transcripts.
public enum Transcript {
    /// One line per entry: `+  12ms alice → JoinChannelRequest #3 {"channelId":"…"}`; `←` received, `·` transport
    /// events; flags are shown when not zero.
    public static func render(_ entries: [TranscriptEntry], indent: String = "") -> String {
        let actorWidth = entries.map(\.actor.count).max() ?? 0
        return entries.map { entry in
            let time = String(entry.atMs)
            let arrow: String
            switch entry.direction {
            case .sent: arrow = "→"
            case .received: arrow = "←"
            case .transport: arrow = "·"
            }
            var line = indent + "+" + String(repeating: " ", count: max(0, 6 - time.count)) + time + "ms "
            line += entry.actor + String(repeating: " ", count: actorWidth - entry.actor.count) + " " + arrow + " "
            line += entry.type
            if entry.direction != .transport {
                line += " #\(entry.requestID)"
                if entry.flags != 0 { line += " flags=0x" + String(entry.flags, radix: 16) }
            }
            if !entry.payload.isEmpty { line += " " + entry.payload }
            return line
        }.joined(separator: "\n")
    }

    /// `0x0123`.
    static func opcodeText(_ value: UInt16) -> String {
        let hex = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }
}

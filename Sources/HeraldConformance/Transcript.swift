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

// MARK: - Bounded reports

/// How much of a run the reports show, so that every report stays a few megabytes however many cases fail and
/// however large their transcripts are (a crowd case records thousands of frames).
///
/// Every report (console, JSON, JUnit, HTML) shows a run through one ``ReportDigest`` made with these limits: long
/// messages and payloads are cut, crowd members are summarised, similar frames folded, the middle of a long
/// transcript left out, and past ``runBytes`` further cases are listed without details. What was left out is
/// always said.
public struct ReportLimits: Sendable, Hashable {
    /// Characters of a case's message (and of a first attempt's message) kept.
    public var messageCharacters: Int
    /// Lines of a case's message kept.
    public var messageLines: Int
    /// Characters of the message kept for a case listed without details (past ``runBytes``).
    public var listedMessageCharacters: Int
    /// Characters of one payload kept.
    public var payloadCharacters: Int
    /// Transcript lines (frames, or frames folded with similar ones) shown per case, besides crowd summaries and
    /// the frames of ``focusEntries``.
    public var linesPerCase: Int
    /// Of ``linesPerCase``, how many come from the start of the transcript; the others come from its end.
    public var headLines: Int
    /// The last frames of the actors involved at the failing step (those the message names) that are always shown
    /// one per line: never folded, never left out.
    public var focusEntries: Int
    /// Crowd members whose frames differ in shape from the other members', shown in full per crowd (besides the
    /// members involved at the failing step, which are always shown).
    public var crowdMembersInFull: Int
    /// Summary lines per crowd: one per shape of member transcript; further shapes share one line.
    public var crowdShapes: Int
    /// Frame kinds listed in one crowd summary line.
    public var crowdShapeKinds: Int
    /// A frame is folded into an earlier similar frame (same actor or crowd, direction, type and payload shape)
    /// shown at most this many lines before.
    public var foldWindow: Int
    /// The size of one case's details in bytes, reckoned as the text plus ``lineAllowance`` per line.
    public var caseBytes: Int
    /// The size of all cases' details in bytes, reckoned like ``caseBytes``; past it, cases are listed (verdict, id,
    /// first line of the message, rerun command) without details.
    public var runBytes: Int
    /// Bytes reckoned per line on top of its text, for the markup a line gets in JSON and HTML.
    public var lineAllowance: Int
    /// Characters of the first line of a message in summary lists.
    public var summaryLineCharacters: Int
    /// Whether these are the `--verbose` limits (the notes then do not suggest `--verbose`).
    public var isVerbose: Bool

    /// Creates limits.
    public init(
        messageCharacters: Int,
        messageLines: Int,
        listedMessageCharacters: Int,
        payloadCharacters: Int,
        linesPerCase: Int,
        headLines: Int,
        focusEntries: Int,
        crowdMembersInFull: Int,
        crowdShapes: Int,
        crowdShapeKinds: Int,
        foldWindow: Int,
        caseBytes: Int,
        runBytes: Int,
        lineAllowance: Int = 160,
        summaryLineCharacters: Int = 200,
        isVerbose: Bool = false
    ) {
        self.messageCharacters = messageCharacters
        self.messageLines = messageLines
        self.listedMessageCharacters = listedMessageCharacters
        self.payloadCharacters = payloadCharacters
        self.linesPerCase = linesPerCase
        self.headLines = headLines
        self.focusEntries = focusEntries
        self.crowdMembersInFull = crowdMembersInFull
        self.crowdShapes = crowdShapes
        self.crowdShapeKinds = crowdShapeKinds
        self.foldWindow = foldWindow
        self.caseBytes = caseBytes
        self.runBytes = runBytes
        self.lineAllowance = lineAllowance
        self.summaryLineCharacters = summaryLineCharacters
        self.isVerbose = isVerbose
    }

    /// The default limits: a full failing run stays under about 2 MB in every format.
    public static let standard = ReportLimits(
        messageCharacters: 4000,
        messageLines: 60,
        listedMessageCharacters: 300,
        payloadCharacters: 300,
        linesPerCase: 120,
        headLines: 20,
        focusEntries: 30,
        crowdMembersInFull: 3,
        crowdShapes: 6,
        crowdShapeKinds: 24,
        foldWindow: 8,
        caseBytes: 64_000,
        runBytes: 1_500_000
    )

    /// The `--verbose` limits: more of every transcript, still bounded (a full run stays under about 4 MB).
    public static let verbose = ReportLimits(
        messageCharacters: 32_000,
        messageLines: 400,
        listedMessageCharacters: 1000,
        payloadCharacters: 2000,
        linesPerCase: 2000,
        headLines: 200,
        focusEntries: 200,
        crowdMembersInFull: 16,
        crowdShapes: 16,
        crowdShapeKinds: 64,
        foldWindow: 16,
        caseBytes: 1_000_000,
        runBytes: 3_000_000,
        isVerbose: true
    )

    /// ``verbose`` or ``standard``.
    public static func forVerbose(_ verbose: Bool) -> ReportLimits {
        verbose ? .verbose : .standard
    }
}

/// What a report shows of one case's transcript: the frames kept (payloads cut to
/// ``ReportLimits/payloadCharacters``) and, when anything was left out, what and how much (``cut``).
public struct TranscriptDigest: Sendable, Hashable {
    /// The frames shown, in order. A frame may stand for similar later frames (``TranscriptCut/folds``).
    public var entries: [TranscriptEntry]
    /// What was folded, summarised, shortened or left out; `nil` when the transcript is shown whole.
    public var cut: TranscriptCut?
    /// The actors of the whole transcript, crowd members as ranges: `alice, bob, crowd.0 … crowd.511 (512
    /// members)`.
    public var actors: String

    /// Creates a digest.
    public init(entries: [TranscriptEntry], cut: TranscriptCut?, actors: String) {
        self.entries = entries
        self.cut = cut
        self.actors = actors
    }

    /// The whole transcript, with nothing left out.
    public init(whole entries: [TranscriptEntry]) {
        self.init(entries: entries, cut: nil, actors: TranscriptDigest.actorList(entries.map(\.actor)))
    }

    /// The digest of `transcript` within `limits`, keeping in full the frames of the actors that `message` names
    /// (the actors involved at the failing step; the actor of the last frame when it names none).
    ///
    /// Whatever the input, the digest has at most ``ReportLimits/linesPerCase`` plus ``ReportLimits/focusEntries``
    /// frames, at most ``ReportLimits/crowdShapes`` plus one summary lines per crowd (at most 16 crowds), and each
    /// payload at most ``ReportLimits/payloadCharacters`` characters.
    public static func make(_ transcript: [TranscriptEntry], message: String, limits: ReportLimits) -> TranscriptDigest
    {
        TranscriptDigester(transcript, message: message, limits: limits).digest()
    }

    /// A transcript left out whole: the report's budget was spent on earlier cases.
    public static func leftOut(_ transcript: [TranscriptEntry], limits: ReportLimits) -> TranscriptDigest {
        guard !transcript.isEmpty else { return TranscriptDigest(whole: []) }
        let note =
            "… transcript of \(ReportText.count(transcript.count)) entries left out: this report's size budget was "
            + "spent on earlier cases; rerun this case alone with the rerun command"
            + (limits.isVerbose ? "" : " and --verbose")
        let cut = TranscriptCut(
            totalEntries: transcript.count,
            totalActors: nil,
            omittedEntries: transcript.count,
            omittedActors: nil,
            shortenedPayloads: 0,
            folds: [],
            gaps: [],
            crowds: [],
            leftOutByBudget: true,
            note: note
        )
        return TranscriptDigest(entries: [], cut: cut, actors: "")
    }

    /// The digest as text lines: crowd summaries, then the frames in order (`+  12 ms  alice  →  JoinChannelRequest
    /// #3  {…}`, columns aligned, folds as `(+39 similar to +340 ms)`) with a line for each left-out stretch, and
    /// the note saying what was left out.
    public func lines() -> [String] {
        var lines: [String] = []
        let cut = self.cut
        for crowd in cut?.crowds ?? [] {
            lines.append(crowd.text)
        }
        let folds = Dictionary((cut?.folds ?? []).map { ($0.index, $0) }, uniquingKeysWith: { first, _ in first })
        let gaps = Dictionary((cut?.gaps ?? []).map { ($0.before, $0) }, uniquingKeysWith: { first, _ in first })
        let entryLines = ReportText.transcriptLines(self.entries)
        for index in 0...self.entries.count {
            if let gap = gaps[index] {
                lines.append(gap.text)
            }
            guard index < entryLines.count else { break }
            if let fold = folds[index] {
                lines.append(entryLines[index] + "  " + fold.text)
            } else {
                lines.append(entryLines[index])
            }
        }
        if let note = cut?.note, !note.isEmpty {
            lines.append(note)
        }
        return lines
    }

    /// `alice, bob, crowd.0 … crowd.511 (512 members)`: declared actors by name, crowd members as index ranges.
    static func actorList(_ names: some Sequence<String>) -> String {
        var plain = Set<String>()
        var crowds: [String: Set<Int>] = [:]
        for name in names {
            if let member = CrowdMember(name) {
                crowds[member.crowd, default: []].insert(member.index)
            } else {
                plain.insert(name)
            }
        }
        var parts = plain.sorted()
        for crowd in crowds.keys.sorted() {
            let indices = crowds[crowd] ?? []
            let count = indices.count
            parts.append(
                CrowdMember.ranges(crowd, indices.sorted(), limit: 4)
                    + (count > 1 ? " (\(ReportText.count(count)) members)" : "")
            )
        }
        return parts.joined(separator: ", ")
    }
}

/// What a ``TranscriptDigest`` left out of a transcript. In the JSON report it is the case's `transcriptDigest`
/// object, beside `transcript` (which then holds the frames kept).
public struct TranscriptCut: Codable, Sendable, Hashable {
    /// A kept frame that stands for similar later frames too.
    public struct Fold: Codable, Sendable, Hashable {
        /// The index of the kept frame in ``TranscriptDigest/entries``.
        public var index: Int
        /// How many similar frames (same actor or crowd, direction, type and payload shape) it stands for besides
        /// itself.
        public var similar: Int
        /// When the last of them was seen (milliseconds since the case started).
        public var lastAtMs: Int64
        /// How many actors sent or received them (with the kept frame's).
        public var actors: Int

        /// `(+39 similar to +340 ms, 3 actors)`.
        public var text: String {
            "(+\(ReportText.count(self.similar)) similar to +\(self.lastAtMs) ms"
                + (self.actors > 1 ? ", \(ReportText.count(self.actors)) actors)" : ")")
        }
    }

    /// A stretch of frames left out.
    public struct Gap: Codable, Sendable, Hashable {
        /// The index in ``TranscriptDigest/entries`` of the first frame after the stretch (the number of entries
        /// when the stretch ends the transcript).
        public var before: Int
        /// How many frames were left out.
        public var entries: Int
        /// How many actors sent or received them.
        public var actors: Int

        /// `… 1,204 entries of 12 actors left out …`.
        public var text: String {
            "… \(ReportText.count(self.entries)) \(self.entries == 1 ? "entry" : "entries") of "
                + "\(ReportText.count(self.actors)) \(self.actors == 1 ? "actor" : "actors") left out …"
        }
    }

    /// Crowd members whose transcripts have the same shape, summarised in one line.
    public struct CrowdSummary: Codable, Sendable, Hashable {
        /// The crowd's name (`crowd`).
        public var crowd: String
        /// How many members the line stands for.
        public var members: Int
        /// The members as index ranges: `crowd.0 … crowd.16, crowd.18 … crowd.511`.
        public var memberNames: String
        /// How many frames the line stands for.
        public var entries: Int
        /// What each member did, in order: `· connected → Hello ← Welcome ← MemberJoined ×1–509`; empty for the
        /// line that stands for the members of the shapes past ``ReportLimits/crowdShapes``.
        public var shape: String

        /// `crowd.0 … crowd.511: 512 members, each · connected → Hello ← Welcome (2,048 entries)`.
        public var text: String {
            let each = self.shape.isEmpty ? "in other shapes" : (self.members == 1 ? "" : "each ") + self.shape
            return "\(self.memberNames): \(ReportText.count(self.members)) "
                + "\(self.members == 1 ? "member" : "members"), \(each) "
                + "(\(ReportText.count(self.entries)) \(self.entries == 1 ? "entry" : "entries"))"
        }
    }

    /// Frames in the whole transcript.
    public var totalEntries: Int
    /// Actors in the whole transcript (not counted for a transcript left out whole).
    public var totalActors: Int?
    /// Frames not shown on a line of their own (folded, summarised or left out).
    public var omittedEntries: Int
    /// Actors of those frames (not counted for a transcript left out whole).
    public var omittedActors: Int?
    /// Payloads cut to ``ReportLimits/payloadCharacters``.
    public var shortenedPayloads: Int
    /// Kept frames that stand for similar later frames too.
    public var folds: [Fold]
    /// Stretches of frames left out.
    public var gaps: [Gap]
    /// Crowd members summarised, one line per shape.
    public var crowds: [CrowdSummary]
    /// Whether the whole transcript was left out because the report's size budget was spent on earlier cases.
    public var leftOutByBudget: Bool
    /// What was left out and how to see it, in words.
    public var note: String
}

/// What the reports show of one case (see ``ReportDigest``).
public struct CaseDigest: Sendable, Hashable {
    /// The message, cut to ``ReportLimits/messageCharacters`` and ``ReportLimits/messageLines`` (or
    /// ``ReportLimits/listedMessageCharacters`` for a case listed without details), with a note where it was cut.
    public var message: String
    /// Characters of the message left out.
    public var messageOmittedCharacters: Int
    /// The first attempt's message, cut like ``message``.
    public var firstAttemptMessage: String?
    /// The transcript as shown.
    public var transcript: TranscriptDigest
    /// Whether the case is shown with details; `false` past the run's budget (listed with the first line of its
    /// message and its rerun command).
    public var detailed: Bool
    /// The size of the case's details as reckoned against the budget.
    public var bytes: Int

    /// Creates a case digest.
    public init(
        message: String,
        messageOmittedCharacters: Int,
        firstAttemptMessage: String?,
        transcript: TranscriptDigest,
        detailed: Bool,
        bytes: Int
    ) {
        self.message = message
        self.messageOmittedCharacters = messageOmittedCharacters
        self.firstAttemptMessage = firstAttemptMessage
        self.transcript = transcript
        self.detailed = detailed
        self.bytes = bytes
    }

    /// The digest of one case on its own (no run budget).
    public init(_ result: CaseResult, limits: ReportLimits) {
        let (message, omitted) = ReportText.cap(
            result.message,
            characters: limits.messageCharacters,
            lines: limits.messageLines
        )
        let transcript = TranscriptDigest.make(result.transcript, message: result.message, limits: limits)
        let lineCost = transcript.lines().reduce(0) { $0 + $1.utf8.count + limits.lineAllowance }
        self.init(
            message: message,
            messageOmittedCharacters: omitted,
            firstAttemptMessage: result.firstAttempt.map {
                ReportText.cap($0.message, characters: limits.messageCharacters, lines: limits.messageLines).text
            },
            transcript: transcript,
            detailed: true,
            bytes: message.utf8.count + lineCost
        )
    }

    /// A case listed without details: the first line of its message, no transcript.
    static func listed(_ result: CaseResult, limits: ReportLimits) -> CaseDigest {
        let firstLine = ReportText.firstLine(result.message)
        let (message, _) = ReportText.cap(firstLine, characters: limits.listedMessageCharacters, lines: 1)
        let omitted = max(0, result.message.count - message.count)
        let shown = omitted > 0 ? message + " … (details left out: report size budget)" : message
        return CaseDigest(
            message: shown,
            messageOmittedCharacters: omitted,
            firstAttemptMessage: result.firstAttempt.map {
                ReportText.cap(
                    ReportText.firstLine($0.message),
                    characters: limits.listedMessageCharacters,
                    lines: 1
                ).text
            },
            transcript: .leftOut(result.transcript, limits: limits),
            detailed: false,
            bytes: shown.utf8.count
        )
    }
}

/// What every report shows of a run: per case the message and transcript cut to the limits, and, once the run's
/// budget (``ReportLimits/runBytes``) is spent, further cases listed without details. Failing cases get the budget
/// first (in corpus order), then warnings, then expected failures, then the rest.
public struct ReportDigest: Sendable {
    /// The limits used.
    public var limits: ReportLimits
    /// One digest per case of the run, in the run's order.
    public var cases: [CaseDigest]
    /// Cases with a message or transcript left out because the budget was spent.
    public var listedOnly: Int
    /// The bytes of details reckoned against the budget.
    public var bytes: Int

    /// Digests a run.
    public init(_ run: RunResult, limits: ReportLimits) {
        self.limits = limits
        func rank(_ verdict: Verdict) -> Int {
            if verdict.failsRun { return 0 }
            switch verdict {
            case .warning: return 1
            case .expectedFail: return 2
            default: return 3
            }
        }
        let order = run.cases.indices.sorted { (rank(run.cases[$0].verdict), $0) < (rank(run.cases[$1].verdict), $1) }
        var digests = [CaseDigest?](repeating: nil, count: run.cases.count)
        var spent = 0
        var exhausted = false
        var listed = 0
        for index in order {
            let result = run.cases[index]
            let trivial = result.transcript.isEmpty && result.message.utf8.count <= limits.listedMessageCharacters
            if !exhausted || trivial {
                let digest = CaseDigest(result, limits: limits)
                if spent + digest.bytes <= limits.runBytes || trivial {
                    spent += digest.bytes
                    digests[index] = digest
                    continue
                }
                exhausted = true
            }
            listed += 1
            digests[index] = CaseDigest.listed(result, limits: limits)
        }
        self.cases = digests.compactMap { $0 }
        self.listedOnly = listed
        self.bytes = spent
    }
}

/// A crowd member's actor name split: `crowd.17` is member 17 of `crowd` (declared actors have no dot).
struct CrowdMember: Hashable {
    var crowd: String
    var index: Int

    init?(_ actor: String) {
        guard let dot = actor.lastIndex(of: "."), dot != actor.startIndex else { return nil }
        let digits = actor[actor.index(after: dot)...]
        guard !digits.isEmpty, digits.utf8.count <= 9, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
            let index = Int(digits)
        else { return nil }
        self.crowd = String(actor[..<dot])
        self.index = index
    }

    /// `crowd.0 … crowd.16, crowd.18, crowd.20 … crowd.511` for sorted indices; past `limit` ranges, `and N more`.
    static func ranges(_ crowd: String, _ sorted: [Int], limit: Int) -> String {
        var ranges: [(Int, Int)] = []
        for index in sorted {
            if let last = ranges.last, last.1 + 1 == index {
                ranges[ranges.count - 1].1 = index
            } else {
                ranges.append((index, index))
            }
        }
        var parts = ranges.prefix(limit).map { low, high in
            low == high
                ? "\(crowd).\(low)"
                : (high == low + 1 ? "\(crowd).\(low), \(crowd).\(high)" : "\(crowd).\(low) … \(crowd).\(high)")
        }
        if ranges.count > limit {
            let rest = ranges.dropFirst(limit).reduce(0) { $0 + $1.1 - $1.0 + 1 }
            parts.append("and \(ReportText.count(rest)) more")
        }
        return parts.joined(separator: ", ")
    }
}

/// Makes a ``TranscriptDigest``: summarises crowd members, folds similar frames, leaves out the middle of what is
/// still too long, and cuts payloads.
private struct TranscriptDigester {
    let transcript: [TranscriptEntry]
    let message: String
    let limits: ReportLimits

    init(_ transcript: [TranscriptEntry], message: String, limits: ReportLimits) {
        self.transcript = transcript
        self.message = message
        self.limits = limits
    }

    /// One line of the main part: a frame, possibly standing for similar later frames.
    private struct Line {
        var index: Int
        var similar = 0
        var lastAtMs: Int64 = 0
        var actors: Set<String> = []
        var pinned = false
        var cost = 0
    }

    func digest() -> TranscriptDigest {
        let transcript = self.transcript
        let limits = self.limits
        guard !transcript.isEmpty else { return TranscriptDigest(whole: []) }
        var actorNames = Set<String>()
        for entry in transcript { actorNames.insert(entry.actor) }
        let actors = TranscriptDigest.actorList(actorNames)
        let focus = self.focusActors(actorNames)

        // Small enough as it is: only payloads are cut.
        let wholeCost = transcript.reduce(0) { $0 + self.cost(of: $1) }
        if transcript.count <= limits.linesPerCase && wholeCost <= limits.caseBytes {
            var shortened = 0
            let entries = transcript.map { self.capped($0, shortened: &shortened) }
            guard shortened > 0 else { return TranscriptDigest(entries: entries, cut: nil, actors: actors) }
            let cut = TranscriptCut(
                totalEntries: transcript.count,
                totalActors: actorNames.count,
                omittedEntries: 0,
                omittedActors: 0,
                shortenedPayloads: shortened,
                folds: [],
                gaps: [],
                crowds: [],
                leftOutByBudget: false,
                note: "… \(ReportText.count(shortened)) long \(shortened == 1 ? "payload" : "payloads") shortened; "
                    + self.fullTranscriptHint
            )
            return TranscriptDigest(entries: entries, cut: cut, actors: actors)
        }

        // Crowd members: fold those whose transcript has the common shape.
        var shapes = [String](repeating: "", count: transcript.count)
        for (index, entry) in transcript.enumerated() {
            shapes[index] = Self.arrow(entry.direction) + " " + entry.type + "\u{1}" + Self.shape(entry.payload)
        }
        let (summaries, foldedMembers) = self.summariseCrowds(shapes: shapes, focus: focus)

        // The main part: every frame of the actors not summarised.
        var main: [Int] = []
        main.reserveCapacity(transcript.count)
        for index in transcript.indices where !foldedMembers.contains(transcript[index].actor) {
            main.append(index)
        }
        var pinned = Set<Int>()
        for index in main.reversed() where focus.contains(transcript[index].actor) {
            pinned.insert(index)
            if pinned.count >= limits.focusEntries { break }
        }
        var lines: [Line] = []
        if main.count <= limits.linesPerCase {
            lines = main.map { Line(index: $0, pinned: pinned.contains($0), cost: self.cost(of: transcript[$0])) }
        } else {
            // Fold similar frames shown shortly before.
            var open: [String: Int] = [:]
            for index in main {
                let entry = transcript[index]
                if pinned.contains(index) {
                    lines.append(Line(index: index, pinned: true, cost: self.cost(of: entry)))
                    continue
                }
                let kind = CrowdMember(entry.actor)?.crowd ?? entry.actor
                let key = kind + "\u{2}" + shapes[index]
                if let line = open[key], lines.count - line <= limits.foldWindow {
                    lines[line].similar += 1
                    lines[line].lastAtMs = entry.atMs
                    if lines[line].actors.count < 10_000 { lines[line].actors.insert(entry.actor) }
                } else {
                    open[key] = lines.count
                    lines.append(Line(index: index, actors: [entry.actor], cost: self.cost(of: entry)))
                }
            }
        }

        // Choose the lines shown: crowd summaries and pinned frames, then the head, then the tail.
        let summaryCost = summaries.reduce(0) { $0 + $1.text.utf8.count + limits.lineAllowance }
        var budget = limits.caseBytes - summaryCost - 400
        var keep = [Bool](repeating: false, count: lines.count)
        for position in lines.indices.reversed() where lines[position].pinned {
            guard budget - lines[position].cost >= 0 || position == lines.indices.last else { continue }
            keep[position] = true
            budget -= lines[position].cost
        }
        var shown = 0
        for position in lines.indices.prefix(limits.headLines) where !keep[position] {
            guard budget - lines[position].cost >= 0 else { break }
            keep[position] = true
            budget -= lines[position].cost
            shown += 1
        }
        for position in lines.indices.reversed() where !keep[position] {
            guard shown < limits.linesPerCase, budget - lines[position].cost >= 0 else { break }
            keep[position] = true
            budget -= lines[position].cost
            shown += 1
        }

        // Build the digest.
        var entries: [TranscriptEntry] = []
        var folds: [TranscriptCut.Fold] = []
        var gaps: [TranscriptCut.Gap] = []
        var shortened = 0
        var shownEntry = [Bool](repeating: false, count: transcript.count)
        var gapEntries = 0
        var gapActors = Set<String>()
        for (position, line) in lines.enumerated() {
            guard keep[position] else {
                gapEntries += 1 + line.similar
                gapActors.insert(self.transcript[line.index].actor)
                gapActors.formUnion(line.actors)
                continue
            }
            if gapEntries > 0 {
                gaps.append(TranscriptCut.Gap(before: entries.count, entries: gapEntries, actors: gapActors.count))
                gapEntries = 0
                gapActors = []
            }
            if line.similar > 0 {
                folds.append(
                    TranscriptCut.Fold(
                        index: entries.count,
                        similar: line.similar,
                        lastAtMs: line.lastAtMs,
                        actors: line.actors.count
                    )
                )
            }
            shownEntry[line.index] = true
            entries.append(self.capped(transcript[line.index], shortened: &shortened))
        }
        if gapEntries > 0 {
            gaps.append(TranscriptCut.Gap(before: entries.count, entries: gapEntries, actors: gapActors.count))
        }
        var omittedActors = Set<String>()
        for (index, entry) in transcript.enumerated() where !shownEntry[index] {
            omittedActors.insert(entry.actor)
        }
        let omitted = transcript.count - entries.count
        var note = "… \(ReportText.count(omitted)) of \(ReportText.count(transcript.count)) entries "
        note += "(of \(ReportText.count(omittedActors.count)) \(omittedActors.count == 1 ? "actor" : "actors")) "
        note += "folded or left out"
        if shortened > 0 {
            note += ", \(ReportText.count(shortened)) long \(shortened == 1 ? "payload" : "payloads") shortened"
        }
        note += "; " + self.fullTranscriptHint
        let cut = TranscriptCut(
            totalEntries: transcript.count,
            totalActors: actorNames.count,
            omittedEntries: omitted,
            omittedActors: omittedActors.count,
            shortenedPayloads: shortened,
            folds: folds,
            gaps: gaps,
            crowds: summaries,
            leftOutByBudget: false,
            note: note
        )
        return TranscriptDigest(entries: entries, cut: cut, actors: actors)
    }

    private var fullTranscriptHint: String {
        self.limits.isVerbose
            ? "the --verbose report is bounded too: it keeps up to \(ReportText.count(self.limits.linesPerCase)) "
                + "lines per case"
            : "more: rerun with the rerun command and --verbose"
    }

    /// The actors `message` names (the actors involved at the failing step), or the last frame's actor.
    private func focusActors(_ actors: Set<String>) -> Set<String> {
        var focus = Set<String>()
        var token = ""
        func flush() {
            while token.hasSuffix(".") { token.removeLast() }
            if !token.isEmpty && actors.contains(token) { focus.insert(token) }
            token = ""
        }
        for character in self.message.prefix(8000) {
            if character.isLetter || character.isNumber || character == "_" || character == "-" || character == "." {
                token.append(character)
            } else {
                flush()
            }
        }
        flush()
        if focus.isEmpty, let last = self.transcript.last {
            focus.insert(last.actor)
        }
        return focus
    }

    /// Summary lines for the crowd members folded, and their names.
    private func summariseCrowds(
        shapes: [String],
        focus: Set<String>
    ) -> (summaries: [TranscriptCut.CrowdSummary], folded: Set<String>) {
        let limits = self.limits
        // Per member: its frame kinds in order of first appearance, and how many of each.
        struct Member {
            var kinds: [String] = []
            var counts: [String: Int] = [:]
            var entries = 0
        }
        var members: [String: [Int: Member]] = [:]
        for (index, entry) in self.transcript.enumerated() {
            guard let member = CrowdMember(entry.actor) else { continue }
            let kind = shapes[index]
            members[member.crowd, default: [:]][member.index, default: Member()].entries += 1
            let seen = members[member.crowd]?[member.index]?.counts[kind] ?? 0
            if seen == 0 {
                members[member.crowd]?[member.index]?.kinds.append(kind)
            }
            members[member.crowd]?[member.index]?.counts[kind] = seen + 1
        }
        var summaries: [TranscriptCut.CrowdSummary] = []
        var folded = Set<String>()
        for crowd in members.keys.sorted().prefix(16) {
            let crowdMembers = members[crowd] ?? [:]
            guard crowdMembers.count > limits.crowdMembersInFull else { continue }
            // Group the members by shape; the largest group is "the rest".
            var groups: [String: [Int]] = [:]
            for (index, member) in crowdMembers {
                groups[member.kinds.joined(separator: "\u{3}"), default: []].append(index)
            }
            let ordered = groups.values.map { $0.sorted() }.sorted {
                ($0.count, -($0.first ?? 0)) > ($1.count, -($1.first ?? 0))
            }
            var inFull = Set<Int>()
            for (index, _) in crowdMembers where focus.contains(Crowd.memberName(crowd, index)) {
                inFull.insert(index)
            }
            // One member of each differing shape (rarest first) is shown in full.
            var differing = 0
            for group in ordered.dropFirst().reversed() {
                guard differing < limits.crowdMembersInFull, let first = group.first else { break }
                if inFull.insert(first).inserted { differing += 1 }
            }
            var shown = 0
            var otherMembers: [Int] = []
            var otherEntries = 0
            for group in ordered {
                let foldedGroup = group.filter { !inFull.contains($0) }
                guard let first = foldedGroup.first, let sample = crowdMembers[first] else { continue }
                let entries = foldedGroup.reduce(0) { $0 + (crowdMembers[$1]?.entries ?? 0) }
                for index in foldedGroup { folded.insert(Crowd.memberName(crowd, index)) }
                guard shown < limits.crowdShapes else {
                    otherMembers += foldedGroup
                    otherEntries += entries
                    continue
                }
                shown += 1
                var parts: [String] = []
                for kind in sample.kinds.prefix(limits.crowdShapeKinds) {
                    let counts = foldedGroup.map { crowdMembers[$0]?.counts[kind] ?? 0 }
                    let low = counts.min() ?? 0
                    let high = counts.max() ?? 0
                    let name = String(kind.prefix { $0 != "\u{1}" })
                    parts.append(
                        name + (high > 1 || low != high ? (low == high ? " ×\(high)" : " ×\(low)–\(high)") : "")
                    )
                }
                if sample.kinds.count > limits.crowdShapeKinds {
                    parts.append("… \(sample.kinds.count - limits.crowdShapeKinds) more kinds")
                }
                summaries.append(
                    TranscriptCut.CrowdSummary(
                        crowd: crowd,
                        members: foldedGroup.count,
                        memberNames: CrowdMember.ranges(crowd, foldedGroup, limit: 6),
                        entries: entries,
                        shape: parts.joined(separator: " ")
                    )
                )
            }
            if !otherMembers.isEmpty {
                summaries.append(
                    TranscriptCut.CrowdSummary(
                        crowd: crowd,
                        members: otherMembers.count,
                        memberNames: CrowdMember.ranges(crowd, otherMembers.sorted(), limit: 6),
                        entries: otherEntries,
                        shape: ""
                    )
                )
            }
        }
        return (summaries, folded)
    }

    /// The bytes a frame's line is reckoned at.
    private func cost(of entry: TranscriptEntry) -> Int {
        40 + entry.actor.utf8.count + entry.type.utf8.count
            + min(entry.payload.utf8.count, self.limits.payloadCharacters + 30)
            + self.limits.lineAllowance
    }

    /// The frame with its payload cut to the limit.
    private func capped(_ entry: TranscriptEntry, shortened: inout Int) -> TranscriptEntry {
        guard entry.payload.utf8.count > self.limits.payloadCharacters else { return entry }
        let (text, omitted) = ReportText.cap(entry.payload, characters: self.limits.payloadCharacters, lines: Int.max)
        guard omitted > 0 else { return entry }
        shortened += 1
        var copy = entry
        copy.payload = text
        return copy
    }

    static func arrow(_ direction: TranscriptDirection) -> String {
        switch direction {
        case .sent: "→"
        case .received: "←"
        case .transport: "·"
        }
    }

    /// The payload's shape: JSON with every string value `s` and every number `0`, object keys kept, whitespace
    /// dropped (so frames that differ only in ids, times and counters have the same shape). At most 512 bytes.
    static func shape(_ payload: String) -> String {
        var input = payload
        return input.withUTF8 { bytes -> String in
            var out: [UInt8] = []
            out.reserveCapacity(min(bytes.count, 512))
            var position = 0
            let count = bytes.count
            while position < count && out.count < 512 {
                let byte = bytes[position]
                switch byte {
                case UInt8(ascii: "\""):
                    let start = position
                    position += 1
                    while position < count && bytes[position] != UInt8(ascii: "\"") {
                        position += bytes[position] == UInt8(ascii: "\\") ? 2 : 1
                    }
                    let end = min(position, count - 1)
                    position += 1
                    var next = position
                    while next < count
                        && (bytes[next] == 32 || bytes[next] == 10 || bytes[next] == 13 || bytes[next] == 9)
                    {
                        next += 1
                    }
                    if next < count && bytes[next] == UInt8(ascii: ":") {
                        out.append(contentsOf: bytes[start...end])
                    } else {
                        out.append(UInt8(ascii: "s"))
                    }
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"):
                    while position < count
                        && (bytes[position] >= 48 && bytes[position] <= 57 || bytes[position] == UInt8(ascii: ".")
                            || bytes[position] == UInt8(ascii: "-") || bytes[position] == UInt8(ascii: "+")
                            || bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E"))
                    {
                        position += 1
                    }
                    out.append(UInt8(ascii: "0"))
                case 32, 9, 10, 13:
                    position += 1
                default:
                    out.append(byte)
                    position += 1
                }
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}

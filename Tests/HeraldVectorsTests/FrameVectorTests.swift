import Foundation
import HeraldMessages
import HeraldSpec
import HeraldVectors
import HeraldWire
import NIOCore
import Testing

@Suite struct FrameVectorTests {
    /// Vectors at most this long are fed split at every position; longer ones (the 64 KiB and 128 KiB payload
    /// vectors) at every position of their first and last 32 bytes and around every frame boundary, plus 32
    /// positions spread over the payload, so that the suite does not become quadratic in the payload size.
    static let exhaustiveSplitLimit = 4_096

    @Test func vectorFilesLoadWithoutProblems() throws {
        let collection = try Project.frameVectors.get()
        #expect(collection.problems.isEmpty, "\(collection.problems.map(\.description).joined(separator: "\n"))")
        #expect(!collection.vectors.isEmpty, "no frame vectors found in \(Project.frameVectorsDirectory.path)")
    }

    @Test func numberOfTestsMatchesEveryFile() throws {
        let collection = try Project.frameVectors.get()
        for loaded in collection.files {
            #expect(
                loaded.file.numberOfTests == loaded.file.tests.count,
                "\(loaded.relativePath): numberOfTests \(loaded.file.numberOfTests) ≠ \(loaded.file.tests.count) tests"
            )
        }
        #expect(!collection.files.isEmpty, "no herald-frames files in \(Project.frameVectorsDirectory.path)")
    }

    @Test(arguments: Project.vectorCases)
    func vectorPassesTheVerifier(_ testCase: VectorCase) {
        let result = FrameVectorVerifier.verify(testCase.vector)
        #expect(result.failure == nil, "\(testCase.vector.id): \(result.failure ?? "")")
    }

    @Test(arguments: Project.vectorCases)
    func vectorResultDoesNotDependOnHowBytesAreSplit(_ testCase: VectorCase) throws {
        let vector = testCase.vector
        guard vector.effectiveTransport == .stream else { return }  // a WebSocket message is never split
        let bytes = try Hex.decode(vector.hex)
        let maximum = vector.effectiveMaximumPayloadLength
        let reference = Self.summary(of: FrameVectorVerifier.observe(bytes, maximumPayloadLength: maximum))
        var feedings: [FrameVectorVerifier.Feeding] = [.chunks(size: 1)]
        feedings += Self.splitPositions(for: bytes, vector: vector).map { .split(at: $0) }
        for feeding in feedings {
            let observed = Self.summary(
                of: FrameVectorVerifier.observe(bytes, maximumPayloadLength: maximum, feeding: feeding)
            )
            #expect(observed == reference, "\(vector.id) fed as \(feeding): \(observed) ≠ whole input: \(reference)")
            if observed != reference { return }
        }
        // The verdict itself (not just the observation) for the two extremes.
        let result = FrameVectorVerifier.verify(vector, feeding: .chunks(size: 1))
        #expect(result.failure == nil, "\(vector.id) fed byte by byte: \(result.failure ?? "")")
    }

    @Test func everyOpcodeHasAValidVector() throws {
        let vectors = try Project.frameVectors.get().vectors
        let covered = Set(vectors.filter { $0.result == .valid }.flatMap(\.frames).map(\.opcode))
        let missing = HeraldOpcodeTable.all.filter { !covered.contains(Int($0.opcode.rawValue)) }
        #expect(missing.isEmpty, "opcodes without a valid vector: \(missing.map(\.opcodeName).joined(separator: ", "))")
    }

    @Test func thereAreAtLeastFortyInvalidVectors() throws {
        let vectors = try Project.frameVectors.get().vectors
        let invalid = vectors.filter { $0.result == .invalid }.count
        #expect(invalid >= 40, "only \(invalid) invalid vectors")
    }

    @Test func everyWireErrorIdentifierHasAnInvalidVector() throws {
        let vectors = try Project.frameVectors.get().vectors
        let used = Set(vectors.compactMap(\.error))
        let missing = WireError.Code.allCodes.map(\.description).filter { !used.contains($0) }
        #expect(WireError.Code.allCodes.count == 12)
        #expect(missing.isEmpty, "wire errors without an invalid vector: \(missing.joined(separator: ", "))")
    }

    @Test func everyRequirementCitedByAVectorExists() throws {
        let vectors = try Project.frameVectors.get().vectors
        let ids = try Project.requirementIndex.get().ids
        var citers: [String: [String]] = [:]
        for vector in vectors {
            for requirement in vector.requirements where !ids.contains(requirement) {
                citers[requirement, default: []].append(vector.id)
            }
        }
        let report = citers.keys.sorted().map { id in
            let vectors = citers[id]!
            return "\(id) (cited by \(vectors.count) vector(s), e.g. \(vectors[0]))"
        }
        #expect(report.isEmpty, "requirement ids not in the Spec: \(report.joined(separator: "; "))")
    }

    @Test func everyVectorCitesAtLeastOneRequirement() throws {
        let vectors = try Project.frameVectors.get().vectors
        let uncited = vectors.filter(\.requirements.isEmpty).map(\.id)
        #expect(uncited.isEmpty, "vectors without requirements: \(uncited.joined(separator: ", "))")
    }

    // MARK: - Helpers

    /// What must not change with the split: each frame (header and payload bytes) and the error identifier.
    static func summary(of observation: FrameVectorObservation) -> String {
        let frames = observation.frames.map { decoded in
            let header = decoded.frame.header
            return "\(header.opcode.rawValue)/\(header.flags.rawValue)/\(header.requestID)/"
                + Hex.encode(decoded.frame.payload.readableBytesView)
        }
        return "[\(frames.joined(separator: ", "))] error: \(observation.error.map { "\($0.code)" } ?? "none")"
    }

    /// Every split position for short inputs; a bounded, boundary-heavy set for long ones.
    static func splitPositions(for bytes: [UInt8], vector: FrameVector) -> [Int] {
        let count = bytes.count
        if count <= self.exhaustiveSplitLimit { return Array(0...count) }
        var positions = Set(0...min(count, 32))
        positions.formUnion(max(0, count - 32)...count)
        var boundary = 0
        for frame in vector.frames {
            positions.formUnion(max(0, boundary - 2)...min(count, boundary + HeraldFrameHeader.size + 2))
            boundary += HeraldFrameHeader.size + frame.payloadLength
        }
        positions.formUnion(max(0, boundary - 2)...min(count, boundary + HeraldFrameHeader.size + 2))
        // Inside a payload every position is alike (the decoder waits for the rest); sample 32 of them.
        positions.formUnion(stride(from: 0, through: count, by: max(1, count / 32)))
        return positions.sorted()
    }
}

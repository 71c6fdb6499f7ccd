import NIOCore

/// Reads the few fields a load client needs from a serialized payload without decoding the whole message, so that
/// thousands of subscriber connections cost the load generator little (no allocations per event).
///
/// It walks the protobuf wire format (varint, 64-bit, length-delimited and 32-bit fields; any other wire type, or a
/// truncated field, makes the payload unreadable) and keeps the last occurrence of each scalar field, as a protobuf
/// parser does.
public enum BenchWireScan {
    /// What a channel-message subscriber needs of a `ChannelMessage` (channels.proto): its place in the channel's
    /// stream and the numbered body.
    public struct ChannelMessageFields: Sendable, Hashable {
        /// `ChannelMessage.seq` (field 6).
        public var seq: UInt64
        /// The ``BenchBody`` in `ChannelMessage.message.raw` (fields 3 and 3).
        public var body: BenchBody
    }

    /// The fields of a `ChannelMessage` payload for channel `channelID` (UTF-8); `nil` when the payload is not
    /// readable, is for another channel, or carries no ``BenchBody`` (then decode it the usual way).
    public static func channelMessage(_ payload: ByteBuffer, channelID: [UInt8]) -> ChannelMessageFields? {
        payload.withUnsafeReadableBytes { Self.channelMessage($0, channelID: channelID) }
    }

    /// The fields of a `ChannelMessage` in `bytes`, as for the `ByteBuffer` variant.
    public static func channelMessage(_ bytes: UnsafeRawBufferPointer, channelID: [UInt8]) -> ChannelMessageFields? {
        var reader = Reader(bytes: bytes, position: 0, end: bytes.count)
        var seq: UInt64 = 0
        var body: BenchBody?
        var channelMatches = false
        while let field = reader.nextField() {
            switch (field.number, field.value) {
            case (1, .bytes(let range)):
                channelMatches =
                    range.count == channelID.count
                    && channelID.withUnsafeBytes { expected in
                        expected.elementsEqual(UnsafeRawBufferPointer(rebasing: bytes[range]))
                    }
            case (3, .bytes(let range)):
                body = Self.body(bytes, range)
            case (6, .varint(let value)):
                seq = value
            default:
                break
            }
        }
        guard !reader.failed, channelMatches, let body else { return nil }
        return ChannelMessageFields(seq: seq, body: body)
    }

    /// The ``BenchBody`` of a `MessageBody` (common.proto) at `range` of `bytes`: type `MESSAGE_TYPE_RAW` (2) and at
    /// least 16 bytes of `raw` (field 3).
    static func body(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> BenchBody? {
        var reader = Reader(bytes: bytes, position: range.lowerBound, end: range.upperBound)
        var isRaw = false
        var raw: Range<Int>?
        while let field = reader.nextField() {
            switch (field.number, field.value) {
            case (1, .varint(let type)): isRaw = type == 2
            case (3, .bytes(let range)): raw = range
            default: break
            }
        }
        guard !reader.failed, isRaw, let raw, raw.count >= 16 else { return nil }
        var sender: UInt64 = 0
        var sequence: UInt64 = 0
        for index in 0..<8 {
            sender = sender << 8 | UInt64(bytes[raw.lowerBound + index])
            sequence = sequence << 8 | UInt64(bytes[raw.lowerBound + 8 + index])
        }
        return BenchBody(sender: sender, sequence: sequence)
    }

    /// A cursor over the fields of one message.
    struct Reader {
        enum Value {
            case varint(UInt64)
            case bytes(Range<Int>)
            case fixed
        }

        let bytes: UnsafeRawBufferPointer
        var position: Int
        let end: Int
        /// Set when the bytes are not a well-formed message.
        var failed = false

        /// The next field, `nil` at the end or on malformed input (then ``failed`` is set).
        mutating func nextField() -> (number: UInt64, value: Value)? {
            guard self.position < self.end, let tag = self.varint() else { return nil }
            let value: Value
            switch tag & 7 {
            case 0:
                guard let number = self.varint() else { return nil }
                value = .varint(number)
            case 1, 5:
                let size = tag & 7 == 1 ? 8 : 4
                guard self.end - self.position >= size else { return self.fail() }
                self.position += size
                value = .fixed
            case 2:
                guard let length = self.varint(), length <= UInt64(self.end - self.position) else { return self.fail() }
                value = .bytes(self.position..<self.position + Int(length))
                self.position += Int(length)
            default:
                return self.fail()
            }
            return (tag >> 3, value)
        }

        private mutating func varint() -> UInt64? {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while self.position < self.end && shift < 64 {
                let byte = self.bytes[self.position]
                self.position += 1
                result |= UInt64(byte & 0x7f) << shift
                if byte & 0x80 == 0 { return result }
                shift += 7
            }
            self.failed = true
            return nil
        }

        private mutating func fail() -> (number: UInt64, value: Value)? {
            self.failed = true
            return nil
        }
    }
}

import HeraldMessages
import HeraldWire
import NIOCore
import SwiftProtobuf

/// Builds outbound frames. Stream events are serialised once and given a per-receiver `seq` tail.
enum Outbound {
    /// A frame for one receiver.
    static func frame(
        opcode: Herald_V1_Opcode,
        requestID: UInt32 = 0,
        flags: HeraldFrameFlags = [],
        message: some SwiftProtobuf.Message
    ) -> OutboundFrame {
        let frame: HeraldFrame
        do {
            frame = try HeraldFrame(opcode: opcode, requestID: requestID, flags: flags, message: message)
        } catch {
            // Only a programming error (wrong message type for the opcode) gets here.
            preconditionFailure("cannot build \(opcode) frame: \(error)")
        }
        var head = ByteBuffer()
        head.reserveCapacity(HeraldFrameHeader.size)
        frame.header.write(to: &head)
        return OutboundFrame(head: head, body: frame.payload, tail: ByteBuffer())
    }

    /// A stream event serialised once (with `seq` left at 0, so the field is absent), ready to be given each
    /// receiver's `seq`.
    struct SharedEvent {
        let opcode: Herald_V1_Opcode
        let body: ByteBuffer
        /// The field number of the message's `seq` field: the highest field number of every stream event.
        let seqFieldNumber: Int

        init(opcode: Herald_V1_Opcode, message: some SwiftProtobuf.Message, seqFieldNumber: Int) {
            self.opcode = opcode
            self.seqFieldNumber = seqFieldNumber
            do {
                self.body = try HeraldFrame(opcode: opcode, message: message).payload
            } catch {
                preconditionFailure("cannot build \(opcode) frame: \(error)")
            }
        }

        /// The frame for one receiver with its `seq`.
        ///
        /// The header and the `seq` tail are written into one small buffer and handed out as two slices of it, so
        /// a receiver costs one allocation besides the shared body.
        func frame(seq: UInt64, requestID: UInt32 = 0, flags: HeraldFrameFlags = []) -> OutboundFrame {
            let tag = UInt64(self.seqFieldNumber << 3)  // wire type 0
            let tailLength = Outbound.varintSize(tag) + Outbound.varintSize(seq)
            let header = HeraldFrameHeader(
                flags: flags,
                opcode: self.opcode,
                requestID: requestID,
                payloadLength: self.body.readableBytes + tailLength
            )
            var scratch = ByteBuffer()
            scratch.reserveCapacity(HeraldFrameHeader.size + tailLength)
            header.write(to: &scratch)
            Outbound.writeVarint(tag, to: &scratch)
            Outbound.writeVarint(seq, to: &scratch)
            let head = scratch.readSlice(length: HeraldFrameHeader.size)!
            return OutboundFrame(head: head, body: self.body, tail: scratch)
        }
    }

    /// The number of bytes of `value` as a varint (1 to 10).
    static func varintSize(_ value: UInt64) -> Int {
        value == 0 ? 1 : (64 - value.leadingZeroBitCount + 6) / 7
    }

    static func writeVarint(_ value: UInt64, to buffer: inout ByteBuffer) {
        var value = value
        while value >= 0x80 {
            buffer.writeInteger(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        buffer.writeInteger(UInt8(value))
    }
}

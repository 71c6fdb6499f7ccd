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
        return OutboundFrame(header: frame.header, body: frame.payload)
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

        /// The frame for one receiver with its `seq`: the shared body, and the header and `seq` field that the
        /// connection's ``OutboundBytes`` writes around it (no allocation per receiver).
        func frame(seq: UInt64, requestID: UInt32 = 0, flags: HeraldFrameFlags = []) -> OutboundFrame {
            let tag = UInt64(self.seqFieldNumber << 3)  // wire type 0
            let tailLength = OutboundBytes.varintSize(tag) + OutboundBytes.varintSize(seq)
            let header = HeraldFrameHeader(
                flags: flags,
                opcode: self.opcode,
                requestID: requestID,
                payloadLength: self.body.readableBytes + tailLength
            )
            return OutboundFrame(header: header, body: self.body, seqTag: tag, seq: seq)
        }
    }
}

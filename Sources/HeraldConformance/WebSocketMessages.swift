import HeraldWire
import NIOCore
import NIOWebSocket

/// Reassembles WebSocket data frames into messages (RFC 6455 §5.4): a binary or text frame, continued by
/// continuation frames until one has FIN. Used by both ends of the runner: its client (server runs) and its scripted
/// server (client runs).
struct WebSocketMessageAssembler {
    /// A complete message.
    enum Message {
        /// A binary message: one Herald frame, if the peer follows TRN-19.
        case binary(ByteBuffer)
        /// A text message (TRN-20, TRN-22).
        case text(String)
    }

    /// A continuation frame arrived with no message to continue.
    struct OrphanContinuation: Error {}

    private var pending: ByteBuffer?
    private var pendingIsText = false

    /// Adds a binary, text or continuation frame.
    ///
    /// - Returns: The message the frame completes, or `nil` while more frames are to come.
    /// - Throws: ``OrphanContinuation`` for a continuation frame without a message to continue.
    mutating func add(_ frame: WebSocketFrame) throws(OrphanContinuation) -> Message? {
        var data = frame.unmaskedData
        switch frame.opcode {
        case .binary, .text:
            self.pending = data
            self.pendingIsText = frame.opcode == .text
        default:
            guard self.pending != nil else { throw OrphanContinuation() }
            self.pending!.writeBuffer(&data)
        }
        guard frame.fin, let message = self.pending else { return nil }
        self.pending = nil
        return self.pendingIsText ? .text(String(buffer: message)) : .binary(message)
    }

    /// The one Herald frame a binary message must hold (TRN-19), accepting the extension opcodes the runner reads.
    ///
    /// - Throws: ``WireError`` when the message is not exactly one valid frame.
    static func heraldFrame(_ message: ByteBuffer, maximumPayloadLength: Int) throws(WireError) -> HeraldFrame {
        try HeraldWire.decodeSingleFrame(
            message,
            maximumPayloadLength: maximumPayloadLength,
            acceptedExtensions: HeraldOpcodeTable.extensions
        )
    }
}

import NIOCore

/// Aborts a TLS handshake whose ClientHello offers ALPN protocols without `herald/1` (TRN-12).
///
/// It sits in front of the TLS handler of the `tls://` listener, which serves nothing but Herald. It reads the
/// first TLS record, and if that record holds a whole ClientHello with an ALPN extension that lists other protocols
/// only, it sends the fatal alert `no_application_protocol` (RFC 7301 §3.2) and closes the connection. In every other
/// case (no ALPN extension, `herald/1` offered, a ClientHello spread over several records, bytes that are not a
/// ClientHello at all) it steps aside and the TLS handler sees the unchanged bytes. It buffers at most one TLS
/// record (5 + 2^14 + 2048 bytes, RFC 8446 §5.2).
///
/// The TLS library cannot do this itself: when no offered protocol matches, it carries on without ALPN.
struct ALPNOfferCheck: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    /// What the first TLS record says about the ALPN offer.
    enum Verdict: Equatable {
        /// More bytes are needed to decide.
        case needMoreData
        /// The handshake may proceed: no ALPN offer, an offer containing the protocol, or nothing this check
        /// understands.
        case proceed
        /// An ALPN offer without the protocol: abort the handshake.
        case refuse(offered: [String])
    }

    /// The protocol identifier the listener serves.
    let applicationProtocol: String

    /// The largest TLS record: a 5-byte header and a ciphertext of at most 2^14 + 2048 bytes.
    static let maximumRecordLength = 5 + (1 << 14) + 2048

    /// The TLS alert record `fatal` / `no_application_protocol` (120), with record version TLS 1.2.
    static let noApplicationProtocolAlert: [UInt8] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x78]

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        switch Self.verdict(on: buffer, applicationProtocol: self.applicationProtocol) {
        case .needMoreData:
            return .needMoreData
        case .proceed:
            // Removing the decoder hands the buffered bytes, unread, to the TLS handler.
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return .needMoreData
        case .refuse:
            buffer.moveReaderIndex(to: buffer.writerIndex)
            context.writeAndFlush(NIOAny(ByteBuffer(bytes: Self.noApplicationProtocolAlert)), promise: nil)
            context.close(promise: nil)
            return .needMoreData
        }
    }

    mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        // The stream ended before a decision: whatever arrived goes to the TLS handler, which reports it.
        if buffer.readableBytes > 0 {
            context.fireChannelRead(NIOAny(buffer))
            buffer.moveReaderIndex(to: buffer.writerIndex)
        }
        return .needMoreData
    }

    /// Reads the ALPN offer from the start of a TLS connection's bytes.
    ///
    /// - Parameters:
    ///   - buffer: The bytes received so far (not consumed).
    ///   - applicationProtocol: The protocol the listener serves.
    /// - Returns: Whether to wait, proceed or refuse.
    static func verdict(on buffer: ByteBuffer, applicationProtocol: String) -> Verdict {
        var record = buffer
        guard let type = record.readInteger(as: UInt8.self) else { return .needMoreData }
        guard type == 0x16 else { return .proceed }  // not a handshake record: the TLS handler rejects it
        guard record.readInteger(as: UInt16.self) != nil, let length = record.readInteger(as: UInt16.self) else {
            return .needMoreData
        }
        guard 5 + Int(length) <= Self.maximumRecordLength else { return .proceed }
        guard var fragment = record.readSlice(length: Int(length)) else { return .needMoreData }
        guard let offered = Self.offeredProtocols(inClientHello: &fragment) else { return .proceed }
        return offered.contains(applicationProtocol) ? .proceed : .refuse(offered: offered)
    }

    /// The ALPN protocol names of a ClientHello that fits in `fragment`; `nil` when the fragment is not a whole
    /// ClientHello or has no ALPN extension.
    private static func offeredProtocols(inClientHello fragment: inout ByteBuffer) -> [String]? {
        guard fragment.readInteger(as: UInt8.self) == 0x01,  // client_hello
            let high = fragment.readInteger(as: UInt8.self), let low = fragment.readInteger(as: UInt16.self),
            var hello = fragment.readSlice(length: Int(high) << 16 | Int(low)),
            hello.readSlice(length: 2 + 32) != nil,  // legacy_version, random
            Self.skipVector(&hello, lengthBytes: 1),  // legacy_session_id
            Self.skipVector(&hello, lengthBytes: 2),  // cipher_suites
            Self.skipVector(&hello, lengthBytes: 1),  // legacy_compression_methods
            let extensionsLength = hello.readInteger(as: UInt16.self),
            var extensions = hello.readSlice(length: Int(extensionsLength))
        else { return nil }
        while let type = extensions.readInteger(as: UInt16.self), let length = extensions.readInteger(as: UInt16.self) {
            guard var body = extensions.readSlice(length: Int(length)) else { return nil }
            guard type == 0x0010 else { continue }  // application_layer_protocol_negotiation
            guard let listLength = body.readInteger(as: UInt16.self), var list = body.readSlice(length: Int(listLength))
            else { return nil }
            var names: [String] = []
            while let nameLength = list.readInteger(as: UInt8.self) {
                guard let name = list.readString(length: Int(nameLength)) else { return nil }
                names.append(name)
            }
            return names
        }
        return nil
    }

    /// Skips a TLS vector with a `lengthBytes`-byte length; `false` if it does not fit.
    private static func skipVector(_ buffer: inout ByteBuffer, lengthBytes: Int) -> Bool {
        let length: Int?
        switch lengthBytes {
        case 1: length = buffer.readInteger(as: UInt8.self).map(Int.init)
        default: length = buffer.readInteger(as: UInt16.self).map(Int.init)
        }
        guard let length else { return false }
        return buffer.readSlice(length: length) != nil
    }
}

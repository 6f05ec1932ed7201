// Secure Conversation chunk headers and the reassembled message (OPC 10000-6 §6.7.2).
//
// A MessageChunk is: the 8-byte header, the UInt32 SecureChannelId, a security header
// (asymmetric for OPN, symmetric for MSG/CLO), the sequence header and a part of the body.
// With SecurityPolicy None there is no padding and no signature.
public import NIOCore

/// The security header of OPN chunks (OPC 10000-6 Table 54).
///
/// With SecurityPolicy None the URI is `http://opcfoundation.org/UA/SecurityPolicy#None` and
/// both certificate fields are null. Checking that the policy is one we support is the secure
/// channel layer's job; this layer only decodes it.
public struct AsymmetricSecurityHeader: Hashable, Sendable, OPCUACodable {
    /// The longest SecurityPolicyUri accepted, in bytes (Table 54: "shall not exceed 255 bytes").
    public static let maxSecurityPolicyUriLength = 255
    /// The SecurityPolicy None URI.
    public static let securityPolicyNoneUri = "http://opcfoundation.org/UA/SecurityPolicy#None"
    /// The header for SecurityPolicy None: its URI and no certificates.
    public static let securityPolicyNone = AsymmetricSecurityHeader(securityPolicyUri: securityPolicyNoneUri)

    /// The SecurityPolicy URI; nil when the sender left it out (length -1).
    public var securityPolicyUri: String?
    /// The sender's DER certificate (chain); null without signing.
    public var senderCertificate: ByteString
    /// The SHA-1 thumbprint of the receiver's certificate; null without encryption.
    public var receiverCertificateThumbprint: ByteString

    public init(securityPolicyUri: String?, senderCertificate: ByteString = .null, receiverCertificateThumbprint: ByteString = .null) {
        self.securityPolicyUri = securityPolicyUri
        self.senderCertificate = senderCertificate
        self.receiverCertificateThumbprint = receiverCertificateThumbprint
    }

    public func encode(to buffer: inout ByteBuffer) {
        buffer.writeUAString(securityPolicyUri)
        senderCertificate.encode(to: &buffer)
        receiverCertificateThumbprint.encode(to: &buffer)
    }

    /// Decodes the header; a SecurityPolicyUri above 255 bytes is `BadDecodingError`.
    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) {
        if let length = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: Int32.self),
            length > Int32(AsymmetricSecurityHeader.maxSecurityPolicyUriLength)
        {
            throw OPCUAError.decoding("SecurityPolicyUri of \(length) bytes exceeds the limit of \(AsymmetricSecurityHeader.maxSecurityPolicyUriLength)")
        }
        securityPolicyUri = try buffer.readUAString("SecurityPolicyUri")
        senderCertificate = ByteString(try buffer.readUAByteString("SenderCertificate"))
        receiverCertificateThumbprint = ByteString(try buffer.readUAByteString("ReceiverCertificateThumbprint"))
    }
}

/// The security header of MSG and CLO chunks (OPC 10000-6 Table 55): the SecurityToken id.
public struct SymmetricSecurityHeader: Hashable, Sendable, OPCUACodable {
    /// The id of the SecurityToken the OpenSecureChannel response issued.
    public var tokenId: UInt32

    public init(tokenId: UInt32) { self.tokenId = tokenId }

    public func encode(to buffer: inout ByteBuffer) { buffer.writeUA(tokenId) }
    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) {
        tokenId = try buffer.readUA(UInt32.self, "TokenId")
    }
}

/// The sequence header after the security header (OPC 10000-6 Table 56).
public struct SequenceHeader: Hashable, Sendable, OPCUACodable {
    /// The byte length of the encoded header.
    public static let size = 8

    /// Per chunk, incremented by exactly one (see ``SequenceNumberGenerator``).
    public var sequenceNumber: UInt32
    /// Chosen by the Client per request; all chunks of the request and its response carry it.
    public var requestId: UInt32

    public init(sequenceNumber: UInt32, requestId: UInt32) {
        self.sequenceNumber = sequenceNumber
        self.requestId = requestId
    }

    public func encode(to buffer: inout ByteBuffer) {
        buffer.writeUA(sequenceNumber)
        buffer.writeUA(requestId)
    }

    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) {
        sequenceNumber = try buffer.readUA(UInt32.self, "SequenceNumber")
        requestId = try buffer.readUA(UInt32.self, "RequestId")
    }
}

/// A whole Secure Conversation message: what the transport hands the secure channel layer
/// inbound and takes from it outbound.
///
/// For `.open`, `.message` and `.close` the body is the reassembled message body: an
/// encoding NodeId followed by the structure (e.g. `OpenSecureChannelRequest`). Two more kinds
/// carry transport events through the same typed channel, so the app layer can wrap the
/// pipeline as `NIOAsyncChannel<SecureMessage, SecureMessage>`:
///
/// - `.abort` inbound: the peer aborted the message with `requestId` (abort chunk, §6.7.3), or
///   (Client only) our own request was too large for the Server and was never sent. The
///   channel stays open; a Client fails that request with the status.
///   Outbound: sends a single abort chunk for `requestId`.
/// - `.error` inbound: the connection is failing (an ERR from the peer, or a transport error we
///   detected and answered with ERR); the channel closes right after.
///   Outbound: the Server sends ERR with this status and closes; the Client just closes
///   (§7.1.5: only Servers send ERR).
public struct SecureMessage: Sendable, Hashable {
    /// What the message is, with its security header.
    public enum Kind: Sendable, Hashable {
        /// OPN: an OpenSecureChannel request or response, with its asymmetric security header.
        case open(AsymmetricSecurityHeader)
        /// MSG: any other request or response, secured with the given token.
        case message(tokenId: UInt32)
        /// CLO: a CloseSecureChannel request.
        case close(tokenId: UInt32)
        /// An aborted message (§6.7.3) with the error and reason from the abort chunk.
        case abort(status: StatusCode, reason: String?)
        /// A fatal transport error; the connection closes.
        case error(status: StatusCode, reason: String)
    }

    public var kind: Kind
    /// The SecureChannelId from the chunk header (0 in a Client's first OPN).
    public var secureChannelId: UInt32
    /// The RequestId from the sequence header.
    public var requestId: UInt32
    /// The reassembled body (empty for `.abort` and `.error`).
    public var body: ByteBuffer

    public init(kind: Kind, secureChannelId: UInt32, requestId: UInt32, body: ByteBuffer) {
        self.kind = kind
        self.secureChannelId = secureChannelId
        self.requestId = requestId
        self.body = body
    }

    /// A fatal transport error to write outbound (Server: ERR then close; Client: close).
    public static func transportError(_ status: StatusCode, reason: String) -> SecureMessage {
        SecureMessage(kind: .error(status: status, reason: reason), secureChannelId: 0, requestId: 0, body: ByteBuffer())
    }

    /// The chunk message type for the chunked kinds; nil for `.abort` and `.error`.
    public var messageType: MessageType? {
        switch kind {
        case .open: .open
        case .message: .message
        case .close: .close
        case .abort, .error: nil
        }
    }
}

/// Numbers outgoing chunks (OPC 10000-6 §6.7.2.4).
///
/// Each chunk gets the previous number plus one. The first number of a new channel is
/// ``initialValue`` (1; the spec leaves it free for LegacySequenceNumbers policies and
/// asyncua starts at 1 too). After `UInt32.max` the numbers wrap to 0, which satisfies both
/// rules of §6.7.2.4: legacy ("not before 4 294 966 271, then below 1024") and non-legacy
/// ("at UInt32.max, then 0").
public struct SequenceNumberGenerator: Sendable, Hashable {
    /// The first sequence number of a new channel.
    public static let initialValue: UInt32 = 1
    /// Wrapping is allowed once a number is above this (UInt32.max − 1024).
    public static let wrapThreshold: UInt32 = UInt32.max - 1024
    /// Numbers after a wrap are below this.
    public static let wrapLimit: UInt32 = 1024

    /// The number the next chunk gets.
    public private(set) var nextValue: UInt32

    public init(startingAt first: UInt32 = SequenceNumberGenerator.initialValue) {
        self.nextValue = first
    }

    /// Returns the next number and advances (UInt32.max is followed by 0).
    public mutating func next() -> UInt32 {
        let value = nextValue
        nextValue = value &+ 1
        return value
    }

    /// True if a chunk numbered `next` may follow one numbered `previous`: exactly one more, or
    /// a wrap from above 4 294 966 271 to below 1024 (which includes UInt32.max → 0).
    public static func isValidSuccessor(_ next: UInt32, of previous: UInt32) -> Bool {
        if next == previous &+ 1 { return true }
        return previous > wrapThreshold && next < wrapLimit
    }
}

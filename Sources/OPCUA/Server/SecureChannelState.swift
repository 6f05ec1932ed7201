// Secure channel state for SecurityPolicy None (OPC 10000-4 §5.5, OPC 10000-6 §6.7.4).

/// The security tokens of one secure channel.
///
/// OpenSecureChannel Issue creates the channel and its first token; Renew creates a new
/// token while the old one stays valid until the client first uses the new one (or the old
/// one's lifetime ends). Tokens expire 25 % after their revised lifetime.
package struct SecureChannelState: Sendable {
    package enum State: Sendable { case awaitingOpen, open, closed }

    package private(set) var state = State.awaitingOpen
    package let channelId: UInt32
    package private(set) var current: ChannelSecurityToken?
    package private(set) var previous: ChannelSecurityToken?
    private var currentCreated: ContinuousClock.Instant?
    private var previousCreated: ContinuousClock.Instant?
    private var nextTokenId: UInt32 = 1
    private let minLifetime: UInt32
    private let maxLifetime: UInt32

    package init(channelId: UInt32, minLifetime: UInt32, maxLifetime: UInt32) {
        self.channelId = channelId
        self.minLifetime = minLifetime
        self.maxLifetime = maxLifetime
    }

    static let securityPolicyNone = "http://opcfoundation.org/UA/SecurityPolicy#None"

    /// Handles OpenSecureChannel (Issue or Renew) and returns the response's token.
    package mutating func open(
        _ request: OpenSecureChannelRequest, securityPolicyUri: String?, requestChannelId: UInt32, now: ContinuousClock.Instant
    ) throws(OPCUAError) -> ChannelSecurityToken {
        guard securityPolicyUri == Self.securityPolicyNone else {
            throw OPCUAError(.badSecurityPolicyRejected, "security policy \(securityPolicyUri ?? "null") is not supported; use \(Self.securityPolicyNone)")
        }
        guard request.securityMode == .none else {
            throw OPCUAError(.badSecurityModeRejected, "security mode \(request.securityMode) is not supported; use None")
        }
        let lifetime = request.requestedLifetime == 0 ? maxLifetime : min(max(request.requestedLifetime, minLifetime), maxLifetime)
        switch (request.requestType, state) {
        case (.issue, .awaitingOpen):
            break
        case (.issue, _):
            throw OPCUAError(.badSecureChannelIdInvalid, "OpenSecureChannel Issue on a channel that is already open")
        case (.renew, .open):
            guard requestChannelId == channelId else {
                throw OPCUAError(.badSecureChannelIdInvalid, "Renew names channel \(requestChannelId), this is \(channelId)")
            }
        case (.renew, _):
            throw OPCUAError(.badSecureChannelIdInvalid, "OpenSecureChannel Renew before the channel is open")
        default:
            throw OPCUAError(.badRequestTypeInvalid, "OpenSecureChannel request type \(request.requestType.rawValue) is unknown")
        }
        let token = ChannelSecurityToken(channelId: channelId, tokenId: nextTokenId, createdAt: .now, revisedLifetime: lifetime)
        nextTokenId &+= 1
        if current != nil {
            previous = current
            previousCreated = currentCreated
        }
        current = token
        currentCreated = now
        state = .open
        return token
    }

    /// Checks the token of an incoming MSG/CLO and returns the token id to answer with.
    package mutating func accept(tokenId: UInt32, channelId requestChannelId: UInt32, now: ContinuousClock.Instant) throws(OPCUAError) -> UInt32 {
        guard state == .open, let current, let currentCreated else {
            throw OPCUAError(.badSecureChannelIdInvalid, "message before OpenSecureChannel")
        }
        guard requestChannelId == channelId else {
            throw OPCUAError(.badSecureChannelIdInvalid, "message names channel \(requestChannelId), this is \(channelId)")
        }
        if tokenId == current.tokenId {
            guard !Self.expired(current, since: currentCreated, now: now) else {
                throw OPCUAError(.badSecureChannelTokenUnknown, "token \(tokenId) expired; renew the channel before 75 % of its lifetime")
            }
            // The client moved to the new token: the old one is no longer accepted.
            previous = nil
            previousCreated = nil
            return tokenId
        }
        if let previous, let previousCreated, tokenId == previous.tokenId, !Self.expired(previous, since: previousCreated, now: now) {
            return tokenId
        }
        throw OPCUAError(.badSecureChannelTokenUnknown, "token \(tokenId) is not a valid token of channel \(channelId)")
    }

    package mutating func close() { state = .closed }

    private static func expired(_ token: ChannelSecurityToken, since created: ContinuousClock.Instant, now: ContinuousClock.Instant) -> Bool {
        now - created > .milliseconds(Int64(token.revisedLifetime) * 5 / 4)
    }
}

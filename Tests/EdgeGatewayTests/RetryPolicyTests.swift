// Sinter's one retry policy and the classification of answers (Sources/SinterHTTPClient).
import Foundation
import SinterHTTPClient
import Testing

struct RetryPolicyTests {
    func policy(seed: UInt64) -> RetryPolicy {
        var policy = RetryPolicy()
        policy.initialBackoff = .milliseconds(100)
        policy.maximumBackoff = .seconds(10)
        policy.maximumRetryAfter = .seconds(60)
        policy.random = .seeded(seed)
        return policy
    }

    @Test func fullJitterStaysWithinTheBoundOfEachAttemptAndSpreadsOverIt() {
        let p = policy(seed: 42)
        for attempt in 0..<12 {
            let bound = p.bound(attempt: attempt)
            let draws = (0..<200).map { _ in p.delay(attempt: attempt) }
            #expect(draws.allSatisfy { $0 >= .zero && $0 <= bound }, "attempt \(attempt)")
            // Full jitter: both the lower and the upper quarter of [0, bound] are reached.
            #expect(draws.contains { $0 < bound / 4 } && draws.contains { $0 > bound * 3 / 4 }, "attempt \(attempt)")
        }
        #expect(p.bound(attempt: 0) == .milliseconds(100))
        #expect(p.bound(attempt: 6) == .milliseconds(6400))
        #expect(p.bound(attempt: 7) == .seconds(10))
        #expect(p.bound(attempt: Int.max) == .seconds(10))
    }

    @Test func theSameSeedGivesTheSameDelaysAndAnotherSeedOthers() {
        let a = policy(seed: 7), b = policy(seed: 7), c = policy(seed: 8)
        let da = (0..<20).map { a.delay(attempt: $0 % 5) }
        let db = (0..<20).map { b.delay(attempt: $0 % 5) }
        let dc = (0..<20).map { c.delay(attempt: $0 % 5) }
        #expect(da == db)
        #expect(da != dc)
    }

    @Test func retryAfterIsHonouredUpToItsCap() {
        let p = policy(seed: 1)
        #expect(p.delay(attempt: 9, retryAfter: .seconds(3)) == .seconds(3))
        #expect(p.delay(attempt: 0, retryAfter: .seconds(3600)) == .seconds(60))
        #expect(p.delay(attempt: 0, retryAfter: .zero) == .zero)
    }

    @Test func retryAfterParsesSecondsAndHTTPDatesAndRefusesGarbage() {
        let now = Date(timeIntervalSince1970: 1_796_695_200)   // 2026-12-08T02:00:00Z
        #expect(RetryPolicy.parseRetryAfter("120", now: now) == .seconds(120))
        #expect(RetryPolicy.parseRetryAfter(" 0 ", now: now) == .zero)
        #expect(RetryPolicy.parseRetryAfter("Tue, 08 Dec 2026 02:00:30 GMT", now: now) == .seconds(30))
        #expect(RetryPolicy.parseRetryAfter("Tuesday, 08-Dec-26 02:01:00 GMT", now: now) == .seconds(60))
        #expect(RetryPolicy.parseRetryAfter("Tue Dec  8 02:00:05 2026", now: now) == .seconds(5))
        // A date in the past: retry now.
        #expect(RetryPolicy.parseRetryAfter("Mon, 07 Dec 2026 02:00:00 GMT", now: now) == .zero)
        for garbage in ["", "soon", "-5", "1.5", "12 s", "Tue, 32 Dec 2026 02:00:00 GMT"] {
            #expect(RetryPolicy.parseRetryAfter(garbage, now: now) == nil, "\(garbage)")
        }
        // Parsed but huge: the policy caps it.
        let huge = RetryPolicy.parseRetryAfter("86400", now: now)
        #expect(policy(seed: 1).delay(attempt: 0, retryAfter: huge) == .seconds(60))
        let enormous = RetryPolicy.parseRetryAfter("99999999999999999999999", now: now)
        #expect(enormous != nil && policy(seed: 1).delay(attempt: 0, retryAfter: enormous) == .seconds(60))
    }

    @Test func answersAreClassifiedAsAcceptedRefusedOrRetryable() {
        let errorBody = Array(#"{"error":{"code":"invalid_channel","message":"channel x is NaN","field":"channels.x","position":17}}"#.utf8)
        if case .accepted(let a) = SinterClient.classify(status: 201, body: Array(#"{"accepted":2,"duplicates":1,"ids":["a","b"]}"#.utf8), retryAfter: nil) {
            #expect(a.ids == ["a", "b"] && a.duplicates == 1)
        } else { Issue.record("201 is accepted") }
        for status in [422, 400] {
            guard case .refused(let r) = SinterClient.classify(status: status, body: errorBody, retryAfter: nil) else {
                Issue.record("\(status) with an error body is a refusal"); continue
            }
            #expect(r.status == status)
            #expect(r.error == ServerErrorBody(code: "invalid_channel", message: "channel x is NaN", field: "channels.x", position: 17))
        }
        let expected: [(Int, RetryReason.Kind)] = [
            (401, .tokenRefused), (403, .tokenRefused), (404, .notFound), (405, .notFound), (408, .busy), (413, .tooLarge),
            (415, .unsupportedMediaType), (429, .busy), (500, .serverError), (502, .serverError), (503, .serverError),
            (409, .unexpectedStatus), (302, .unexpectedStatus),
        ]
        for (status, kind) in expected {
            guard case .retryable(let reason) = SinterClient.classify(status: status, body: errorBody, retryAfter: "2") else {
                Issue.record("\(status) is retryable"); continue
            }
            #expect(reason.kind == kind && reason.status == status && reason.retryAfter == .seconds(2), "\(status)")
            #expect(reason.message.hasPrefix("HTTP \(status): invalid_channel"))
        }
        // A 400 or 422 without the server's error body (a proxy's page) says nothing about the records.
        for status in [400, 422] {
            guard case .retryable(let reason) = SinterClient.classify(status: status, body: Array("<html>bad</html>".utf8), retryAfter: nil) else {
                Issue.record("\(status) without an error body is retryable"); continue
            }
            #expect(reason.kind == .unexpectedStatus)
        }
        guard case .retryable(let garbage) = SinterClient.classify(status: 503, body: [], retryAfter: "whenever") else { return }
        #expect(garbage.retryAfter == nil)
    }

    @Test func baseURLsWithAPIPathsAndSlashesShareOneRoot() {
        #expect(SinterClient.root(of: "http://127.0.0.1:8080") == "http://127.0.0.1:8080")
        #expect(SinterClient.root(of: "http://127.0.0.1:8080//") == "http://127.0.0.1:8080")
        #expect(SinterClient.root(of: "http://127.0.0.1:8080/api/v1/telemetry") == "http://127.0.0.1:8080")
        #expect(SinterClient.root(of: " http://h:1/api/v1/ ") == "http://h:1")
    }
}

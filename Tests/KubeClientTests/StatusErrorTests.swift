@testable import KubeClient
import KubeWire
import XCTest

final class StatusErrorTests: XCTestCase {
    func testDecodesStatusWithCausesAndRetryAfter() {
        let body = #"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Secret \"x\" is invalid: type: Invalid value: \"kubernetes.io/tls\": field is immutable","reason":"Invalid","details":{"name":"x","kind":"Secret","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: \"kubernetes.io/tls\": field is immutable","field":"type"}],"retryAfterSeconds":2},"code":422}"#
        let e = StatusError(httpCode: 422, body: Array(body.utf8), retryAfterHeader: nil)
        XCTAssertEqual(e.code, 422)
        XCTAssertEqual(e.reason, "Invalid")
        XCTAssertTrue(e.isInvalid)
        XCTAssertEqual(e.causes, [.init(reason: "FieldValueInvalid", message: "Invalid value: \"kubernetes.io/tls\": field is immutable", field: "type")])
        XCTAssertEqual(e.detailsKind, "Secret")
        XCTAssertEqual(e.retryAfterSeconds, 2)
    }

    func testPlainText429KeepsMessageAndRetryAfterHeader() {
        let e = StatusError(httpCode: 429, body: Array("Too many requests, please try again later.\n".utf8), retryAfterHeader: "3")
        XCTAssertEqual(e.code, 429)
        XCTAssertEqual(e.reason, "TooManyRequests")
        XCTAssertEqual(e.message, "Too many requests, please try again later.")
        XCTAssertEqual(e.retryAfterSeconds, 3)
        XCTAssertTrue(e.isTooManyRequests)
    }

    func testConflictAndAlreadyExistsAreDistinguished() {
        let conflict = StatusError(code: 409, reason: "Conflict", message: "the object has been modified")
        let exists = StatusError(code: 409, reason: "AlreadyExists", message: #"secrets "x" already exists"#)
        XCTAssertTrue(conflict.isConflict)
        XCTAssertFalse(exists.isConflict)
        XCTAssertTrue(exists.isAlreadyExists)
    }

    func testGoneAndExpiredBothMeanRelist() {
        let ev = StatusError(status: ["kind": "Status", "reason": "Gone", "code": 410, "message": "too old"])!
        XCTAssertTrue(ev.isExpired)
        XCTAssertTrue(StatusError(code: 410, reason: "Expired", message: "").isExpired)
    }

    func testRetryPolicyFollowsClientGo() {
        let tooMany = StatusError(code: 429, reason: "TooManyRequests", message: "", retryAfterSeconds: 2)
        XCTAssertEqual(RetryPolicy.delay(for: tooMany, idempotent: false, attempt: 1, maxAttempts: 10), .seconds(2))
        XCTAssertNil(RetryPolicy.delay(for: tooMany, idempotent: false, attempt: 10, maxAttempts: 10))
        let unavailable = StatusError(code: 503, reason: "", message: "", retryAfterSeconds: 1)
        XCTAssertEqual(RetryPolicy.delay(for: unavailable, idempotent: false, attempt: 1, maxAttempts: 10), .seconds(1))
        let internalError = StatusError(code: 500, reason: "InternalError", message: "")
        XCTAssertNil(RetryPolicy.delay(for: internalError, idempotent: false, attempt: 1, maxAttempts: 10), "a write is not repeated on a bare 500")
        XCTAssertNotNil(RetryPolicy.delay(for: internalError, idempotent: true, attempt: 1, maxAttempts: 10))
        XCTAssertNil(RetryPolicy.delay(for: StatusError(code: 409, reason: "Conflict", message: ""), idempotent: true, attempt: 1, maxAttempts: 10))
    }
}

import Foundation
@testable import KubeEmulator
import KubeWire
import XCTest

final class ValidationTests: XCTestCase {
    var emu: KubeEmulator!

    override func setUpWithError() throws {
        emu = try KubeEmulator.start(.init(threads: 1))
    }

    override func tearDown() {
        emu.shutdown()
    }

    private func post(_ body: JSONValue, _ path: String = "/api/v1/namespaces/default/secrets") throws -> HTTPResponse {
        try emu.http("POST", path, body)
    }

    func testBadNameIsRejectedWithTheDNS1123SubdomainMessage() throws {
        let r = try post(secret("Bad_Name"))
        XCTAssertEqual(r.status, 422)
        XCTAssertEqual(r.json["reason"], "Invalid")
        XCTAssertEqual(r.json["message"]?.stringValue,
                       "Secret \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
        XCTAssertEqual(r.json["details"]?["kind"], "Secret")
        XCTAssertEqual(r.json["details"]?["causes"]?.arrayValue?.first?["field"], "metadata.name")
        XCTAssertEqual(r.json["details"]?["causes"]?.arrayValue?.first?["reason"], "FieldValueInvalid")
    }

    func testMissingNameIsRequired() throws {
        let r = try post(["apiVersion": "v1", "kind": "ConfigMap", "metadata": [:]], "/api/v1/namespaces/default/configmaps")
        XCTAssertEqual(r.status, 422)
        XCTAssertEqual(r.json["message"], "ConfigMap \"\" is invalid: metadata.name: Required value: name or generateName is required")
    }

    func testGenerateNameMakesAName() throws {
        let r = try post(["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["generateName": "gen-"]], "/api/v1/namespaces/default/configmaps")
        XCTAssertEqual(r.status, 201)
        XCTAssertTrue(r.json["metadata"]?["name"]?.stringValue?.hasPrefix("gen-") ?? false)
    }

    func testSecretDataKeysMustBeConfigKeys() throws {
        let r = try post(secret("s", data: ["bad key": "eA=="]))
        XCTAssertEqual(r.status, 422)
        XCTAssertEqual(r.json["message"]?.stringValue,
                       "Secret \"s\" is invalid: data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")
    }

    func testSecretTypeIsImmutable() throws {
        let created = try post(secret("s")).json
        var changed = created
        changed["type"] = "kubernetes.io/basic-auth"
        changed["data"] = ["username": "dQ=="]
        let r = try emu.http("PUT", "/api/v1/namespaces/default/secrets/s", changed)
        XCTAssertEqual(r.status, 422)
        XCTAssertEqual(r.json["message"], "Secret \"s\" is invalid: type: Invalid value: \"kubernetes.io/basic-auth\": field is immutable")
        XCTAssertEqual(r.json["details"]?["causes"]?.arrayValue?.first?["reason"], "FieldValueInvalid")
    }

    func testImmutableSecretAndConfigMapRejectDataChanges() throws {
        var s = secret("s")
        s["immutable"] = true
        let created = try post(s).json
        var changed = created
        changed["data"] = ["k": "Y2hhbmdlZA=="]
        let r = try emu.http("PUT", "/api/v1/namespaces/default/secrets/s", changed)
        XCTAssertEqual(r.status, 422)
        XCTAssertEqual(r.json["message"], "Secret \"s\" is invalid: data: Forbidden: field is immutable when `immutable` is set")
        XCTAssertEqual(r.json["details"]?["causes"]?.arrayValue?.first?["reason"], "FieldValueForbidden")

        var cm = configMap("c")
        cm["immutable"] = true
        XCTAssertEqual(try post(cm, "/api/v1/namespaces/default/configmaps").status, 201)
        let p = try emu.http("PATCH", "/api/v1/namespaces/default/configmaps/c", ["data": ["a": "z"], "immutable": false], contentType: "application/merge-patch+json")
        XCTAssertEqual(p.status, 422)
        XCTAssertEqual(p.json["message"], "ConfigMap \"c\" is invalid: [immutable: Forbidden: field is immutable when `immutable` is set, data: Forbidden: field is immutable when `immutable` is set]")
    }

    func testTLSAndDockerConfigSecretsNeedTheirKeys() throws {
        var tls = secret("t", data: ["tls.crt": "eA=="])
        tls["type"] = "kubernetes.io/tls"
        let r = try post(tls)
        XCTAssertEqual(r.status, 422)
        XCTAssertEqual(r.json["message"], "Secret \"t\" is invalid: data[tls.key]: Required value")
        var docker = secret("d", data: [:])
        docker["type"] = "kubernetes.io/dockerconfigjson"
        XCTAssertEqual(try post(docker).json["message"], "Secret \"d\" is invalid: data[.dockerconfigjson]: Required value")
    }

    func testObjectsOverOneMebibyteAreRejected() throws {
        let big = Data(repeating: 0x41, count: 1024 * 1024 + 1).base64EncodedString()
        let r = try post(secret("big", data: ["blob": big]))
        XCTAssertEqual(r.status, 422)
        XCTAssertEqual(r.json["message"], "Secret \"big\" is invalid: data: Too long: may not be more than 1048576 bytes")
    }

    func testMalformedJSONIsA400WithTheDecoderMessage() throws {
        let r = try emu.http("POST", "/api/v1/namespaces/default/secrets", rawBody: Array("{\"metadata\": ".utf8))
        XCTAssertEqual(r.status, 400)
        XCTAssertEqual(r.json["reason"], "BadRequest")
        XCTAssertEqual(r.json["message"], "the object provided is unrecognized (must be of type Secret): couldn't get version/kind; json parse error: unexpected end of JSON input ({\"metadata\": )")
    }

    func testWrongKindAndWrongAPIVersionAre400() throws {
        let wrongKind = try post(configMap("c"))
        XCTAssertEqual(wrongKind.status, 400)
        XCTAssertEqual(wrongKind.json["message"], "ConfigMap in version \"v1\" cannot be handled as a Secret: converting (v1.ConfigMap) to (core.Secret): unknown conversion")
        var wrongVersion = secret("s")
        wrongVersion["apiVersion"] = "v2"
        let r = try post(wrongVersion)
        XCTAssertEqual(r.status, 400)
        XCTAssertTrue(r.json["message"]?.stringValue?.contains("no kind \"Secret\" is registered for version \"v2\"") ?? false)
    }

    func testBadBase64IsA400() throws {
        let r = try post(secret("s", data: ["k": "not base64!"]))
        XCTAssertEqual(r.status, 400)
        XCTAssertEqual(r.json["message"], "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 3")
    }

    func testUnknownResourceIs404AndBadSelectorIs400() throws {
        let r = try emu.http("GET", "/api/v1/namespaces/default/widgets")
        XCTAssertEqual(r.status, 404)
        XCTAssertEqual(r.json["message"], "the server could not find the requested resource")
        let s = try emu.http("GET", "/api/v1/secrets?labelSelector=app%20in%20(a")
        XCTAssertEqual(s.status, 400)
        XCTAssertEqual(s.json["reason"], "BadRequest")
        let f = try emu.http("GET", "/api/v1/secrets?fieldSelector=spec.foo%3Dx")
        XCTAssertEqual(f.status, 400)
        XCTAssertEqual(f.json["message"], "field label not supported: spec.foo")
    }

    func testNamespaceNamesAreDNSLabels() throws {
        let r = try post(namespace("a.b"), "/api/v1/namespaces")
        XCTAssertEqual(r.status, 422)
        XCTAssertTrue(r.json["message"]?.stringValue?.hasPrefix("Namespace \"a.b\" is invalid: metadata.name: Invalid value: \"a.b\": a lowercase RFC 1123 label") ?? false)
    }

    func testInvalidLabelValueIsRejected() throws {
        let r = try post(secret("s", labels: ["app": "not ok"]))
        XCTAssertEqual(r.status, 422)
        XCTAssertTrue(r.json["message"]?.stringValue?.hasPrefix("Secret \"s\" is invalid: metadata.labels: Invalid value: \"not ok\": a valid label must be") ?? false)
    }
}

final class UnknownFieldTests: XCTestCase {
    func testUnknownFieldsAreDroppedOrRefusedWithStrictFieldValidation() throws {
        let emu = try KubeEmulator.start(.init(threads: 1))
        defer { emu.shutdown() }
        var s = secret("s")
        s["spec"] = ["oops": true]
        s["metadata"]?["colour"] = "red"
        let strict = try emu.http("POST", "/api/v1/namespaces/default/secrets?fieldValidation=Strict", s)
        XCTAssertEqual(strict.status, 400)
        XCTAssertEqual(strict.json["message"], "strict decoding error: unknown field \"spec\", unknown field \"metadata.colour\"")
        let lenient = try emu.http("POST", "/api/v1/namespaces/default/secrets", s)
        XCTAssertEqual(lenient.status, 201)
        XCTAssertNil(lenient.json["spec"])
        XCTAssertNil(lenient.json["metadata"]?["colour"])
    }
}

final class HostileInputTests: XCTestCase {
    func testHostileInputGetsErrorsAndTheServerStaysUp() throws {
        let emu = try KubeEmulator.start(.init(threads: 2))
        defer { emu.shutdown() }
        let garbageProto: [UInt8] = [0x6b, 0x38, 0x73, 0x00, 0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        let proto = try emu.http("POST", "/api/v1/namespaces/default/secrets", contentType: "application/vnd.kubernetes.protobuf", rawBody: garbageProto)
        XCTAssertEqual(proto.status, 400)
        let deep = try emu.http("POST", "/api/v1/namespaces/default/configmaps", rawBody: Array(String(repeating: "[", count: 100_000).utf8))
        XCTAssertEqual(deep.status, 400)
        let w = try emu.openWatch("/api/v1/secrets?watch=1&timeoutSeconds=99999999999999&resourceVersion=\(emu.store.resourceVersion)")
        _ = w
        XCTAssertEqual(try emu.http("POST", "/_emulator/faults", ["failNext": -3]).status, 400)
        XCTAssertEqual(try emu.http("POST", "/_emulator/faults", ["latencyMs": 9_223_372_036_854]).status, 400)
        XCTAssertEqual(try emu.http("GET", "/api/v1/secrets?limit=-5&continue=%%%").status, 400)
        XCTAssertEqual(try emu.http("PATCH", "/api/v1/namespaces/default/secrets/none", ["x": 1], contentType: "application/merge-patch+json").status, 404)
        XCTAssertEqual(try emu.http("GET", "/api/v1/namespaces/default/secrets").status, 200, "still serving")
    }
}

import SpillwayContract
import XCTest

final class RenderingTests: XCTestCase {
    private func render(_ source: SourceObject, options: Options = Options()) throws -> ReplicaTemplate {
        ReplicaTemplate(source: source, spec: try ReplicationSpec.parse(source.annotations), options: options)
    }

    private func keys(_ template: ReplicaTemplate) -> Set<String> { template.payload.keys }

    func testReplicaHasTheSourcesNameKindAndContent() throws {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "a"], type: SecretType.basicAuth,
                                  data: ["username": "u", "password": "p"], immutable: true)
        let replica = try render(source).replica(in: "a", expiresAt: nil)
        XCTAssertEqual(replica.key, ObjectKey(kind: .secret, namespace: "a", name: "db-pass"))
        XCTAssertEqual(replica.payload, source.payload)
    }

    func testConfigMapKeepsDataAndBinaryData() throws {
        let source = World.configMap(annotations: [Vocabulary.replicateTo: "a"], data: ["mode": "fast"],
                                     binaryData: ["logo.png": [0x89, 0x50]])
        let replica = try render(source).replica(in: "a", expiresAt: nil)
        XCTAssertEqual(replica.payload.data, ["mode": World.bytes("fast")])
        XCTAssertEqual(replica.payload.binaryData, ["logo.png": [0x89, 0x50]])
        XCTAssertNil(replica.payload.secretType)
    }

    func testReplicaCarriesManagedByLabelAndSourceFrom() throws {
        let replica = try render(World.secret(annotations: [Vocabulary.replicateTo: "a"])).replica(in: "a", expiresAt: nil)
        XCTAssertEqual(replica.labels[Vocabulary.managedByLabel], "spillway")
        XCTAssertEqual(replica.annotations[Vocabulary.sourceFrom], "Secret/default/db-pass")
        XCTAssertNil(replica.annotations[Vocabulary.expiresAt])
    }

    func testExpiresAtIsSetWhenGiven() throws {
        let replica = try render(World.secret(annotations: [Vocabulary.replicateTo: "a"]))
            .replica(in: "a", expiresAt: "2027-01-16T08:00:00Z")
        XCTAssertEqual(replica.annotations[Vocabulary.expiresAt], "2027-01-16T08:00:00Z")
    }

    func testLabelsAreCopiedButSpillwayKeysAreNot() throws {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "a"],
                                  labels: ["app": "db", "spillway.kroy.io/other": "x"])
        XCTAssertEqual(try render(source).labels, ["app": "db", Vocabulary.managedByLabel: "spillway"])
    }

    func testLabelDenyPrefixesAreNotCopied() throws {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "a"],
                                  labels: ["app.kubernetes.io/instance": "db", "argocd.argoproj.io/instance": "x",
                                           "app.kubernetes.io/name": "db"])
        let options = Options(labelDenyPrefixes: ["app.kubernetes.io/instance", "argocd.argoproj.io/instance"])
        XCTAssertEqual(try render(source, options: options).labels,
                       ["app.kubernetes.io/name": "db", Vocabulary.managedByLabel: "spillway"])
        XCTAssertEqual(try render(source).labels.count, 4, "labels pass unchanged by default")
    }

    func testNonSpillwayAnnotationsAreCopied() throws {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "a", Vocabulary.replicaTTL: "1h",
                                                "team": "payments", "description": "the db password"])
        XCTAssertEqual(try render(source).annotations,
                       ["team": "payments", "description": "the db password",
                        Vocabulary.sourceFrom: "Secret/default/db-pass"])
    }

    func testDefaultAnnotationDenyPrefixesAreNotCopied() throws {
        var annotations = [Vocabulary.replicateTo: "a", "keep.example.com/x": "1"]
        for prefix in Options.defaultAnnotationDenyPrefixes {
            annotations[prefix + "something"] = "v"
        }
        annotations["kubectl.kubernetes.io/last-applied-configuration"] = "{\"data\":{\"secret\":\"...\"}}"
        XCTAssertEqual(try render(World.secret(annotations: annotations)).annotations,
                       ["keep.example.com/x": "1", Vocabulary.sourceFrom: "Secret/default/db-pass"])
    }

    func testIncludeKeysSelectsKeys() throws {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "a", Vocabulary.includeKeys: "user, host"],
                                  data: ["user": "u", "host": "h", "password": "p"])
        XCTAssertEqual(keys(try render(source)), ["user", "host"])
    }

    func testExcludeKeysRemovesKeys() throws {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "a", Vocabulary.excludeKeys: "password"],
                                  data: ["user": "u", "host": "h", "password": "p"])
        XCTAssertEqual(keys(try render(source)), ["user", "host"])
    }

    func testIncludeWinsOverExclude() throws {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "a", Vocabulary.includeKeys: "user,password",
                                                Vocabulary.excludeKeys: "password,user"],
                                  data: ["user": "u", "host": "h", "password": "p"])
        XCTAssertEqual(keys(try render(source)), ["user", "password"])
    }

    func testProjectionAppliesToBinaryData() throws {
        let source = World.configMap(annotations: [Vocabulary.replicateTo: "a", Vocabulary.excludeKeys: "logo.png"],
                                     data: ["mode": "fast"], binaryData: ["logo.png": [1], "icon.png": [2]])
        let template = try render(source)
        XCTAssertEqual(Set(template.payload.binaryData.keys), ["icon.png"])
        XCTAssertEqual(Set(template.payload.data.keys), ["mode"])
    }

    func testIncludedKeyMissingFromSourceIsSimplyAbsent() throws {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "a", Vocabulary.includeKeys: "nope"])
        XCTAssertEqual(keys(try render(source)), [])
    }

    func testTypedSecretRuleAfterProjection() {
        let cases: [(type: String, keys: Set<String>, expected: String)] = [
            (SecretType.tls, ["tls.crt", "tls.key"], SecretType.tls),
            (SecretType.tls, ["tls.crt", "tls.key", "ca.crt"], SecretType.tls),
            (SecretType.tls, ["tls.crt"], SecretType.opaque),
            (SecretType.tls, ["tls.key", "ca.crt"], SecretType.opaque),
            (SecretType.dockerConfigJSON, [".dockerconfigjson"], SecretType.dockerConfigJSON),
            (SecretType.dockerConfigJSON, [".dockercfg"], SecretType.opaque),
            (SecretType.dockerCfg, [".dockercfg"], SecretType.dockerCfg),
            (SecretType.dockerCfg, [], SecretType.opaque),
            (SecretType.basicAuth, ["username"], SecretType.basicAuth),
            (SecretType.basicAuth, ["password"], SecretType.basicAuth),
            (SecretType.basicAuth, ["token"], SecretType.opaque),
            (SecretType.sshAuth, ["ssh-privatekey"], SecretType.sshAuth),
            (SecretType.sshAuth, ["ssh-publickey"], SecretType.opaque),
            (SecretType.serviceAccountToken, ["token", "ca.crt", "namespace"], SecretType.opaque),
            (SecretType.opaque, [], SecretType.opaque),
            ("example.com/custom", [], "example.com/custom"),
        ]
        for c in cases {
            XCTAssertEqual(ReplicaTemplate.replicaType(c.type, keys: c.keys), c.expected, "\(c.type) with \(c.keys)")
        }
    }

    func testTLSSecretBecomesOpaqueWhenProjectionDropsTheKey() throws {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "a", Vocabulary.includeKeys: "ca.crt,tls.crt"],
                                  type: SecretType.tls, data: ["tls.crt": "c", "tls.key": "k", "ca.crt": "ca"])
        XCTAssertEqual(try render(source).payload.secretType, SecretType.opaque)
        let kept = World.secret(annotations: [Vocabulary.replicateTo: "a", Vocabulary.excludeKeys: "ca.crt"],
                                type: SecretType.tls, data: ["tls.crt": "c", "tls.key": "k", "ca.crt": "ca"])
        XCTAssertEqual(try render(kept).payload.secretType, SecretType.tls)
    }

    func testServiceAccountTokenReplicaIsOpaque() throws {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "a"], type: SecretType.serviceAccountToken,
                                  data: ["token": "t"])
        XCTAssertEqual(try render(source).payload.secretType, SecretType.opaque)
    }

    func testSecretWithoutTypeIsOpaque() {
        XCTAssertEqual(Payload(kind: .secret, secretType: nil).secretType, SecretType.opaque)
        XCTAssertEqual(Payload(kind: .secret, secretType: "").secretType, SecretType.opaque)
        XCTAssertNil(Payload(kind: .configMap, secretType: "Opaque").secretType)
    }
}

final class FingerprintTests: XCTestCase {
    func testSameContentInAnyMapOrderGivesTheSameFingerprint() {
        var a: [String: [UInt8]] = [:]
        var b: [String: [UInt8]] = [:]
        let keys = (0..<50).map { "key-\($0)" }
        for key in keys { a[key] = Array(key.utf8) }
        for key in keys.reversed() { b[key] = Array(key.utf8) }
        XCTAssertEqual(Fingerprint.of(Payload(kind: .secret, data: a)), Fingerprint.of(Payload(kind: .secret, data: b)))
    }

    func testFingerprintIsAStableSHA256() {
        let fingerprint = Fingerprint.of(Payload(kind: .secret, data: ["password": World.bytes("hunter2")]))
        XCTAssertTrue(fingerprint.hasPrefix("sha256:"))
        XCTAssertEqual(fingerprint.count, 7 + 64)
        XCTAssertEqual(fingerprint, Fingerprint.of(Payload(kind: .secret, data: ["password": World.bytes("hunter2")])))
    }

    func testFingerprintIsTheDocumentedCanonicalEncoding() {
        // SHA-256 of: each of "spillway-fingerprint-v1", "Opaque", [1], [0] as an 8-byte
        // big-endian length and its bytes; the data map as its count, then key and value
        // likewise; the empty binaryData map as its count (computed independently).
        XCTAssertEqual(Fingerprint.of(Payload(kind: .secret, data: ["password": World.bytes("hunter2")])),
                       "sha256:9bd7f1653f2ea01f45f097a9b6850f5eadb1fbabed847a3252485ab520ece9a9")
    }

    func testEveryFieldChangesTheFingerprint() {
        let base = Payload(kind: .secret, data: ["a": [1]])
        var variants: [Payload] = [base]
        variants.append(Payload(kind: .secret, data: ["a": [2]]))
        variants.append(Payload(kind: .secret, data: ["b": [1]]))
        variants.append(Payload(kind: .secret, data: ["a": [1], "b": []]))
        variants.append(Payload(kind: .secret, secretType: SecretType.tls, data: ["a": [1]]))
        variants.append(Payload(kind: .secret, immutable: true, data: ["a": [1]]))
        variants.append(Payload(kind: .secret, binaryData: ["a": [1]]))
        variants.append(Payload(kind: .configMap, data: ["a": [1]]))
        XCTAssertEqual(Set(variants.map(Fingerprint.of)).count, variants.count)
    }

    func testEncodingIsUnambiguousAcrossKeyValueBoundaries() {
        let one = Payload(kind: .configMap, data: ["ab": World.bytes("c")])
        let other = Payload(kind: .configMap, data: ["a": World.bytes("bc")])
        XCTAssertNotEqual(Fingerprint.of(one), Fingerprint.of(other))
    }

    func testFingerprintRevealsNoData() {
        let fingerprint = Fingerprint.of(Payload(kind: .secret, data: ["password": World.bytes("hunter2")]))
        XCTAssertFalse(fingerprint.contains("hunter2"))
    }
}

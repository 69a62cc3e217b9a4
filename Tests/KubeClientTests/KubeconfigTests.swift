import Foundation
import XCTest
@testable import KubeClient

/// A scratch directory with helpers to write files into it.
final class Scratch {
    let dir: String
    init() throws {
        dir = NSTemporaryDirectory() + "kubeclient-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    @discardableResult
    func write(_ name: String, _ text: String, mode: Int = 0o600) throws -> String {
        let path = dir + "/" + name
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        return path
    }
    deinit { try? FileManager.default.removeItem(atPath: dir) }
}

final class KubeconfigTests: XCTestCase {
    func load(_ env: [String: String], context: String? = nil, explicit: String? = nil) throws -> ClientConfiguration {
        try ClientConfiguration.load(kubeconfig: explicit, context: context, environment: env, serviceAccountRoot: "/nonexistent")
    }

    func assertError(_ env: [String: String], context: String? = nil, explicit: String? = nil, _ expected: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try load(env, context: context, explicit: explicit), file: file, line: line) { e in
            XCTAssertEqual((e as? ConfigurationError)?.message, expected, file: file, line: line)
        }
    }

    func testYAMLMergeKeysAndAnchorsAreHonouredAndAFieldOfItsOwnWins() throws {
        let s = try Scratch()
        let path = try s.write("merge", """
            current-context: x
            defaults: &defaults {server: "https://shared:6443", insecure-skip-tls-verify: true}
            clusters:
            - name: c
              cluster:
                <<: *defaults
                server: "https://own:6443"
            users:
            - name: u
              user: {token: t}
            contexts:
            - name: x
              context: {cluster: c, user: u}
            """)
        let c = try load([:], explicit: path)
        XCTAssertEqual(c.server, "https://own:6443")
        XCTAssertTrue(c.insecureSkipTLSVerify)
    }

    func testMultiFileMergeFirstDefinitionWinsAndMissingFilesAreSkipped() throws {
        let s = try Scratch()
        let a = try s.write("a/config", """
            current-context: prod
            clusters:
            - name: c1
              cluster: {server: "https://first:6443", insecure-skip-tls-verify: true}
            contexts:
            - name: prod
              context: {cluster: c1, user: admin, namespace: team-a}
            """)
        let b = try s.write("b/config", """
            current-context: other
            clusters:
            - name: c1
              cluster: {server: "https://second:6443"}
            users:
            - name: admin
              user: {token: from-b}
            contexts:
            - name: prod
              context: {cluster: c1, user: nobody}
            """)
        let c = try load(["KUBECONFIG": "\(a):\(s.dir)/missing:\(b)"])
        XCTAssertEqual(c.server, "https://first:6443")
        XCTAssertEqual(c.auth, .token("from-b"))
        XCTAssertEqual(c.namespace, "team-a")
        XCTAssertEqual(c.contextName, "prod")
        XCTAssertTrue(c.insecureSkipTLSVerify)
    }

    func testRelativePathsResolveAgainstTheDefiningFileAndDataWinsOverFile() throws {
        let s = try Scratch()
        try s.write("kc/certs/ca.crt", "CA")
        try s.write("kc/certs/client.crt", "CERT")
        try s.write("kc/certs/client.key", "KEY")
        try s.write("kc/token", " tok\n")
        let path = try s.write("kc/config", """
            current-context: x
            clusters:
            - name: c
              cluster:
                server: https://h:1/
                certificate-authority: certs/ca.crt
                tls-server-name: kubernetes.default
                proxy-url: http://proxy:3128
            - name: d
              cluster:
                server: https://h:2
                certificate-authority: certs/missing.crt
                certificate-authority-data: \(Data("INLINE".utf8).base64EncodedString())
            users:
            - name: u
              user:
                client-certificate: certs/client.crt
                client-key: certs/client.key
                token: ignored
                tokenFile: token
            contexts:
            - {name: x, context: {cluster: c, user: u}}
            - {name: y, context: {cluster: d, user: u}}
            """)
        let c = try load([:], explicit: path)
        XCTAssertEqual(c.server, "https://h:1")
        XCTAssertEqual(c.certificateAuthority, .file(path: s.dir + "/kc/certs/ca.crt", reread: nil))
        XCTAssertEqual(c.clientCertificate, .file(path: s.dir + "/kc/certs/client.crt", reread: nil))
        XCTAssertEqual(c.clientKey, .file(path: s.dir + "/kc/certs/client.key", reread: nil))
        XCTAssertEqual(c.auth, .tokenFile(path: s.dir + "/kc/token", reread: .seconds(60)), "tokenFile wins over token")
        XCTAssertEqual(c.tlsServerName, "kubernetes.default")
        XCTAssertEqual(c.proxyURL, "http://proxy:3128")
        XCTAssertEqual(c.namespace, "default")
        let y = try load([:], context: "y", explicit: path)
        XCTAssertEqual(y.certificateAuthority, .data(Array("INLINE".utf8)), "certificate-authority-data wins over the file")
    }

    func testBasicAuthAndExec() throws {
        let s = try Scratch()
        let path = try s.write("config", """
            current-context: basic
            clusters: [{name: c, cluster: {server: "https://h:1"}}]
            users:
            - {name: b, user: {username: ann, password: pw}}
            - name: e
              user:
                exec:
                  apiVersion: client.authentication.k8s.io/v1
                  command: ./bin/plugin
                  args: [get-token, --x]
                  env: [{name: A, value: "1"}]
                  interactiveMode: Never
                  provideClusterInfo: true
            contexts:
            - {name: basic, context: {cluster: c, user: b}}
            - {name: exec, context: {cluster: c, user: e}}
            """)
        XCTAssertEqual(try load([:], explicit: path).auth, .basic(username: "ann", password: "pw"))
        guard case .exec(let e, let info) = try load([:], context: "exec", explicit: path).auth else { return XCTFail() }
        XCTAssertEqual(e.command, s.dir + "/bin/plugin", "a relative command with a slash resolves against the kubeconfig")
        XCTAssertEqual(e.args, ["get-token", "--x"])
        XCTAssertEqual(e.env.map(\.name), ["A"])
        XCTAssertEqual(info?["server"]?.stringValue, "https://h:1")
    }

    func testMissingUserNamesContextUserAndFiles() throws {
        let s = try Scratch()
        let a = try s.write("a", """
            current-context: prod
            clusters: [{name: c, cluster: {server: "https://h:1"}}]
            contexts: [{name: prod, context: {cluster: c, user: admin}}]
            """)
        let b = try s.write("b", "users: [{name: other, user: {token: t}}]\n")
        assertError(["KUBECONFIG": "\(a):\(b)"], #"context "prod" names user "admin", which no file in KUBECONFIG defines (\#(a), \#(b))"#)
    }

    func testBrokenKubeconfigsEachGetTheirMessage() throws {
        let s = try Scratch()
        func kc(_ name: String, cluster: String = #"{server: "https://h:1"}"#, user: String = "{token: t}", context: String = "{cluster: c, user: u}", current: String = "x") throws -> String {
            try s.write(name, """
                current-context: \(current)
                clusters: [{name: c, cluster: \(cluster)}]
                users: [{name: u, user: \(user)}]
                contexts: [{name: x, context: \(context)}]
                """)
        }
        let tokenAndBasic = try kc("tb", user: "{token: t, username: a, password: b}")
        assertError([:], explicit: tokenAndBasic, #"user "u" (\#(tokenAndBasic)): a token and username/password are both set; use one"#)
        let caAndInsecure = try kc("ci", cluster: #"{server: "https://h:1", certificate-authority-data: Q0E=, insecure-skip-tls-verify: true}"#)
        assertError([:], explicit: caAndInsecure, #"cluster "c" (\#(caAndInsecure)): certificate-authority and insecure-skip-tls-verify are both set; use one"#)
        let missingCA = try kc("mc", cluster: #"{server: "https://h:1", certificate-authority: nope/ca.crt}"#)
        assertError([:], explicit: missingCA, #"cluster "c" (\#(missingCA)): certificate-authority \#(s.dir)/nope/ca.crt does not exist"#)
        let badBase64 = try kc("bb", user: "{client-certificate-data: '%%%', client-key-data: Qw==}")
        assertError([:], explicit: badBase64, #"kubeconfig \#(badBase64): user "u": client-certificate-data is not valid base64"#)
        let certNoKey = try kc("ck", user: "{client-certificate-data: Qw==}")
        assertError([:], explicit: certNoKey, #"user "u" (\#(certNoKey)): client-certificate is set without client-key"#)
        let noServer = try kc("ns", cluster: "{insecure-skip-tls-verify: true}")
        assertError([:], explicit: noServer, #"cluster "c" (\#(noServer)) has no server"#)
        let unknownCluster = try kc("uc", context: "{cluster: elsewhere, user: u}")
        assertError([:], explicit: unknownCluster, #"context "x" names cluster "elsewhere", which no file in kubeconfig \#(unknownCluster) defines (\#(unknownCluster))"#)
        let noCurrent = try kc("nc", current: "''")
        assertError([:], explicit: noCurrent, "no current-context is set in kubeconfig \(noCurrent) and no context was given")
        assertError([:], context: "staging", explicit: noCurrent, #"context "staging" (from --context) is not defined in any file of kubeconfig \#(noCurrent)"#)
        let execV1 = try kc("ev", user: "{exec: {apiVersion: client.authentication.k8s.io/v1, command: plug}}")
        assertError([:], explicit: execV1, #"user "u" (\#(execV1)): exec.interactiveMode is required with client.authentication.k8s.io/v1 (spillway runs without a terminal: use Never or IfAvailable)"#)
        let execAlpha = try kc("ea", user: "{exec: {apiVersion: client.authentication.k8s.io/v1alpha1, command: plug}}")
        assertError([:], explicit: execAlpha, #"user "u" (\#(execAlpha)): exec.apiVersion "client.authentication.k8s.io/v1alpha1" is not supported (use client.authentication.k8s.io/v1 or client.authentication.k8s.io/v1beta1)"#)
        let badYAML = try s.write("by", "clusters: [\n  - name: c\n")
        XCTAssertThrowsError(try load([:], explicit: badYAML)) { e in
            XCTAssertTrue("\(e)".hasPrefix("kubeconfig \(badYAML) is not valid YAML: line "), "\(e)")
        }
        // A key that is not a string (found by fuzzing: the YAML library used to stop the process).
        let sequenceKey = try s.write("sk", "clusters:\n- name: c\n  cluster:\n    ? [a, b]\n    : x\n")
        assertError([:], explicit: sequenceKey, "kubeconfig \(sequenceKey): a mapping key at line 4 is not a string")
        assertError([:], explicit: s.dir + "/absent", "kubeconfig \(s.dir)/absent does not exist")
        // A path that cannot be read says why in the system's words.
        assertError([:], explicit: s.dir, "kubeconfig \(s.dir) cannot be read: Is a directory")
        assertError(["KUBECONFIG": "\(s.dir)/x:\(s.dir)/y"], "no kubeconfig file found (KUBECONFIG names \(s.dir)/x, \(s.dir)/y)")
    }

    func testInClusterConfigurationReadsServiceAccount() throws {
        let s = try Scratch()
        try s.write("sa/token", "tok\n")
        try s.write("sa/ca.crt", "CA")
        try s.write("sa/namespace", "spillway\n")
        let c = try ClientConfiguration.load(environment: ["KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"],
                                             serviceAccountRoot: s.dir + "/sa")
        XCTAssertEqual(c.server, "https://[fd00::1]:443")
        XCTAssertEqual(c.namespace, "spillway")
        XCTAssertEqual(c.auth, .tokenFile(path: s.dir + "/sa/token", reread: .seconds(60)))
        XCTAssertEqual(c.certificateAuthority, .file(path: s.dir + "/sa/ca.crt", reread: .seconds(300)))
        let env = try ClientConfiguration.inCluster(
            environment: ["KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "6443", "POD_NAMESPACE": "from-env"], root: s.dir + "/sa")
        XCTAssertEqual(env.namespace, "from-env")
        XCTAssertEqual(env.server, "https://10.0.0.1:6443")
        XCTAssertThrowsError(try ClientConfiguration.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "h", "KUBERNETES_SERVICE_PORT": "1"], root: s.dir + "/none")) { e in
            XCTAssertEqual("\(e)", "in-cluster service-account token \(s.dir)/none/token does not exist")
        }
    }

    func testExecCredentialOutputIsValidated() throws {
        let v1 = "client.authentication.k8s.io/v1"
        let ok = try ExecCredential.parse(output: Array(#"{"apiVersion":"\#(v1)","kind":"ExecCredential","status":{"token":"t","expirationTimestamp":"2030-01-02T03:04:05Z"}}"#.utf8), command: "p", apiVersion: v1)
        XCTAssertEqual(ok.token, "t")
        XCTAssertNotNil(ok.expiration)
        XCTAssertThrowsError(try ExecCredential.parse(output: Array("not json".utf8), command: "p", apiVersion: v1)) { e in
            XCTAssertTrue("\(e)".contains(#"exec plugin "p" printed no valid ExecCredential JSON"#), "\(e)")
        }
        XCTAssertThrowsError(try ExecCredential.parse(output: Array(#"{"apiVersion":"\#(v1)","kind":"ExecCredential","status":{}}"#.utf8), command: "p", apiVersion: v1)) { e in
            XCTAssertTrue("\(e)".contains("neither a token nor a client certificate"), "\(e)")
        }
    }

    func testExecPluginRunsWithExecInfoAndReportsFailures() throws {
        let s = try Scratch()
        let plugin = try s.write("plugin.sh", """
            #!/bin/sh
            case "$KUBERNETES_EXEC_INFO" in *'"interactive":false'*) ;; *) echo "no exec info" >&2; exit 3;; esac
            echo '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"'$1'-'$SUFFIX'"}}'
            """, mode: 0o755)
        var exec = Kubeconfig.ExecConfig(command: plugin, apiVersion: "client.authentication.k8s.io/v1beta1")
        exec.args = ["tok"]
        exec.env = [("SUFFIX", "42")]
        XCTAssertEqual(try ExecCredential.run(exec, clusterInfo: nil).token, "tok-42")
        let failing = try s.write("fail.sh", "#!/bin/sh\necho 'cannot reach identity provider' >&2\nexit 2\n", mode: 0o755)
        XCTAssertThrowsError(try ExecCredential.run(.init(command: failing, apiVersion: "client.authentication.k8s.io/v1"), clusterInfo: nil)) { e in
            XCTAssertEqual("\(e)", #"credentials: exec plugin "\#(failing)" exited with status 2: cannot reach identity provider"#)
        }
        var missing = Kubeconfig.ExecConfig(command: "spillway-no-such-plugin", apiVersion: "client.authentication.k8s.io/v1")
        missing.installHint = "install it with: apt install no-such-plugin"
        XCTAssertThrowsError(try ExecCredential.run(missing, clusterInfo: nil)) { e in
            XCTAssertTrue("\(e)".contains("was not found in PATH\ninstall it with"), "\(e)")
        }
    }
}

import KubeWire
@testable import SpillwayDaemon
import XCTest

/// Layering (flag > SPILLWAY_* env > file > default) and the one error shape for bad values.
final class ConfigurationTests: XCTestCase {
    // MARK: the real binary: every bad value stops it with exit code 2 and one clear line

    private func expectRejected(
        _ arguments: [String], environment: [String: String] = [:], config: String? = nil,
        message: String, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let directory = try temporaryDirectory(self)
        var environment = environment
        if let config {
            let path = directory.appendingPathComponent("spillway.conf").path
            try config.write(toFile: path, atomically: true, encoding: .utf8)
            environment["SPILLWAY_CONFIG"] = path
        }
        let daemon = try Spillwayd(
            arguments + ["--metrics-bind-address", "0", "--health-probe-bind-address", "0"],
            environment: environment, emptyConfig: directory.appendingPathComponent("empty.conf"))
        XCTAssertEqual(daemon.waitForExit(), 2, daemon.stderr, file: file, line: line)
        let expected = message.replacingOccurrences(of: "$DIR", with: directory.path)
        XCTAssertEqual(daemon.stderr, "spillwayd: \(expected)\n", file: file, line: line)
    }

    func testBadFlagValueNamesTheFlag() throws {
        try expectRejected(
            ["--sync-period", "5x"],
            message: "invalid sync-period \"5x\" (from flag --sync-period): not a duration; use Go-style durations like 30s, 5m, 1h30m")
    }

    func testBadEnvironmentValueNamesTheVariable() throws {
        try expectRejected(
            [], environment: ["SPILLWAY_LOG_LEVEL": "loud"],
            message: "invalid log-level \"loud\" (from environment variable SPILLWAY_LOG_LEVEL): expected one of trace|debug|info|notice|warning|error|critical")
    }

    func testBadFileValueNamesTheFile() throws {
        try expectRejected(
            [], config: "sync-period: 5m\nprotected-namespaces: [kube-system, Not_A_Namespace]\n",
            message: "invalid protected-namespaces \"kube-system,Not_A_Namespace\" (from config file $DIR/spillway.conf): \"Not_A_Namespace\" is not a valid namespace name (lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)")
    }

    func testUnknownKeyInFileIsRejected() throws {
        try expectRejected(
            [], config: "sync-periood = 5m\n",
            message: "invalid sync-periood \"5m\" (from config file $DIR/spillway.conf): unknown setting; known settings: "
                + SettingKey.allCases.map(\.rawValue).joined(separator: ", "))
    }

    func testMissingExplicitConfigFileIsRejected() throws {
        try expectRejected(
            ["--config", "/nonexistent/spillway.conf"],
            message: "invalid config \"/nonexistent/spillway.conf\" (from flag --config): file does not exist")
    }

    func testEachValidationRule() throws {
        let cases: [(SettingKey, String, String)] = [
            (.qps, "-1", "expected a number of requests per second, 0 or more (0 = unlimited)"),
            (.burst, "1.5", "expected a whole number, 0 or more"),
            (.leaderElect, "maybe", "expected true or false"),
            (.metricsBindAddress, "8080", "expected HOST:PORT or :PORT (\"0\" disables)"),
            (.healthProbeBindAddress, ":99999", "the port must be a number from 0 to 65535"),
            (.metricsBindAddress, "example.com:80", "the host must be an IP address, localhost or empty (every interface)"),
            (.logFormat, "xml", "expected one of auto|journal|logfmt|json|text"),
            (.selfHealInterval, "0s", "must be longer than 0s; spillwayd cannot turn this pass off (0 did in the original spillway): leave the setting out for the default 1m"),
            (.syncPeriod, "0s", "must be longer than 0s"),
            (.protectedNamespaces, "none,kube-system", "\"none\" empties the list and cannot be combined with other entries"),
            (.denySecretTypes, "kubernetes.io/tls,my type", "\"my type\" is not a Secret type (e.g. kubernetes.io/service-account-token)"),
            (.orphanAuditInterval, "ten minutes", "not a duration; use Go-style durations like 30s, 5m, 1h30m"),
            (.leaderElectName, "Leader!", "not a valid object name (lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters)"),
            (.kubeconfig, "/nonexistent/kubeconfig", "file does not exist or is not readable"),
            (.leaderElectLeaseDuration, "500ms", "must be at least 1s (a Lease counts whole seconds)"),
            (.leaderElectRenewDeadline, "15s", "must be shorter than leader-elect-lease-duration (15s), so a leader that cannot renew stops before its lease can be taken"),
            (.leaderElectRetryPeriod, "9s", "must be shorter than leader-elect-renew-deadline (10s) divided by 1.2, so a leader gets several tries to renew"),
        ]
        for (key, value, problem) in cases {
            XCTAssertThrowsError(try Settings(validating: [key: RawSetting(value: value, source: .flag(key.flag))])) { error in
                XCTAssertEqual(
                    "\(error)", "invalid \(key.rawValue) \"\(value)\" (from flag \(key.flag)): \(problem)")
            }
        }
    }

    func testQPSWithoutBurstIsRejected() {
        XCTAssertThrowsError(try Settings(validating: [.qps: RawSetting(value: "5", source: .environment("SPILLWAY_QPS"))])) {
            XCTAssertEqual("\($0)", "invalid burst \"0\" (from built-in default): must be at least 1 when qps is above 0")
        }
    }

    // MARK: layering

    func testFlagBeatsEnvironmentBeatsFileBeatsDefault() throws {
        let directory = try temporaryDirectory(self)
        let path = directory.appendingPathComponent("spillway.conf").path
        try "sync-period: 1m\nself-heal-interval: 2m\norphan-audit-interval: 3m\nleader-elect: true\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let loader = SettingsLoader(
            flags: [.syncPeriod: "10s"], configFlag: path,
            environment: ["SPILLWAY_SYNC_PERIOD": "20s", "SPILLWAY_SELF_HEAL_INTERVAL": "30s"])
        let settings = try loader.load()
        XCTAssertEqual(settings.syncPeriod, .seconds(10))
        XCTAssertEqual(settings.selfHealInterval, .seconds(30))
        XCTAssertEqual(settings.orphanAuditInterval, .seconds(180))
        XCTAssertTrue(settings.leaderElect)
        XCTAssertEqual(settings.protectedNamespaces, ["kube-system"])
        XCTAssertEqual(settings.configFile, path)
    }

    func testKeyValueConfigFormatAndYAMLListsAreAccepted() throws {
        let directory = try temporaryDirectory(self)
        let path = directory.appendingPathComponent("spillway.conf").path
        try "# spillway\nqps = 5\nburst = \"10\"\nlabel-deny-prefixes = app.kubernetes.io/instance, argocd.argoproj.io/instance\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let settings = try SettingsLoader(flags: [:], configFlag: path, environment: [:]).load()
        XCTAssertEqual(settings.qps, 5)
        XCTAssertEqual(settings.burst, 10)
        XCTAssertEqual(settings.labelDenyPrefixes, ["app.kubernetes.io/instance", "argocd.argoproj.io/instance"])
    }

    func testDefaultsMatchTheAgreedCommandLine() throws {
        let settings = try Settings(validating: [:])
        XCTAssertEqual(settings.syncPeriod, .seconds(300))
        XCTAssertFalse(settings.leaderElect)
        XCTAssertEqual(settings.leaderElectName, "spillway.spillway.kroy.io", "the original spillway's Lease")
        XCTAssertEqual(settings.denySecretTypes, ["kubernetes.io/service-account-token", "bootstrap.kubernetes.io/token"])
        XCTAssertEqual(settings.metricsBindAddress, BindAddress(host: "", port: 8080))
        XCTAssertEqual(settings.healthProbeBindAddress, BindAddress(host: "", port: 8081))
        XCTAssertEqual(settings.annotationDenyPrefixes.count, 8)
        XCTAssertEqual(settings.selfHealInterval, .seconds(60))
        XCTAssertEqual(settings.orphanAuditInterval, .seconds(600))
        XCTAssertNil(try Settings(validating: [.metricsBindAddress: RawSetting(value: "0", source: .builtInDefault)]).metricsBindAddress)
    }

    // MARK: empty values and `none`

    private func emptyConfig() throws -> String {
        let path = try temporaryDirectory(self).appendingPathComponent("empty.conf").path
        try "".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testAnEmptyValueKeepsTheDefaultWhereverItComesFrom() throws {
        let directory = try temporaryDirectory(self)
        let path = directory.appendingPathComponent("spillway.conf").path
        try "protected-namespaces:\nannotation-deny-prefixes: \"\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        let settings = try SettingsLoader(
            flags: [.denySecretTypes: "", .syncPeriod: " "], configFlag: path,
            environment: ["SPILLWAY_METRICS_BIND_ADDRESS": ""]
        ).load()
        XCTAssertEqual(settings.protectedNamespaces, ["kube-system"], "an empty list must not protect nothing")
        XCTAssertEqual(settings.annotationDenyPrefixes.count, 8, "an empty list must not leak last-applied-configuration")
        XCTAssertEqual(settings.denySecretTypes.count, 2)
        XCTAssertEqual(settings.syncPeriod, .seconds(300))
        XCTAssertEqual(settings.metricsBindAddress, BindAddress(host: "", port: 8080))
    }

    func testNoneEmptiesAListOnPurpose() throws {
        let settings = try SettingsLoader(
            flags: [.protectedNamespaces: "none", .annotationDenyPrefixes: "none", .denySecretTypes: " none "],
            configFlag: nil, environment: ["SPILLWAY_LABEL_DENY_PREFIXES": "none", "SPILLWAY_CONFIG": try emptyConfig()]
        ).load()
        XCTAssertEqual(settings.protectedNamespaces, [])
        XCTAssertEqual(settings.annotationDenyPrefixes, [])
        XCTAssertEqual(settings.labelDenyPrefixes, [])
        XCTAssertEqual(settings.denySecretTypes, [])
    }

    func testGoDurations() {
        XCTAssertEqual(GoDuration.parse("1h30m"), .seconds(5400))
        XCTAssertEqual(GoDuration.parse("1.5h"), .seconds(5400))
        XCTAssertEqual(GoDuration.parse("250ms"), .milliseconds(250))
        XCTAssertEqual(GoDuration.parse("2h45m30s"), .seconds(9930))
        XCTAssertNil(GoDuration.parse("5"))
        XCTAssertNil(GoDuration.parse("m"))
        XCTAssertNil(GoDuration.parse("5x"))
        XCTAssertEqual(GoDuration.format(.seconds(300)), "5m0s")
        XCTAssertEqual(GoDuration.format(.milliseconds(1500)), "1.5s")
    }

    // MARK: the real binary: layering decides whether it starts

    func testAValidFlagOverridesABadEnvironmentValueAndTheDaemonStarts() throws {
        let directory = try temporaryDirectory(self)
        let cluster = try TestCluster(self)
        let daemon = try Spillwayd(
            ["--kubeconfig", try cluster.kubeconfig(), "--sync-period", "30s", "--metrics-bind-address", "0",
             "--health-probe-bind-address", "0", "--log-format", "logfmt"],
            environment: ["SPILLWAY_SYNC_PERIOD": "never"], emptyConfig: directory.appendingPathComponent("empty.conf"))
        XCTAssertNotNil(daemon.waitForLog("started"), daemon.stderr)
        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitForExit(), 0)
    }
}

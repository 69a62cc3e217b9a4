import XCTest

@testable import SpillwayDaemon

/// The original spillway's command lines, as its manifests pass them, work with spillwayd or fail
/// naming what to write instead.
final class GoFlagSpellingTests: XCTestCase {
    /// config/manager/deployment.yaml of the original's kustomize tree.
    static let originalKustomizeArgs = [
        "--leader-elect=true", "--metrics-bind-address=:8080", "--health-probe-bind-address=:8081",
        "--sync-period=5m", "--self-heal-interval=45s",
    ]
    /// The original chart's Deployment with its values (0.4.4), protected namespaces and deny
    /// prefixes set.
    static let originalChartArgs = [
        "--leader-elect=true", "--metrics-bind-address=:8080", "--health-probe-bind-address=:8081",
        "--sync-period=5m", "--self-heal-interval=45s", "--orphan-audit-interval=10m",
        "--require-namespace-consent=false", "--allow-force-adopt=false",
        "--protected-namespaces=kube-system,kube-public", "--annotation-deny-prefixes=helm.sh/",
    ]

    private func settings(_ arguments: [String]) throws -> Settings {
        let normalized = try GoFlagSpellings.normalize(arguments)
        let command = try SpillwaydCommand.parseAsRoot(normalized)
        let run = try XCTUnwrap(command as? RunCommand, "\(type(of: command))")
        let empty = try temporaryDirectory(self).appendingPathComponent("empty.conf")
        try "".write(to: empty, atomically: true, encoding: .utf8)
        return try SettingsLoader(flags: run.options.givenFlags, configFlag: empty.path, environment: [:]).load()
    }

    func testTheOriginalsKustomizeArgsMeanTheSameToSpillwayd() throws {
        let settings = try settings(Self.originalKustomizeArgs)
        XCTAssertTrue(settings.leaderElect)
        XCTAssertEqual(settings.syncPeriod, .seconds(300))
        XCTAssertEqual(settings.selfHealInterval, .seconds(45))
        XCTAssertEqual(settings.metricsBindAddress, BindAddress(host: "", port: 8080))
    }

    func testTheOriginalsChartArgsMeanTheSameToSpillwayd() throws {
        let settings = try settings(Self.originalChartArgs)
        XCTAssertTrue(settings.leaderElect)
        XCTAssertFalse(settings.requireNamespaceConsent)
        XCTAssertFalse(settings.allowForceAdopt)
        XCTAssertEqual(settings.protectedNamespaces, ["kube-system", "kube-public"])
        XCTAssertEqual(settings.annotationDenyPrefixes, ["helm.sh/"])
        XCTAssertEqual(settings.orphanAuditInterval, .seconds(600))
    }

    func testGoSpellingsBecomeSpillwaydsOwn() throws {
        XCTAssertEqual(try GoFlagSpellings.normalize(["-leader-elect", "-sync-period=1m", "-kubeconfig", "/k", "--allow-force-adopt=TRUE",
                                                      "-require-namespace-consent=0", "--leader-elect=f"]),
                       ["--leader-elect", "--sync-period=1m", "--kubeconfig", "/k", "--allow-force-adopt",
                        "--no-require-namespace-consent", "--no-leader-elect"])
        XCTAssertEqual(try GoFlagSpellings.normalize(["--zap-log-level=debug", "-zap-encoder", "console", "--zap-devel=false"]),
                       ["--log-level=debug", "--log-format=text"])
        XCTAssertEqual(try GoFlagSpellings.normalize(["--leader-elect", "-version"]), ["version"])
        // Short options, values and what follows `--` are left alone.
        XCTAssertEqual(try GoFlagSpellings.normalize(["plan", "-h", "--qps", "-1", "--", "-leader-elect=true"]),
                       ["plan", "-h", "--qps", "-1", "--", "-leader-elect=true"])
    }

    func testSpellingsWithoutACounterpartFailNamingTheRightOne() {
        let cases: [([String], String)] = [
            (["--leader-elect=maybe"], "invalid leader-elect \"maybe\" (from flag --leader-elect): expected true or false"),
            (["--zap-devel"], "invalid zap-devel \"\" (from flag --zap-devel): spillwayd has no development mode: use --log-level=debug --log-format=text"),
            (["--zap-log-level=chatty"], "invalid zap-log-level \"chatty\" (from flag --zap-log-level): expected debug, info, error or a verbosity above 0; spillwayd's own flag is --log-level"),
            (["--zap-stacktrace-level=error"], "invalid zap-stacktrace-level \"error\" (from flag --zap-stacktrace-level): spillwayd logs no stack traces: leave the flag out"),
        ]
        for (arguments, message) in cases {
            XCTAssertThrowsError(try GoFlagSpellings.normalize(arguments)) { XCTAssertEqual("\($0)", message) }
        }
    }

    func testTheOriginalsZeroIntervalIsRefusedNamingTheRightSpelling() {
        XCTAssertThrowsError(try settings(["--orphan-audit-interval=0s"])) {
            XCTAssertEqual("\($0)", "invalid orphan-audit-interval \"0s\" (from flag --orphan-audit-interval): must be longer than 0s; "
                + "spillwayd cannot turn this pass off (0 did in the original spillway): leave the setting out for the default 10m")
        }
    }

    func testTheRealBinaryRunsWithTheOriginalsArgsUntilItNeedsTheCluster() throws {
        // With a kubeconfig that names no reachable server the run gets as far as connecting:
        // every flag was understood (a flag error would exit 2 before that).
        let directory = try temporaryDirectory(self)
        let kubeconfig = directory.appendingPathComponent("kubeconfig")
        try "apiVersion: v1\nkind: Config\n".write(to: kubeconfig, atomically: true, encoding: .utf8)
        let daemon = try Spillwayd(
            Self.originalKustomizeArgs.map { $0.hasPrefix("--metrics") || $0.hasPrefix("--health") ? String($0.prefix { $0 != "=" }) + "=0" : $0 }
                + ["--kubeconfig", kubeconfig.path],
            emptyConfig: directory.appendingPathComponent("empty.conf"))
        XCTAssertEqual(daemon.waitForExit(), 2)
        XCTAssertFalse(daemon.stderr.contains("invalid"), daemon.stderr)
        XCTAssertTrue(daemon.stderr.contains("kubeconfig"), daemon.stderr)
    }
}

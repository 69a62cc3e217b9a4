// swift-tools-version:6.0
// The layers of docs/ARCHITECTURE (see README "Layout"): imports point down only, and the
// target graph below is what makes any other arrow a compile error.
//
//   spillwayd -> SpillwayDaemon -> SpillwayEngine -> SpillwayContract (pure)
//                                               \-> KubeClient -> SpillwayReactor -> CSpillwayShims (C)
//   kube-emulator -> KubeEmulator (SwiftNIO; a test and demo tool, never linked into the daemon)
import PackageDescription

let package = Package(
    name: "spillway",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "spillwayd", targets: ["spillwayd"]),
        .executable(name: "kube-emulator", targets: ["kube-emulator"]),
        .executable(name: "spillway-bench", targets: ["spillway-bench"]),
        // For the fuzz targets of Fuzz/ (a package of their own, built with libFuzzer).
        .library(name: "KubeClient", targets: ["KubeClient"]),
        .library(name: "SpillwayContract", targets: ["SpillwayContract"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.29.0"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.36.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        // System libraries, found through pkg-config (Debian: libcurl4-openssl-dev, libsystemd-dev,
        // libmicrohttpd-dev). scripts/setup installs them.
        .systemLibrary(
            name: "CCurl", pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(
            name: "CSystemd", pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]),
        .systemLibrary(
            name: "CMicroHTTPD", pkgConfig: "libmicrohttpd",
            providers: [.apt(["libmicrohttpd-dev"])]),

        // The only code that touches epoll, timerfd, signalfd, curl_multi, sd_notify, sd_journal.
        .target(
            name: "CSpillwayShims",
            dependencies: ["CCurl", "CSystemd", "CMicroHTTPD"]),

        // Swift face of the reactor: event loop, timers, signals, HTTP transfers over curl_multi.
        .target(
            name: "SpillwayReactor",
            dependencies: ["CSpillwayShims"]),

        // kubeconfig, auth, typed requests, Status errors, informers (list+watch).
        .target(
            name: "KubeClient",
            dependencies: [
                "SpillwayReactor",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]),

        // The contract and the planner: pure Swift, no I/O, no clocks, no globals.
        .target(
            name: "SpillwayContract",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]),

        // Informers -> work queue -> planner -> executor.
        .target(
            name: "SpillwayEngine",
            dependencies: [
                "SpillwayContract", "KubeClient", "SpillwayReactor",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
            ]),

        // CLI, configuration, systemd integration, metrics/health endpoints, leader election.
        .target(
            name: "SpillwayDaemon",
            dependencies: [
                "SpillwayEngine", "KubeClient", "SpillwayContract", "SpillwayReactor", "CSpillwayShims",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Yams", package: "Yams"),
            ]),
        .executableTarget(name: "spillwayd", dependencies: ["SpillwayDaemon"]),

        // The Kubernetes API emulator: tests, benchmarks and the demo run against it.
        .target(
            name: "KubeEmulator",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]),
        .executableTarget(
            name: "kube-emulator",
            dependencies: [
                "KubeEmulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // The benchmark harness: drives the spillwayd binary against an in-process emulator.
        .executableTarget(
            name: "spillway-bench",
            dependencies: [
                "KubeEmulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/spillway-bench"),

        // Helpers shared by the test targets (a test run in a child process).
        .target(name: "SpillwayTestSupport", path: "Tests/Support"),
        .testTarget(
            name: "SpillwayReactorTests", dependencies: ["SpillwayReactor", "CSpillwayShims", "SpillwayTestSupport"],
            exclude: ["Servers"]),
        .testTarget(name: "SpillwayContractTests", dependencies: ["SpillwayContract"]),
        .testTarget(name: "KubeEmulatorTests", dependencies: ["KubeEmulator"]),
        .testTarget(
            name: "KubeClientTests",
            dependencies: [
                "KubeClient", "KubeEmulator", "SpillwayReactor", "SpillwayTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "SpillwayEngineTests",
            dependencies: [
                "SpillwayEngine", "SpillwayContract", "KubeClient", "KubeEmulator", "SpillwayReactor",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "SpillwaydTests",
            dependencies: [
                "SpillwayDaemon", "SpillwayReactor", "KubeClient", "KubeEmulator", "SpillwayContract", "SpillwayEngine",
                .product(name: "Logging", package: "swift-log"),
            ]),
    ]
)

// swift-tools-version:6.0
// The layers are described in docs/architecture.md: imports point down only, and the target
// graph below is what makes any other arrow a compile error.
//
//   spillwayd -> SpillwayDaemon -> SpillwayEngine -> SpillwayContract (pure) -> KubeWire (pure)
//                      |                  \-> KubeClient -> KubeWire
//                      |                           \-> SpillwayReactor -> CSpillwayShims (C)
//                      \-> SpillwayReactor (the loop, the HTTP endpoint, sd_notify, the journal)
//   The engine sees the loop through SpillwayLoop (time, timers, the wall clock), which
//   SpillwayReactor implements. Only SpillwayReactor imports CSpillwayShims.
//   kube-emulator -> KubeEmulator -> KubeWire (SwiftNIO; a test and demo tool, never linked into the daemon)
//   SpillwayBuildInfo (build tool plugin): VERSION + git -> BuildInfo.swift in SpillwayDaemon
import PackageDescription

let package = Package(
    name: "spillway",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "spillwayd", targets: ["spillwayd"]),
        .executable(name: "kube-emulator", targets: ["kube-emulator"]),
        .executable(name: "spillway-bench", targets: ["spillway-bench"]),
        .executable(name: "wire-bench", targets: ["wire-bench"]),
        // For the fuzz targets of Fuzz/ (a package of their own, built with libFuzzer).
        .library(name: "KubeWire", targets: ["KubeWire"]),
        .library(name: "KubeClient", targets: ["KubeClient"]),
        .library(name: "SpillwayContract", targets: ["SpillwayContract"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        // Tests only: the YAML reader the daemon had, which KubeWireTests hold the libyaml one to.
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.29.0"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.36.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        // System libraries, found through pkg-config (Debian: libcurl4-openssl-dev, libsystemd-dev,
        // libmicrohttpd-dev, libyaml-dev). scripts/setup installs them.
        .systemLibrary(
            name: "CCurl", pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(
            name: "CSystemd", pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]),
        .systemLibrary(
            name: "CMicroHTTPD", pkgConfig: "libmicrohttpd",
            providers: [.apt(["libmicrohttpd-dev"])]),
        .systemLibrary(
            name: "CYAML", pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]),

        // The only code that touches epoll, timerfd, signalfd, curl_multi, sd_notify, sd_journal.
        .target(
            name: "CSpillwayShims",
            dependencies: ["CCurl", "CSystemd", "CMicroHTTPD"]),

        // The event loop as the layers above see it: monotonic time, timers, deferred work, and
        // the injectable wall clock. Pure Swift.
        .target(name: "SpillwayLoop"),

        // Swift face of the C shim, and the only module that imports it: event loop, timers,
        // signals, HTTP transfers over curl_multi, the HTTP endpoint (libmicrohttpd), sd_notify
        // and the journal.
        .target(
            name: "SpillwayReactor",
            dependencies: ["CSpillwayShims", "SpillwayLoop"]),

        // The Kubernetes wire vocabulary: JSON values with their streaming parser and encoder,
        // Status, the ObjectMeta subset, list pages, label and field selectors, name rules, Go
        // durations, YAML to JSON (libyaml's parser). Pure Swift, no I/O; the client, the
        // contract, the engine and the emulator all speak it.
        //
        // The modules linked into spillwayd import FoundationEssentials, never Foundation, and
        // read YAML without Yams (which imports Foundation): full Foundation brings CoreFoundation
        // and ICU, 2.2 MiB of resident memory at every start (BENCHMARKS.md, "Memory at start").
        // Tests/packaging/test_binary_footprint.py holds the release binary to it.
        .target(
            name: "KubeWire",
            dependencies: ["CYAML"]),

        // kubeconfig, auth, typed requests, Status errors, informers (list+watch).
        .target(
            name: "KubeClient",
            dependencies: [
                "KubeWire", "SpillwayLoop", "SpillwayReactor",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]),

        // The contract and the planner: pure Swift, no I/O, no clocks, no globals.
        .target(
            name: "SpillwayContract",
            dependencies: ["KubeWire", .product(name: "Crypto", package: "swift-crypto")]),

        // Informers -> work queue -> planner -> executor.
        .target(
            name: "SpillwayEngine",
            dependencies: [
                "SpillwayContract", "KubeClient", "KubeWire", "SpillwayLoop",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
            ]),

        // Version, commit and build date from the VERSION file and git (scripts/build-info).
        .plugin(name: "SpillwayBuildInfo", capability: .buildTool()),

        // CLI, configuration, systemd integration, metrics/health endpoints, leader election.
        .target(
            name: "SpillwayDaemon",
            dependencies: [
                "SpillwayEngine", "KubeClient", "KubeWire", "SpillwayContract", "SpillwayReactor", "SpillwayLoop",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            plugins: ["SpillwayBuildInfo"]),
        .executableTarget(
            name: "spillwayd", dependencies: ["SpillwayDaemon"],
            // Release links on Linux: resident memory at start is mostly pages mapped from the
            // binary, so link it to touch fewer (BENCHMARKS.md, "Memory at start": 33.1 -> 26.8
            // MiB).
            // - The functions the daemon runs are laid out together, in the order it first runs
            //   them (packaging/spillwayd.order, written by scripts/order-file): the kernel maps
            //   64 KiB around each page touched, so ~4,500 functions scattered over 19 MiB of
            //   code kept 12-13 MiB of it resident. A stale list only costs memory.
            // - lld packs the 88,000 relative relocations (2.1 MiB of .rela.dyn that the loader
            //   reads at every start) into 17 KiB of RELR (glibc >= 2.36: Debian 12, Ubuntu 24.04).
            // - Nothing dlopens the daemon, so its 13,000 symbols need not be exported (0.9 MiB
            //   of dynamic symbol table the loader searches).
            linkerSettings: [
                .unsafeFlags(
                    ["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
                     "-Xlinker", "--no-export-dynamic",
                     "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/packaging/spillwayd.order",
                     "-Xlinker", "--no-warn-symbol-ordering"],
                    .when(platforms: [.linux], configuration: .release)),
            ]),

        // The Kubernetes API emulator: tests, benchmarks and the demo run against it.
        .target(
            name: "KubeEmulator",
            dependencies: [
                "KubeWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]),
        .executableTarget(
            name: "kube-emulator",
            dependencies: [
                "KubeEmulator", "KubeWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // The benchmark harness: drives the spillwayd binary against an in-process emulator.
        .executableTarget(
            name: "spillway-bench",
            dependencies: [
                "KubeEmulator", "KubeWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/spillway-bench"),

        // The wire vocabulary's decoders alone, without a daemon or a server.
        .executableTarget(name: "wire-bench", dependencies: ["KubeWire"], path: "Benchmarks/wire-bench"),

        // Helpers shared by the test targets (a test run in a child process).
        .target(name: "SpillwayTestSupport", path: "Tests/Support"),
        .testTarget(
            name: "SpillwayReactorTests", dependencies: ["SpillwayReactor", "CSpillwayShims", "SpillwayTestSupport"],
            exclude: ["Servers"]),
        // The answers of a real kube-apiserver recorded in Tests/Golden (scripts/record-golden),
        // which the wire vocabulary, the client and the emulator are each held to.
        .target(name: "GoldenSupport", dependencies: ["KubeWire"], path: "Tests/GoldenSupport"),

        .testTarget(
            name: "KubeWireTests",
            dependencies: ["KubeWire", "GoldenSupport", "SpillwayTestSupport", .product(name: "Yams", package: "Yams")]),
        .testTarget(name: "SpillwayContractTests", dependencies: ["SpillwayContract", "KubeWire"]),
        .testTarget(
            name: "KubeEmulatorTests",
            dependencies: [
                "KubeEmulator", "KubeWire", "GoldenSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]),
        .testTarget(
            name: "KubeClientTests",
            dependencies: [
                "KubeClient", "KubeWire", "GoldenSupport", "KubeEmulator", "SpillwayLoop", "SpillwayReactor",
                "SpillwayTestSupport", .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "SpillwayEngineTests",
            dependencies: [
                "SpillwayEngine", "SpillwayContract", "KubeClient", "KubeWire", "KubeEmulator", "SpillwayReactor", "SpillwayLoop",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "SpillwaydTests",
            dependencies: [
                "SpillwayDaemon", "SpillwayReactor", "SpillwayLoop", "KubeClient", "KubeWire", "KubeEmulator",
                "SpillwayContract", "SpillwayEngine", "SpillwayTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]),
    ]
)

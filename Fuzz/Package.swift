// swift-tools-version:6.0
// libFuzzer targets over the public API of spillway's modules (scripts/fuzz builds and runs
// them; docs/testing.md). Each target is an executable whose main.swift hands its test function
// to FuzzDriver, which runs libFuzzer's driver (linked without libFuzzer's own main).
import PackageDescription

let targets: [(name: String, module: String)] = [
    ("watch-stream", "KubeWire"),
    ("json", "KubeWire"),
    ("kubeconfig", "KubeClient"),
    ("label-selector", "KubeWire"),
    ("targets", "SpillwayContract"),
    ("go-duration", "KubeWire"),
    ("accept-from", "SpillwayContract"),
]

let package = Package(
    name: "spillway-fuzz",
    platforms: [.macOS(.v14)],
    dependencies: [.package(name: "spillway", path: "..")],
    targets: [.target(name: "FuzzDriver", path: "Driver")] + targets.map { target in
        .executableTarget(
            name: "fuzz-\(target.name)",
            dependencies: ["FuzzDriver", .product(name: target.module, package: "spillway")],
            path: "Targets/\(target.name)")
    }
)

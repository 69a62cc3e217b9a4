import Foundation
import FuzzDriver
import KubeClient

/// kubeconfig loading on arbitrary file contents: a configuration or a ConfigurationError,
/// never a crash. The file is written where the environment variable names nothing else.
let path = FileManager.default.temporaryDirectory.appendingPathComponent("spillway-fuzz-kubeconfig-\(getpid())").path

fuzz { bytes in
    let contents = Data(bytes)
    guard FileManager.default.createFile(atPath: path, contents: contents) else { return }
    _ = try? ClientConfiguration.load(kubeconfig: path, environment: [:], serviceAccountRoot: "/nonexistent")
}

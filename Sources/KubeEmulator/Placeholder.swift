// KubeEmulator

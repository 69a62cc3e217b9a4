print("kube-emulator")

print("spillwayd")

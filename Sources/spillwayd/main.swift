import SpillwayDaemon

SpillwaydCommand.main()

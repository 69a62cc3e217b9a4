// SpillwayDaemon

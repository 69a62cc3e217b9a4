// SpillwayReactor

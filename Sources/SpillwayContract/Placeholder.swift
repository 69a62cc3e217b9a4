// SpillwayContract

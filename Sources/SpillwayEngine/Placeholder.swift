// SpillwayEngine

import Foundation

/// A goal from the benchmark issue: a figure at most or at least a bound.
struct Goal: Codable {
    enum Direction: String, Codable { case atMost = "<", atLeast = ">=" }
    var direction: Direction
    var bound: Double

    static func below(_ bound: Double) -> Goal { Goal(direction: .atMost, bound: bound) }
    static func atLeast(_ bound: Double) -> Goal { Goal(direction: .atLeast, bound: bound) }

    /// Judged on the median.
    func met(by value: Double) -> Bool {
        switch direction {
        case .atMost: value < bound || (bound == 0 && value == 0)
        case .atLeast: value >= bound
        }
    }

    var text: String { bound == 0 && direction == .atMost ? "0" : "\(direction.rawValue) \(format(bound))" }
}

/// One figure: its value in every repetition, reported as median, min and max.
struct Row: Codable {
    var measurement: String
    var figure: String
    var unit: String
    var values: [Double]
    var goal: Goal?
    var note: String?

    var median: Double { percentile(values, 50) }
    var minimum: Double { values.min() ?? .nan }
    var maximum: Double { values.max() ?? .nan }
    var met: Bool? { goal.map { $0.met(by: median) } }

    enum CodingKeys: String, CodingKey { case measurement, figure, unit, values, goal, note, median, min, max, met }

    init(measurement: String, figure: String, unit: String, values: [Double], goal: Goal? = nil, note: String? = nil) {
        self.measurement = measurement
        self.figure = figure
        self.unit = unit
        self.values = values
        self.goal = goal
        self.note = note
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        measurement = try c.decode(String.self, forKey: .measurement)
        figure = try c.decode(String.self, forKey: .figure)
        unit = try c.decode(String.self, forKey: .unit)
        values = try c.decode([Double].self, forKey: .values)
        goal = try c.decodeIfPresent(Goal.self, forKey: .goal)
        note = try c.decodeIfPresent(String.self, forKey: .note)
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(measurement, forKey: .measurement)
        try c.encode(figure, forKey: .figure)
        try c.encode(unit, forKey: .unit)
        try c.encode(values, forKey: .values)
        try c.encodeIfPresent(goal, forKey: .goal)
        try c.encodeIfPresent(note, forKey: .note)
        if !values.isEmpty {
            try c.encode(median, forKey: .median)
            try c.encode(minimum, forKey: .min)
            try c.encode(maximum, forKey: .max)
        }
        try c.encodeIfPresent(met, forKey: .met)
    }
}

/// The analytic time a peer's client-side rate limiter alone imposes on a number of requests:
/// a token bucket of `burst` that refills at `qps`. Not a measurement.
struct PeerFloor: Codable {
    var workload: String
    var requests: Int
    var clientGo: Double
    var controllerRuntime: Double

    init(workload: String, requests: Int) {
        self.workload = workload
        self.requests = requests
        clientGo = Self.seconds(requests, qps: 5, burst: 10)
        controllerRuntime = Self.seconds(requests, qps: 20, burst: 30)
    }

    static func seconds(_ requests: Int, qps: Double, burst: Int) -> Double {
        Double(max(0, requests - burst)) / qps
    }
}

struct Machine: Codable {
    var cpuModel: String
    var cores: Int
    var memoryGiB: Double
    var kernel: String
    var libcurl: String

    static var current: Machine {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" } ?? "unknown"
        let meminfo = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
        let totalKiB = meminfo.split(separator: "\n").first { $0.hasPrefix("MemTotal") }
            .flatMap { $0.split(separator: " ").dropFirst().first.flatMap { Double($0) } } ?? 0
        var uts = utsname()
        uname(&uts)
        let kernel = withUnsafeBytes(of: uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let curl = output(of: ["pkg-config", "--modversion", "libcurl"]) ?? "unknown"
        return Machine(cpuModel: model, cores: ProcessInfo.processInfo.activeProcessorCount, memoryGiB: totalKiB / 1_048_576,
                       kernel: kernel, libcurl: curl)
    }
}

struct Report: Codable {
    var size: String
    var date: String
    var commit: String
    var command: String
    var machine: Machine
    var rows: [Row] = []
    var peerFloor: [PeerFloor] = []
    var notes: [String] = []

    /// The table printed at the end and written as results.md.
    var markdown: String {
        var out = "| measurement | figure | median | min | max | runs | goal | met |\n|---|---|--:|--:|--:|--:|---|---|\n"
        for r in rows {
            let met = r.met.map { $0 ? "yes" : "**no**" } ?? ""
            let goal = r.goal.map { r.unit.isEmpty ? $0.text : $0.text + " " + r.unit } ?? ""
            let figure = r.unit.isEmpty ? r.figure : "\(r.figure) (\(r.unit))"
            out += "| \(r.measurement) | \(figure) | \(format(r.median)) | \(format(r.minimum)) | \(format(r.maximum)) | \(r.values.count) | \(goal) | \(met) |\n"
        }
        if !peerFloor.isEmpty {
            out += "\nAnalytic floor of the peers' client-side rate limits (not measured: requests ÷ QPS after the burst):\n\n"
            out += "| workload | requests | client-go (QPS 5, burst 10) | controller-runtime ≤ v0.20 (QPS 20, burst 30) |\n|---|--:|--:|--:|\n"
            for p in peerFloor {
                out += "| \(p.workload) | \(p.requests) | \(duration(p.clientGo)) | \(duration(p.controllerRuntime)) |\n"
            }
        }
        if !notes.isEmpty { out += "\n" + notes.map { "- " + $0 }.joined(separator: "\n") + "\n" }
        return out
    }
}

/// Nearest-rank percentile.
func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    if p == 50, sorted.count % 2 == 0 { return (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2 }
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank - 1, 0), sorted.count - 1)]
}

func format(_ v: Double) -> String {
    if v.isNaN { return "–" }
    if v == v.rounded() && abs(v) < 1e9 { return String(Int(v)) }
    let a = abs(v)
    if a >= 100 { return String(format: "%.0f", v) }
    if a >= 10 { return String(format: "%.1f", v) }
    if a >= 0.1 { return String(format: "%.2f", v) }
    return String(format: "%.3f", v)
}

func duration(_ s: Double) -> String {
    if s < 60 { return format(s) + " s" }
    if s < 3600 { return String(format: "%.0f min", s / 60) }
    return String(format: "%.1f h", s / 3600)
}

/// The first line a command prints, or nil when it cannot run or fails.
func output(of command: [String], in directory: String? = nil) -> String? {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = command
    if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return nil }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { return nil }
    return String(decoding: data, as: UTF8.self).split(separator: "\n").first.map(String.init)
}

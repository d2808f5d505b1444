import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The process metrics every Prometheus client library exports (`process_cpu_seconds_total`,
/// `process_resident_memory_bytes`…), read from `/proc` at each scrape. Written as exposition text
/// of their own rather than through the registry: swift-prometheus counters only go up by
/// increments, while the CPU time is a total the kernel keeps.
public struct ProcessMetrics: Sendable {
    public static let cpuSeconds = MetricDefinition(
        "process_cpu_seconds_total", .counter, "Total user and system CPU time spent in seconds.")
    public static let residentMemory = MetricDefinition(
        "process_resident_memory_bytes", .gauge, "Resident memory size in bytes.")
    public static let virtualMemory = MetricDefinition(
        "process_virtual_memory_bytes", .gauge, "Virtual memory size in bytes.")
    public static let openFileDescriptors = MetricDefinition(
        "process_open_fds", .gauge, "Number of open file descriptors.")
    public static let maximumFileDescriptors = MetricDefinition(
        "process_max_fds", .gauge, "Maximum number of open file descriptors.")
    public static let startTime = MetricDefinition(
        "process_start_time_seconds", .gauge, "Start time of the process since unix epoch in seconds.")
    public static let definitions = [cpuSeconds, residentMemory, virtualMemory, openFileDescriptors, maximumFileDescriptors, startTime]

    /// One reading of the process's figures.
    public struct Sample: Sendable, Equatable {
        public var cpuSeconds: Double
        public var residentBytes: Double
        public var virtualBytes: Double
        public var startTimeSeconds: Double
        public var openFileDescriptors: Int
        public var maximumFileDescriptors: Int

        public init(
            cpuSeconds: Double, residentBytes: Double, virtualBytes: Double, startTimeSeconds: Double, openFileDescriptors: Int,
            maximumFileDescriptors: Int
        ) {
            self.cpuSeconds = cpuSeconds
            self.residentBytes = residentBytes
            self.virtualBytes = virtualBytes
            self.startTimeSeconds = startTimeSeconds
            self.openFileDescriptors = openFileDescriptors
            self.maximumFileDescriptors = maximumFileDescriptors
        }
    }

    /// What the kernel reports in units the sample converts from.
    public struct KernelUnits: Sendable, Equatable {
        /// Clock ticks per second (`sysconf(_SC_CLK_TCK)`), the unit of CPU and start times.
        public var ticksPerSecond: Double
        /// Bytes per page (`sysconf(_SC_PAGESIZE)`), the unit of the resident set.
        public var pageSize: Double
        /// When the machine booted, in seconds since the epoch (`btime` of `/proc/stat`).
        public var bootTime: Double

        public init(ticksPerSecond: Double, pageSize: Double, bootTime: Double) {
            self.ticksPerSecond = ticksPerSecond
            self.pageSize = pageSize
            self.bootTime = bootTime
        }
    }

    public init() {}

    /// The figures of `/proc/self/stat` (see proc(5)), or nil when the text is not in its format.
    /// The command name, field 2, is in parentheses and may itself hold spaces and parentheses, so
    /// the fields are counted from the last `)`.
    public static func parse(stat: String, units: KernelUnits, openFileDescriptors: Int, maximumFileDescriptors: Int) -> Sample? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        // Field 3 (state) is the first after the name: field n is at index n - 3.
        let fields = stat[stat.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        func number(_ field: Int) -> Double? {
            fields.count > field - 3 ? Double(fields[field - 3]) : nil
        }
        guard let userTicks = number(14), let systemTicks = number(15), let startTicks = number(22),
            let virtualBytes = number(23), let residentPages = number(24), units.ticksPerSecond > 0
        else { return nil }
        return Sample(
            cpuSeconds: (userTicks + systemTicks) / units.ticksPerSecond,
            residentBytes: residentPages * units.pageSize,
            virtualBytes: virtualBytes,
            startTimeSeconds: units.bootTime + startTicks / units.ticksPerSecond,
            openFileDescriptors: openFileDescriptors,
            maximumFileDescriptors: maximumFileDescriptors
        )
    }

    /// The boot time from the text of `/proc/stat`, or nil when it has no `btime` line.
    public static func bootTime(procStat: String) -> Double? {
        for line in procStat.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst("btime ".count).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    /// The process's figures now, or nil where `/proc` is not there (not Linux).
    public func read() -> Sample? {
        #if os(Linux)
            guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
                let procStat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
                let bootTime = Self.bootTime(procStat: procStat),
                let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")
            else { return nil }
            var limit = rlimit()
            let maximum = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 ? Int(clamping: limit.rlim_cur) : 0
            let units = KernelUnits(
                ticksPerSecond: Double(sysconf(Int32(_SC_CLK_TCK))), pageSize: Double(sysconf(Int32(_SC_PAGESIZE))), bootTime: bootTime)
            // The directory listing itself holds one descriptor open while it reads.
            return Self.parse(stat: stat, units: units, openFileDescriptors: max(0, descriptors.count - 1), maximumFileDescriptors: maximum)
        #else
            return nil
        #endif
    }

    /// The sample in the Prometheus text format, `HELP` and `TYPE` lines included.
    public static func exposition(_ sample: Sample) -> String {
        let values: [(MetricDefinition, Double)] = [
            (cpuSeconds, sample.cpuSeconds),
            (residentMemory, sample.residentBytes),
            (virtualMemory, sample.virtualBytes),
            (openFileDescriptors, Double(sample.openFileDescriptors)),
            (maximumFileDescriptors, Double(sample.maximumFileDescriptors)),
            (startTime, sample.startTimeSeconds),
        ]
        return values.map { definition, value in
            "# HELP \(definition.name) \(definition.help)\n# TYPE \(definition.name) \(definition.kind.rawValue)\n\(definition.name) \(text(value))\n"
        }.joined()
    }

    /// Whole numbers without a fraction or exponent, so that byte counts read exactly.
    private static func text(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 9_007_199_254_740_992 {
            return String(Int64(value))
        }
        return String(value)
    }
}

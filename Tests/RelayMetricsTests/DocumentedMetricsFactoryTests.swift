import Foundation
import Metrics
import Prometheus
import RelayMetrics
import Testing

@Suite("Metric families carry the HELP text of their definitions")
struct DocumentedMetricsFactoryTests {
    static let requests = MetricDefinition("demo_requests_total", .counter, labels: ["status"], "Requests by status")
    static let depth = MetricDefinition("demo_queue_depth", .gauge, "Entries waiting")
    static let latency = MetricDefinition("demo_latency_seconds", .histogram, "Time one request took")

    @Test func everyKindOfSeriesIsRegisteredWithItsHelpAndType() {
        let registry = PrometheusCollectorRegistry()
        let factory = DocumentedMetricsFactory(registry: registry, definitions: [Self.requests, Self.depth, Self.latency])
        Self.requests.counter("200", factory: factory).increment(by: 2)
        Self.requests.counter("500", factory: factory).increment()
        Self.depth.gauge(factory: factory).record(7)
        Self.latency.timer(factory: factory).recordNanoseconds(3_000_000)
        Counter(label: "demo_undocumented_total", factory: factory).increment()
        let text = registry.emitToString()
        #expect(text.contains("# HELP demo_requests_total Requests by status\n# TYPE demo_requests_total counter\n"))
        #expect(text.contains(#"demo_requests_total{status="200"} 2"#) && text.contains(#"demo_requests_total{status="500"} 1"#))
        #expect(text.contains("# HELP demo_queue_depth Entries waiting\n# TYPE demo_queue_depth gauge\ndemo_queue_depth 7"))
        #expect(text.contains("# HELP demo_latency_seconds Time one request took\n# TYPE demo_latency_seconds histogram\n"))
        #expect(text.contains(#"demo_latency_seconds_bucket{le="0.005"} 1"#), "the factory's duration buckets are used:\n\(text)")
        #expect(!text.contains("# HELP demo_undocumented_total"), "a name without a definition gets no HELP")
    }

    @Test func aSeriesMadeAgainIsTheSameSeries() {
        let registry = PrometheusCollectorRegistry()
        let factory = DocumentedMetricsFactory(registry: registry, definitions: [Self.requests])
        // The registry refuses a second registration with other HELP text; the factory always
        // gives the same text, so making a series twice (as AdminRoutes does per probe) is safe.
        Self.requests.counter("200", factory: factory).increment()
        Self.requests.counter("200", factory: factory).increment()
        #expect(registry.emitToString().contains(#"demo_requests_total{status="200"} 2"#))
    }
}

@Suite("Process metrics from /proc")
struct ProcessMetricsTests {
    static let units = ProcessMetrics.KernelUnits(ticksPerSecond: 100, pageSize: 4096, bootTime: 1_796_000_000)

    @Test func theStatLineIsReadFromAfterTheCommandName() throws {
        // A command name with spaces and a ")" of its own: fields are counted from the last ")".
        let stat =
            "4242 (cio (relay) x) S 1 4242 4242 0 -1 4194560 2311 0 0 0 250 75 0 0 20 0 9 0 12345 1073741824 12800 18446744073709551615 1 1 0 0 0 0 0 4096 1260 0 0 0 17 1 0 0 0 0 0"
        let sample = try #require(ProcessMetrics.parse(stat: stat, units: Self.units, openFileDescriptors: 12, maximumFileDescriptors: 1024))
        #expect(sample.cpuSeconds == 3.25, "utime 250 + stime 75 ticks at 100 per second")
        #expect(abs(sample.startTimeSeconds - 1_796_000_123.45) < 0.001, "boot time + starttime 12345 ticks")
        #expect(sample.virtualBytes == 1_073_741_824)
        #expect(sample.residentBytes == 12800 * 4096)
        #expect(sample.openFileDescriptors == 12 && sample.maximumFileDescriptors == 1024)
    }

    @Test(arguments: [
        "", "4242 cio-relay S 1", "4242 (cio-relay) S 1 2 3", "4242 (cio-relay) S 1 4242 4242 0 -1 4194560 2311 0 0 0 x 75 0 0 20 0 9 0 12345 1 2",
    ])
    func aStatLineInAnotherFormatGivesNoSample(stat: String) {
        #expect(ProcessMetrics.parse(stat: stat, units: Self.units, openFileDescriptors: 1, maximumFileDescriptors: 1) == nil)
    }

    @Test func theBootTimeComesFromTheBtimeLine() {
        #expect(ProcessMetrics.bootTime(procStat: "cpu  1 2 3\nintr 5\nbtime 1796000000\nprocesses 9\n") == 1_796_000_000)
        #expect(ProcessMetrics.bootTime(procStat: "cpu  1 2 3\n") == nil)
    }

    @Test func thisProcessReadsPlausibly() throws {
        #if os(Linux)
            let sample = try #require(ProcessMetrics().read(), "/proc/self/stat could not be read")
            let now = Date().timeIntervalSince1970
            #expect(sample.startTimeSeconds <= now + 1 && sample.startTimeSeconds > now - 86_400, "started \(now - sample.startTimeSeconds) s ago")
            #expect(sample.residentBytes > 1_048_576 && sample.virtualBytes >= sample.residentBytes)
            #expect(sample.openFileDescriptors >= 3 && sample.maximumFileDescriptors >= sample.openFileDescriptors)
            #expect(sample.cpuSeconds > 0)
        // (Counting one more descriptor after opening a file would race the other suites of this
        // process, which open and close sockets and files meanwhile: CI caught that.)
        #endif
    }

    @Test func theExpositionHasHelpAndTypeAndExactWholeNumbers() {
        let sample = ProcessMetrics.Sample(
            cpuSeconds: 3.25, residentBytes: 52_428_800, virtualBytes: 1_073_741_824, startTimeSeconds: 1_796_000_123.45,
            openFileDescriptors: 12, maximumFileDescriptors: 1_048_576)
        let text = ProcessMetrics.exposition(sample)
        #expect(
            text.contains(
                "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 3.25\n"
            ))
        #expect(text.contains("\nprocess_resident_memory_bytes 52428800\n"))
        #expect(text.contains("\nprocess_start_time_seconds 1796000123.45\n"))
        #expect(text.contains("# TYPE process_open_fds gauge\nprocess_open_fds 12\n"))
        #expect(ProcessMetrics.definitions.allSatisfy { text.contains("# HELP \($0.name) ") })
    }
}

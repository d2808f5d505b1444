import Foundation
import RelayMetrics
import ServiceLifecycle
import Synchronization

/// What this process did over the last minutes, from its own metrics: webhooks by outcome, Track
/// API answers by status, and forwarded events by destination and outcome. Sampled every `interval` from the exposition (no Prometheus
/// needed); the console shows the difference between the newest and the oldest sample kept.
public final class ConsoleActivity: Service, Sendable {
    /// Counter totals at one moment.
    struct Sample: Sendable {
        let at: ContinuousClock.Instant
        let intake: [String: Double]
        let track: [String: Double]
        let forward: [String: Double]
    }

    /// The counts over the window, and how long the window is.
    public struct Window: Sendable {
        public let seconds: Double
        /// Webhooks by outcome.
        public let intake: [String: Double]
        /// Track API requests by HTTP status.
        public let track: [String: Double]
        /// Forwarded events by "destination outcome".
        public let forward: [String: Double]

        public init(seconds: Double, intake: [String: Double], track: [String: Double], forward: [String: Double] = [:]) {
            self.seconds = seconds
            self.intake = intake
            self.track = track
            self.forward = forward
        }
    }

    private let exposition: MetricsExposition
    private let interval: Duration
    private let keep: Int
    private let samples = Mutex<[Sample]>([])

    /// Keeps `window` worth of samples taken every `interval`.
    public init(exposition: MetricsExposition, interval: Duration = .seconds(10), window: Duration = .seconds(300)) {
        self.exposition = exposition
        self.interval = interval
        self.keep = max(2, Int(window / interval) + 1)
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            sample()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
        }
    }

    /// The counters now.
    private func reading() -> Sample {
        let text = String(decoding: exposition.render(), as: UTF8.self)
        return Sample(
            at: .now,
            intake: Self.counters(in: text, family: "cio_relay_webhooks_received_total", labels: "outcome"),
            track: Self.counters(in: text, family: "cio_relay_track_requests_total", labels: "status"),
            forward: Self.counters(in: text, family: "cio_relay_forward_deliveries_total", labels: "destination", "outcome")
        )
    }

    /// Keeps a reading in the window.
    public func sample() {
        let sample = reading()
        samples.withLock { samples in
            samples.append(sample)
            if samples.count > keep { samples.removeFirst(samples.count - keep) }
        }
    }

    /// The counts between the oldest sample kept and now (a reading that is not kept, so that page
    /// views do not crowd the periodic samples out of the window).
    public func window() -> Window {
        let last = reading()
        return samples.withLock { samples in
            guard let first = samples.first else { return Window(seconds: 0, intake: [:], track: [:], forward: [:]) }
            func delta(_ new: [String: Double], _ old: [String: Double]) -> [String: Double] {
                new.reduce(into: [:]) { result, pair in result[pair.key] = max(0, pair.value - (old[pair.key] ?? 0)) }
            }
            let seconds = Double((last.at - first.at).components.seconds)
            return Window(
                seconds: seconds, intake: delta(last.intake, first.intake), track: delta(last.track, first.track),
                forward: delta(last.forward, first.forward))
        }
    }

    /// The sum per value of `labels` (their values joined by a space) of a counter family in the
    /// text exposition format.
    public static func counters(in text: String, family: String, labels names: String...) -> [String: Double] {
        var totals: [String: Double] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix(family + "{") {
            guard let close = line.lastIndex(of: "}"), let value = Double(line[line.index(after: close)...].trimmingCharacters(in: .whitespaces))
            else { continue }
            let labels = line[line.index(line.startIndex, offsetBy: family.count + 1)..<close]
            var values: [String] = []
            for name in names {
                guard let start = labels.range(of: "\(name)=\""), let end = labels[start.upperBound...].firstIndex(of: "\"") else { break }
                values.append(String(labels[start.upperBound..<end]))
            }
            guard values.count == names.count else { continue }
            totals[values.joined(separator: " "), default: 0] += value
        }
        return totals
    }
}

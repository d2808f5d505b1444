import Foundation
import RelayMetrics
import ServiceLifecycle
import Synchronization

/// What this process did over the last minutes, from its own metrics: webhooks by outcome and
/// Track API answers by status. Sampled every `interval` from the exposition (no Prometheus
/// needed); the console shows the difference between the newest and the oldest sample kept.
public final class ConsoleActivity: Service, Sendable {
    /// Counter totals at one moment.
    struct Sample: Sendable {
        let at: ContinuousClock.Instant
        let intake: [String: Double]
        let track: [String: Double]
    }

    /// The counts over the window, and how long the window is.
    public struct Window: Sendable {
        public let seconds: Double
        /// Webhooks by outcome.
        public let intake: [String: Double]
        /// Track API requests by HTTP status.
        public let track: [String: Double]
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
            intake: Self.counters(in: text, family: "cio_relay_webhooks_received_total", label: "outcome"),
            track: Self.counters(in: text, family: "cio_relay_track_requests_total", label: "status")
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
            guard let first = samples.first else { return Window(seconds: 0, intake: [:], track: [:]) }
            func delta(_ new: [String: Double], _ old: [String: Double]) -> [String: Double] {
                new.reduce(into: [:]) { result, pair in result[pair.key] = max(0, pair.value - (old[pair.key] ?? 0)) }
            }
            let seconds = Double((last.at - first.at).components.seconds)
            return Window(seconds: seconds, intake: delta(last.intake, first.intake), track: delta(last.track, first.track))
        }
    }

    /// The sum per value of `label` of a counter family in the text exposition format.
    public static func counters(in text: String, family: String, label: String) -> [String: Double] {
        var totals: [String: Double] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix(family + "{") {
            guard let close = line.lastIndex(of: "}"), let value = Double(line[line.index(after: close)...].trimmingCharacters(in: .whitespaces))
            else { continue }
            let labels = line[line.index(line.startIndex, offsetBy: family.count + 1)..<close]
            guard let start = labels.range(of: "\(label)=\"") else { continue }
            let rest = labels[start.upperBound...]
            guard let end = rest.firstIndex(of: "\"") else { continue }
            totals[String(rest[..<end]), default: 0] += value
        }
        return totals
    }
}

import Metrics
import RelayMetrics

/// The version of this build, as `cio-relay --version` prints it and `cio_relay_build_info` labels
/// it. The chart's `appVersion` must equal it (helm/tests/check-chart.py checks).
public enum BuildInfo {
    public static let version = "0.1.0"

    /// The Swift compiler this binary was built with, to the minor version.
    public static var swiftVersion: String {
        #if compiler(>=6.4)
            return "6.4+"
        #elseif compiler(>=6.3)
            return "6.3"
        #elseif compiler(>=6.2)
            return "6.2"
        #else
            return "6.1"
        #endif
    }

    public static let definition = MetricDefinition(
        "cio_relay_build_info", .gauge, labels: ["version", "swift_version"],
        "Always 1; its labels name the cio-relay version and the Swift compiler that built it")

    /// Sets the build-info series once, at start-up.
    static func record(factory: any MetricsFactory) {
        definition.gauge(version, swiftVersion, factory: factory).record(1)
    }
}

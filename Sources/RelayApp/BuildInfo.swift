import Metrics
import RelayMetrics

/// The version and commit of this build, as `cio-relay --version` prints them and
/// `cio_relay_build_info` labels them. The chart's `appVersion` must equal the version
/// (helm/tests/check-chart.py checks); CHANGELOG.md says what each version brought.
public enum BuildInfo {
    public static let version = "0.1.0"

    /// The git commit the build was made from, 12 hex digits (`-modified` when tracked files
    /// differed from it), or `unknown` outside a git checkout: stamped by BuildCommitPlugin.
    public static let commit = BuildCommit.commit

    /// `0.1.0 (commit 0123456789ab)`: what `cio-relay --version` prints.
    public static var description: String { "\(version) (commit \(commit))" }

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
        "cio_relay_build_info", .gauge, labels: ["version", "commit", "swift_version"],
        "Always 1; its labels name the cio-relay version, the git commit and the Swift compiler that built it")

    /// Sets the build-info series once, at start-up.
    static func record(factory: any MetricsFactory) {
        definition.gauge(version, commit, swiftVersion, factory: factory).record(1)
    }
}

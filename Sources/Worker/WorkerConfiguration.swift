import CustomerIO
import EventQueue

/// How the actions worker runs. Defaults are the documented ones.
public struct WorkerConfiguration: Sendable {
    public var consumer: ConsumerConfiguration
    public var policy: Policy
    /// Track API settings per workspace; a workspace without an entry runs dry.
    public var track: [String: TrackClientConfiguration]
    /// Track API requests per second per workspace, shared by all replicas.
    public var rateLimit: Double
    /// App API settings per workspace (ESP suppression); a workspace without an entry suppresses dry.
    public var appAPI: [String: AppAPIClientConfiguration]
    /// App API requests per second per workspace, shared by all replicas (Customer.io allows 10).
    public var appAPIRateLimit: Double
    /// How long a value cio-relay wrote is taken as still Customer.io's, so that writing it again
    /// is left out; zero writes every value.
    public var unchangedWindow: Duration
    /// How long a Track API request that got no answer may still reach Customer.io: its people
    /// are not written again until then.
    public var trackLateWindow: Duration
    /// How often to look for entries left pending by dead consumers.
    public var reclaimInterval: Duration
    /// How often to trim acknowledged entries off the stream.
    public var trimInterval: Duration
    /// A consumer with nothing pending that has not read for this long is deleted from its group:
    /// one left behind by a restart (every process reads under a name of its own).
    public var staleConsumerIdle: Duration
    /// How often to refresh the lag, pending and dead-letter gauges.
    public var monitorInterval: Duration
    /// Pause after a batch in which Customer.io was unavailable, before reading more.
    public var unavailablePause: Duration
    /// Entries the warehouse group reads and commits per transaction (larger batches amortise the
    /// commit and the index updates).
    public var warehouseBatchSize: Int
    /// Warehouse writers per process, each a consumer of the group (`<name>-1`, `<name>-2`, …).
    public var warehouseWriters: Int
    /// How long one write of a batch may take before it is abandoned and tried again.
    public var warehouseTimeout: Duration
    /// Where events are forwarded, each destination from a consumer group of its own.
    public var forward: [ForwardDestination]

    public init(
        consumer: ConsumerConfiguration,
        policy: Policy = .builtIn,
        track: [String: TrackClientConfiguration] = [:],
        rateLimit: Double = 100,
        appAPI: [String: AppAPIClientConfiguration] = [:],
        appAPIRateLimit: Double = 10,
        unchangedWindow: Duration = .seconds(86_400),
        trackLateWindow: Duration = .seconds(60),
        reclaimInterval: Duration = .seconds(10),
        trimInterval: Duration = .seconds(10),
        staleConsumerIdle: Duration = .seconds(3600),
        monitorInterval: Duration = .seconds(5),
        unavailablePause: Duration = .seconds(5),
        warehouseBatchSize: Int = 2000,
        warehouseWriters: Int = 2,
        warehouseTimeout: Duration = .seconds(60),
        forward: [ForwardDestination] = []
    ) {
        self.consumer = consumer
        self.policy = policy
        self.track = track
        self.rateLimit = rateLimit
        self.appAPI = appAPI
        self.appAPIRateLimit = appAPIRateLimit
        self.unchangedWindow = unchangedWindow
        self.trackLateWindow = trackLateWindow
        self.reclaimInterval = reclaimInterval
        self.trimInterval = trimInterval
        self.staleConsumerIdle = staleConsumerIdle
        self.monitorInterval = monitorInterval
        self.unavailablePause = unavailablePause
        self.warehouseBatchSize = warehouseBatchSize
        self.warehouseWriters = warehouseWriters
        self.warehouseTimeout = warehouseTimeout
        self.forward = forward
    }
}

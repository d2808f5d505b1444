import CustomerIO
import EventQueue
import Hiredis
import Logging
import Receiver
import Warehouse
import Worker

/// Every setting cio-relay reads, in the order docs/configuration.md lists them. `RelaySettings`
/// parses through these entries and the reference page is generated from them, so a setting exists
/// in one place.
public enum SettingsTable {
    // Signing keys and Redis.
    public static let webhookSecret = Setting(
        "CUSTOMERIO_WEBHOOK_SECRET", .secret, default: "— (required to receive, unless the YAML file lists workspaces)",
        "signing key of the default workspace (`/webhooks/customerio`)")
    public static let previousWebhookSecret = Setting(
        "CUSTOMERIO_WEBHOOK_SECRET_PREVIOUS", .secret, default: "—",
        "a second key that also verifies, for rotating keys without rejecting events")
    public static let redisURL = Setting(
        "REDIS_URL", file: "redis.url", .text,
        "`redis://[user:password@]host:port[/db]`; `redis+cluster://[user:password@]host:port[,host:port…]` for a Redis Cluster (the nodes to learn its slot map from); `redis+sentinel://[user:password@]host:port[,host:port…]/MASTER[?db=N]` for the primary that Redis Sentinel names (the hosts are Sentinels, port 26379 by default); `rediss…` for TLS (always verified); user and password are the data nodes', for Redis 6 ACLs; percent-encode special characters"
    ) { settings in
        let scheme = settings.redis.tls == nil ? "redis" : "rediss"
        if let seeds = settings.redis.clusterSeeds { return "\(scheme)+cluster://" + seeds.map(\.description).joined(separator: ",") }
        if let sentinel = settings.redis.sentinel {
            return "\(scheme)+sentinel://" + sentinel.sentinels.map(\.description).joined(separator: ",") + "/\(sentinel.masterName)"
                + (settings.redis.database == 0 ? "" : "?db=\(settings.redis.database)")
        }
        return "\(scheme)://\(settings.redis.host):\(settings.redis.port)" + (settings.redis.database == 0 ? "" : "/\(settings.redis.database)")
    }
    public static let sentinelUsername = Setting(
        "CIO_RELAY_REDIS_SENTINEL_USERNAME", file: "redis.sentinel.username", .text, default: "—",
        "user name for the Sentinels themselves (their own ACL), when `REDIS_URL` is `redis+sentinel://`")
    public static let sentinelPassword = Setting(
        "CIO_RELAY_REDIS_SENTINEL_PASSWORD", .secret, default: "— (Sentinels without a password)",
        "password of the Sentinels themselves (`requirepass` in sentinel.conf); the data nodes' is in `REDIS_URL`")
    public static let redisTLSCAFile = Setting(
        "CIO_RELAY_REDIS_TLS_CA_FILE", file: "redis.tls.ca_file", .text, default: "the system's CA store",
        "PEM bundle of the CAs that sign the Redis servers' certificates (`rediss://` only); the managed services' own CA, or your cluster's")
    public static let redisTLSCertFile = Setting(
        "CIO_RELAY_REDIS_TLS_CERT_FILE", file: "redis.tls.cert_file", .text, default: "—",
        "PEM client certificate for mutual TLS (`tls-auth-clients yes`); with `CIO_RELAY_REDIS_TLS_KEY_FILE`. Read at every new connection: a renewed file is used from the next reconnect"
    )
    public static let redisTLSKeyFile = Setting(
        "CIO_RELAY_REDIS_TLS_KEY_FILE", file: "redis.tls.key_file", .text, default: "—",
        "PEM private key of that client certificate")
    public static let redisTLSServerName = Setting(
        "CIO_RELAY_REDIS_TLS_SERVER_NAME", file: "redis.tls.server_name", .text, default: "the host connected to",
        "name sent as SNI and required in the server's certificate; set it on a cluster, whose nodes announce IP addresses that certificates rarely name"
    )
    public static let redisTimeout = Setting(
        "CIO_RELAY_REDIS_TIMEOUT", file: "limits.redis_timeout", .seconds(0.01...3.5),
        "seconds Redis gets to store an event before the answer is 503 (every Redis call is bounded by it; well inside Customer.io's 4 s)"
    ) { $0.redis.commandTimeout.map(Self.seconds) }
    public static let redisPoolSize = Setting(
        "CIO_RELAY_REDIS_POOL_SIZE", file: "redis.pool_size", .integer(1...64),
        "Redis connections, each pipelining on its own thread; one gathers concurrent commands into the largest pipelines, which the receiver benchmark measured fastest"
    ) { "\($0.redis.poolSize)" }
    public static let partitions = Setting(
        "CIO_RELAY_PARTITIONS", file: "redis.partitions", .integer(1...1024),
        "partitions of the queue, each a stream with its own hash tag so that a Redis Cluster spreads them over its primaries; fixed for the data (recorded in Redis: a process with another count refuses to start), see docs/redis-cluster.md"
    ) { "\($0.queue.partitions)" }
    public static let minReplicas = Setting(
        "CIO_RELAY_REDIS_MIN_REPLICAS", file: "redis.min_replicas", .integer(0...16),
        default: "1 on a Redis Cluster and with Sentinel, 0 on one Redis",
        "replicas that must confirm an event (`WAIT`, once per pipelined batch, for up to half of `CIO_RELAY_REDIS_TIMEOUT`) before the answer is 200; fewer is a 503 and Customer.io retries; 0 answers once the primary has it, and loses what a cut-off primary acknowledged when its replica takes over"
    )
    public static let keyPrefix = Setting(
        "CIO_RELAY_KEY_PREFIX", file: "redis.key_prefix", .text,
        "first part of every Redis key; no spaces or braces"
    ) { $0.queue.prefix }

    // The receiver.
    public static let port = Setting(
        "PORT", file: "port", .integer(1...65535), "webhook port (serves only the webhook paths)"
    ) { "\($0.listeners.webhookPort)" }
    public static let adminPort = Setting(
        "ADMIN_PORT", file: "admin_port", .integer(1...65535), "`/healthz`, `/readyz`, `/metrics`, `/console`"
    ) { "\($0.listeners.adminPort)" }
    public static let adminToken = Setting(
        "CIO_RELAY_ADMIN_TOKEN", .secret, default: "— (the console is read-only)",
        "the console's login (at least 16 characters); with it every console page needs the login, and dead letters can be replayed and purged from the console"
    )
    public static let console = Setting(
        "CIO_RELAY_CONSOLE", file: "console", .choice(["on", "off"]),
        "`off` removes the console from the admin port (`/console` answers 404): for the pods that need none, such as internet-facing receivers"
    ) { $0.listeners.console ? "on" : "off" }
    public static let bind = Setting(
        "CIO_RELAY_BIND", file: "bind", .text, "address both ports bind to"
    ) { $0.listeners.host }
    public static let dedupTTL = Setting(
        "CIO_RELAY_DEDUP_TTL", file: "limits.dedup_ttl", .integer(1...(365 * 24 * 3600)),
        "seconds an `event_id` is remembered; Customer.io retries for 7 days"
    ) { "\($0.queue.dedupTTL.components.seconds)" }
    public static let timestampTolerance = Setting(
        "CIO_RELAY_TIMESTAMP_TOLERANCE", file: "limits.timestamp_tolerance", .integer(1...(365 * 24 * 3600)), default: "the dedup TTL",
        "seconds `X-CIO-Timestamp` may be from now; must not exceed the dedup TTL")
    public static let maxBodyBytes = Setting(
        "CIO_RELAY_MAX_BODY_BYTES", file: "limits.max_body_bytes", .integer(1024...(64 << 20)),
        "largest body accepted; larger ones are answered 413"
    ) { "\($0.receiver.maxBodyBytes)" }
    public static let retryAfter = Setting(
        "CIO_RELAY_RETRY_AFTER", file: "limits.retry_after", .integer(1...3600),
        "seconds in the `Retry-After` header of a 503"
    ) { "\($0.receiver.retryAfterSeconds)" }
    public static let requestTimeout = Setting(
        "CIO_RELAY_REQUEST_TIMEOUT", file: "limits.request_timeout", .seconds(1...300),
        "seconds a client has from a request's first byte to its last; a slower one (trickled headers or body) is disconnected and nothing of it is queued"
    ) { Self.seconds($0.receiver.connections.requestTimeout) }
    public static let idleTimeout = Setting(
        "CIO_RELAY_IDLE_TIMEOUT", file: "limits.idle_timeout", .seconds(1...3600),
        "seconds a kept-alive webhook connection may wait for its next request; keep it above a proxy's upstream keep-alive (60 s in ingress-nginx)"
    ) { Self.seconds($0.receiver.connections.idleTimeout) }

    // The actions worker and the Track API.
    public static let siteID = Setting(
        "CUSTOMERIO_SITE_ID", .text, default: "—",
        "Track API site id of the default workspace; with `CUSTOMERIO_TRACK_API_KEY` (both or neither). Without them the worker runs dry")
    public static let trackAPIKey = Setting(
        "CUSTOMERIO_TRACK_API_KEY", .secret, default: "—", "Track API key of the default workspace")
    public static let region = Setting(
        "CUSTOMERIO_REGION", .choice(TrackRegion.allCases.map(\.rawValue)),
        "the default workspace's data centre: `us` (`track.customer.io`) or `eu` (`track-eu.customer.io`)"
    ) { _ in TrackRegion.standard.rawValue }
    public static let trackURL = Setting(
        "CUSTOMERIO_TRACK_URL", .text, default: "the region's host",
        "Track API base URL override (a proxy, a test server)")
    public static let appAPIKey = Setting(
        "CUSTOMERIO_APP_API_KEY", .secret, default: "—",
        "App API key of the default workspace, for `esp_suppress` policy actions (suppression at Customer.io's ESP). Without it they run dry"
    )
    public static let appAPIURL = Setting(
        "CUSTOMERIO_APP_API_URL", .text, default: "the region's host",
        "App API base URL override (a proxy, a test server); the region's is `api.customer.io` or `api-eu.customer.io`")
    public static let appAPIRateLimit = Setting(
        "CIO_RELAY_APP_API_RATE_LIMIT", file: "worker.app_api_rate_limit", .number(0.1...1000),
        "App API requests per second per workspace (Customer.io allows 10), one budget shared by all worker replicas through Redis"
    ) { Setting.format($0.worker.appAPIRateLimit) }
    public static let unchangedWindow = Setting(
        "CIO_RELAY_UNCHANGED_WINDOW", file: "worker.unchanged_window", .seconds(0...2_592_000),
        "seconds a value cio-relay wrote to a person is taken as still Customer.io's: writing the same value again within it is left out (a repeat costs no Track API request); 0 writes every value"
    ) { Self.seconds($0.worker.unchangedWindow) }
    public static let trackRateLimit = Setting(
        "CIO_RELAY_TRACK_RATE_LIMIT", file: "worker.track_rate_limit", .number(0.1...100_000),
        "Track API requests per second per workspace, one budget shared by all worker replicas through Redis"
    ) { Setting.format($0.worker.rateLimit) }
    public static let trackAPI = Setting(
        "CIO_RELAY_TRACK_API", file: "worker.track_api", .choice(TrackAPIVersion.allCases.map(\.rawValue)),
        "`v2` (`/api/v2/batch`, many operations per request) or `v1` (one request per operation)"
    ) { $0.track.apiVersion.rawValue }
    public static let trackTimeout = Setting(
        "CIO_RELAY_TRACK_TIMEOUT", file: "worker.track_timeout", .seconds(0.1...120),
        "seconds one Track API request may take; another worker waits up to twice that for a person being written (one write per person is in flight)"
    ) { Self.seconds($0.track.requestTimeout) }
    public static let trackLateWindow = Setting(
        "CIO_RELAY_TRACK_LATE_WINDOW", file: "worker.track_late_window", .seconds(0...3600),
        "seconds a Track API request that got no answer (a timeout, a dropped connection) may still reach Customer.io after it: its people are not written again until then, so that it cannot land after a newer write; their events wait for redelivery meanwhile"
    ) { Self.seconds($0.worker.trackLateWindow) }
    public static let batchSize = Setting(
        "CIO_RELAY_BATCH_SIZE", file: "worker.batch_size", .integer(1...10_000),
        "stream entries an actions worker reads and merges per batch"
    ) { "\($0.worker.consumer.batchSize)" }
    public static let reclaimIdle = Setting(
        "CIO_RELAY_RECLAIM_IDLE", file: "worker.reclaim_idle", .seconds(1...86_400),
        "seconds an entry may stay unacknowledged before another worker takes it over"
    ) { Self.seconds($0.worker.consumer.reclaimIdle) }
    public static let maxDeliveries = Setting(
        "CIO_RELAY_MAX_DELIVERIES", file: "worker.max_deliveries", .integer(1...1000),
        "deliveries after which an entry goes to the dead letters (reason `max_deliveries`)"
    ) { "\($0.worker.consumer.maxDeliveries)" }
    public static let consumerName = Setting(
        "CIO_RELAY_CONSUMER_NAME", file: "worker.consumer_name", .text, default: "the host name plus a random suffix",
        "this worker's name in its consumer groups (the pod name on Kubernetes); unique per process, 1 to 200 characters, no spaces")
    public static let groups = Setting(
        "CIO_RELAY_GROUPS", file: "worker.groups", .text,
        default: "`actions,warehouse` (`actions` when `WAREHOUSE_URL=none`), and `forward` when the file has `forward:` destinations",
        "consumer groups, comma-separated: a worker runs them; every role creates them at start and `status` reports one that is missing. `forward` means every forwarding destination's group, `forward:NAME` one"
    )

    // The warehouse.
    public static let warehouseURL = Setting(
        "WAREHOUSE_URL", file: "warehouse.url", .text,
        "`sqlite:PATH`, `postgres://user:password@host:port/db?sslmode=…&sslrootcert=PATH&sslcert=PATH&sslkey=PATH` (libpq's meanings: `verify-full` checks chain and host name, `verify-ca` the chain, `require` only encrypts; `sslrootcert` is the CA, default the system's), `bigquery://PROJECT/DATASET?location=EU&table_prefix=P`, or `none`"
    ) { "\($0.warehouse)" }
    public static let bigQueryAPIURL = Setting(
        "BIGQUERY_API_URL", .text, default: "`https://bigquery.googleapis.com`",
        "another BigQuery endpoint (an emulator, a proxy); with it and without `GCE_METADATA_HOST` or a key file, requests carry no token")
    public static let googleCredentials = Setting(
        "GOOGLE_APPLICATION_CREDENTIALS", .text, default: "—",
        "path of a service-account key file (JSON) for BigQuery; without it, tokens come from the metadata server (GKE Workload Identity)")
    public static let metadataHost = Setting(
        "GCE_METADATA_HOST", .text, default: "`metadata.google.internal`",
        "host of the metadata server that issues BigQuery tokens when no key file is set")
    public static let warehouseBatchSize = Setting(
        "CIO_RELAY_WAREHOUSE_BATCH_SIZE", file: "worker.warehouse_batch_size", .integer(1...10_000),
        "entries the warehouse group commits per transaction"
    ) { "\($0.worker.warehouseBatchSize)" }
    public static let warehouseWriters = Setting(
        "CIO_RELAY_WAREHOUSE_WRITERS", file: "worker.warehouse_writers", .integer(1...16),
        "warehouse writers per process, each a consumer of the group (`<name>-1`, `<name>-2`, …)"
    ) { "\($0.worker.warehouseWriters)" }
    public static let warehouseTimeout = Setting(
        "CIO_RELAY_WAREHOUSE_TIMEOUT", file: "worker.warehouse_timeout", .seconds(1...3600),
        "seconds one warehouse write may take before it is abandoned and the batch written again (its entries stay pending meanwhile)"
    ) { seconds($0.worker.warehouseTimeout) }

    // The process.
    public static let configFile = Setting(
        "CIO_RELAY_CONFIG", .text, default: "—", "path of the optional YAML file (workspaces, policy, any setting of this table)")
    public static let logLevel = Setting(
        "LOG_LEVEL", file: "log_level", .choice(Logger.Level.allCases.map(\.rawValue)),
        "least severe level logged"
    ) { $0.logLevel.rawValue }

    /// The table, in the order of the reference page.
    public static let all: [Setting] = [
        webhookSecret, previousWebhookSecret, redisURL, sentinelUsername, sentinelPassword, redisTLSCAFile, redisTLSCertFile, redisTLSKeyFile,
        redisTLSServerName, redisTimeout, redisPoolSize, partitions, minReplicas, keyPrefix,
        port, adminPort, adminToken, console, bind, dedupTTL, timestampTolerance, maxBodyBytes, retryAfter, requestTimeout, idleTimeout,
        siteID, trackAPIKey, region, trackURL, trackRateLimit, trackAPI, trackTimeout, trackLateWindow, unchangedWindow,
        appAPIKey, appAPIURL, appAPIRateLimit,
        batchSize, reclaimIdle, maxDeliveries, consumerName, groups,
        warehouseURL, bigQueryAPIURL, googleCredentials, metadataHost, warehouseBatchSize, warehouseWriters, warehouseTimeout,
        configFile, logLevel,
    ]

    static func seconds(_ duration: Duration) -> String {
        Setting.format(Double(duration.nanoseconds) / 1e9)
    }
}

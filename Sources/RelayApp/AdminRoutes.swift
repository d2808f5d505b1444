import Console
import Hiredis
import Hummingbird
import Metrics
import RelayMetrics

/// The admin port: `/healthz` (the process answers), `/readyz` (Redis answers `PING` within the
/// Redis command timeout), `/metrics` and, when given, the console (`/console`).
/// Each readiness check also sets `cio_relay_redis_up` (1 or 0): the kubelet probes every pod every
/// few seconds, so the gauge is fresh for the "Redis unavailable" alert even when no webhook arrives.
/// Kept off the webhook port so that probes and scrapes never compete with Customer.io's calls
/// and are never exposed through the webhook ingress.
public struct AdminRoutes: Sendable {
    public let redis: RedisClient
    public let exposition: MetricsExposition
    public let console: ConsoleRoutes?
    public init(redis: RedisClient, exposition: MetricsExposition, console: ConsoleRoutes? = nil) {
        self.redis = redis
        self.exposition = exposition
        self.console = console
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/healthz") { _, _ in
            Self.json(.ok, #"{"status":"ok"}"#)
        }
        router.get("/readyz") { _, _ in
            do {
                // Bounded by the Redis command timeout (CIO_RELAY_REDIS_TIMEOUT).
                try await redis.ping()
                redisUp().record(1)
                return Self.json(.ok, #"{"status":"ready"}"#)
            } catch {
                redisUp().record(0)
                return Self.json(.serviceUnavailable, #"{"status":"unavailable","error":"redis_unreachable","message":"Redis does not answer PING"}"#)
            }
        }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: exposition.render()))
            )
        }
        console?.add(to: router)
        return router
    }

    public static let redisUpDefinition = MetricDefinition(
        "cio_relay_redis_up", .gauge, "1 when the last readiness check reached Redis, 0 when it did not (absent until the first check)")

    /// Registered at the first check rather than up front, so that a process nobody probes shows no
    /// value instead of a misleading 0; the registry hands back the same gauge on later calls.
    private func redisUp() -> Gauge {
        Self.redisUpDefinition.gauge(factory: exposition.factory)
    }

    private static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}

import CustomerIO
import EventQueue
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// How much time and header space a client of the webhook port gets. Customer.io sends a few
/// headers and a body of at most a few hundred KiB in well under a second; anything slower or
/// larger is a broken or hostile client, and each such connection costs memory until closed.
public struct ConnectionLimits: Sendable, Hashable {
    /// From a request's first byte to its last: a client that trickles its headers (slowloris) or
    /// its body is disconnected when this runs out, and nothing it sent is queued.
    public var requestTimeout: Duration
    /// A kept-alive connection with no request in progress is closed after this long. Keep it
    /// longer than the idle timeout of a proxy in front (ingress-nginx keeps upstream connections
    /// 60 s), so that the proxy closes first and never sends on a connection being closed.
    public var idleTimeout: Duration
    /// Largest single header line (name and value).
    public var maxHeaderFieldBytes: Int
    /// Largest sum of all header lines of a request.
    public var maxHeaderBytes: Int
    /// Most headers per request.
    public var maxHeaderCount: Int
    /// Connections the kernel may hold for the server to accept (capped by `net.core.somaxconn`).
    /// Hummingbird's default of 256 overflowed when 1,000 connections arrived at once on a busy
    /// machine: the kernel then drops handshakes and clients wait for retransmissions, up to a
    /// minute, the same as Customer.io's retries after an outage would.
    public var listenBacklog: Int

    public init(
        requestTimeout: Duration = .seconds(10), idleTimeout: Duration = .seconds(75),
        maxHeaderFieldBytes: Int = 16 << 10, maxHeaderBytes: Int = 64 << 10, maxHeaderCount: Int = 100,
        listenBacklog: Int = 4096
    ) {
        self.requestTimeout = requestTimeout
        self.idleTimeout = idleTimeout
        self.maxHeaderFieldBytes = maxHeaderFieldBytes
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.listenBacklog = listenBacklog
    }
}

/// The webhook port's HTTP/1.1 server: NIO's HTTP/1.1 codec with the header limits of
/// `ConnectionLimits`, a deadline for every request, and `WebhookHandler`, which runs each request
/// on the connection's event loop. A `Service`: graceful shutdown stops accepting, answers the
/// requests in progress and closes every connection.
public enum WebhookServer {
    /// The server for `routes` on `host`:`port` (0 picks a free port; `onServerRunning` learns it).
    public static func make<Queue: IntakeQueue>(
        routes: WebhookRoutes<Queue>, limits: ConnectionLimits, host: String, port: Int, logger: Logger,
        onServerRunning: (@Sendable (any Channel) async -> Void)? = nil
    ) -> some Service {
        Server(
            childChannelSetup: WebhookChannel(routes: routes, limits: limits),
            configuration: ServerConfiguration(address: .hostname(host, port: port), serverName: nil, backlog: limits.listenBacklog),
            onServerRunning: onServerRunning,
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            logger: logger)
    }
}

/// One connection of the webhook port: its pipeline, and a wait for its end.
struct WebhookChannel<Queue: IntakeQueue>: ServerChildChannel {
    struct Value: ServerChildChannelValue {
        let channel: any Channel
    }

    let routes: WebhookRoutes<Queue>
    let limits: ConnectionLimits

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let clock = ConnectionClock(limits: limits, logger: logger)
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(RequestStartHandler(clock: clock))
            var decoderLimits = NIOHTTPDecoderLimitConfiguration()
            decoderLimits.maxHeaderFieldSize = limits.maxHeaderFieldBytes
            decoderLimits.maxHeaderListSize = limits.maxHeaderBytes
            decoderLimits.maxHeaderFieldCount = limits.maxHeaderCount
            // Pipelining assistance answers pipelined requests in order and closes a connection
            // once it is idle when graceful shutdown starts; error handling answers a request the
            // decoder refuses with 400 (`WebhookHandler` then closes the connection). The replies'
            // headers are our own constants: no validation pass over them.
            try pipeline.configureHTTPServerPipeline(
                withPipeliningAssistance: true, withErrorHandling: true, withOutboundHeaderValidation: false, withEncoderConfiguration: .init(),
                withDecoderLimitConfiguration: decoderLimits)
            try pipeline.addHandler(WebhookHandler(routes: routes, clock: clock, executor: EventLoopTaskExecutor(channel.eventLoop)))
            return Value(channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        // Everything happens in the pipeline; the connection's task only waits for its end.
        try? await value.channel.closeFuture.get()
    }
}

/// The two deadlines of one connection: a request must arrive whole within `requestTimeout` of its
/// first byte, and a kept-alive connection with no request in progress is closed after
/// `idleTimeout`. One repeated check per connection enforces both, a quarter of the shorter
/// timeout apart (at most a second): a timer scheduled and cancelled per request cost every
/// request more than the whole header check. A deadline therefore fires up to that interval late.
/// Used only on the connection's event loop.
final class ConnectionClock {
    private let limits: ConnectionLimits
    private let logger: Logger
    /// When the first byte of the request in progress arrived; nil between requests.
    private var requestStarted: NIODeadline?
    /// When the last request ended (or the connection opened).
    private var idleSince = NIODeadline.now()
    private var check: RepeatedTask?

    init(limits: ConnectionLimits, logger: Logger) {
        self.limits = limits
        self.logger = logger
    }

    /// Starts the checks for `channel`.
    func start(_ channel: any Channel) {
        let requestTimeout = TimeAmount.nanoseconds(Int64(limits.requestTimeout.nanoseconds))
        let idleTimeout = TimeAmount.nanoseconds(Int64(limits.idleTimeout.nanoseconds))
        let interval = min(TimeAmount.seconds(1), TimeAmount.nanoseconds(min(requestTimeout, idleTimeout).nanoseconds / 4))
        let bound = NIOLoopBound(self, eventLoop: channel.eventLoop)
        check = channel.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { task in
            let clock = bound.value
            let now = NIODeadline.now()
            if let started = clock.requestStarted {
                guard now - started >= requestTimeout else { return }
                clock.logger.notice(
                    "closed a connection whose request did not arrive in time", metadata: ["timeout": "\(clock.limits.requestTimeout)"])
            } else {
                guard now - clock.idleSince >= idleTimeout else { return }
            }
            task.cancel()
            channel.close(promise: nil)
        }
    }

    /// Bytes arrived: they start a request unless one is in progress.
    func bytesArrived() {
        if requestStarted == nil { requestStarted = .now() }
    }

    /// The request's last byte arrived.
    func requestEnded() {
        requestStarted = nil
        idleSince = .now()
    }

    func stop() {
        check?.cancel()
        check = nil
    }
}

/// In front of the HTTP decoder, which shows nothing of a head that never ends: bytes arriving
/// while no request is in progress start one on the connection's clock.
final class RequestStartHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private let clock: ConnectionClock

    init(clock: ConnectionClock) { self.clock = clock }

    func handlerAdded(context: ChannelHandlerContext) {
        clock.start(context.channel)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        clock.bytesArrived()
        context.fireChannelRead(data)
    }

    /// Also when the channel closes: the repeated check ends with the pipeline, whether or not the
    /// connection ever became active.
    func handlerRemoved(context: ChannelHandlerContext) {
        clock.stop()
    }
}

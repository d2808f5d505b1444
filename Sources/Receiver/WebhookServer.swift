import CustomerIO
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

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

/// The webhook port's HTTP/1.1 server: Hummingbird's, with the header limits of `ConnectionLimits`
/// and a deadline for every request.
public enum WebhookServer {
    /// The server for Hummingbird's `Application(server:)`.
    public static func builder(limits: ConnectionLimits) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            DeadlineHTTP1Channel(responder: responder, limits: limits)
        }
    }
}

/// `HTTP1Channel` with two handlers around the HTTP decoder that together put a deadline on each
/// request: one in front of the decoder starts the clock at a request's first byte (the decoder
/// shows nothing of a head that never ends), one behind it stops the clock at the request's end.
struct DeadlineHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let responder: HTTPChannelHandler.Responder
    let limits: ConnectionLimits
    private let base: HTTP1Channel

    init(responder: @escaping HTTPChannelHandler.Responder, limits: ConnectionLimits) {
        self.responder = responder
        self.limits = limits
        self.base = HTTP1Channel(responder: responder, configuration: Self.configuration(limits: limits, handlers: []))
    }

    static func configuration(limits: ConnectionLimits, handlers: @autoclosure @escaping @Sendable () -> [any RemovableChannelHandler])
        -> HTTP1Channel.Configuration
    {
        HTTP1Channel.Configuration(
            additionalChannelHandlers: handlers(),
            idleTimeout: TimeAmount.nanoseconds(Int64(limits.idleTimeout.nanoseconds)),
            httpDecoderConfiguration: .init(
                maxHeaderFieldSize: limits.maxHeaderFieldBytes, maxHeaderListSize: limits.maxHeaderBytes, maxHeaderFieldCount: limits.maxHeaderCount
            )
        )
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let clock = RequestClock(timeout: TimeAmount.nanoseconds(Int64(limits.requestTimeout.nanoseconds)), logger: logger)
        let perChannel = HTTP1Channel(
            responder: responder, configuration: Self.configuration(limits: limits, handlers: [RequestEndHandler(clock: clock)]))
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(RequestStartHandler(clock: clock))
        }.flatMap {
            perChannel.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// The deadline of the request in progress on one connection. Used only on the connection's
/// event loop, by the two handlers that share it.
final class RequestClock: @unchecked Sendable {
    private let timeout: TimeAmount
    private let logger: Logger
    private var deadline: Scheduled<Void>?

    init(timeout: TimeAmount, logger: Logger) {
        self.timeout = timeout
        self.logger = logger
    }

    /// A request's first byte arrived: start its deadline, unless one runs.
    func start(on context: ChannelHandlerContext) {
        guard deadline == nil else { return }
        let channel = context.channel
        let logger = self.logger
        deadline = context.eventLoop.scheduleTask(in: timeout) {
            logger.notice("closed a connection whose request did not arrive in time", metadata: ["timeout": "\(self.timeout)"])
            channel.close(promise: nil)
        }
    }

    /// The request's last byte arrived.
    func stop() {
        deadline?.cancel()
        deadline = nil
    }
}

/// In front of the HTTP decoder: bytes arriving while no request is in progress start one.
final class RequestStartHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private let clock: RequestClock

    init(clock: RequestClock) { self.clock = clock }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        clock.start(on: context)
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        clock.stop()
        context.fireChannelInactive()
    }
}

/// Behind the HTTP decoder: a request's end stops its deadline.
final class RequestEndHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    private let clock: RequestClock

    init(clock: RequestClock) { self.clock = clock }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) { clock.stop() }
        context.fireChannelRead(data)
    }
}

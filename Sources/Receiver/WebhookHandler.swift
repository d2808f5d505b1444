import EventQueue
import Logging
import NIOCore
import NIOHTTP1

/// Serves the requests of one webhook connection on its event loop: decides on each head
/// (`WebhookRoutes.start`), gathers the body up to its limit, and stores it in a task that runs on
/// the same loop (`EventLoopTaskExecutor`), so that a request costs no thread switch beyond the
/// Redis connection's. Requests on a connection are answered one at a time, in order (NIO's
/// pipelining handler holds the next one back until the reply is written).
final class WebhookHandler<Queue: IntakeQueue>: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        /// Between requests.
        case idle
        /// Reading the body of an admitted request.
        case reading(WebhookRoutes<Queue>.Admission, body: ByteBuffer, keepAlive: Bool)
        /// The rest of a request answered from its head is skipped; the answer goes at its end.
        case skipping(WebhookReply, keepAlive: Bool)
        /// The body is being stored; the reply is written when the task ends.
        case storing
        /// The connection is closing: nothing more is read or answered.
        case closed
    }

    private let routes: WebhookRoutes<Queue>
    private let clock: ConnectionClock
    private let executor: EventLoopTaskExecutor
    private var state = State.idle

    init(routes: WebhookRoutes<Queue>, clock: ConnectionClock, executor: EventLoopTaskExecutor) {
        self.routes = routes
        self.clock = clock
        self.executor = executor
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .end = part { clock.requestEnded() }
        switch (part, state) {
        case (.head(let head), .idle):
            switch routes.start(method: head.method, target: head.uri, headers: head.headers) {
            case .readBody(let admission):
                state = .reading(admission, body: context.channel.allocator.buffer(capacity: 0), keepAlive: head.isKeepAlive)
            case .reply(let reply, closing: true):
                write(reply, keepAlive: false, context: context)
            case .reply(let reply, closing: false):
                state = .skipping(reply, keepAlive: head.isKeepAlive)
            }
        case (.body(var part), .reading(let admission, var body, let keepAlive)):
            guard body.readableBytes + part.readableBytes <= admission.bodyLimit else {
                write(routes.bodyTooLarge(admission), keepAlive: false, context: context)
                return
            }
            state = .storing  // lets `body` be appended to without a copy
            body.writeBuffer(&part)
            state = .reading(admission, body: body, keepAlive: keepAlive)
        case (.end, .reading(let admission, var body, let keepAlive)):
            state = .storing
            store(admission, body: body.readBytes(length: body.readableBytes) ?? [], keepAlive: keepAlive, context: context)
        case (.end, .skipping(let reply, let keepAlive)):
            write(reply, keepAlive: keepAlive, context: context)
        case (.body, .skipping), (_, .closed):
            break
        case (.head, _), (.body, _), (.end, _):
            // The pipelining handler never passes a request on before the previous one is answered.
            context.close(promise: nil)
            state = .closed
        }
    }

    /// Stores the body in a task on this loop and writes its reply there.
    private func store(_ admission: WebhookRoutes<Queue>.Admission, body: [UInt8], keepAlive: Bool, context: ChannelHandlerContext) {
        let routes = self.routes
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        Task(executorPreference: executor) {
            let reply = await routes.finish(admission, body: body)
            if loop.inEventLoop {
                bound.value.0.write(reply, keepAlive: keepAlive, context: bound.value.1)
            } else {
                loop.execute { bound.value.0.write(reply, keepAlive: keepAlive, context: bound.value.1) }
            }
        }
    }

    /// Writes `reply` as the answer to the current request; closes the connection after it unless
    /// the connection is kept alive.
    private func write(_ reply: WebhookReply, keepAlive: Bool, context: ChannelHandlerContext) {
        guard context.channel.isActive else {
            state = .closed
            return
        }
        var headers = HTTPHeaders()
        headers.reserveCapacity(3 + reply.headers.count)
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(reply.body.readableBytes))
        for (name, value) in reply.headers { headers.add(name: name, value: value) }
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: reply.status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(reply.body))), promise: nil)
        if keepAlive {
            state = .idle
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            state = .closed
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        }
    }

    /// Any error is the end of the connection: for a request the decoder refused, NIO's protocol
    /// error handler has already answered `400`, and leaves closing to the pipeline.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        state = .closed
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .reading(let admission, _, _) = state {
            routes.bodyIncomplete(admission)
        }
        state = .closed
        context.fireChannelInactive()
    }
}

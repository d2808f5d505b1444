import CHiredis
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One connection to Redis, served by a thread of its own.
///
/// Callers never block: `send` queues the command and suspends. The thread takes everything queued,
/// appends it all to hiredis' output buffer, flushes once and reads the replies in order, so
/// concurrent load turns into pipelined batches by itself. After an I/O error the commands in
/// flight fail with `connectionLost` or `timeout`; the next batch reconnects (with a growing backoff
/// while connecting keeps failing, failing fast in between so callers can answer quickly).
public final class RedisConnection: Sendable {
    public let configuration: RedisConfiguration

    /// State shared between callers and the connection thread. Every access holds `condition`;
    /// the methods are synchronous so that no lock is ever held across a suspension point.
    private final class Shared: @unchecked Sendable {
        private let condition = NSCondition()
        private var queue: [PendingCommand] = []
        private var running = true
        /// The socket of the live connection, so that `stop` can interrupt a blocking read.
        private var socket: Int32 = -1

        /// Queues a command for the thread, right after `preamble` if any; false once the
        /// connection is stopped.
        func enqueue(_ pending: PendingCommand, after preamble: PendingCommand?) -> Bool {
            condition.lock()
            defer { condition.unlock() }
            guard running else { return false }
            if let preamble { queue.append(preamble) }
            queue.append(pending)
            condition.signal()
            return true
        }

        /// Waits for work and moves it into `batch`; false when stopped and nothing is left.
        func take(into batch: inout [PendingCommand]) -> Bool {
            condition.lock()
            defer { condition.unlock() }
            while queue.isEmpty && running {
                condition.wait()
            }
            if queue.isEmpty { return false }
            swap(&batch, &queue)
            return true
        }

        func stop(interruptingReads: Bool) {
            condition.lock()
            defer { condition.unlock() }
            running = false
            if interruptingReads, socket >= 0 {
                _ = Glibc.shutdown(socket, Int32(SHUT_RDWR))
            }
            condition.signal()
        }

        func setSocket(_ value: Int32) {
            condition.lock()
            socket = value
            condition.unlock()
        }
    }
    private let shared = Shared()
    private let thread: JoinableThread
    /// Present when there is a command timeout (not on blocking connections).
    private let watchdog: (DeadlineWatchdog, JoinableThread)?

    public init(configuration: RedisConfiguration) throws(RedisError) {
        self.configuration = configuration
        let worker = ConnectionWorker(configuration: configuration)
        let shared = self.shared
        self.thread = try JoinableThread {
            Self.serve(shared: shared, worker: worker)
        }
        if let timeout = configuration.commandTimeout {
            let watchdog = DeadlineWatchdog(timeout: timeout)
            do {
                self.watchdog = (watchdog, try JoinableThread { watchdog.run() })
            } catch {
                shared.stop(interruptingReads: true)
                thread.join()
                throw error
            }
        } else {
            self.watchdog = nil
        }
    }

    /// Sends one command and waits for its reply. A top-level error reply is thrown as
    /// `serverError`; with a command timeout, the call fails with `timeout` once that much time has
    /// passed, even if the connection is stuck; cancelling the calling task fails it with `cancelled`.
    public func send(_ command: RedisCommand) async throws(RedisError) -> RedisValue {
        try await send(command, after: nil)
    }

    /// Sends `command` right after `preamble` (`ASKING`), with nothing of other callers in between,
    /// and answers the command's reply; the preamble's is not looked at.
    func send(_ command: RedisCommand, after preamble: RedisCommand?) async throws(RedisError) -> RedisValue {
        let pending = PendingCommand(command)
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                guard pending.attach(continuation) else { return }
                enqueue(pending, after: preamble)
            }
        } onCancel: {
            pending.complete(.failure(RedisError(.cancelled, "the caller stopped waiting for \(command.name)")))
        }
        return try result.get()
    }

    public func send(_ name: String, _ arguments: RedisArgument...) async throws(RedisError) -> RedisValue {
        try await send(RedisCommand(name, arguments))
    }

    /// The preamble's reply is read in order and dropped: only the command is watched.
    private func enqueue(_ pending: PendingCommand, after preamble: RedisCommand?) {
        watchdog?.0.watch(pending)
        if !shared.enqueue(pending, after: preamble.map(PendingCommand.init)) {
            pending.complete(.failure(RedisError(.shutdown, "the Redis connection is shut down")))
        }
    }

    /// Stops the connection: commands already queued are still sent, later ones fail with
    /// `shutdown`, and a blocking read in progress is interrupted. Returns once the thread has ended;
    /// calling it again is harmless.
    public func shutdown() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            // pthread_join blocks; keep it off the cooperative pool.
            Thread.detachNewThread {
                self.close()
                continuation.resume()
            }
        }
    }

    /// `shutdown` for synchronous callers: blocks the calling thread until the threads have ended.
    func close() {
        // A blocking connection may sit in XREADGROUP BLOCK for a long time: wake it up.
        shared.stop(interruptingReads: configuration.commandTimeout == nil)
        watchdog?.0.stop()
        thread.join()
        watchdog?.1.join()
    }

    private static func serve(shared: Shared, worker: ConnectionWorker) {
        var batch: [PendingCommand] = []
        while shared.take(into: &batch) {
            worker.execute(batch, socketChanged: shared.setSocket)
            batch.removeAll(keepingCapacity: true)
        }
        shared.setSocket(-1)
        worker.disconnect()
    }
}

/// The part of a connection that only its thread touches: the hiredis context and reconnect state.
private final class ConnectionWorker: @unchecked Sendable {
    let configuration: RedisConfiguration
    private var context: UnsafeMutablePointer<redisContext>?
    private var backoff: Duration
    private var nextAttempt: ContinuousClock.Instant = .now
    private var lastConnectError: RedisError?
    /// `WAIT minReplicas replicaTimeout`, encoded once.
    private let waitCommand: RedisCommand

    init(configuration: RedisConfiguration) {
        self.configuration = configuration
        self.waitCommand = RedisCommand("WAIT", RedisArgument(configuration.minReplicas), RedisArgument(max(1, configuration.replicaTimeout.milliseconds)))
        self.backoff = configuration.reconnectBackoff
    }

    /// Sends a batch as one pipeline and completes every command in it.
    func execute(_ batch: [PendingCommand], socketChanged: (Int32) -> Void) {
        // Commands whose callers gave up before they were sent are not sent at all.
        let live = batch.filter { !$0.isCompleted }
        guard !live.isEmpty else { return }
        let context: UnsafeMutablePointer<redisContext>
        switch connect(socketChanged: socketChanged) {
        case .success(let connected): context = connected
        case .failure(let error):
            for pending in live { pending.complete(.failure(error)) }
            return
        }
        var appended: [PendingCommand] = []
        appended.reserveCapacity(live.count)
        for pending in live {
            if Self.append(pending.command, to: context) {
                appended.append(pending)
            } else {
                pending.complete(.failure(RedisError(.protocolError, "hiredis could not format \(pending.command.name)")))
            }
        }
        // One WAIT after the batch covers every write in it (and before it) on this connection.
        let replicas = configuration.minReplicas
        let waits = replicas > 0 && appended.contains { $0.command.awaitsReplicas } && Self.append(waitCommand, to: context)
        var awaiting: [(PendingCommand, RedisValue)] = []
        var failure: RedisError?
        for pending in appended {
            if let failure {
                pending.complete(.failure(failure))
                continue
            }
            var reply: UnsafeMutableRawPointer?
            if redisGetReply(context, &reply) != REDIS_OK || reply == nil {
                let error = ioError(context, command: pending.command.name)
                failure = error
                pending.complete(.failure(error))
                socketChanged(-1)
                disconnect()
                continue
            }
            let replyPointer = reply!.assumingMemoryBound(to: redisReply.self)
            let value = RedisValue(reply: replyPointer)
            freeReplyObject(reply)
            if case .error(let message) = value {
                pending.complete(.failure(RedisError(.serverError, message)))
            } else if waits && pending.command.awaitsReplicas {
                awaiting.append((pending, value))
            } else {
                pending.complete(.success(value))
            }
        }
        if waits, failure == nil {
            completeAfterWait(awaiting, replicas: replicas, context: context, socketChanged: socketChanged)
        } else {
            for (pending, _) in awaiting { pending.complete(.failure(failure ?? RedisError(.protocolError, "WAIT could not be sent"))) }
        }
    }

    /// Reads the batch's `WAIT` reply and completes the commands that awaited it: with their
    /// replies when enough replicas confirmed, else with `replicationShortfall`.
    private func completeAfterWait(_ awaiting: [(PendingCommand, RedisValue)], replicas: Int, context: UnsafeMutablePointer<redisContext>, socketChanged: (Int32) -> Void) {
        var reply: UnsafeMutableRawPointer?
        guard redisGetReply(context, &reply) == REDIS_OK, let reply else {
            let error = ioError(context, command: "WAIT")
            for (pending, _) in awaiting { pending.complete(.failure(error)) }
            socketChanged(-1)
            disconnect()
            return
        }
        let confirmed = RedisValue(reply: reply.assumingMemoryBound(to: redisReply.self))
        freeReplyObject(reply)
        guard let count = confirmed.integer, count >= replicas else {
            let error = RedisError(.replicationShortfall, "WAIT \(replicas) answered \(confirmed) within \(configuration.replicaTimeout): the write may not survive a failover")
            for (pending, _) in awaiting { pending.complete(.failure(error)) }
            return
        }
        for (pending, value) in awaiting { pending.complete(.success(value)) }
    }

    func disconnect() {
        if let context {
            redisFree(context)
            self.context = nil
        }
    }

    private func connect(socketChanged: (Int32) -> Void) -> Result<UnsafeMutablePointer<redisContext>, RedisError> {
        if let context { return .success(context) }
        let now = ContinuousClock.now
        if now < nextAttempt, let lastConnectError {
            return .failure(lastConnectError)
        }
        switch openContext() {
        case .success(let context):
            self.context = context
            backoff = configuration.reconnectBackoff
            lastConnectError = nil
            socketChanged(context.pointee.fd)
            return .success(context)
        case .failure(let error):
            lastConnectError = RedisError(.connectionFailed, "\(error.message) (next attempt after \(backoff))")
            nextAttempt = now + backoff
            backoff = min(backoff * 2, configuration.maximumReconnectBackoff)
            return .failure(error)
        }
    }

    private func openContext() -> Result<UnsafeMutablePointer<redisContext>, RedisError> {
        let endpoint = "\(configuration.host):\(configuration.port)"
        guard let context = redisConnectWithTimeout(configuration.host, Int32(configuration.port), Self.timeval(configuration.connectTimeout)) else {
            return .failure(RedisError(.connectionFailed, "cannot allocate a connection to \(endpoint)"))
        }
        if context.pointee.err != 0 {
            let error = RedisError(.connectionFailed, "cannot connect to \(endpoint): \(Self.errorString(context))")
            redisFree(context)
            return .failure(error)
        }
        _ = redisEnableKeepAlive(context)
        RedisReplyLimits.apply(to: context.pointee.reader)
        // The handshake runs under the connect timeout; commands under the command timeout.
        _ = redisSetTimeout(context, Self.timeval(configuration.connectTimeout))
        var handshake: [RedisCommand] = []
        if let password = configuration.password {
            if let username = configuration.username {
                handshake.append(RedisCommand("AUTH", RedisArgument(username), RedisArgument(password)))
            } else {
                handshake.append(RedisCommand("AUTH", RedisArgument(password)))
            }
        }
        if configuration.database != 0 {
            handshake.append(RedisCommand("SELECT", RedisArgument(configuration.database)))
        }
        for command in handshake {
            var reply: UnsafeMutableRawPointer?
            guard Self.append(command, to: context), redisGetReply(context, &reply) == REDIS_OK, let reply else {
                let error = RedisError(.connectionFailed, "\(command.name) failed on \(endpoint): \(Self.errorString(context))")
                redisFree(context)
                return .failure(error)
            }
            let value = RedisValue(reply: reply.assumingMemoryBound(to: redisReply.self))
            freeReplyObject(reply)
            if case .error(let message) = value {
                redisFree(context)
                // The server's message (WRONGPASS…) never contains the password itself.
                return .failure(RedisError(.connectionFailed, "\(command.name) rejected by \(endpoint): \(message)"))
            }
        }
        _ = redisSetTimeout(context, configuration.commandTimeout.map(Self.timeval) ?? Glibc.timeval(tv_sec: 0, tv_usec: 0))
        return .success(context)
    }

    private static func append(_ command: RedisCommand, to context: UnsafeMutablePointer<redisContext>) -> Bool {
        // hiredis copies the encoded command into its output buffer, so it only needs to live for the call.
        command.encoded.withUnsafeBytes { buffer -> Bool in
            guard let base = buffer.baseAddress else { return false }
            return redisAppendFormattedCommand(context, base.assumingMemoryBound(to: CChar.self), buffer.count) == REDIS_OK
        }
    }

    private func ioError(_ context: UnsafeMutablePointer<redisContext>, command: String) -> RedisError {
        let message = Self.errorString(context)
        if context.pointee.err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK), let timeout = configuration.commandTimeout {
            return RedisError(.timeout, "no reply to \(command) within \(timeout)")
        }
        return RedisError(.connectionLost, "connection lost during \(command): \(message.isEmpty ? "closed" : message)")
    }

    private static func errorString(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    private static func timeval(_ duration: Duration) -> Glibc.timeval {
        let (seconds, attoseconds) = duration.components
        return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}

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
        /// `stop` asked for reads to be interrupted: so is any connection made after it.
        private var interruptingReads = false

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
            self.interruptingReads = interruptingReads
            if interruptingReads, socket >= 0 {
                _ = Glibc.shutdown(socket, Int32(SHUT_RDWR))
            }
            condition.signal()
        }

        func setSocket(_ value: Int32) {
            condition.lock()
            defer { condition.unlock() }
            socket = value
            // The thread was still connecting when `stop` came, for a command queued before it:
            // its blocking read would hold `close` for ever. Interrupted at once, it fails.
            if !running, interruptingReads, value >= 0 {
                _ = Glibc.shutdown(value, Int32(SHUT_RDWR))
            }
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
        let pending = PendingCommand(command, mayMerge: preamble == nil)
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
        if !shared.enqueue(pending, after: preamble.map { PendingCommand($0) }) {
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
        // A write to a socket the server closed raises SIGPIPE, whose default is to end the
        // process; OpenSSL writes with write(2), which cannot be told otherwise. Blocked in this
        // thread, it only makes the write fail with EPIPE.
        var pipe = sigset_t()
        sigemptyset(&pipe)
        sigaddset(&pipe, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipe, nil)
        var batch: [PendingCommand] = []
        while shared.take(into: &batch) {
            worker.execute(batch, socketChanged: shared.setSocket)
            batch.removeAll(keepingCapacity: true)
        }
        shared.setSocket(-1)
        worker.disconnect()
    }
}

/// The part of a connection that only its thread touches: the link to Redis and reconnect state.
private final class ConnectionWorker: @unchecked Sendable {
    let configuration: RedisConfiguration
    private var link: RedisLink?
    private var backoff: Duration
    private var nextAttempt: ContinuousClock.Instant = .now
    private var lastConnectError: RedisError?
    /// `WAIT minReplicas replicaTimeout`, encoded once.
    private let waitCommand: RedisCommand
    /// The batch's commands in RESP, one write; kept to reuse its storage.
    private var output: [UInt8] = []

    init(configuration: RedisConfiguration) {
        self.configuration = configuration
        self.waitCommand = RedisCommand(
            "WAIT", RedisArgument(configuration.minReplicas), RedisArgument(max(1, configuration.replicaTimeout.milliseconds)))
        self.backoff = configuration.reconnectBackoff
    }

    /// Sends a batch as one pipeline and completes every command in it.
    func execute(_ batch: [PendingCommand], socketChanged: (Int32) -> Void) {
        // Commands whose callers gave up before they were sent are not sent at all.
        let live = batch.filter { !$0.isCompleted }
        guard !live.isEmpty else { return }
        let link: RedisLink
        switch connect(socketChanged: socketChanged) {
        case .success(let connected): link = connected
        case .failure(let error):
            for pending in live { pending.complete(.failure(error)) }
            return
        }
        // Script items queued together go out as one call per script and shared keys (group commit).
        let commands = live.map(\.command)
        let plan = PipelinePlan(commands, mayMerge: { live[$0].mayMerge })
        output.removeAll(keepingCapacity: true)
        plan.write(commands, to: &output)
        // One WAIT after the batch covers every write in it (and before it) on this connection.
        let replicas = configuration.minReplicas
        let waits = replicas > 0 && live.contains { $0.command.awaitsReplicas }
        if waits { output.append(contentsOf: waitCommand.encoded) }
        do throws(LinkFailure) {
            try link.send(output, timeout: configuration.commandTimeout)
        } catch {
            fail(live, with: linkError(error, link: link, command: live[0].command.name), socketChanged: socketChanged)
            return
        }
        var awaiting: [(PendingCommand, RedisValue)] = []
        for (position, call) in plan.calls.enumerated() {
            let name = commands[call.commands[0]].name
            let value: RedisValue
            do throws(LinkFailure) {
                value = try link.reply(timeout: configuration.commandTimeout)
            } catch {
                let unanswered = plan.calls[position...].flatMap { $0.commands.map { live[$0] } }
                fail(unanswered + awaiting.map(\.0), with: linkError(error, link: link, command: name), socketChanged: socketChanged)
                return
            }
            for (index, answer) in zip(call.commands, PipelinePlan.answers(to: value, of: call, name: name)) {
                let pending = live[index]
                switch answer {
                case .success(let value) where waits && pending.command.awaitsReplicas:
                    awaiting.append((pending, value))
                default:
                    pending.complete(answer)
                }
            }
        }
        if waits {
            completeAfterWait(awaiting, replicas: replicas, link: link, socketChanged: socketChanged)
        }
    }

    /// Fails the commands whose replies will not come and drops the connection: its replies can no
    /// longer be matched to commands.
    private func fail<Commands: Sequence<PendingCommand>>(_ commands: Commands, with error: RedisError, socketChanged: (Int32) -> Void) {
        for pending in commands { pending.complete(.failure(error)) }
        socketChanged(-1)
        disconnect()
    }

    /// Reads the batch's `WAIT` reply and completes the commands that awaited it: with their
    /// replies when enough replicas confirmed, else with `replicationShortfall`.
    private func completeAfterWait(_ awaiting: [(PendingCommand, RedisValue)], replicas: Int, link: RedisLink, socketChanged: (Int32) -> Void) {
        let confirmed: RedisValue
        do throws(LinkFailure) {
            confirmed = try link.reply(timeout: configuration.commandTimeout)
        } catch {
            fail(awaiting.map(\.0), with: linkError(error, link: link, command: "WAIT"), socketChanged: socketChanged)
            return
        }
        guard let count = confirmed.integer, count >= replicas else {
            let error = RedisError(
                .replicationShortfall,
                "WAIT \(replicas) answered \(confirmed) within \(configuration.replicaTimeout): the write may not survive a failover")
            for (pending, _) in awaiting { pending.complete(.failure(error)) }
            return
        }
        for (pending, value) in awaiting { pending.complete(.success(value)) }
    }

    func disconnect() {
        link = nil
    }

    private func connect(socketChanged: (Int32) -> Void) -> Result<RedisLink, RedisError> {
        if let link { return .success(link) }
        let now = ContinuousClock.now
        if now < nextAttempt, let lastConnectError {
            return .failure(lastConnectError)
        }
        switch open() {
        case .success(let link):
            self.link = link
            backoff = configuration.reconnectBackoff
            lastConnectError = nil
            socketChanged(link.socket.descriptor)
            return .success(link)
        case .failure(let error):
            lastConnectError = RedisError(.connectionFailed, "\(error.message) (next attempt after \(backoff))")
            nextAttempt = now + backoff
            backoff = min(backoff * 2, configuration.maximumReconnectBackoff)
            return .failure(error)
        }
    }

    /// Connects (TLS handshake included) and authenticates, all under the connect timeout.
    private func open() -> Result<RedisLink, RedisError> {
        let endpoint = "\(configuration.host):\(configuration.port)"
        let socket: RedisSocket
        switch RedisSocket.connect(host: configuration.host, port: configuration.port, timeout: configuration.connectTimeout, tls: configuration.tls)
        {
        case .success(let connected): socket = connected
        case .failure(let error): return .failure(error)
        }
        guard let link = RedisLink(socket: socket) else {
            return .failure(RedisError(.connectionFailed, "cannot allocate a reply reader for \(endpoint)"))
        }
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
            let value: RedisValue
            do throws(LinkFailure) {
                try link.send(command.encoded, timeout: configuration.connectTimeout)
                value = try link.reply(timeout: configuration.connectTimeout)
            } catch {
                return .failure(
                    RedisError(
                        .connectionFailed, "\(command.name) failed on \(endpoint): \(linkError(error, link: link, command: command.name).message)"))
            }
            if case .error(let message) = value {
                // The server's message (WRONGPASS…) never contains the password itself.
                return .failure(RedisError(.connectionFailed, "\(command.name) rejected by \(endpoint): \(message)"))
            }
        }
        return .success(link)
    }

    /// Why a server may drop a connection before its first reply: a TLS port closes a plain-text
    /// connection at its first bytes; and TLS 1.3 ends the handshake before the server has checked
    /// the client's certificate, so a refused (or missing) one shows only now.
    private func firstReplyHint(_ link: RedisLink) -> String {
        guard link.repliesRead == 0 else { return "" }
        guard let tls = configuration.tls else {
            return " before its first reply (if the server serves TLS on this port, use rediss://)"
        }
        return tls.certificateFile == nil
            ? " before its first reply (does the server ask for a client certificate? mutual TLS needs one)"
            : " before its first reply (did the server refuse the client certificate? it must come from a CA the server trusts)"
    }

    private func linkError(_ failure: LinkFailure, link: RedisLink, command: String) -> RedisError {
        switch failure {
        case .protocolError(let reason):
            return RedisError(.protocolError, "unreadable reply to \(command): \(reason)")
        case .socket(.timedOut):
            return RedisError(.timeout, "no reply to \(command) within \(configuration.commandTimeout ?? configuration.connectTimeout)")
        case .socket(.closed):
            return RedisError(.connectionLost, "connection lost during \(command): closed by the server\(firstReplyHint(link))")
        case .socket(.failed(let reason)):
            return RedisError(.connectionLost, "connection lost during \(command): \(reason)\(firstReplyHint(link))")
        }
    }
}

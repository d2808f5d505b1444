import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A POSIX thread that can be joined, so that shutting a connection down waits until its thread
/// has really finished with the socket.
final class JoinableThread: @unchecked Sendable {
    // Written once in init, read only by the one `join` that wins `joined`.
    private var handle: pthread_t
    /// Joining a thread twice is undefined behaviour: held while joining, true once joined.
    private let joined = Mutex<Bool>(false)

    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    init(_ run: @escaping @Sendable () -> Void) throws(RedisError) {
        let body = Unmanaged.passRetained(Body(run))
        #if canImport(Glibc)
            var handle = pthread_t()
        #else
            var handle: pthread_t?
        #endif
        let result = pthread_create(
            &handle, nil,
            { context in
                guard let context else { return nil }
                Unmanaged<Body>.fromOpaque(context).takeRetainedValue().run()
                return nil
            }, body.toOpaque())
        guard result == 0 else {
            body.release()
            throw RedisError(.connectionFailed, "could not start a connection thread (pthread_create: \(result))")
        }
        #if canImport(Glibc)
            self.handle = handle
        #else
            self.handle = handle!
        #endif
    }

    /// Waits for the thread to return. Only the first call joins (true); a concurrent call waits
    /// for that one, and later calls return at once (false).
    @discardableResult
    func join() -> Bool {
        joined.withLock { joined in
            guard !joined else { return false }
            _ = pthread_join(handle, nil)
            joined = true
            return true
        }
    }
}

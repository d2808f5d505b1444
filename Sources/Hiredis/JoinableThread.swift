#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A POSIX thread that can be joined, so that shutting a connection down waits until its thread
/// has really finished with the socket.
final class JoinableThread: @unchecked Sendable {
    // Written once in init, read once by `join`; never shared otherwise.
    private var handle: pthread_t

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
        let result = pthread_create(&handle, nil, { context in
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

    /// Waits for the thread to return.
    func join() {
        _ = pthread_join(handle, nil)
    }
}

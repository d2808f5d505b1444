import CustomerIO
import EventQueue
import Foundation
import HTTPTypes
import Logging
import Receiver
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Clients that break HTTP on purpose, against the real webhook server on a loopback port: each gets
/// a clear answer or a closed connection, nothing is queued for it, genuine webhooks keep being
/// answered, and memory stays bounded.
@Suite("Hostile clients on the webhook port")
struct HostileClientTests {
    /// Short enough that the tests do not wait long for a deadline.
    static let limits = ConnectionLimits(requestTimeout: .seconds(2), idleTimeout: .seconds(30))
    /// For the requests that must be refused and closed at once: deadlines far beyond the test, so
    /// that a close can only come from the refusal.
    static let patient = ConnectionLimits(requestTimeout: .seconds(60), idleTimeout: .seconds(60))

    private func withLiveServer(
        limits: ConnectionLimits = limits, _ body: @escaping @Sendable (ReceiverHarness, Int, WebhookTestClient) async throws -> Void
    ) async throws {
        try await withShutdown(try ReceiverHarness()) { harness in
            var logger = Logger(label: "hostile-clients")
            logger.logLevel = .warning  // a notice per closed connection would flood the test output
            try await withWebhookServer(harness.routes, limits: limits, logger: logger) { client in
                let port = client.port
                try await body(harness, port, client)
            }
        }
    }

    private func queued(_ harness: ReceiverHarness) async throws -> Int {
        try await harness.queue.length(of: harness.queue.keys.events)
    }

    /// A whole signed request as bytes, with any extra header lines.
    private func signedRequest(_ body: [UInt8], key: SigningKey = ReceiverHarness.currentKey, extra: String = "") -> [UInt8] {
        var head = "POST /webhooks/customerio HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(body.count)\r\n"
        for (name, value) in customerIOHeaders(body: body, key: key) { head += "\(name): \(value)\r\n" }
        return Array((head + extra + "\r\n").utf8) + body
    }

    /// A hundred here, in the test process; `IntegrationTests/slowloris.py` runs a thousand against the
    /// real binary, in a process of its own, and measures its memory.
    @Test func connectionsThatNeverFinishTheirHeadersDoNotHoldUpGenuineWebhooks() async throws {
        try await withLiveServer { harness, port, client in
            let before = residentMemoryBytes()
            var stalled: [RawConnection] = []
            for index in 0..<100 {
                let connection = try RawConnection(port: port)
                #expect(connection.send(Array("POST /webhooks/customerio HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow-\(index): ".utf8)))
                stalled.append(connection)
            }
            let during = residentMemoryBytes()
            for _ in 0..<20 {
                let id = Fixtures.newEventID()
                let start = ContinuousClock.now
                let response = try await harness.signedPost(client, body: Fixtures.event(id: id))
                #expect(response.status == .ok)
                #expect(ContinuousClock.now - start < .seconds(4), "Customer.io gives up after 4 s")
            }
            // Every stalled connection is closed by the server once the request timeout has run
            // from when the server read its first bytes (later than they were sent when the
            // machine is busy: the deadline here is generous, the server's is 2 s).
            let closed = await RawConnection.countClosed(stalled, within: .seconds(60))
            for connection in stalled { connection.close() }
            #expect(closed == 100)
            #expect(try await queued(harness) == 20)
            #expect(during - before < 50 << 20, "100 stalled connections must not cost more than 50 MiB")
        }
    }

    @Test func aBodyOneBytePerSecondIsCutOffAndNothingIsQueued() async throws {
        try await withLiveServer { harness, port, _ in
            let body = Fixtures.event(id: Fixtures.newEventID())
            let request = signedRequest(body)
            let connection = try RawConnection(port: port)
            defer { connection.close() }
            #expect(connection.send(Array(request.dropLast(body.count))))
            var sent = 0
            let start = ContinuousClock.now
            while sent < 10, connection.send([body[sent]]) {
                sent += 1
                try await Task.sleep(for: .seconds(1))
                if await connection.readUntilClosed(timeout: .milliseconds(10)).closed { break }
            }
            let end = await connection.readUntilClosed(timeout: .seconds(3))
            #expect(end.closed && end.statuses.allSatisfy { $0 != 200 })
            #expect(ContinuousClock.now - start < .seconds(6), "cut off at the request timeout, not when the body ends")
            #expect(try await queued(harness) == 0)
        }
    }

    @Test func contentLengthWithChunkedTransferEncodingIsRefused() async throws {
        try await withLiveServer(limits: Self.patient) { harness, port, _ in
            let body = Fixtures.event(id: Fixtures.newEventID())
            var head = "POST /webhooks/customerio HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(body.count)\r\nTransfer-Encoding: chunked\r\n"
            for (name, value) in customerIOHeaders(body: body, key: ReceiverHarness.currentKey) { head += "\(name): \(value)\r\n" }
            let chunked = Array("\(String(body.count, radix: 16))\r\n".utf8) + body + Array("\r\n0\r\n\r\n".utf8)
            let connection = try RawConnection(port: port)
            defer { connection.close() }
            _ = connection.send(Array((head + "\r\n").utf8) + chunked)
            let answer = await connection.readUntilClosed(timeout: .seconds(3))
            #expect(answer.closed && answer.statuses == [400], "\(answer.statuses)")
            #expect(try await queued(harness) == 0)
        }
    }

    @Test func aChunkedBodyGrowingPastTheLimitIsRefused() async throws {
        try await withLiveServer { harness, port, _ in
            let head =
                "POST /webhooks/customerio HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nX-CIO-Timestamp: \(Int(Date().timeIntervalSince1970))\r\nX-CIO-Signature: \(String(repeating: "0", count: 64))\r\n\r\n"
            let connection = try RawConnection(port: port)
            defer { connection.close() }
            _ = connection.send(Array(head.utf8))
            let chunk = Array("400\r\n".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 1024) + Array("\r\n".utf8)
            for _ in 0..<64 where connection.send(chunk) {}  // 64 KiB against a 4 KiB limit
            let answer = await connection.readUntilClosed(timeout: .seconds(3))
            #expect(answer.statuses == [413] || (answer.statuses.isEmpty && answer.closed), "\(answer)")
            #expect(try await queued(harness) == 0)
        }
    }

    /// The headers are built in the test, not passed as arguments: the test runner prints its
    /// arguments, and a megabyte of them in every log helps nobody.
    @Test(arguments: ["10,000 tiny headers", "a header line of 1 MiB"])
    func oversizedHeadersAreRefused(name: String) async throws {
        let headers =
            name.hasPrefix("10,000")
            ? String(repeating: "X-T: 1\r\n", count: 10_000) : "X-Big: " + String(repeating: "b", count: 1 << 20) + "\r\n"
        try await withLiveServer(limits: Self.patient) { harness, port, _ in
            let connection = try RawConnection(port: port)
            defer { connection.close() }
            _ = connection.send(signedRequest(Fixtures.event(id: Fixtures.newEventID()), extra: headers))
            let answer = await connection.readUntilClosed(timeout: .seconds(3))
            #expect(answer.closed && answer.statuses == [400], "\(name): \(answer.statuses)")
            #expect(try await queued(harness) == 0)
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrderAndAForgedOneInTheMiddleQueuesNothing() async throws {
        try await withLiveServer { harness, port, _ in
            let bodies = (0..<3).map { _ in Fixtures.event(id: Fixtures.newEventID()) }
            let pipeline =
                signedRequest(bodies[0]) + signedRequest(bodies[1], key: SigningKey("attacker"))
                + signedRequest(bodies[2], extra: "Connection: close\r\n")
            let connection = try RawConnection(port: port)
            defer { connection.close() }
            #expect(connection.send(pipeline))
            let answer = await connection.readUntilClosed(timeout: .seconds(3))
            #expect(answer.statuses == [200, 401, 200])
            #expect(try await queued(harness) == 2)
        }
    }
}

/// The two ends of a kept-alive connection the server decides: the idle timeout, and graceful
/// shutdown.
@Suite("Kept-alive connections on the webhook port")
struct KeptAliveConnectionTests {
    private static func signedRequest() -> [UInt8] {
        let body = Fixtures.event(id: Fixtures.newEventID())
        var head = "POST /webhooks/customerio HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(body.count)\r\n"
        for (name, value) in customerIOHeaders(body: body, key: ReceiverHarness.currentKey) { head += "\(name): \(value)\r\n" }
        return Array((head + "\r\n").utf8) + body
    }

    @Test func aConnectionWithNoRequestForTheIdleTimeoutIsClosed() async throws {
        try await withShutdown(try ReceiverHarness()) { harness in
            let limits = ConnectionLimits(requestTimeout: .seconds(2), idleTimeout: .seconds(1))
            try await withWebhookServer(harness.routes, limits: limits, logger: .quiet("webhooks")) { client in
                let connection = try RawConnection(port: client.port)
                defer { connection.close() }
                #expect(connection.send(Self.signedRequest()))
                let answered = await connection.readUntilClosed(timeout: .milliseconds(500))
                #expect(answered.statuses == [200] && !answered.closed, "answered and kept alive: \(answered)")
                let start = ContinuousClock.now
                let end = await connection.readUntilClosed(timeout: .seconds(5))
                #expect(end.closed, "closed once idle for the idle timeout")
                #expect(ContinuousClock.now - start < .seconds(5), "closed by the idle timeout (1 s), not left open")
            }
        }
    }

    @Test func gracefulShutdownClosesAKeptAliveConnectionAtOnce() async throws {
        try await withShutdown(try ReceiverHarness()) { harness in
            // An idle timeout far longer than the test: only the shutdown can close the connection.
            let limits = ConnectionLimits(requestTimeout: .seconds(2), idleTimeout: .seconds(60))
            let start = ContinuousClock.now
            let connection = try await withWebhookServer(harness.routes, limits: limits, logger: .quiet("webhooks")) { client in
                let connection = try RawConnection(port: client.port)
                #expect(connection.send(Self.signedRequest()))
                let answered = await connection.readUntilClosed(timeout: .milliseconds(500))
                #expect(answered.statuses == [200] && !answered.closed)
                return connection
            }
            defer { connection.close() }
            #expect(ContinuousClock.now - start < .seconds(10), "the shutdown did not wait for the idle timeout")
            #expect(await connection.readUntilClosed(timeout: .seconds(1)).closed)
            #expect(try await harness.queue.length(of: harness.queue.keys.events) == 1)
        }
    }
}

/// The resident set of this process (the server runs in it), from /proc.
func residentMemoryBytes() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
}

/// A raw TCP client for hostile requests. Blocking reads run on a thread of their own, so that
/// they never hold a thread of the cooperative pool the server's handlers need.
final class RawConnection: @unchecked Sendable {
    private let descriptor: Int32

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestSetupError("socket() failed: \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(descriptor)
            throw TestSetupError("connect() failed: \(errno)")
        }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends all of `bytes`; false when the server closed or stopped reading.
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }

    /// Reads until the server closes the connection or `timeout` passes; the HTTP statuses seen.
    func readUntilClosed(timeout: Duration) async -> (statuses: [Int], closed: Bool) {
        let descriptor = self.descriptor
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var received: [UInt8] = []
                var closed = false
                let deadline = ContinuousClock.now + timeout
                var buffer = [UInt8](repeating: 0, count: 65536)
                while ContinuousClock.now < deadline {
                    var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                    let left = Int32(max(1, (deadline - ContinuousClock.now) / .milliseconds(1)))
                    guard poll(&poller, 1, left) > 0 else { break }
                    let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
                    if count <= 0 {
                        closed = true
                        break
                    }
                    received += buffer[..<count]
                }
                continuation.resume(returning: (Self.statuses(in: received), closed))
            }
        }
    }

    func close() {
        Glibc.close(descriptor)
    }

    /// How many of the connections the server closes within `timeout`, watched all at once.
    static func countClosed(_ connections: [RawConnection], within timeout: Duration) async -> Int {
        let descriptors = connections.map(\.descriptor)
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var open = Set(descriptors)
                let deadline = ContinuousClock.now + timeout
                var buffer = [UInt8](repeating: 0, count: 4096)
                while !open.isEmpty, ContinuousClock.now < deadline {
                    var pollers = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
                    guard poll(&pollers, nfds_t(pollers.count), 100) >= 0 else { break }
                    for poller in pollers where poller.revents != 0 {
                        let count = buffer.withUnsafeMutableBytes { recv(poller.fd, $0.baseAddress, $0.count, 0) }
                        if count <= 0 { open.remove(poller.fd) }
                    }
                }
                continuation.resume(returning: descriptors.count - open.count)
            }
        }
    }

    /// The status of every `HTTP/1.1 NNN` status line in `bytes`.
    static func statuses(in bytes: [UInt8]) -> [Int] {
        let text = String(decoding: bytes, as: UTF8.self)
        return text.components(separatedBy: "HTTP/1.1 ").dropFirst().compactMap { Int($0.prefix(3)) }
    }
}

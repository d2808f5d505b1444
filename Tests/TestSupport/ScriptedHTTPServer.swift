import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A stand-in for the HTTP APIs the service calls (Customer.io's Track API, BigQuery's canned
/// answers) inside the tests: a local HTTP server that records every request and answers as
/// scripted (200, 207 with item errors, 4xx, 429 with `Retry-After`, 5xx, or no answer at all).
public final class ScriptedHTTPServer: ShutdownAfterTest {
    public struct RecordedRequest: Sendable, Hashable {
        public let method: String
        public let path: String
        public let authorization: String?
        public let body: [UInt8]
        public let receivedAt: ContinuousClock.Instant

        /// The body as JSON.
        public var json: Any? { try? JSONSerialization.jsonObject(with: Data(body)) }
        /// The `batch` array of a v2 request.
        public var batch: [[String: Any]] { (json as? [String: Any])?["batch"] as? [[String: Any]] ?? [] }
    }

    public struct Answer: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: String
        /// Wait this long before answering; `.seconds(3600)` is "hang".
        public var delay: Duration

        public init(status: Int = 200, headers: [String: String] = [:], body: String = "{}", delay: Duration = .zero) {
            self.status = status
            self.headers = headers
            self.body = body
            self.delay = delay
        }

        public static let ok = Answer()
        public static func itemErrors(_ indices: [Int]) -> Answer {
            let errors = indices.map { #"{"batch_index":\#($0),"reason":"invalid","field":"attributes","message":"value too long"}"# }
            return Answer(status: 207, body: #"{"errors":[\#(errors.joined(separator: ","))]}"#)
        }
    }

    private struct State {
        var requests: [RecordedRequest] = []
        var answered: [RecordedRequest] = []
        var scripted: [Answer] = []
    }
    /// Shared with the route handlers.
    private final class Recorder: Sendable {
        let state = Mutex(State())
    }
    private let recorder = Recorder()
    private let fallback: Answer
    private let task: Mutex<Task<Void, any Error>?> = Mutex(nil)
    public let port: Int

    /// Starts the server on a free loopback port; `fallback` answers whatever was not scripted.
    public init(fallback: Answer = .ok) async throws {
        self.fallback = fallback
        let (portStream, portContinuation) = AsyncStream<Int>.makeStream()
        let router = Router()
        let recorder = self.recorder
        let fallbackAnswer = fallback
        for method in [HTTPRequest.Method.get, .put, .post, .patch] {
            router.on("**", method: method) { request, _ in try await Self.respond(request, recorder: recorder, fallback: fallbackAnswer) }
        }
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: nil),
            onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) },
            logger: Self.quietLogger
        )
        let running = Task { try await app.runService(gracefulShutdownSignals: []) }
        var iterator = portStream.makeAsyncIterator()
        guard let bound = await iterator.next(), bound > 0 else {
            running.cancel()
            throw TestSetupError("the scripted HTTP test server did not start")
        }
        self.port = bound
        task.withLock { $0 = running }
    }

    private static func respond(_ request: Request, recorder: Recorder, fallback: Answer) async throws -> Response {
        var buffer = try await request.body.collect(upTo: 4 << 20)
        let recorded = RecordedRequest(
            method: request.method.rawValue,
            path: request.uri.path,
            authorization: request.headers[.authorization],
            body: buffer.readBytes(length: buffer.readableBytes) ?? [],
            receivedAt: .now
        )
        let answer = recorder.state.withLock { state -> Answer in
            state.requests.append(recorded)
            return state.scripted.isEmpty ? fallback : state.scripted.removeFirst()
        }
        if answer.delay > .zero { try await Task.sleep(for: answer.delay) }
        recorder.state.withLock { $0.answered.append(recorded) }
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        for (name, value) in answer.headers {
            if let field = HTTPField.Name(name) { headers[field] = value }
        }
        return Response(status: .init(code: answer.status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: answer.body)))
    }

    /// Stopping by cancellation makes Hummingbird log errors that mean nothing here.
    private static var quietLogger: Logger { .quiet("scripted-http-server") }

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// The next requests get these answers, in order; later ones get the fallback.
    public func script(_ answers: Answer...) {
        recorder.state.withLock { $0.scripted += answers }
    }

    public var requests: [RecordedRequest] { recorder.state.withLock { $0.requests } }

    /// The requests in the order they were answered, after any delay: the order in which a
    /// server that applies a request as it answers it applied them (the last one wins).
    public var answered: [RecordedRequest] { recorder.state.withLock { $0.answered } }

    public func reset() {
        recorder.state.withLock { $0 = State() }
    }

    public func shutdown() async {
        let running = task.withLock { $0 }
        running?.cancel()
        _ = try? await running?.value
    }
}

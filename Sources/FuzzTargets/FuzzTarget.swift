@_spi(Fuzzing) import CustomerIO
import Foundation
@_spi(Fuzzing) import Hiredis
import Warehouse
import Worker

/// An input that broke an invariant of a fuzz target: the target, and what went wrong.
public struct FuzzFinding: Error, Sendable, CustomStringConvertible {
    public let target: FuzzTarget
    public let message: String

    public var description: String { "\(target.rawValue): \(message)" }
}

/// The parsers that take bytes from outside, each with the invariants its input must never break.
/// A crash, a sanitizer report or a thrown `FuzzFinding` is a defect. `scripts/fuzz.sh` drives them
/// with libFuzzer; the test suite replays their corpora (`Fuzz/corpus/<target>`) through `run`.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// The envelope scanner against Foundation's JSON parser: same verdict, same fields.
    case envelope
    /// `X-CIO-Signature` and `X-CIO-Timestamp` (the input split at its first NUL), then verification.
    case signatureHeader = "signature-header"
    /// Bytes a Redis server could send, through hiredis' reader and the conversion to `RedisValue`.
    case redisReply = "redis-reply"
    /// A `policy:` YAML document.
    case policy
    /// `REDIS_URL`.
    case redisURL = "redis-url"
    /// `WAREHOUSE_URL`.
    case warehouseURL = "warehouse-url"
    /// A webhook body through `WebhookEvent` into a warehouse row.
    case warehouseRow = "warehouse-row"

    /// Runs one input; throws when an invariant does not hold.
    public func run(_ bytes: [UInt8]) throws(FuzzFinding) {
        switch self {
        case .envelope: try EnvelopeDifferential.check(bytes)
        case .signatureHeader: try Self.signatureHeader(bytes)
        case .redisReply: try Self.redisReply(bytes)
        case .policy: Self.policy(bytes)
        case .redisURL: try Self.redisURL(bytes)
        case .warehouseURL: try Self.warehouseURL(bytes)
        case .warehouseRow: try Self.warehouseRow(bytes)
        }
    }

    func finding(_ message: String) -> FuzzFinding {
        FuzzFinding(target: self, message: message)
    }

    private static func signatureHeader(_ bytes: [UInt8]) throws(FuzzFinding) {
        let parts = bytes.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        let signatureText = parts.first.map { String(decoding: $0, as: UTF8.self) }
        let timestampText = parts.count > 1 ? String(decoding: parts[1], as: UTF8.self) : nil
        let body = parts.count > 2 ? Array(parts[2]) : []
        guard let parsed = try? WebhookSignature(signature: signatureText, timestamp: timestampText) else { return }
        _ = try? parsed.checkFreshness(now: 1_767_235_000, tolerance: 300)
        let key = SigningKey("fuzz-key")
        _ = try? parsed.verify(body: body, keys: [key])
        // Whatever timestamp text was accepted, a signature made over that text must verify.
        let genuine = WebhookSignature.sign(body: body, timestampText: parsed.timestampText, key: key)
        guard let resigned = try? WebhookSignature(signature: genuine, timestamp: parsed.timestampText),
            (try? resigned.verify(body: body, keys: [SigningKey("other"), key])) == 1
        else {
            throw FuzzTarget.signatureHeader.finding("a genuine signature for accepted timestamp '\(parsed.timestampText)' did not verify")
        }
    }

    private static func redisReply(_ bytes: [UInt8]) throws(FuzzFinding) {
        let whole = RedisReplyReader.values(from: bytes)
        // hiredis reads incrementally: the same bytes in two pieces give the same replies.
        let split = RedisReplyReader.values(from: bytes, feedingAt: bytes.count / 2)
        guard whole.values == split.values, whole.protocolError == split.protocolError else {
            throw FuzzTarget.redisReply.finding("reading in one piece gave \(whole), in two \(split)")
        }
    }

    private static func policy(_ bytes: [UInt8]) {
        _ = try? PolicyParser.parse(yaml: String(decoding: bytes, as: UTF8.self), source: "fuzz")
    }

    private static func redisURL(_ bytes: [UInt8]) throws(FuzzFinding) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let configuration = try? RedisConfiguration(url: text) else { return }
        guard !configuration.host.isEmpty, (1...65535).contains(configuration.port), configuration.database >= 0 else {
            throw FuzzTarget.redisURL.finding(
                "accepted '\(text)' as host '\(configuration.host)', port \(configuration.port), database \(configuration.database)")
        }
    }

    private static func warehouseURL(_ bytes: [UInt8]) throws(FuzzFinding) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let location = try? WarehouseLocation(url: text) else { return }
        // The description goes to logs: it must never carry the password of a PostgreSQL URL.
        if case .postgres = location, let components = URLComponents(string: text), let password = components.password, !password.isEmpty,
            location.description.contains(":\(password)@")
        {
            throw FuzzTarget.warehouseURL.finding("the log form of '\(text)' shows its password")
        }
    }

    private static func warehouseRow(_ bytes: [UInt8]) throws(FuzzFinding) {
        guard let event = try? WebhookEvent.parse(bytes) else { return }
        let row = WarehouseRow(event: event, workspace: "fuzz", receivedAt: 1_767_235_000_000, body: String(decoding: bytes, as: UTF8.self))
        guard row.values.count == WarehouseRow.columns.count, row["event_id"] == .text(event.eventID) else {
            throw FuzzTarget.warehouseRow.finding(
                "the row of \(event.eventID) has \(row.values.count) values for \(WarehouseRow.columns.count) columns")
        }
    }
}

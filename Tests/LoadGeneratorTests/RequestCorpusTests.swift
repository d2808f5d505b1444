import CustomerIO
import Foundation
import LoadGenerator
import Testing

@Suite("Request corpora for wrk")
struct RequestCorpusTests {
    /// Splits a corpus file into its records: the first line is the record length.
    static func records(_ path: String) throws -> [String] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let newline = try #require(text.firstIndex(of: "\n"))
        let size = try #require(Int(text[..<newline]))
        let bytes = Array(text[text.index(after: newline)...].utf8)
        #expect(bytes.count % size == 0, "every record is \(size) bytes")
        return stride(from: 0, to: bytes.count, by: size).map { String(decoding: bytes[$0..<min(bytes.count, $0 + size)], as: UTF8.self) }
    }

    @Test func requestsAreDealtOverTheFilesEqualInLengthAndVerifiable() throws {
        let prefix = FileManager.default.temporaryDirectory.appendingPathComponent("corpus-\(UUID().uuidString)").path
        let written = try RequestCorpus(secret: "bench-key").write(
            count: 7, feed: .generated(SampleEventGenerator(runID: "t")), files: 3, prefix: prefix, timestamp: 1_767_225_600)
        #expect(written == 7)
        let files = try (0..<3).map { try Self.records("\(prefix).\($0)") }
        #expect(files.map(\.count) == [3, 2, 2])
        var eventIDs: Set<String> = []
        for record in files.joined() {
            let parts = record.components(separatedBy: "\r\n\r\n")
            let headers = parts[0].components(separatedBy: "\r\n")
            #expect(headers[0] == "POST /webhooks/customerio HTTP/1.1" && headers.contains("Host: 127.0.0.1"))
            func header(_ name: String) -> String? { headers.first { $0.hasPrefix(name + ": ") }.map { String($0.dropFirst(name.count + 2)) } }
            let body = Array(parts[1].utf8)
            #expect(header("Content-Length") == String(body.count))
            let signature = try WebhookSignature(
                signature: header(WebhookSignature.signatureHeader), timestamp: header(WebhookSignature.timestampHeader))
            #expect(throws: Never.self) { try signature.verify(body: body, keys: [SigningKey("bench-key")]) }
            #expect(throws: SignatureError.self) { try signature.verify(body: body, keys: [SigningKey("another-key")]) }
            eventIDs.insert(try WebhookEnvelope.parse(body).eventID)
        }
        #expect(eventIDs.count == 7, "every request is a distinct event")
    }
}

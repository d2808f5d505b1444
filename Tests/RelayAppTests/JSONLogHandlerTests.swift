import Foundation
import Logging
import Synchronization
import Testing

@testable import RelayApp

@Suite("JSON logs")
struct JSONLogHandlerTests {
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        func append(_ line: String) { lines.withLock { $0.append(line) } }
        var all: [String] { lines.withLock { $0 } }
    }

    @Test func linesAreJSONWithoutSecretsOrEmailAddresses() throws {
        let lines = Lines()
        let logger = Logger(label: "test") { label in JSONLogHandler(label: label, level: .debug, output: lines.append) }
        logger.warning(
            "bounce for maria@example.org rejected",
            metadata: [
                "workspace": "eu",
                "signature": "abcdef0123",
                "webhook_secret": "s3cret",
                "recipient_email": "x@y.io",
                "detail": "from <sam@example.net>",
            ])
        let line = try #require(lines.all.first)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(object["level"] == "warning")
        #expect(object["logger"] == "test")
        #expect(object["workspace"] == "eu")
        #expect(object["msg"] == "bounce for [email] rejected")
        #expect(object["detail"] == "from <[email]>")
        #expect(object["signature"] == "[redacted]")
        #expect(object["webhook_secret"] == "[redacted]")
        #expect(object["recipient_email"] == "[redacted]")
        #expect(object["ts"] != nil)
        #expect(!line.contains("example.org") && !line.contains("s3cret") && !line.contains("abcdef0123"))
    }

    @Test func textWithoutAddressesIsUnchanged() {
        #expect(LogRedactor.scrub("user @ home, a@b, 3 @ 4.5") == "user @ home, a@b, 3 @ 4.5")
        #expect(LogRedactor.scrub("to li@example.com.") == "to [email].")
    }
}

import NIOHTTP1
import Testing

@testable import Receiver

@Suite("Request header lookup")
struct HeaderLookupTests {
    @Test func namesMatchWhateverTheirCase() {
        let headers = HTTPHeaders([("x-CIO-signature", "abc"), ("CONTENT-LENGTH", "12")])
        #expect(WebhookHTTP.header(WebhookHTTP.signature, in: headers) == "abc")
        #expect(WebhookHTTP.header(WebhookHTTP.contentLength, in: headers) == "12")
    }

    @Test func aMissingHeaderIsNil() {
        #expect(WebhookHTTP.header(WebhookHTTP.signature, in: HTTPHeaders([("Content-Type", "application/json")])) == nil)
        #expect(WebhookHTTP.header(WebhookHTTP.signature, in: HTTPHeaders()) == nil)
        // Same length, different name.
        #expect(WebhookHTTP.header(WebhookHTTP.signature, in: HTTPHeaders([("X-CIO-Signaturf", "abc")])) == nil)
    }

    @Test func repeatedHeadersAreJoinedAsHTTPCombinesThem() {
        let headers = HTTPHeaders([("X-CIO-Signature", "first"), ("Content-Type", "text/plain"), ("x-cio-signature", "second")])
        // Joined, so a doubled signature fails to parse instead of one of the two being picked.
        #expect(WebhookHTTP.header(WebhookHTTP.signature, in: headers) == "first, second")
    }
}

@Suite("Webhook paths")
struct WebhookPathTests {
    @Test func theBasePathIsTheDefaultWorkspace() {
        #expect(WebhookHTTP.workspace(inTarget: "/webhooks/customerio") == "default")
        #expect(WebhookHTTP.workspace(inTarget: "/webhooks/customerio/") == "default")
        #expect(WebhookHTTP.workspace(inTarget: "/webhooks/customerio?source=cio") == "default")
    }

    @Test func oneMoreComponentNamesTheWorkspace() {
        #expect(WebhookHTTP.workspace(inTarget: "/webhooks/customerio/eu") == "eu")
        #expect(WebhookHTTP.workspace(inTarget: "/webhooks/customerio/eu/") == "eu")
        #expect(WebhookHTTP.workspace(inTarget: "/webhooks/customerio/eu?x=1") == "eu")
        #expect(WebhookHTTP.workspace(inTarget: "/webhooks/customerio/é") == "é")
    }

    @Test(arguments: [
        "/", "/webhooks", "/webhooks/", "/webhooks/customeri", "/webhooks/customeriox", "/webhooks/customerio//",
        "/webhooks/customerio/eu/x", "/webhooks/customerio\u{301}", "/webhooks//customerio", "/metrics", "", "/webhooks/customeriox?y",
    ])
    func anyOtherPathIsNoWebhook(path: String) {
        #expect(WebhookHTTP.workspace(inTarget: path) == nil)
    }
}

import HTTPTypes
import Testing

@testable import Receiver

@Suite("Request header lookup")
struct HeaderLookupTests {
    private let signature = HTTPField.Name("X-CIO-Signature")!

    @Test func namesMatchWhateverTheirCase() {
        let fields: HTTPFields = [HTTPField.Name("x-cio-signature")!: "abc", .contentLength: "12"]
        #expect(WebhookHTTP.header(signature, in: fields) == "abc")
        #expect(WebhookHTTP.header(.contentLength, in: fields) == "12")
    }

    @Test func aMissingHeaderIsNil() {
        #expect(WebhookHTTP.header(signature, in: [.contentType: "application/json"]) == nil)
        #expect(WebhookHTTP.header(signature, in: [:]) == nil)
    }

    @Test func repeatedHeadersAreJoinedAsHTTPCombinesThem() {
        var fields = HTTPFields()
        fields.append(HTTPField(name: signature, value: "first"))
        fields.append(HTTPField(name: .contentType, value: "text/plain"))
        fields.append(HTTPField(name: signature, value: "second"))
        // The same answer as HTTPFields' own subscript, so a doubled signature still fails to parse.
        #expect(WebhookHTTP.header(signature, in: fields) == "first, second")
        #expect(WebhookHTTP.header(signature, in: fields) == fields[signature])
    }
}

@Suite("Webhook paths")
struct WebhookPathTests {
    @Test func theBasePathIsTheDefaultWorkspace() {
        #expect(WebhookHTTP.workspace(inPath: "/webhooks/customerio") == "default")
        #expect(WebhookHTTP.workspace(inPath: "/webhooks/customerio/") == "default")
    }

    @Test func oneMoreComponentNamesTheWorkspace() {
        #expect(WebhookHTTP.workspace(inPath: "/webhooks/customerio/eu") == "eu")
        #expect(WebhookHTTP.workspace(inPath: "/webhooks/customerio/eu/") == "eu")
        #expect(WebhookHTTP.workspace(inPath: "/webhooks/customerio/é") == "é")
    }

    @Test(arguments: [
        "/", "/webhooks", "/webhooks/", "/webhooks/customeri", "/webhooks/customeriox", "/webhooks/customerio//",
        "/webhooks/customerio/eu/x", "/webhooks/customerio\u{301}", "/webhooks//customerio", "/metrics", "",
    ])
    func anyOtherPathIsNoWebhook(path: String) {
        #expect(WebhookHTTP.workspace(inPath: path) == nil)
    }
}

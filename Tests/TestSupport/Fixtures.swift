import CustomerIO
import Foundation

/// The sample payloads and signing vectors of `shared/fixtures`, copied into the test bundle.
public enum Fixtures {
    /// The key and timestamp the vectors of SIGNATURES.md were made with.
    public static let signingKey = SigningKey("cio-test-signing-key-3f9a1c")
    public static let timestamp: Int64 = 1_767_235_000

    /// File name → expected `X-CIO-Signature`, from SIGNATURES.md.
    public static let signatures: [String: String] = [
        "email_sent.json": "dbc5f6390ca183daa970945144f3fd55bf9785ab9520a29e12e62a14fa45dcad",
        "email_clicked.json": "4db15cb7faf37ddb30a2fa4767bc7949f4a1ff43c1010809a3decb76cf136d6f",
        "email_bounced.json": "311454ec00ff6f6cca299025e69288eb50ac35e68f1db9b2427ec48d7849afde",
        "email_spammed.json": "875415336c09114a0f32d6e4c9add912f6a552561c20211c0c6f4a6446b504f7",
        "customer_unsubscribed.json": "1caf70560b460c67e76cd2e04bbc27772d5539515ab780ad228141948dd90158",
        "push_delivered_email_only_workspace.json": "423c8e9dc36405145c8a7aa5af08c7ad1ffaab0d7da188507586ad32feb47972",
    ]

    /// The bytes of a fixture file, exactly as stored.
    public static func bytes(_ name: String) throws -> [UInt8] {
        guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures") else {
            throw TestSetupError("fixture \(name) is missing from the test bundle")
        }
        return Array(try Data(contentsOf: url))
    }

    /// The vendor's OpenAPI description of reporting webhooks, parsed.
    public static func reportingWebhooksOpenAPI() throws -> [String: Any] {
        let data = Data(try bytes("customerio-reporting-webhooks.openapi.json"))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TestSetupError("the OpenAPI file is not a JSON object")
        }
        return object
    }

    /// A distinct, well-formed event body (a variant of `email_sent.json` with a new `event_id`).
    public static func event(id: String, metric: String = "delivered", objectType: String = "email") -> [UInt8] {
        Array(
            #"{"event_id":"\#(id)","object_type":"\#(objectType)","metric":"\#(metric)","timestamp":1767225600,"data":{"delivery_id":"dgXkAQEBmZr3xk2Hc1v0Qw==","identifiers":{"id":"u_1","email":"a@example.org","cio_id":"c1"},"recipient":"a@example.org"}}"#
                .utf8)
    }

    /// A fresh ULID-shaped id, unique per call.
    public static func newEventID() -> String {
        "01T" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(23).uppercased()
    }
}

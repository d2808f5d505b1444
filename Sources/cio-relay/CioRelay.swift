import ArgumentParser
import Foundation
import RelayApp

@main
struct CioRelay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cio-relay",
        abstract: "Receive Customer.io reporting webhooks, verify, deduplicate and queue them in Redis.",
        subcommands: [Serve.self]
    )
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the webhook receiver (configuration from the environment; see the README)."
    )

    func run() async throws {
        let settings: RelaySettings
        do {
            settings = try RelaySettings.load(environment: ProcessInfo.processInfo.environment)
        } catch {
            FileHandle.standardError.write(Data("cio-relay: configuration error: \(error)\n".utf8))
            throw ExitCode(78)  // EX_CONFIG
        }
        let registry = RelayServer.bootstrapObservability(level: settings.logLevel)
        try await RelayServer.serve(settings: settings, registry: registry)
    }
}

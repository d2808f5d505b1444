import Foundation
@testable import RelayApp

/// The error that loading settings from `environment` stops with, or nil when they load.
func settingsError(_ environment: [String: String]) -> SettingsError? {
    do {
        _ = try RelaySettings.load(environment: environment)
        return nil
    } catch {
        return error
    }
}

/// Writes a temporary YAML file and returns its path.
func writeConfigFile(_ text: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("cio-relay-\(UUID().uuidString).yaml").path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

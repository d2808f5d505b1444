import Foundation

@testable import RelaySettings

/// The error that loading settings from `environment` stops with, or nil when they load.
func settingsError(_ environment: [String: String]) -> SettingsError? {
    do {
        _ = try RelaySettings.load(environment: environment)
        return nil
    } catch {
        return error
    }
}

import Foundation

/// Writes a temporary YAML file and returns its path.
public func writeConfigFile(_ text: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("cio-relay-\(UUID().uuidString).yaml").path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

import Foundation

/// The payload files `cio-relay send --payloads` reads.
public enum PayloadFiles {
    /// The bodies of a JSON file, or of every `*.json` file of a directory (sorted by name), as
    /// they are on disk: they are sent byte for byte.
    public static func load(path: String) throws(OperatorCommands.Failure) -> [[UInt8]] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw OperatorCommands.Failure(message: "no such file or directory: \(path)", exitCode: 66)
        }
        var files = [path]
        if isDirectory.boolValue {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            files = names.filter { $0.hasSuffix(".json") }.sorted().map { (path as NSString).appendingPathComponent($0) }
        }
        guard !files.isEmpty else {
            throw OperatorCommands.Failure(message: "no *.json payloads in \(path)", exitCode: 66)
        }
        return try files.map { file throws(OperatorCommands.Failure) in
            guard let data = FileManager.default.contents(atPath: file) else {
                throw OperatorCommands.Failure(message: "cannot read \(file)", exitCode: 66)
            }
            return Array(data)
        }
    }
}

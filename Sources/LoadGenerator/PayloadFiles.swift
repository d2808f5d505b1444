import Foundation

/// The payload files `cio-relay send --payloads` reads.
public enum PayloadFiles {
    /// Why payload files could not be read.
    public struct Error: Swift.Error, Sendable, Hashable, CustomStringConvertible {
        public enum Code: Sendable, Hashable {
            /// The path names nothing.
            case notFound
            /// A directory without `*.json` files.
            case empty
            /// A file that exists but cannot be read.
            case unreadable
        }
        public let code: Code
        /// The file or directory at fault.
        public let path: String

        public var description: String {
            switch code {
            case .notFound: "no such file or directory: \(path)"
            case .empty: "no *.json payloads in \(path)"
            case .unreadable: "cannot read \(path)"
            }
        }
    }

    /// The bodies of a JSON file, or of every `*.json` file of a directory (sorted by name), as
    /// they are on disk: they are sent byte for byte.
    public static func load(path: String) throws(PayloadFiles.Error) -> [[UInt8]] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw Error(code: .notFound, path: path)
        }
        var files = [path]
        if isDirectory.boolValue {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            files = names.filter { $0.hasSuffix(".json") }.sorted().map { (path as NSString).appendingPathComponent($0) }
        }
        guard !files.isEmpty else { throw Error(code: .empty, path: path) }
        return try files.map { file throws(PayloadFiles.Error) in
            guard let data = FileManager.default.contents(atPath: file) else {
                throw Error(code: .unreadable, path: file)
            }
            return Array(data)
        }
    }
}

import Foundation
import Yams

/// Looks a setting of the table up in the environment first, then in the file, and parses it as
/// its entry says, with errors that name where the bad value came from.
struct SettingSource {
    let environment: [String: String]
    let file: ConfigFile?

    /// The raw text of a setting and where it came from (the variable, or `file:line key (or VARIABLE)`);
    /// nil when neither sets it.
    func lookup(_ setting: Setting) -> (text: String, source: String)? {
        if let value = environment[setting.variable], !value.isEmpty { return (value, setting.variable) }
        if let path = setting.filePath, let file, let scalar = file.scalar(at: path) {
            return (scalar.value, file.location(of: scalar.node, path: path.joined(separator: ".")) + " (or \(setting.variable))")
        }
        return nil
    }

    /// The text of a `.text` or `.secret` setting; nil when not set.
    func text(_ setting: Setting) -> String? {
        lookup(setting)?.text
    }

    /// A `.integer` setting within its range; nil when not set.
    func integer(_ setting: Setting) throws(SettingsError) -> Int? {
        guard case .integer(let range) = setting.kind else { preconditionFailure("\(setting.variable) is not an integer setting") }
        guard let (text, source) = lookup(setting) else { return nil }
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)), range.contains(value) else {
            throw SettingsError(.invalidValue, source: source, "'\(text)' is not a whole number between \(range.lowerBound) and \(range.upperBound)")
        }
        return value
    }

    /// A `.seconds` setting within its range; nil when not set.
    func duration(_ setting: Setting) throws(SettingsError) -> Duration? {
        guard case .seconds(let range) = setting.kind else { preconditionFailure("\(setting.variable) is not a seconds setting") }
        return try number(setting, range: range, unit: "a number of seconds").map { .milliseconds(Int64(($0 * 1000).rounded())) }
    }

    /// A `.number` setting within its range; nil when not set.
    func number(_ setting: Setting) throws(SettingsError) -> Double? {
        guard case .number(let range) = setting.kind else { preconditionFailure("\(setting.variable) is not a number setting") }
        return try number(setting, range: range, unit: "a number")
    }

    /// A `.choice` setting, lowercased; nil when not set.
    func choice(_ setting: Setting) throws(SettingsError) -> String? {
        guard let (text, source) = lookup(setting) else { return nil }
        return try Self.choose(text, for: setting, source: source)
    }

    /// `text` checked against a `.choice` setting's options (the file's per-workspace values use it too).
    static func choose(_ text: String, for setting: Setting, source: String) throws(SettingsError) -> String {
        guard case .choice(let options) = setting.kind else { preconditionFailure("\(setting.variable) is not a choice setting") }
        let value = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard options.contains(value) else {
            throw SettingsError(.invalidValue, source: source, "'\(text)' must be \(Setting.alternatives(options))")
        }
        return value
    }

    private func number(_ setting: Setting, range: ClosedRange<Double>, unit: String) throws(SettingsError) -> Double? {
        guard let (text, source) = lookup(setting) else { return nil }
        guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite, range.contains(value) else {
            throw SettingsError(
                .invalidValue, source: source,
                "'\(text)' is not \(unit) between \(Setting.format(range.lowerBound)) and \(Setting.format(range.upperBound))")
        }
        return value
    }
}

/// The YAML file of `CIO_RELAY_CONFIG`, kept as nodes so that errors can name a line.
struct ConfigFile {
    let path: String
    let root: Node

    init(path: String) throws(SettingsError) {
        self.path = path
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SettingsError(.invalidFile, source: "CIO_RELAY_CONFIG", "cannot read \(path): \(error.localizedDescription)")
        }
        do {
            guard let root = try Yams.compose(yaml: text) else {
                self.root = Node.mapping(.init([]))
                return
            }
            guard root.mapping != nil else {
                throw SettingsError(.invalidFile, source: path, "the top level must be a mapping (key: value)")
            }
            self.root = root
        } catch let error as SettingsError {
            throw error
        } catch {
            throw SettingsError(.invalidFile, source: path, "not valid YAML: \(error)")
        }
    }

    func location(of node: Node, path keyPath: String) -> String {
        if let line = node.mark?.line { return "\(path):\(line) \(keyPath)" }
        return "\(path) \(keyPath)"
    }

    func node(at keyPath: [String]) -> Node? {
        var node: Node? = root
        for key in keyPath {
            node = node?.mapping?[key]
        }
        return node
    }

    func scalar(at keyPath: [String]) -> (value: String, node: Node)? {
        guard let node = node(at: keyPath), let value = node.string else { return nil }
        return (value, node)
    }

    func mapping(at keyPath: [String]) throws(SettingsError) -> [(String, Node)]? {
        guard let node = node(at: keyPath) else { return nil }
        guard let mapping = node.mapping else {
            throw SettingsError(
                .invalidFile, source: location(of: node, path: keyPath.joined(separator: ".")), "must be a mapping of names to settings")
        }
        var entries: [(String, Node)] = []
        for (key, value) in mapping {
            guard let name = key.string else {
                throw SettingsError(.invalidFile, source: location(of: key, path: keyPath.joined(separator: ".")), "keys must be text")
            }
            entries.append((name, value))
        }
        return entries
    }

    /// A list of strings under `key` of `node` (a single string is a list of one).
    func strings(in node: Node, key: String, path keyPath: String) throws(SettingsError) -> [String] {
        guard let value = node.mapping?[key] else { return [] }
        if let single = value.scalar?.string { return [single] }
        guard let items = value.sequence else {
            throw SettingsError(.invalidFile, source: location(of: value, path: "\(keyPath).\(key)"), "must be a string or a list of strings")
        }
        var strings: [String] = []
        for item in items {
            guard let text = item.scalar?.string, !text.isEmpty else {
                throw SettingsError(.invalidFile, source: location(of: item, path: "\(keyPath).\(key)"), "every entry must be a non-empty string")
            }
            strings.append(text)
        }
        return strings
    }
}

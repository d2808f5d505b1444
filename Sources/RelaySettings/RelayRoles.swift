/// What a process runs: the webhook receiver, the workers, or both (`cio-relay run`).
public struct RelayRoles: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let receiver = RelayRoles(rawValue: 1)
    public static let worker = RelayRoles(rawValue: 2)
}

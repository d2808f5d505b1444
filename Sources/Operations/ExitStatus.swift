/// How cio-relay's commands end, after sysexits.h where one fits: the one list of exit statuses.
public enum ExitStatus: Int32, Sendable {
    /// The command ran and found a problem: a threshold exceeded, an unknown event, a replay that
    /// did not happen.
    case failure = 1
    /// The command line is wrong (EX_USAGE).
    case usage = 64
    /// The input is wrong, such as a policy file with an error (EX_DATAERR).
    case dataError = 65
    /// An input file cannot be read (EX_NOINPUT).
    case noInput = 66
    /// Redis or the warehouse did not answer (EX_UNAVAILABLE).
    case unavailable = 69
    /// An output file cannot be written (EX_CANTCREAT).
    case cannotCreate = 73
    /// The configuration is invalid (EX_CONFIG).
    case configuration = 78
}

/// An operation that could not do what was asked: what to tell the operator and how to exit.
public struct OperationFailure: Error, CustomStringConvertible {
    public let message: String
    public let status: ExitStatus
    public var description: String { message }

    public init(_ message: String, status: ExitStatus) {
        self.message = message
        self.status = status
    }
}

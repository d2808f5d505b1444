import Logging

extension Logger {
    /// A logger that prints only critical messages: for components whose expected failures in a
    /// test (a stopped server, a refused row) would otherwise fill the output.
    public static func quiet(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = .critical
        return logger
    }
}

// The core's log records in the unified log (Console.app, `log stream`),
// subsystem "org.mailpresence", category the core's module.
import MailPresence
import os

final class CoreLog: LogSink, @unchecked Sendable {
    func log(record: LogRecord) {
        let logger = Logger(subsystem: "org.mailpresence", category: record.target)
        switch record.level {
        case .error: logger.error("\(record.message, privacy: .public)")
        case .warn: logger.warning("\(record.message, privacy: .public)")
        case .info: logger.info("\(record.message, privacy: .public)")
        case .debug, .trace: logger.debug("\(record.message, privacy: .public)")
        }
    }
}

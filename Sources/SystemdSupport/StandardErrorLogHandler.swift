public import Logging

/// A swift-log handler that writes one line per message through ``StandardErrorLog``: `label: message key=value…`.
public struct StandardErrorLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let output: StandardErrorLog

    /// A handler for `label`, writing through `output`.
    public init(label: String, output: StandardErrorLog = StandardErrorLog(), logLevel: Logger.Level = .info) {
        self.label = label
        self.output = output
        self.logLevel = logLevel
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        // Messages quote what instances sent (a malformed notify value, a probe's answer): never raw.
        let message = event.message.description
        var text = "\(label): \(PrintableText.isPlain(message.utf8) ? message : PrintableText.escaped(message))"
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        if !merged.isEmpty {
            text += " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        output.write(text, priority: Self.priority(for: event.level))
    }

    /// The syslog priority journald should record for a swift-log level.
    public static func priority(for level: Logger.Level) -> SyslogPriority {
        switch level {
        case .trace, .debug: .debug
        case .info: .info
        case .notice: .notice
        case .warning: .warning
        case .error: .error
        case .critical: .critical
        }
    }
}

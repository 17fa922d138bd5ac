/// A configuration that cannot be used, with a message that names the problem and the fix.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

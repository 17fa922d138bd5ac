/// A configuration that cannot be used, with a message that names the problem and the fix.
package struct ConfigurationError: Error, CustomStringConvertible, Equatable, Sendable {
    package let message: String

    package init(_ message: String) { self.message = message }

    package var description: String { message }
}

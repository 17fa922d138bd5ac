#if canImport(Glibc)
import Glibc
#endif

/// A failed system call of the test helpers, with its name and errno.
package struct PosixError: Error, CustomStringConvertible {
    package let call: String
    package let errno: CInt

    package var description: String { "\(call): \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// Retries `body` on `EINTR`; `-1` with another errno throws it with the call's name.
@discardableResult
package func posixCall<Result: BinaryInteger>(_ name: String, _ body: () -> Result) throws -> Result {
    while true {
        let result = body()
        if result != -1 { return result }
        let error = Glibc.errno
        if error == EINTR { continue }
        throw PosixError(call: name, errno: error)
    }
}

/// Milliseconds left until `deadline`, for `poll(2)`; 0 once it passed.
package func millisecondsLeft(until deadline: ContinuousClock.Instant) -> CInt {
    let left = deadline - .now
    guard left > .zero else { return 0 }
    let (seconds, attoseconds) = left.components
    return CInt(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
}

#if canImport(Glibc)
import Glibc
#endif

/// Where the package's built executables are: next to the test bundle, which lives in the products directory.
package enum Products {
    /// The absolute path of the release build of `name`, beside the debug products (`swift build -c release`).
    ///
    /// Tests of listen modes in which processes share one listening socket need it: a debug build of SwiftNIO
    /// asserts that every readable event on a listener yields a connection, which another process may have taken.
    package static func releasePath(of name: String) -> String {
        let debug = path(of: name)
        let directory = debug[..<(debug.lastIndex(of: "/") ?? debug.endIndex)]
        let parent = directory[..<(directory.lastIndex(of: "/") ?? directory.endIndex)]
        return "\(parent)/release/\(name)"
    }

    /// The absolute path of the built executable `name` (e.g. `supervisor`, `demo-server`).
    package static func path(of name: String) -> String {
        var path = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &path, path.count - 1)
        precondition(length > 0, "cannot read /proc/self/exe")
        let executable = String(decoding: path[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let directory = executable[..<(executable.lastIndex(of: "/") ?? executable.endIndex)]
        return "\(directory)/\(name)"
    }
}

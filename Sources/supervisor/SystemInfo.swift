import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// Facts about this machine and process that the commands need.
enum SystemInfo {
    /// CPUs this process may use (FoundationEssentials honours the affinity mask and cgroup quotas), at least 1.
    static func processorCount() -> Int {
        max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// The process environment as a dictionary.
    static func environment() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }
}

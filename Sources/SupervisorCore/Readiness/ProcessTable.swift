#if canImport(Glibc)
import Glibc
#endif

/// A snapshot of the processes in `/proc`, for questions about process trees.
package struct ProcessTable: Sendable {
    package let processes: [Int32: ProcessStat]

    package init(processes: [ProcessStat]) {
        self.processes = Dictionary(processes.map { ($0.pid, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Reads every process now.
    package static func current() -> ProcessTable {
        let stats = FileText.directoryEntries("/proc").compactMap(Int32.init).compactMap(ProcessStat.read(pid:))
        return ProcessTable(processes: stats)
    }

    /// `root` and every process below it.
    package func tree(of root: Int32) -> Set<Int32> {
        var children: [Int32: [Int32]] = [:]
        for process in processes.values { children[process.parentPID, default: []].append(process.pid) }
        var found: Set<Int32> = [root]
        var queue = [root]
        while let next = queue.popLast() {
            for child in children[next] ?? [] where found.insert(child).inserted { queue.append(child) }
        }
        return found
    }

    /// Whether `pid` is `ancestor` or runs below it.
    package func isDescendant(_ pid: Int32, of ancestor: Int32) -> Bool {
        var current = pid
        var steps = 0
        while current > 1 && steps < 1024 {
            if current == ancestor { return true }
            guard let parent = processes[current]?.parentPID else { return false }
            current = parent
            steps += 1
        }
        return current == ancestor
    }

    /// `root` and every process below it, from the `/proc/PID/task/TID/children` files of the tree alone, so the cost
    /// follows the tree, not the host's process count; `nil` where the kernel has no such files
    /// (CONFIG_PROC_CHILDREN), and then ``current()`` and ``tree(of:)`` answer. Processes that start or end meanwhile
    /// may be missed, as with any look at `/proc`.
    package static func descendants(of root: Int32) -> Set<Int32>? {
        guard access("/proc/\(root)/task/\(root)/children", R_OK) == 0 else {
            return kill(root, 0) == 0 || errno == EPERM ? nil : [root]
        }
        var found: Set<Int32> = [root]
        var queue = [root]
        while let next = queue.popLast() {
            for thread in FileText.directoryEntries("/proc/\(next)/task") {
                guard let text = FileText.read("/proc/\(next)/task/\(thread)/children") else { continue }
                for field in text.split(separator: " ") {
                    if let child = Int32(field.trimmingSpaces), found.insert(child).inserted { queue.append(child) }
                }
            }
        }
        return found
    }

    /// The children of `pid` (zombies too), from `/proc/PID/task/TID/children`; from the whole table where the kernel
    /// has no such files.
    package static func children(of pid: Int32) -> [Int32] {
        guard access("/proc/\(pid)/task/\(pid)/children", R_OK) == 0 else {
            return current().processes.values.filter { $0.parentPID == pid }.map(\.pid)
        }
        return FileText.directoryEntries("/proc/\(pid)/task").flatMap { thread in
            (FileText.read("/proc/\(pid)/task/\(thread)/children") ?? "").split(separator: " ").compactMap {
                Int32($0.trimmingSpaces)
            }
        }
    }

    /// `root` and every process below it, the cheapest way this kernel allows.
    package static func tree(of root: Int32) -> Set<Int32> {
        descendants(of: root) ?? current().tree(of: root)
    }
}

internal import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

/// Small synchronous file helpers for `/proc` and configuration files.
package enum FileText {
    /// The whole content of a file as UTF-8 (invalid bytes repaired), or `nil` when it cannot be read.
    static func read(_ path: String) -> String? {
        guard let bytes = try? readBytes(path) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The whole content of a file.
    static func readBytes(_ path: String) throws(SystemCallError) -> [UInt8] {
        let fd = try systemCall("open", subject: path) { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        return try readAll(fd, path: path)
    }

    /// Why ``readRegularFile(_:limit:)`` read nothing.
    enum RegularFileError: Error {
        /// It names a directory, a device, a FIFO or a socket: `a directory`, `a device`, ….
        case notRegular(String)
        case tooLarge
        case system(SystemCallError)
    }

    /// The content of a regular file of at most `limit` bytes. Opened without blocking, so a FIFO is refused at once
    /// instead of waiting for a writer; a device such as `/dev/zero` is refused rather than read without end.
    static func readRegularFile(_ path: String, limit: Int) throws(RegularFileError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        guard fd >= 0 else { throw .system(SystemCallError(call: "open", errno: errno, subject: path)) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .system(SystemCallError(call: "fstat", errno: errno, subject: path)) }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw .notRegular("a directory")
        case S_IFIFO: throw .notRegular("a FIFO")
        case S_IFSOCK: throw .notRegular("a socket")
        default: throw .notRegular("a device")
        }
        guard info.st_size <= limit else { throw .tooLarge }
        let bytes: [UInt8]
        do { bytes = try readAll(fd, path: path, limit: limit + 1) } catch { throw .system(error) }
        // It may have grown since fstat.
        guard bytes.count <= limit else { throw .tooLarge }
        return bytes
    }

    /// Reads `fd` to its end, or to `limit` bytes.
    static func readAll(_ fd: Int32, path: String, limit: Int = .max) throws(SystemCallError) -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while result.count < limit {
            let wanted = min(chunk.count, limit - result.count)
            let count = chunk.withUnsafeMutableBytes { buffer in
                var count: Int
                repeat { count = Glibc.read(fd, buffer.baseAddress, wanted) } while count < 0 && errno == EINTR
                return count
            }
            if count < 0 { throw SystemCallError(call: "read", errno: errno, subject: path) }
            if count == 0 { break }
            result.append(contentsOf: chunk[0..<count])
        }
        return result
    }

    /// `path` from the working directory when it is relative (a leading `./` dropped), else `path`.
    package static func absolute(_ path: String) -> String {
        guard !path.hasPrefix("/"), let directory = getcwd(nil, 0) else { return path }
        defer { free(directory) }
        var base = String(cString: directory)
        if !base.hasSuffix("/") { base += "/" }
        return base + (path.hasPrefix("./") ? String(path.dropFirst(2)) : path)
    }

    /// The target of a symbolic link, or `nil`.
    static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count >= 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The values of the line `key:` of a `/proc/PID/status` text (`Groups:`, `CapEff:`), split at the tabs and
    /// spaces the kernel puts between them; `nil` when it has no such line.
    static func statusValues(_ key: String, in status: String) -> [Substring]? {
        let prefix = key + ":"
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else { return nil }
        return line.dropFirst(prefix.count).split(whereSeparator: { $0 == " " || $0 == "\t" })
    }

    /// Names in a directory, without `.` and `..`; empty when it cannot be read.
    static func directoryEntries(_ path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

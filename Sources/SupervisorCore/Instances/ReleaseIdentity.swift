internal import Crypto
internal import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

/// What a generation runs, as `status`, `reload` and `/readyz?release=` tell it: the release's label, the command's
/// executable with symlinks resolved (`/srv/app/releases/v2/bin/server` through a `current` symlink), its digest and
/// the digest of the config file the generation was loaded from.
package struct ReleaseIdentity: Codable, Equatable, Sendable {
    /// The `release` setting's label; `nil` when none is set.
    package var label: String?
    /// `nil` when the command could not be resolved (it was, just before, so only a race with the deploy does that).
    package var executable: String?
    /// `sha256:` and 64 hex digits; `nil` while it is being computed (off the event loop, right after the load) or
    /// when the file could not be read.
    package var executableDigest: String?
    /// `sha256:` and 64 hex digits of the config file's bytes; `nil` without a config file.
    package var configDigest: String?

    package init(
        label: String? = nil, executable: String? = nil, executableDigest: String? = nil, configDigest: String? = nil
    ) {
        self.label = label
        self.executable = executable
        self.executableDigest = executableDigest
        self.configDigest = configDigest
    }

    /// `sha256:HEX` of `bytes`.
    static func digest(of bytes: [UInt8]) -> String {
        hexDigest(SHA256.hash(data: bytes))
    }

    /// `sha256:HEX` of the file at `path`, read in pieces; `nil` when it cannot be read.
    static func digest(ofFile path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var hasher = SHA256()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = chunk.withUnsafeMutableBytes { buffer in
                var count: Int
                repeat { count = read(fd, buffer.baseAddress, buffer.count) } while count < 0 && errno == EINTR
                return count
            }
            if count < 0 { return nil }
            if count == 0 { break }
            chunk.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        }
        return hexDigest(hasher.finalize())
    }

    private static func hexDigest(_ digest: SHA256.Digest) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = Array("sha256:".utf8)
        for byte in digest {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The file `path` names, every symlink resolved; `nil` when it does not exist.
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

/// A generation's release as `status`, `/status` and `reload --json` show it.
package struct GenerationRelease: Codable, Equatable, Sendable {
    package var generation: Int
    /// The label (`release`).
    package var release: String?
    package var executable: String?
    package var executableDigest: String?
    package var configDigest: String?

    package init(generation: Int, _ identity: ReleaseIdentity) {
        self.generation = generation
        release = identity.label
        executable = identity.executable
        executableDigest = identity.executableDigest
        configDigest = identity.configDigest
    }

    /// Every key written, `null` for what is not known, so that a reader of `reload --json` finds them all.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(generation, forKey: .generation)
        try container.encode(release, forKey: .release)
        try container.encode(executable, forKey: .executable)
        try container.encode(executableDigest, forKey: .executableDigest)
        try container.encode(configDigest, forKey: .configDigest)
    }

    private enum CodingKeys: String, CodingKey {
        case generation, release, executable, executableDigest, configDigest
    }

    /// `generation 3 (release v2)`, or `generation 3` without a label.
    package var description: String {
        "generation \(generation)" + (release.map { " (release \($0))" } ?? "")
    }
}

/// The digests of the executables generations run, known by what identifies a file's content on disk (device,
/// inode, size, modification and change time), so a reload that runs the same binary again costs one `stat`, and a
/// new binary is read once, off the event loop.
struct ExecutableDigests {
    /// A file as `stat` sees it: a new release, even one written over the old file, has another key.
    struct FileKey: Hashable, Sendable {
        let device: UInt64
        let inode: UInt64
        let size: Int64
        let modified: Int64
        let modifiedNanoseconds: Int
        let changed: Int64
        let changedNanoseconds: Int

        /// The key of the regular file at `path`; `nil` for anything else, or when it cannot be examined.
        init?(path: String) {
            var info = stat()
            guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
            size = Int64(info.st_size)
            modified = Int64(info.st_mtim.tv_sec)
            modifiedNanoseconds = info.st_mtim.tv_nsec
            changed = Int64(info.st_ctim.tv_sec)
            changedNanoseconds = info.st_ctim.tv_nsec
        }
    }

    /// How many digests are kept: the releases of the last few reloads.
    static let kept = 16

    private var known: [FileKey: String] = [:]
    /// Keys of ``known``, oldest first.
    private var order: [FileKey] = []
    /// Keys being read now.
    private(set) var computing: Set<FileKey> = []

    /// The digest of `key`, when known.
    func digest(of key: FileKey) -> String? { known[key] }

    /// Whether `key` is to be read: neither known nor being read. It is marked as being read.
    mutating func begin(_ key: FileKey) -> Bool {
        guard known[key] == nil, !computing.contains(key) else { return false }
        computing.insert(key)
        return true
    }

    /// `key` was read: `digest` is its digest (`nil`: it could not be read, and a later load tries again).
    mutating func finish(_ key: FileKey, digest: String?) {
        computing.remove(key)
        if let digest { record(key, digest: digest) }
    }

    /// `key`'s digest is `digest`.
    mutating func record(_ key: FileKey, digest: String) {
        guard known[key] == nil else { return }
        known[key] = digest
        order.append(key)
        if order.count > Self.kept { known[order.removeFirst()] = nil }
    }
}

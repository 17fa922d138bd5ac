import Dispatch
internal import Logging

extension Supervisor {
    /// Finds out what `configuration`, loaded from `file`, runs (``ReleaseIdentity``), for the generation it
    /// becomes: the label, the executable and the config file's digest at once; the executable's digest from those
    /// known, or computed off the event loop (a new binary of tens of megabytes takes tens of milliseconds to read),
    /// arriving as ``Event/executableDigested(_:_:)``.
    func prepareRelease(for configuration: Configuration, file: [UInt8]?) {
        var identity = ReleaseIdentity(
            label: configuration.releaseLabel, configDigest: file.map(ReleaseIdentity.digest(of:)))
        let resolved = try? CommandResolver.resolve(configuration.command[0], searchPath: source.searchPath)
        identity.executable = resolved.flatMap(ReleaseIdentity.realPath)
        configurations.loadedDigestPending = nil
        if let path = identity.executable, let key = ExecutableDigests.FileKey(path: path) {
            if let known = digests.digest(of: key) {
                identity.executableDigest = known
            } else if key.size <= Self.digestOnLoopLimit, let digest = ReleaseIdentity.digest(ofFile: path) {
                // A script or a small program: reading it here costs less than the hop, and the reload's answer
                // has its digest even when the instance fails at once.
                digests.record(key, digest: digest)
                identity.executableDigest = digest
            } else {
                configurations.loadedDigestPending = key
                requestDigest(of: path, key)
            }
        }
        configurations.loadedRelease = identity
    }

    /// Executables up to this size are read on the loop (well under a millisecond); larger ones off it.
    static let digestOnLoopLimit: Int64 = 256 << 10

    /// After an in-place upgrade: the digests the previous program had not finished are computed again.
    func computeMissingDigests() {
        for (generation, identity) in configurations.releases where identity.executableDigest == nil {
            guard let path = identity.executable, let key = ExecutableDigests.FileKey(path: path) else { continue }
            configurations.awaitDigest(of: generation, key)
            requestDigest(of: path, key)
        }
    }

    private func requestDigest(of path: String, _ key: ExecutableDigests.FileKey) {
        guard digests.begin(key) else { return }
        let sink = eventSink
        digestQueue.async {
            let digest = ReleaseIdentity.digest(ofFile: path)
            // Written over while it was read: the digest is of neither version.
            sink.yield(.executableDigested(key, ExecutableDigests.FileKey(path: path) == key ? digest : nil))
        }
    }

    /// The digest of the executable read under `key` arrived (`nil`: it could not be read).
    func executableDigested(_ key: ExecutableDigests.FileKey, _ digest: String?) {
        digests.finish(key, digest: digest)
        guard let digest else {
            let text =
                "cannot compute the digest of the command's executable (inode \(key.inode)): it could not be read, or "
                + "changed while it was read; status shows none for its generation"
            logger.warning("\(text)")
            return
        }
        configurations.executableDigested(key, digest)
        publishObservation()
    }
}

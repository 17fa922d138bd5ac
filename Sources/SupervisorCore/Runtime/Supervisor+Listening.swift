internal import Logging
internal import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

extension Supervisor {
    /// Takes the sockets systemd passed: those of an earlier supervisor that its file descriptor store kept (see
    /// ``adoptStoredSocket(_:named:for:configuration:)``), and those of socket activation that match a `listen`
    /// address, by name (`FileDescriptorName=`) or by bound address, for the `shared` mode; closes the others.
    /// Returns the addresses they serve.
    func adoptActivatedSockets(for configuration: Configuration) -> Set<ListenAddress> {
        var adopted = Set<ListenAddress>()
        let activated: [ActivatedSocket]
        do { activated = try SocketActivation.receive() } catch {
            logger.warning("not taking the sockets systemd passed: \(error)")
            activated = []
        }
        for socket in activated {
            let bound = ListenAddress(boundTo: socket.fd)
            if let bound, let key = ListenerKey(storeName: socket.name, address: bound) {
                if adoptStoredSocket(socket.fd, named: socket.name, for: key, configuration: configuration) {
                    adopted.insert(key.address)
                }
                continue
            }
            let match =
                configuration.listen.first { $0.name == socket.name }
                ?? configuration.listen.first { $0.unnamed == bound?.unnamed }
            guard let match, configuration.listenMode == .shared else {
                let reason = match == nil ? "it matches no --listen address or name" : "listen-mode is not shared"
                logger.warning("closing the socket '\(socket.name)' systemd passed (fd \(socket.fd)): \(reason)")
                close(socket.fd)
                continue
            }
            logger.info("serving \(match) (\(match.name ?? "")) on the socket systemd passed as '\(socket.name)'")
            listeners.adopt(socket.fd, for: match)
            adopted.insert(match.unnamed)
        }
        return adopted
    }

    /// Takes back a listening socket that systemd's file descriptor store kept for an earlier supervisor of this unit
    /// (one that crashed or was killed): connections that arrived meanwhile wait in its accept queue for the new
    /// instances instead of being refused. A socket this configuration does not use (another address, listen mode or
    /// number of instances) is closed and dropped from the store. Returns whether it was taken.
    private func adoptStoredSocket(
        _ fd: Int32,
        named name: String,
        for key: ListenerKey,
        configuration: Configuration
    ) -> Bool {
        guard ListenerPlan.needed(target: configuration, running: []).contains(key) else {
            logger.info("closing the socket '\(name)' systemd's file descriptor store kept: not used now")
            systemd.removeStored(name: name)
            close(fd)
            return false
        }
        if let path = key.unixPath, UnixListener.FileIdentity.ofSocket(at: path) == nil {
            // Clients find the socket by its path: without it the stored socket would serve nobody.
            logger.notice(
                "not taking back the socket '\(name)' systemd's file descriptor store kept: \(path) is gone; binding it again"
            )
            systemd.removeStored(name: name)
            close(fd)
            return false
        }
        let text =
            "serving \(key.address) on the socket an earlier supervisor kept in systemd's file descriptor store "
            + "('\(name)'): connections that arrived meanwhile waited in its queue"
        logger.notice("\(text)")
        listeners.adoptStored(fd, for: key)
        return true
    }

    /// Checks `net.ipv4.tcp_migrate_req` and, in `app` mode, sets it where `kernel-migrate` allows (the other modes
    /// never close a listener during a rollout, so they leave the system setting alone unless `on` asks for it). Then
    /// records whether reloads are lossless, and warns once when they are not.
    ///
    /// - Throws: ``ConfigurationError`` when `kernel-migrate = on` and the setting cannot be made.
    func applyKernelMigration(for configuration: Configuration) throws(ConfigurationError) {
        let choice =
            configuration.listenMode == .app || configuration.kernelMigrate == .on
            ? configuration.kernelMigrate : .off
        let outcome = migration.apply(choice)
        if configuration.kernelMigrate == .on && !outcome.migrates {
            let reason: String
            if case .notPermitted(let text) = outcome { reason = text } else { reason = "this kernel does not have it" }
            throw ConfigurationError(
                "kernel-migrate = on, but net.ipv4.tcp_migrate_req cannot be set to 1 (\(reason)); add "
                    + "'\(KernelMigration.sysctlLine)' to /etc/sysctl.d/ or use kernel-migrate = auto")
        }
        lossless = LosslessState(
            mode: configuration.listenMode, migration: outcome, udp: configuration.listen.contains { $0.kind == .udp })
        warnAboutUDPInAppMode(configuration)
        warnAboutStartPriority(configuration)
        guard let (isWarning, text) = KernelMigration.message(for: outcome, mode: configuration.listenMode) else {
            return
        }
        if isWarning {
            guard !warnedAboutMigration else { return }
            warnedAboutMigration = true
            logger.warning("\(text)")
        } else {
            logger.notice("\(text)")
        }
    }

    /// Warns about each Unix socket path that no longer names the supervisor's socket (checked at each reload):
    /// clients that connect to the path do not reach the instances, and a reload cannot change that, since the
    /// instances keep the socket they have.
    func warnAboutUnixPaths() {
        for (address, problem) in listeners.unixPathProblems() {
            let text =
                "\(address) no longer names the supervisor's socket: \(problem) (only the supervisor should bind or "
                + "remove it; keep its directory writable only by the supervisor's user). Clients that connect to "
                + "the path do not reach the instances; restart the supervisor to bind it again"
            logger.warning("\(text)")
        }
    }

    /// Warns once that in `app` mode the UDP sockets are the instances' own, so a reload loses what is queued on an
    /// old instance's socket when it exits.
    func warnAboutUDPInAppMode(_ configuration: Configuration) {
        guard configuration.listenMode == .app, !warnedAboutUDP,
            let udp = configuration.listen.first(where: { $0.kind == .udp })
        else { return }
        warnedAboutUDP = true
        let text =
            "listen-mode app with \(udp): each instance binds its own UDP socket, and the datagrams queued on an old "
            + "instance's socket when it exits are lost at every reload; use --listen-mode reuseport or shared, "
            + "where the supervisor binds the sockets and they stay open across reloads"
        logger.warning("\(text)")
    }

    /// Says once that `start-nice` or `start-idle` is not applied when the supervisor could not set the priority back
    /// at readiness.
    func warnAboutStartPriority(_ configuration: Configuration) {
        var asked: [String] = []
        if configuration.startNice > 0 { asked.append("start-nice \(configuration.startNice)") }
        if configuration.startIdle > .zero { asked.append("start-idle \(configuration.startIdle.secondsText)") }
        guard !asked.isEmpty, !startPriority.canRestore, !warnedAboutStartPriority else { return }
        warnedAboutStartPriority = true
        let subject = asked.joined(separator: " and ")
        let text =
            "\(subject) \(asked.count == 1 ? "is" : "are") not applied: setting an instance's priority back at readiness "
            + "needs CAP_SYS_NICE (root) or an RLIMIT_NICE of 20 (LimitNICE=+0 in the unit); instances start at the "
            + "usual priority"
        logger.notice("\(text)")
    }

    /// The sockets an instance receives, with their names, binding what is missing.
    func listenerDescriptors(
        for configuration: Configuration,
        slot: Slot
    ) throws(SystemFailure) -> [(fd: Int32, name: String)] {
        let descriptors = try listeners.descriptors(for: configuration, slot: slot)
        return zip(descriptors, configuration.listen).map { ($0, $1.name ?? "") }
    }

    /// Closes the sockets that neither the target generation nor a running instance needs any more.
    func releaseUnneededListeners() {
        guard listeners.count > 0 else { return }
        let running = machine.records.filter(\.isLive).compactMap { record in
            configurations[record.generation].map { (record.slot, $0) }
        }
        let target = machine.target.flatMap { configurations[$0] } ?? configurations.loaded
        listeners.release(keeping: ListenerPlan.needed(target: target, running: running))
    }
}

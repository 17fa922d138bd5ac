import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

/// The text form of `supervisor status`.
enum StatusTable {
    static func render(_ report: StatusReport, now: Double) -> String {
        var lines: [String] = []
        let ready = report.instances.filter { $0.generation == report.generation && $0.state == "ready" }.count
        let generation = report.generation.map { "generation \($0)" } ?? "no generation"
        lines.append(
            "\(report.name) (pid \(report.supervisorPID), \(report.state)): \(generation), "
                + "\(ready)/\(report.instancesWanted) ready")
        lines.append("command: \(report.command.joined(separator: " "))")
        for release in report.generations ?? [] { lines.append(releaseLine(release)) }
        var version = "supervisor \(report.version)"
        if let last = report.lastUpgrade, let count = report.upgradeCount {
            let outcome = last.failure.map { "failed (\($0)), back on \(last.toVersion)" } ?? "from \(last.fromVersion)"
            version +=
                "; upgraded in place \(count == 1 ? "once" : "\(count) times"), last \(ago(last.finishedAt, now)) "
            version += outcome
        }
        lines.append(version)
        let listen = report.listen.isEmpty ? "-" : report.listen.joined(separator: ", ")
        let lossless = report.lossless ? "yes" : "no (\(report.losslessReason ?? "unknown"))"
        lines.append("listen: \(listen) (\(report.listenMode)); lossless: \(lossless); readiness: \(report.readiness)")
        if let rollout = report.rollout {
            let from = rollout.from.map { "from generation \($0) " } ?? ""
            lines.append("rollout: \(from)to generation \(rollout.to), started \(ago(rollout.startedAt, now))")
        }
        if report.queuedReloads > 0 { lines.append("queued reloads: \(report.queuedReloads)") }
        if let draining = report.drainingGenerations, !draining.isEmpty {
            let limit = report.maxDraining.map { " (a reload is refused at \($0))" } ?? ""
            lines.append("draining: generation \(draining.map(String.init).joined(separator: ", "))\(limit)")
        }
        if let last = report.lastResult {
            lines.append(
                "last reload: \(last.succeeded ? "ok" : "failed"), \(ago(last.finishedAt, now)): \(last.message)")
        }
        lines.append("")
        var rows = [["SLOT", "PID", "GEN", "STATE", "READY SINCE", "RESTARTS", "CONNS", "STATUS"]]
        for instance in report.instances.sorted(by: { ($0.slot, $0.generation) < ($1.slot, $1.generation) }) {
            rows.append([
                "#\(instance.slot)", instance.pid.map(String.init) ?? "-", String(instance.generation), instance.state,
                instance.readySince.map { "\(clock($0)) (\(ago($0, now)))" } ?? "-", String(instance.restarts),
                instance.connections.map(String.init) ?? "-", instance.status ?? "",
            ])
        }
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            let cells = row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }
            var line = cells.joined(separator: "  ")
            while line.last == " " { line.removeLast() }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }

    /// `generation 2: release v2, /srv/app/releases/v2/bin/server (sha256:0123456789ab), config sha256:…`; digests
    /// shortened to 12 digits (`status --json` has them whole).
    static func releaseLine(_ release: GenerationRelease) -> String {
        func short(_ digest: String) -> String { String(digest.prefix("sha256:".count + 12)) }
        var parts = ["release \(release.release ?? "-")"]
        if let executable = release.executable {
            parts.append(executable + " (\(release.executableDigest.map(short) ?? "digest pending"))")
        }
        if let config = release.configDigest { parts.append("config \(short(config))") }
        return "generation \(release.generation): " + parts.joined(separator: ", ")
    }

    /// Local `HH:MM:SS`.
    private static func clock(_ seconds: Double) -> String {
        var time = time_t(seconds)
        var parts = tm()
        localtime_r(&time, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
    }

    private static func ago(_ seconds: Double, _ now: Double) -> String {
        let elapsed = max(0, Int(now - seconds))
        if elapsed < 60 { return "\(elapsed)s ago" }
        if elapsed < 3600 { return "\(elapsed / 60)m ago" }
        if elapsed < 86_400 { return "\(elapsed / 3600)h\((elapsed % 3600) / 60)m ago" }
        return "\(elapsed / 86_400)d ago"
    }
}

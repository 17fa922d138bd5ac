import Foundation
import SupervisorCore

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
        let listen = report.listen.isEmpty ? "-" : report.listen.joined(separator: ", ")
        lines.append("listen: \(listen); readiness: \(report.readiness)")
        if let rollout = report.rollout {
            let from = rollout.from.map { "from generation \($0) " } ?? ""
            lines.append("rollout: \(from)to generation \(rollout.to), started \(ago(rollout.startedAt, now))")
        }
        if report.queuedReloads > 0 { lines.append("queued reloads: \(report.queuedReloads)") }
        if let last = report.lastResult {
            lines.append(
                "last reload: \(last.succeeded ? "ok" : "failed"), \(ago(last.finishedAt, now)): \(last.message)")
        }
        lines.append("")
        var rows = [["SLOT", "PID", "GEN", "STATE", "READY SINCE", "RESTARTS", "STATUS"]]
        for instance in report.instances.sorted(by: { ($0.slot, $0.generation) < ($1.slot, $1.generation) }) {
            rows.append([
                "#\(instance.slot)", instance.pid.map(String.init) ?? "-", String(instance.generation), instance.state,
                instance.readySince.map { "\(clock($0)) (\(ago($0, now)))" } ?? "-", String(instance.restarts),
                instance.status ?? "",
            ])
        }
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            let cells = row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }
            lines.append(cells.joined(separator: "  ").trimmingCharacters(in: .whitespaces))
        }
        return lines.joined(separator: "\n")
    }

    private static func clock(_ seconds: Double) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "HH:mm:ss"
        return formatter.string(from: Date(timeIntervalSince1970: seconds))
    }

    private static func ago(_ seconds: Double, _ now: Double) -> String {
        let elapsed = max(0, Int(now - seconds))
        if elapsed < 60 { return "\(elapsed)s ago" }
        if elapsed < 3600 { return "\(elapsed / 60)m ago" }
        if elapsed < 86_400 { return "\(elapsed / 3600)h\((elapsed % 3600) / 60)m ago" }
        return "\(elapsed / 86_400)d ago"
    }
}

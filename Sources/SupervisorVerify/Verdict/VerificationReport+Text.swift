internal import SupervisorCore

extension VerificationReport {
    /// The report for a person: the counts per connection style and kind of failure, then the verdict with the
    /// cause and fix of every kind seen.
    package var text: String {
        var lines: [String] = []
        if !styles.isEmpty {
            let names = styles.map(\.style)
            var rows: [[String]] = [[""] + names]
            rows.append(["requests"] + styles.map { String($0.requests) })
            rows.append(["failed"] + styles.map { String($0.failed) })
            for kind in RequestFailure.allCases {
                rows.append(
                    ["  \(kind.label)"]
                        + styles.map { String(($0.steady.failures[kind] ?? 0) + ($0.reloading.failures[kind] ?? 0)) })
            }
            rows.append(["reloads"] + styles.map { String($0.reloads.filter(\.ok).count) })
            rows.append(["steady requests/s"] + styles.map { String(Int($0.steadyRequestsPerSecond)) })
            let drains = styles.map { style in style.reloads.flatMap { $0.figures?.drains ?? [] } }
            rows.append(["slowest drain"] + drains.map { seconds($0.map(\.seconds).max()) })
            rows.append(["killed at drain timeout"] + drains.map { String($0.filter(\.killed).count) })
            lines.append(contentsOf: table(rows))
            lines.append("")
        }
        let failed = styles.map(\.failed).reduce(0, +)
        let requests = styles.map(\.requests).reduce(0, +)
        let reloads = styles.map { $0.reloads.filter(\.ok).count }.reduce(0, +)
        if passed {
            lines.append("PASS: no request failed over \(reloads) reloads (\(requests) requests).")
        } else {
            lines.append("FAIL: \(failed) of \(requests) requests failed over \(reloads) reloads.")
        }
        for problem in problems { lines += Self.wrap("- \(problem)") }
        for finding in findings {
            let kind = RequestFailure(rawValue: finding.kind)?.label ?? "killed at the drain timeout"
            let styles = finding.styles.isEmpty ? "" : ", \(finding.styles.joined(separator: " and "))"
            lines += Self.wrap("- \(kind) (\(finding.count)\(styles)): \(finding.cause)")
            lines += Self.wrap("  Fix: \(finding.fix)")
        }
        if let log { lines.append("The supervisor's and the instances' log: \(log)") }
        return lines.joined(separator: "\n")
    }

    /// Splits a paragraph at spaces into lines of at most `width` columns, keeping its leading spaces; lines after
    /// the first are indented two more.
    static func wrap(_ text: String, width: Int = 100) -> [String] {
        let leading = String(text.prefix { $0 == " " })
        var lines: [String] = []
        var line = leading
        var lineIsEmpty = true
        for word in text.dropFirst(leading.count).split(separator: " ") {
            if !lineIsEmpty && line.count + 1 + word.count > width {
                lines.append(line)
                line = leading + "  " + word
            } else {
                line += lineIsEmpty ? String(word) : " " + word
            }
            lineIsEmpty = false
        }
        if !lineIsEmpty { lines.append(line) }
        return lines
    }

    private func seconds(_ value: Double?) -> String {
        guard let value else { return "-" }
        return Duration.milliseconds(Int64(value * 1000)).secondsText
    }

    private func table(_ rows: [[String]]) -> [String] {
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in
                let pad = String(repeating: " ", count: widths[index] - cell.count)
                return index == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
    }
}

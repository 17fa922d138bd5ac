extension StatusReport {
    /// The report as the HTTP `/status` shows it, to anyone who can reach the port: without what often holds secrets.
    /// The command keeps only its program (arguments carry tokens and passwords), an `exec:` probe only its kind,
    /// and URLs lose their query and credentials. `supervisor status`, which only the supervisor's user (and
    /// `control-group`) may ask, shows everything.
    package func redactingSecrets() -> StatusReport {
        var report = self
        if command.count > 1 {
            report.command = [command[0]]
            report.commandArgumentsHidden = command.count - 1
        }
        report.readiness = Self.redactProbe(readiness)
        report.liveness = liveness.map(Self.redactProbe)
        for index in report.instances.indices {
            report.instances[index].probe = report.instances[index].probe.map(Self.redactURLs)
        }
        return report
    }

    /// `exec:COMMAND` becomes `exec:(not shown)`; an `http:` probe loses its URL's query and credentials.
    static func redactProbe(_ text: String) -> String {
        text.hasPrefix("exec:") ? "exec:(not shown)" : redactURLs(in: text)
    }

    /// Every `http://…` or `https://…` in `text` without `user:password@` and without `?query`.
    static func redactURLs(in text: String) -> String {
        var result = ""
        var rest = Substring(text)
        while let start = rest.firstRange(of: "http")?.lowerBound {
            result += rest[..<start]
            let candidate = rest[start...]
            guard let scheme = ["http://", "https://"].first(where: { candidate.hasPrefix($0) }) else {
                result += "http"
                rest = candidate.dropFirst(4)
                continue
            }
            let url = candidate.prefix { !$0.isWhitespace }
            rest = candidate.dropFirst(url.count)
            var remainder = url.dropFirst(scheme.count)
            let authorityEnd = remainder.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? remainder.endIndex
            if let at = remainder[..<authorityEnd].lastIndex(of: "@") {
                remainder = remainder[remainder.index(after: at)...]
            }
            // A probe detail ends the URL with ':' before its result (`GET http://…/ready: 200 in 3 ms`).
            let trailer = remainder.hasSuffix(":") ? ":" : ""
            if let query = remainder.firstIndex(where: { $0 == "?" || $0 == "#" }) {
                result += scheme + remainder[..<query] + trailer
            } else {
                result += scheme + remainder
            }
        }
        return result + rest
    }
}

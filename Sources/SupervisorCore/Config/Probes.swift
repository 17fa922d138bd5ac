/// How the supervisor knows an instance is ready.
package enum ReadinessProbe: Equatable, Sendable, CustomStringConvertible {
    /// The instance sends `READY=1` over sd_notify.
    case notify
    /// The instance's process tree listens on every `listen` port.
    case listen
    /// `GET` on the instance's own URL answers 2xx.
    case http(ProbeURL)
    /// The command, run with the instance's environment plus `SUPERVISOR_PID`, exits 0.
    case exec(String)

    /// Parses `notify`, `listen`, `http:URL` or `exec:COMMAND`.
    ///
    /// - Throws: ``ConfigurationError`` naming the text and the accepted forms.
    package init(parsing text: String) throws(ConfigurationError) {
        if text == "notify" {
            self = .notify
        } else if text == "listen" {
            self = .listen
        } else if text.hasPrefix("http:") {
            self = .http(try ProbeURL(parsing: String(text.dropFirst(5)), for: "ready"))
        } else if text.hasPrefix("exec:") {
            let command = String(text.dropFirst(5))
            guard !command.trimmingCharacters(in: " ").isEmpty else {
                throw ConfigurationError("ready exec: needs a command, e.g. exec:/usr/local/bin/check-ready")
            }
            self = .exec(command)
        } else {
            throw ConfigurationError(
                "ready '\(text)' is not a readiness probe; use notify, listen, http:http://127.0.0.1:{port}/ready "
                    + "or exec:COMMAND")
        }
    }

    /// `notify`, `listen`, `http:URL`, `exec:COMMAND`, as it is written.
    package var description: String {
        switch self {
        case .notify: "notify"
        case .listen: "listen"
        case .http(let url): "http:\(url)"
        case .exec(let command): "exec:\(command)"
        }
    }
}

/// How the supervisor knows a ready instance still works, besides its exit.
package enum LivenessProbe: Equatable, Sendable, CustomStringConvertible {
    /// `GET` on the instance's own URL answers 2xx.
    case http(ProbeURL)

    /// Parses `http:URL`.
    ///
    /// - Throws: ``ConfigurationError`` naming the text and the accepted form.
    package init(parsing text: String) throws(ConfigurationError) {
        guard text.hasPrefix("http:") else {
            throw ConfigurationError(
                "liveness '\(text)' is not a liveness probe; use http:http://127.0.0.1:{port}/health")
        }
        self = .http(try ProbeURL(parsing: String(text.dropFirst(5)), for: "liveness"))
    }

    package var description: String {
        switch self {
        case .http(let url): "http:\(url)"
        }
    }
}

/// A probe URL for one instance: `http://HOST:PORT/PATH`, where `{slot}` is replaced by the instance's slot and
/// `{port}` by its admin port (`admin-port-base` + slot, also in its environment as `SUPERVISOR_ADMIN_PORT`).
package struct ProbeURL: Equatable, Sendable, CustomStringConvertible {
    /// The URL as written, with its templates.
    package let template: String

    /// Parses and checks the URL's shape; `setting` names the option in errors.
    ///
    /// - Throws: ``ConfigurationError`` when it is not an `http://` URL with a host and a port.
    package init(parsing text: String, for setting: String) throws(ConfigurationError) {
        template = text
        let sample = try resolve(slot: 0, adminPort: 9000, setting: setting)
        guard !sample.host.isEmpty else {
            throw ConfigurationError("\(setting) URL '\(text)' has no host; e.g. http://127.0.0.1:{port}/health")
        }
    }

    /// Whether the URL differs from instance to instance.
    package var isPerInstance: Bool { template.contains("{port}") || template.contains("{slot}") }

    /// Whether it needs `admin-port-base`.
    package var usesAdminPort: Bool { template.contains("{port}") }

    /// The port written in the URL when it has no template there.
    package var fixedPort: UInt16? {
        guard !isPerInstance, let parts = try? resolve(slot: 0, adminPort: 0, setting: "") else { return nil }
        return parts.port
    }

    /// Host, port and path of the URL for one instance.
    ///
    /// - Throws: ``ConfigurationError`` when the result is not a valid `http://HOST:PORT/PATH`.
    package func resolve(
        slot: Int,
        adminPort: Int,
        setting: String = "probe"
    ) throws(ConfigurationError) -> (host: String, port: UInt16, path: String) {
        let text = template.replacingOccurrences(of: "{slot}", with: String(slot))
            .replacingOccurrences(of: "{port}", with: String(adminPort))
        let example = "e.g. http://127.0.0.1:{port}/health with --admin-port-base"
        guard text.hasPrefix("http://") else {
            throw ConfigurationError("\(setting) URL '\(template)' must start with http:// (\(example))")
        }
        let rest = text.dropFirst(7)
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        guard let colon = authority.lastIndex(of: ":"), let port = UInt16(authority[authority.index(after: colon)...]),
            port > 0
        else {
            throw ConfigurationError("\(setting) URL '\(template)' needs an explicit port (\(example))")
        }
        var host = String(authority[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port, path.isEmpty ? "/" : String(path))
    }

    package var description: String { template }
}

extension String {
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = Substring(self)
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound] + replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}

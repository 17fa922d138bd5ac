internal import SystemdSupport

/// `/readyz?release=v2` and `/readyz?generation=3`: the gate a deploy tool waits on after a reload. It opens only
/// while the generation asked for serves: the release (or generation) is the target, at least `min-ready` of its
/// instances are ready, and no rollout is in progress (a bake included); the answer's line says why not otherwise.
package enum ReleaseGate {
    /// What the query asks for; at least one of the two.
    package struct Query: Equatable, Sendable {
        package var release: String?
        package var generation: Int?

        package init(release: String? = nil, generation: Int? = nil) {
            self.release = release
            self.generation = generation
        }

        /// Reads a query string (what follows `?`), percent-encoding decoded.
        ///
        /// - Throws: ``QueryError`` for a parameter other than `release` and `generation`, one given twice or empty,
        ///   or a generation that is not a number.
        package init(parsing query: Substring) throws(QueryError) {
            for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = Self.decoded(parts[0])
                let value = parts.count == 2 ? Self.decoded(parts[1]) : nil
                guard let key, key == "release" || key == "generation" else {
                    let shown = PrintableText.escaped(key ?? String(parts[0]), limit: 40)
                    throw QueryError("unknown parameter '\(shown)'; use release=LABEL or generation=N")
                }
                guard let value, !value.isEmpty else { throw QueryError("\(key)= needs a value") }
                if key == "release" {
                    guard release == nil else { throw QueryError("release= is given twice; give it once") }
                    release = value
                } else {
                    guard generation == nil else { throw QueryError("generation= is given twice; give it once") }
                    guard let number = Int(value), number >= 1 else {
                        throw QueryError(
                            "generation=\(PrintableText.escaped(value, limit: 40)) is not a generation "
                                + "number (1, 2, …)")
                    }
                    generation = number
                }
            }
            guard release != nil || generation != nil else {
                throw QueryError("no parameter; use release=LABEL or generation=N")
            }
        }

        /// `text` with `%XX` decoded (`+` stays itself: labels may hold it); `nil` when that is not UTF-8 or a
        /// `%` has no two hex digits after it.
        static func decoded(_ text: Substring) -> String? {
            var bytes: [UInt8] = []
            var iterator = Array(text.utf8).makeIterator()
            while let byte = iterator.next() {
                guard byte == UInt8(ascii: "%") else {
                    bytes.append(byte)
                    continue
                }
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                bytes.append(high << 4 | low)
            }
            return String(validating: bytes, as: UTF8.self)
        }

        private static func hexValue(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
            default: nil
            }
        }

        /// `release v2`, `generation 3`, or both.
        var description: String {
            [release.map { "release \($0)" }, generation.map { "generation \($0)" }].compactMap { $0 }
                .joined(separator: " in ")
        }
    }

    /// Why a query cannot be answered (HTTP 400).
    package struct QueryError: Error, Equatable, CustomStringConvertible {
        package let description: String
        init(_ description: String) { self.description = description }
    }

    /// The answer to `query` while the supervisor is as `report` says.
    package static func answer(_ query: Query, report: StatusReport?, shuttingDown: Bool) -> SupervisorObserver.Answer {
        func no(_ why: String) -> SupervisorObserver.Answer { .init(ok: false, text: "not ready: " + why) }
        if shuttingDown { return no("shutting down") }
        guard let report, let target = report.generation else { return no("not started yet") }
        let serving =
            report.generations?.first { $0.generation == target }
            ?? GenerationRelease(
                generation: target, ReleaseIdentity())
        if let rollout = report.rollout {
            let to = report.generations?.first { $0.generation == rollout.to }
            let from = rollout.from.map { "from generation \($0) " } ?? ""
            return no("a rollout \(from)to \(to?.description ?? "generation \(rollout.to)") is in progress")
        }
        // What the last reload did with the generation or release asked for, when it did not serve it.
        var lastReload = ""
        if let last = report.lastResult, last.result == "rolled_back" || last.result == "failed",
            let to = last.to, to == query.generation || (query.release != nil && last.toRelease == query.release)
        {
            let ended = last.result == "rolled_back" ? "was rolled back" : "failed"
            lastReload = "; the last reload, to generation \(to), \(ended): \(last.message)"
        }
        if let generation = query.generation, generation != target {
            return no("\(serving.description) serves, not generation \(generation)\(lastReload)")
        }
        if let release = query.release, serving.release != release {
            guard let label = serving.release else {
                return no(
                    "generation \(target) serves without a release label, so release \(release) cannot be told "
                        + "apart; set release in the configuration (e.g. release = \"file:/srv/app/current/RELEASE\")"
                        + lastReload)
            }
            return no("release \(label) serves (generation \(target)), not \(release)\(lastReload)")
        }
        let ready = report.instances.filter { $0.generation == target && $0.state == "ready" }.count
        guard ready >= report.minReady else {
            return no(
                "\(ready) instance\(ready == 1 ? "" : "s") of \(serving.description) ready, fewer than min-ready "
                    + "\(report.minReady)")
        }
        return .init(
            ok: true,
            text: "ready: \(query.description) serves: \(serving.description), \(ready) instance"
                + "\(ready == 1 ? "" : "s") ready (min-ready \(report.minReady))")
    }
}

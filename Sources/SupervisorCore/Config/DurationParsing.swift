extension Duration {
    /// The longest duration a setting takes: a year, far beyond any sensible timeout and far within `Int64`
    /// milliseconds.
    static let maximumSeconds: Double = 365 * 24 * 3600

    /// Parses `30s`, `500ms`, `1.5s`, `2m`, `1h`, `1m30s`, or a plain number of seconds (`30`, `0.5`).
    ///
    /// - Throws: ``ConfigurationError`` that names `setting` and the accepted forms.
    package static func parse(_ text: String, for setting: String) throws(ConfigurationError) -> Duration {
        let trimmed = text.trimmingCharacters(in: " ")
        let error = ConfigurationError(
            "invalid duration '\(text)' for \(setting); use seconds (30, 0.5) or a value like 500ms, 30s, 2m, 1m30s")
        let tooLong = ConfigurationError(
            "duration '\(text)' for \(setting) is too long; the longest is \(Int(maximumSeconds)) s (a year)")
        if let seconds = Double(trimmed) {
            guard seconds.isFinite, seconds >= 0 else { throw error }
            guard seconds <= maximumSeconds else { throw tooLong }
            return .milliseconds(Int64((seconds * 1000).rounded()))
        }
        var total = Duration.zero
        var rest = Substring(trimmed)
        guard !rest.isEmpty else { throw error }
        while !rest.isEmpty {
            let numberEnd = rest.firstIndex { !($0.isNumber || $0 == ".") } ?? rest.endIndex
            guard numberEnd != rest.startIndex, let value = Double(rest[..<numberEnd]), value.isFinite else {
                throw error
            }
            rest = rest[numberEnd...]
            let unitEnd = rest.firstIndex { $0.isNumber } ?? rest.endIndex
            let unit = rest[..<unitEnd]
            rest = rest[unitEnd...]
            let scale: Double
            switch unit {
            case "ms": scale = 0.001
            case "s", "sec": scale = 1
            case "m", "min": scale = 60
            case "h": scale = 3600
            default: throw error
            }
            guard value * scale <= maximumSeconds else { throw tooLong }
            total += .milliseconds(Int64((value * scale * 1000).rounded()))
            guard total <= .seconds(maximumSeconds) else { throw tooLong }
        }
        return total
    }
}

extension String {
    func trimmingCharacters(in character: Character) -> String {
        var text = Substring(self)
        while text.first == character { text.removeFirst() }
        while text.last == character { text.removeLast() }
        return String(text)
    }
}

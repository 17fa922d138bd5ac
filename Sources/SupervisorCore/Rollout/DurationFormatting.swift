extension Duration {
    /// Seconds for people, to the millisecond below 10 s and to the hundredth above: `0.013 s`, `0.41 s`, `2 s`,
    /// `12.5 s`, `60 s`.
    package var secondsText: String {
        let total = milliseconds
        let digits = total < 10_000 ? 3 : 2
        let scale: Int64 = digits == 3 ? 1000 : 100
        let units = digits == 3 ? total : total / 10
        var fraction = String(units % scale)
        fraction = String(repeating: "0", count: digits - fraction.count) + fraction
        while fraction.last == "0" { fraction.removeLast() }
        return fraction.isEmpty ? "\(units / scale) s" : "\(units / scale).\(fraction) s"
    }

    /// Whole milliseconds, rounded down.
    package var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// In seconds, for figures that machines read.
    package var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

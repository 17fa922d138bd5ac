extension Duration {
    /// Seconds for people: `0.41 s`, `2 s`, `60 s`.
    public var secondsText: String {
        let (seconds, attoseconds) = components
        let hundredths = seconds * 100 + attoseconds / 10_000_000_000_000_000
        if hundredths % 100 == 0 { return "\(hundredths / 100) s" }
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction % 10 == 0 ? fraction / 10 : fraction) s"
    }

    /// Whole milliseconds, rounded down.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

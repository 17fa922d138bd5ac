/// Text from an instance (its output lines, its `STATUS=`, values it sent that a log line quotes) made safe to show:
/// on a terminal, in the journal, in `supervisor status`.
public enum PrintableText {
    /// `text` with every control character but tab written as `\xHH` (C0, DEL) or `\u{HHHH}` (C1, and the
    /// bidirectional overrides that can make a line read differently from what it holds), so what an instance sends
    /// cannot move a terminal's cursor, retitle or recolour it, or fake a line of the supervisor's own log. With a
    /// `limit`, at most that many characters are kept, and `…` says that some were cut.
    public static func escaped(_ text: some StringProtocol, limit: Int? = nil) -> String {
        var result = ""
        var kept = 0
        for scalar in text.unicodeScalars {
            if let limit, kept >= limit {
                result += "…"
                break
            }
            kept += 1
            switch scalar.value {
            case 0x09:
                result.unicodeScalars.append(scalar)
            case 0x00...0x1F, 0x7F:
                result += "\\x" + hex(scalar.value, digits: 2)
            case 0x80...0x9F, 0x202A...0x202E, 0x2066...0x2069:
                result += "\\u{" + hex(scalar.value, digits: 4) + "}"
            default:
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// Whether `escaped(_:)` would change nothing, checked byte by byte (the common case, for speed).
    public static func isPlain(_ bytes: some Collection<UInt8>) -> Bool {
        // Bytes of 0x80 and above may start C1 controls (0xC2 0x80...0x9F) or the overrides (0xE2 0x80/0x81 ...).
        bytes.allSatisfy { ($0 >= 0x20 && $0 < 0x7F) || $0 == 0x09 }
    }

    private static func hex(_ value: UInt32, digits: Int) -> String {
        let text = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}

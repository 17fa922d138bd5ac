internal import SystemdSupport
internal import TOMLKit

/// The TOML config file: each key is the long name of a `run` option.
///
/// ```toml
/// name = "app"
/// instances = 4
/// listen = ["127.0.0.1:8080"]
/// listen-mode = "app"       # or "reuseport", "shared"
/// ready = "notify"          # or "listen", "http:http://127.0.0.1:{port}/ready", "exec:COMMAND"
/// ready-timeout = "60s"
/// stop-signal = "TERM"
/// drain-timeout = "30s"
/// max-surge = 2
/// command = ["/srv/app/current/bin/server", "--port", "8080"]
///
/// [environment]
/// LOG_LEVEL = "info"
/// ```
package enum ConfigurationFile {
    /// Every key the file may hold: one per setting (``Settings/all``).
    package static var keys: [String] { Settings.all.map(\.key) }

    /// The largest config file read: real ones are a few hundred bytes, and a path that names something else
    /// (`/dev/zero`, a log) must not fill the supervisor's memory.
    package static let sizeLimit = 1 << 20

    /// Reads and parses the file at `path`.
    ///
    /// - Throws: ``ConfigurationError`` when the file cannot be read, is not TOML, or holds an unknown key or a
    ///   value of the wrong kind.
    package static func load(path: String) throws(ConfigurationError) -> ConfigurationLayer {
        try parse(read(path: path), path: path)
    }

    /// The bytes of the file at `path`: a regular file of at most ``sizeLimit`` bytes.
    ///
    /// - Throws: ``ConfigurationError`` naming the file and what is wrong with it.
    package static func read(path: String) throws(ConfigurationError) -> [UInt8] {
        do {
            return try FileText.readRegularFile(path, limit: sizeLimit)
        } catch {
            switch error {
            case .notRegular(let kind):
                throw ConfigurationError(
                    "config file \(path) is \(kind), not a regular file; give the path of a TOML file")
            case .tooLarge:
                throw ConfigurationError(
                    "config file \(path) is larger than \(sizeLimit / 1024) KiB; is it the right file? A config holds a "
                        + "few lines of TOML")
            case .system(let error):
                throw ConfigurationError("cannot read config file \(path): \(error.description)")
            }
        }
    }

    /// Parses the bytes of a file; `path` only names it in errors.
    package static func parse(_ bytes: [UInt8], path: String) throws(ConfigurationError) -> ConfigurationLayer {
        guard let string = String(validating: bytes, as: UTF8.self) else {
            throw ConfigurationError("config file \(path) is not valid UTF-8")
        }
        return try parse(string, path: path)
    }

    /// What `supervisor parse-config` does in a ``ParserCheck`` child: parses the file's bytes from standard input.
    ///
    /// - Throws: ``ConfigurationError`` as ``parse(_:path:)-([UInt8],_)`` does.
    package static func parseStandardInput(path: String) throws(ConfigurationError) {
        let bytes: [UInt8]
        do { bytes = try FileText.readAll(0, path: "standard input", limit: sizeLimit) } catch {
            throw ConfigurationError("cannot read config file \(path) from standard input: \(error.description)")
        }
        _ = try parse(bytes, path: path)
    }

    /// Parses TOML text; `path` only names the file in errors. A byte-order mark at the start is skipped, as TOML
    /// parsers do.
    package static func parse(_ text: String, path: String) throws(ConfigurationError) -> ConfigurationLayer {
        // The guard must see the text as toml++ does, which skips a byte-order mark.
        let text = text.unicodeScalars.first == "\u{FEFF}" ? String(text.unicodeScalars.dropFirst()) : text
        if let crash = KnownParserCrashes.first(in: text) {
            throw ConfigurationError("\(path):\(crash.line): not valid TOML: \(crash.problem)")
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            let position = error.source.begin
            throw ConfigurationError(
                "\(path):\(position.line):\(position.column): not valid TOML: \(error.description)")
        } catch {
            throw ConfigurationError("\(path): not valid TOML: \(error)")
        }
        var layer = ConfigurationLayer()
        for key in table.keys {
            guard let value = table[key] else { continue }
            guard let setting = Settings.named(key) else {
                throw ConfigurationError("\(path): \(unknownKeyMessage(key))")
            }
            try setting.read(SettingInput(value), from: .file(path), into: &layer)
        }
        return layer
    }

    static func unknownKeyMessage(_ key: String) -> String {
        let closest = keys.min { editDistance($0, key) < editDistance($1, key) }!
        let hint = editDistance(closest, key) <= 3 ? "did you mean '\(closest)'? " : ""
        return "unknown key '\(key)'; \(hint)valid keys are \(keys.joined(separator: ", "))"
    }

    private static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}

extension SettingInput {
    /// A value of the file. The elements of an array and the entries of a table are read one level deep: no setting
    /// takes deeper values, so a deeper one only needs its kind named.
    init(_ value: any TOMLValueConvertible, depth: Int = 1) {
        if let text = value.string {
            self = .text(text)
        } else if let number = value.int {
            self = .integer(number)
        } else if let number = value.double {
            self = .number(number)
        } else if let flag = value.bool {
            self = .boolean(flag)
        } else if depth > 0, let array = value.array {
            self = .list(array.map { SettingInput($0, depth: depth - 1) })
        } else if depth > 0, let table = value.table {
            var entries: [String: SettingInput] = [:]
            for key in table.keys {
                if let entry = table[key] { entries[key] = SettingInput(entry, depth: depth - 1) }
            }
            self = .table(entries)
        } else {
            self = .other(value.type.rawValue)
        }
    }
}

/// Inputs on which the toml++ that TOMLKit 0.6.0 bundles fails an assertion (aborting the process, or undefined
/// behaviour in release builds), refused before the text reaches it:
///
/// - a table header that starts with a character no key can start with (`[[[a]]]`, `[=`, `[.`), fixed upstream in
///   marzer/tomlplusplus#301;
/// - `}`, or U+0085, U+2028 or U+2029, where an array expects a value (`a = [}`, `a = [1, }]`, `a = [[}]]`), which
///   `fuzz-config` found;
/// - a table header without a name after characters toml++ takes for white space, byte-order marks among them
///   (`\u{FEFF}\u{FEFF}[[[a`);
/// - malformed dates and times (`d = 2024-01-01 5 `, `n = 4611-04-05t-`), on which toml++'s date and time parser
///   asserts (`fuzz-config` found several): no setting takes a date or a time, so none is let through.
///
/// A reload parses a file in a child first (``ParserCheck``), so an input missing here fails that reload only.
enum KnownParserCrashes {
    private static let keyStart = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-\"'".utf8)

    /// The 1-based line of the first input toml++ would crash on, and what is wrong there; `nil` when none.
    static func first(in text: String) -> (line: Int, problem: String)? {
        let bytes = Array(text.utf8)
        var line = 1
        // The brackets and braces open at this point: `[` of an array, `{` of an inline table.
        var open: [UInt8] = []
        var atLineStart = true
        // Just after an array's `[` or a `,` in an array: a value comes next (blanks, newlines and comments aside).
        var expectingArrayValue = false
        // Just after a key's `=`: its value comes next (blanks aside).
        var expectingValue = false
        var index = 0
        func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        func tripleQuote(_ quote: UInt8, at position: Int) -> Bool {
            position + 2 < bytes.count && bytes[position] == quote && bytes[position + 1] == quote
                && bytes[position + 2] == quote
        }
        // A bare value at `start` that toml++ would read as a date or a time: a digit (after an optional sign), and
        // a ':' or a '-' that is not an exponent's sign before the value ends. Its date and time parser fails
        // assertions on many malformed ones (`2024-01-01 5`, `4611-04-05t-`), and no setting takes a date or time.
        func isDateOrTime(at start: Int) -> Bool {
            var token: [Unicode.Scalar] = []
            for scalar in String(decoding: bytes[start..<min(bytes.count, start + 128)], as: UTF8.self).unicodeScalars {
                if scalar.properties.isWhitespace || ",]}#".unicodeScalars.contains(scalar)
                    || Self.tomlWhitespaceLength(of: scalar) != nil
                {
                    break
                }
                token.append(scalar)
            }
            if token.first == "+" || token.first == "-" { token.removeFirst() }
            guard let first = token.first, ("0"..."9").contains(first) else { return false }
            for (offset, scalar) in token.enumerated().dropFirst() {
                if scalar == ":" { return true }
                if scalar == "-" && token[offset - 1] != "e" && token[offset - 1] != "E" { return true }
            }
            return false
        }
        // The length in bytes of the non-ASCII character at `start` when toml++ counts it as white space.
        func tomlWhitespaceLength(at start: Int) -> Int? {
            let text = String(decoding: bytes[start..<min(bytes.count, start + 4)], as: UTF8.self)
            return text.unicodeScalars.first.flatMap(Self.tomlWhitespaceLength(of:))
        }
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\n"):
                line += 1
                atLineStart = true
                expectingValue = false
                index += 1
                continue
            case _ where isBlank(byte) || byte == UInt8(ascii: "\r"):
                index += 1
                continue
            case UInt8(ascii: "#"):
                while index < bytes.count && bytes[index] != UInt8(ascii: "\n") { index += 1 }
                continue
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                // Skip the string (basic, literal, or multi-line), counting the lines it spans.
                let quote = byte
                let triple = tripleQuote(quote, at: index)
                index += triple ? 3 : 1
                while index < bytes.count {
                    if bytes[index] == UInt8(ascii: "\n") {
                        line += 1
                        if !triple { break }
                    }
                    if quote == UInt8(ascii: "\"") && bytes[index] == UInt8(ascii: "\\") {
                        index += 2
                        continue
                    }
                    if bytes[index] == quote && (!triple || tripleQuote(quote, at: index)) {
                        index += triple ? 3 : 1
                        break
                    }
                    index += 1
                }
                atLineStart = false
                expectingArrayValue = false
                expectingValue = false
                continue
            case UInt8(ascii: "["):
                if open.isEmpty && atLineStart {
                    var next = index + 1
                    if next < bytes.count && bytes[next] == UInt8(ascii: "[") { next += 1 }
                    while next < bytes.count && isBlank(bytes[next]) { next += 1 }
                    guard next < bytes.count, keyStart.contains(bytes[next]) else {
                        return (line, "a table header needs a name, e.g. [environment]")
                    }
                    // A header: skip to the end of its line.
                    while index < bytes.count && bytes[index] != UInt8(ascii: "\n") { index += 1 }
                    continue
                }
                open.append(byte)
                expectingArrayValue = true
                expectingValue = false
                atLineStart = false
                index += 1
                continue
            case UInt8(ascii: "{"):
                open.append(byte)
            case UInt8(ascii: "}"):
                if expectingArrayValue { return (line, "'}' where an array value belongs") }
                _ = open.popLast()
            case 0x80...0xFF where expectingArrayValue:
                // U+0085, U+2028 and U+2029 there make toml++ abort; no value starts with a non-ASCII character.
                return (line, "an array value cannot start with a non-ASCII character")
            case 0x80...0xFF:
                // toml++ takes these for white space (a byte-order mark after the first among them): a `[` after them
                // still starts a line for it.
                if let length = tomlWhitespaceLength(at: index) {
                    index += length
                    continue
                }
            case UInt8(ascii: "]"):
                _ = open.popLast()
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "-"):
                if expectingValue || expectingArrayValue, isDateOrTime(at: index) {
                    return (line, "dates and times are not settings here; quote the value if it is text")
                }
            case UInt8(ascii: "="):
                expectingValue = true
                atLineStart = false
                index += 1
                continue
            case UInt8(ascii: ","):
                if open.last == UInt8(ascii: "[") {
                    expectingArrayValue = true
                    atLineStart = false
                    index += 1
                    continue
                }
            default:
                break
            }
            expectingArrayValue = false
            expectingValue = false
            atLineStart = false
            index += 1
        }
        return nil
    }

    /// The length in bytes of `scalar` when it is a non-ASCII character toml++ counts as white space (horizontal, or
    /// vertical), else `nil`.
    static func tomlWhitespaceLength(of scalar: Unicode.Scalar) -> Int? {
        switch scalar.value {
        case 0xA0, 0x1680, 0x180E, 0x2000...0x200B, 0x202F, 0x205F, 0x2060, 0x3000, 0xFEFF, 0x85, 0x2028, 0x2029:
            String(scalar).utf8.count
        default:
            nil
        }
    }

    /// The line of the first table header without a name, or `nil` (for tests of that case alone).
    static func lineOfHeaderWithoutKey(in text: String) -> Int? {
        guard let crash = first(in: text), crash.problem.hasPrefix("a table header") else { return nil }
        return crash.line
    }
}

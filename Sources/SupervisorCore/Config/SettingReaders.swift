extension SettingReader where Value == String {
    /// Any text.
    static let text = SettingReader { input, context throws(ConfigurationError) in
        try input.text(context)
    } describe: {
        $0
    }
}

extension SettingReader where Value == Int {
    /// A whole number: the file's integer, a flag's digits.
    static let integer = SettingReader { input, context throws(ConfigurationError) in
        switch input {
        case .integer(let number):
            return number
        case .text(let text) where context.origin == .flag:
            guard let number = Int(text) else {
                throw context.error("\(context.naming(text)) is not a whole number")
            }
            return number
        default:
            throw context.wrongKind(input, expected: "an integer")
        }
    } describe: {
        String($0)
    }
}

extension SettingReader where Value == UInt16 {
    /// A TCP port, 1 to 65535.
    static let port = SettingReader { input, context throws(ConfigurationError) in
        let number = try SettingReader<Int>.integer.read(input, context)
        guard let port = UInt16(exactly: number), port > 0 else {
            let quoted = context.origin == .flag
            throw context.error("\(context.naming(String(number), quoted: quoted)) is not a port; use 1 to 65535")
        }
        return port
    } describe: {
        String($0)
    }
}

extension SettingReader where Value == Duration {
    /// `30s`, `500ms`, `1m30s`, or a number of seconds (a number in the file too).
    static let duration = SettingReader { input, context throws(ConfigurationError) in
        let text: String
        switch input {
        case .integer(let seconds): text = String(seconds)
        case .number(let seconds): text = String(seconds)
        case .text(let written): text = written
        default: throw context.wrongKind(input, expected: "a duration like \"30s\" or a number of seconds")
        }
        do throws(ConfigurationError) { return try Duration.parse(text, for: context.name) } catch {
            throw context.error(error.message)
        }
    } describe: {
        $0.settingText
    }
}

extension SettingReader where Value == UnixSignal {
    /// A signal's name (`TERM`, `SIGQUIT`, `RTMIN+2`) or number.
    static let signal = SettingReader { input, context throws(ConfigurationError) in
        let text: String
        var quoted = true
        if case .integer(let number) = input {
            text = String(number)
            quoted = false
        } else {
            text = try input.text(context)
        }
        guard let signal = UnixSignal(name: text) else {
            throw context.error(
                "\(context.naming(text, quoted: quoted)) is not a signal; use a name like TERM, INT, QUIT, USR1 or WINCH"
            )
        }
        return signal
    } describe: {
        $0.description.hasPrefix("SIG") ? String($0.description.dropFirst(3)) : $0.description
    }
}

extension SettingReader where Value: RawRepresentable<String> & CaseIterable {
    /// One of `Value`'s cases by name; `what` names the kind in errors (`a listen mode`).
    static func choice(_ what: String) -> SettingReader {
        SettingReader { input, context throws(ConfigurationError) in
            let text = try input.text(context)
            guard let choice = Value(rawValue: text) else {
                let names = Value.allCases.map(\.rawValue)
                throw context.error("\(context.naming(text)) is not \(what); use \(context.choices(names))")
            }
            return choice
        } describe: {
            $0.rawValue
        }
    }
}

extension SettingReader {
    /// Text that `parse` turns into the value. `parse`'s errors name the setting themselves (`ready 'x' is not …`)
    /// when `errorsNameSetting`; otherwise they are put after it (`--listen: 'x' is not an IP address`).
    static func parsed(
        errorsNameSetting: Bool = false,
        _ parse: @escaping @Sendable (String) throws(ConfigurationError) -> Value,
        describe: @escaping @Sendable (Value) -> String
    ) -> SettingReader {
        SettingReader { input, context throws(ConfigurationError) in
            let text = try input.text(context)
            do throws(ConfigurationError) { return try parse(text) } catch {
                if errorsNameSetting {
                    throw context.error(context.origin == .flag ? "--\(error.message)" : error.message)
                }
                throw context.error("\(context.name): \(error.message)")
            }
        } describe: {
            describe($0)
        }
    }

    /// Repeatable: each value read by `element`; in the file an array, or one string.
    static func list<Element>(of element: SettingReader<Element>) -> SettingReader where Value == [Element] {
        SettingReader(shape: .list) { input, context throws(ConfigurationError) in
            switch input {
            case .list(let items):
                var values: [Element] = []
                for item in items {
                    guard case .text = item else { throw context.wrongKind(item, expected: "an array of strings") }
                    values.append(try element.read(item, context))
                }
                return values
            case .text:
                return [try element.read(input, context)]
            default:
                throw context.wrongKind(input, expected: "an array of strings")
            }
        } describe: {
            $0.map(element.describe).joined(separator: ", ")
        }
    }
}

extension SettingReader where Value == ListenAddress {
    /// `[NAME=]ADDRESS:PORT`.
    static let address = SettingReader.parsed { text throws(ConfigurationError) in
        try ListenAddress(parsing: text)
    } describe: {
        $0.description
    }
}

extension SettingReader where Value == MaxSurge {
    /// `all`, or a number of instances.
    static let surge = SettingReader { input, context throws(ConfigurationError) in
        if case .text("all") = input { return .all }
        if case .text(let text) = input, context.origin != .flag || Int(text) == nil {
            throw context.error(
                "\(context.naming(text)) is not a count; use a number of instances or \(context.choices(["all"]))")
        }
        return .count(try SettingReader<Int>.integer.read(input, context))
    } describe: {
        $0.description
    }
}

extension SettingReader where Value == [String: String] {
    /// Environment variables: `NAME=VALUE` flags, or a table of the file.
    static let environment = SettingReader(shape: .assignments) { input, context throws(ConfigurationError) in
        var result: [String: String] = [:]
        switch input {
        case .list(let assignments) where context.origin == .flag:
            for assignment in assignments {
                let variable = try EnvironmentVariable(assignment: assignment.text(context))
                result[variable.name] = variable.value
            }
        case .table(let table):
            for (name, entry) in table {
                switch entry {
                case .text(let text): result[name] = text
                case .integer(let number): result[name] = String(number)
                case .boolean(let flag): result[name] = flag ? "true" : "false"
                default: throw context.error("\(context.key).\(name) must be a string, not \(entry.kindName)")
                }
            }
        default:
            throw context.wrongKind(input, expected: "a table like [environment] with NAME = \"value\" lines")
        }
        return result
    } describe: {
        $0.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    }
}

extension SettingReader where Value == [String] {
    /// A program and its arguments: the words after `--`, or an array (one word alone) in the file.
    static let command = SettingReader(shape: .words) { input, context throws(ConfigurationError) in
        if case .text(let single) = input, context.origin != .flag {
            guard !single.contains(" ") else {
                throw context.error(
                    "\(context.naming(single)) must be an array of words, e.g. \(context.key) = [\"/usr/bin/server\", "
                        + "\"--port\", \"8080\"]")
            }
            return [single]
        }
        guard case .list(let words) = input else { throw context.wrongKind(input, expected: "an array of strings") }
        var result: [String] = []
        for word in words {
            guard case .text(let text) = word else { throw context.wrongKind(word, expected: "an array of strings") }
            result.append(text)
        }
        return result
    } describe: {
        $0.joined(separator: " ")
    }
}

extension SettingInput {
    /// The text of a flag, or of a string in the file.
    func text(_ context: SettingContext) throws(ConfigurationError) -> String {
        guard case .text(let text) = self else { throw context.wrongKind(self, expected: "a string") }
        return text
    }
}

/// How many replacements may start at once during a reload.
package enum MaxSurge: Equatable, Sendable, CustomStringConvertible {
    /// Every slot at once.
    case all
    case count(Int)

    package var description: String {
        switch self {
        case .all: "all"
        case .count(let count): String(count)
        }
    }
}

extension Duration {
    /// As a setting is written: `30s`, `500ms`, `0s`.
    var settingText: String {
        let milliseconds = milliseconds
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms"
    }
}

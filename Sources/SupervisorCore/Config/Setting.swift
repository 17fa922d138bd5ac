/// What a source gives for a setting, before the setting reads it: a flag's text (the texts of a repeated flag, the
/// words after `--`), or a value of the config file.
package enum SettingInput: Equatable, Sendable {
    case text(String)
    case integer(Int)
    case number(Double)
    case boolean(Bool)
    case list([SettingInput])
    case table([String: SettingInput])
    /// A TOML value of a kind no setting takes (a date, a time), by the name of its kind.
    case other(String)

    /// A flag's value, `nil` when the flag is not given.
    package init?(flag: String?) {
        guard let flag else { return nil }
        self = .text(flag)
    }

    /// A repeatable flag's values, `nil` when it is not given.
    package init?(flags: [String]) {
        guard !flags.isEmpty else { return nil }
        self = .list(flags.map(SettingInput.text))
    }

    /// The kind, as an error names what it got: `string`, `integer`, `array`, ….
    var kindName: String {
        switch self {
        case .text: "string"
        case .integer: "integer"
        case .number: "float"
        case .boolean: "boolean"
        case .list: "array"
        case .table: "table"
        case .other(let kind): kind
        }
    }
}

/// Where a setting's value comes from; errors name the setting as it is written there.
package enum SettingOrigin: Equatable, Sendable {
    /// A flag of `run` (`--drain-timeout 10s`).
    case flag
    /// A key of the config file at this path (`drain-timeout = "10s"`).
    case file(String)
}

/// One setting read from one origin, to name it in errors.
package struct SettingContext: Sendable {
    package let key: String
    package let origin: SettingOrigin

    /// `--drain-timeout` for a flag, `drain-timeout` in the file.
    package var name: String { origin == .flag ? "--\(key)" : key }

    /// The setting with the value as given: `--stop-signal FOO`, or `stop-signal = "FOO"` (`backlog = 0` for a value
    /// the file gave as a number, `quoted: false`).
    func naming(_ text: String, quoted: Bool = true) -> String {
        if origin == .flag { return "--\(key) \(text)" }
        return quoted ? "\(key) = \"\(text)\"" : "\(key) = \(text)"
    }

    /// A list of accepted values as this origin writes them: `app, reuseport or shared` for a flag,
    /// `"app", "reuseport" or "shared"` in the file.
    func choices(_ values: [String]) -> String {
        let written = origin == .flag ? values : values.map { "\"\($0)\"" }
        guard let last = written.last, written.count > 1 else { return written.joined() }
        return written.dropLast().joined(separator: ", ") + " or " + last
    }

    /// An error at this origin: a file's errors start with its path.
    package func error(_ message: String) -> ConfigurationError {
        switch origin {
        case .flag: ConfigurationError(message)
        case .file(let path): ConfigurationError("\(path): \(message)")
        }
    }

    /// The file holds a value of another kind than the setting takes.
    func wrongKind(_ input: SettingInput, expected: String) -> ConfigurationError {
        error("\(key) must be \(expected), not \(input.kindName)")
    }
}

/// How a setting's flag is written, and so its key's value in the file.
package enum SettingShape: Sendable {
    /// One value: `--backlog 512`, `backlog = 512`.
    case value
    /// A repeatable flag, an array in the file: `--listen A --listen B`, `listen = ["A", "B"]`.
    case list
    /// A repeatable `NAME=VALUE` flag, a table in the file: `--env A=1`, `[environment]` with `A = "1"`.
    case assignments
    /// The words after `--`, an array in the file: `-- /bin/server -v`, `command = ["/bin/server", "-v"]`.
    case words
}

/// How a setting turns what a source gives into its value, and writes a value for help texts.
package struct SettingReader<Value: Equatable & Sendable>: Sendable {
    package let shape: SettingShape
    let read: @Sendable (SettingInput, SettingContext) throws(ConfigurationError) -> Value
    let describe: @Sendable (Value) -> String

    init(
        shape: SettingShape = .value,
        read: @escaping @Sendable (SettingInput, SettingContext) throws(ConfigurationError) -> Value,
        describe: @escaping @Sendable (Value) -> String
    ) {
        self.shape = shape
        self.read = read
        self.describe = describe
    }
}

/// What every setting has, whatever its value's type: what the file reader, the flags, help and the merge of layers
/// use.
package protocol AnySetting: Sendable {
    /// The key in the file, and the flag's long name unless ``flag`` says otherwise.
    var key: String { get }
    /// The flag's long name: the key, or the one the declaration gives (`env` for `environment`); `nil` for the
    /// command, which comes after `--`.
    var flag: String? { get }
    /// What the setting does, for `--help` and the man page.
    var help: String { get }
    /// What the flag's value is called in help: `duration`, `count`, ….
    var valueName: String? { get }
    /// The default as help writes it, `nil` when unset means off.
    var defaultText: String? { get }
    var shape: SettingShape { get }
    /// Reads `input` from `origin` into `layer`.
    ///
    /// - Throws: ``ConfigurationError`` naming the setting as `origin` writes it, the value, and what it accepts.
    func read(_ input: SettingInput, from origin: SettingOrigin, into layer: inout ConfigurationLayer)
        throws(ConfigurationError)
    /// Puts `upper`'s value of this setting, if it has one, over `lower`'s.
    func merge(_ upper: ConfigurationLayer, over lower: inout ConfigurationLayer)
}

extension AnySetting {
    /// The help text with the default: `How long an instance may drain before SIGKILL. (default: 30s)`.
    package var helpWithDefault: String { defaultText.map { "\(help) (default: \($0))" } ?? help }
}

/// One setting of `run`, declared once in ``Settings``: its key (also the flag's name), help, default, how it is read
/// from a flag and from the file, and how layers merge it. `Resolved` is what ``ConfigurationLayer/value(_:)`` gives:
/// `Value` for a setting with a default, `Value?` for one without.
package struct Setting<Value: Equatable & Sendable, Resolved: Sendable>: AnySetting {
    package let key: String
    let flagOverride: String?
    package let help: String
    package let valueName: String?
    package let reader: SettingReader<Value>
    let fallback: Resolved
    let resolve: @Sendable (Value) -> Resolved
    let fallbackText: String?
    /// How a higher layer's value combines with a lower one's; `nil`: it replaces it.
    let combine: (@Sendable (_ upper: Value, _ lower: Value) -> Value)?

    package var shape: SettingShape { reader.shape }
    package var flag: String? { reader.shape == .words ? nil : flagOverride ?? key }
    package var defaultText: String? { fallbackText }

    package func read(_ input: SettingInput, from origin: SettingOrigin, into layer: inout ConfigurationLayer)
        throws(ConfigurationError)
    {
        layer[self] = try reader.read(input, SettingContext(key: key, origin: origin))
    }

    package func merge(_ upper: ConfigurationLayer, over lower: inout ConfigurationLayer) {
        guard let value = upper[self] else { return }
        if let combine, let below = lower[self] {
            lower[self] = combine(value, below)
        } else {
            lower[self] = value
        }
    }
}

extension Setting where Resolved == Value {
    /// A setting with a default; help shows it as `defaultText`, or as the reader writes it, unless `hidesDefault`
    /// (an empty list).
    init(
        _ key: String, _ reader: SettingReader<Value>, default fallback: Value, defaultText: String? = nil,
        hidesDefault: Bool = false, flag: String? = nil, valueName: String? = nil, help: String,
        combine: (@Sendable (_ upper: Value, _ lower: Value) -> Value)? = nil
    ) {
        self.init(
            key: key, flagOverride: flag, help: help, valueName: valueName, reader: reader, fallback: fallback,
            resolve: { $0 },
            fallbackText: hidesDefault ? nil : defaultText ?? reader.describe(fallback), combine: combine)
    }
}

extension Setting {
    /// A setting without a default value: unset means off, or what `defaultText` says is used instead.
    init(
        _ key: String, _ reader: SettingReader<Value>, defaultText: String? = nil, valueName: String? = nil,
        help: String
    ) where Resolved == Value? {
        self.init(
            key: key, flagOverride: nil, help: help, valueName: valueName, reader: reader, fallback: nil,
            resolve: { $0 },
            fallbackText: defaultText, combine: nil)
    }
}

/// Settings from one source (the config file, or the flags of `run`); a setting not set here has no value.
package struct ConfigurationLayer: Equatable, Sendable {
    private var values: [String: StoredValue] = [:]

    package init() {}

    /// The value set here, `nil` when this layer does not set it.
    package subscript<Value, Resolved>(setting: Setting<Value, Resolved>) -> Value? {
        get { values[setting.key]?.value as? Value }
        set { values[setting.key] = newValue.map(StoredValue.init) }
    }

    /// The value set here, else the setting's default.
    package func value<Value, Resolved>(_ setting: Setting<Value, Resolved>) -> Resolved {
        self[setting].map(setting.resolve) ?? setting.fallback
    }

    /// The keys of the settings made here.
    package var keys: Set<String> { Set(values.keys) }

    /// This layer on top of `base`: every setting made here wins (the environment merges variable by variable).
    package func overriding(_ base: ConfigurationLayer) -> ConfigurationLayer {
        var merged = base
        for setting in Settings.all { setting.merge(self, over: &merged) }
        return merged
    }

    private struct StoredValue: Equatable, Sendable {
        let value: any Equatable & Sendable

        static func == (lhs: StoredValue, rhs: StoredValue) -> Bool { lhs.value.isEqual(to: rhs.value) }
    }
}

extension Equatable {
    fileprivate func isEqual(to other: any Equatable & Sendable) -> Bool { (other as? Self) == self }
}

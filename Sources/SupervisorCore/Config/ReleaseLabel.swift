internal import SystemdSupport

/// `release`: the label of what a generation runs (`v2`), which `status` and `reload` show and `/readyz?release=`
/// matches; or the file to read it from at each start and reload, so that the release a deploy switches to names
/// itself.
package enum ReleaseLabel: Equatable, Sendable {
    /// The label as given.
    case label(String)
    /// `file:PATH`: the first line of the file, either the label alone (`v2`) or an assignment as an environment
    /// file has it (`RELEASE=v2`, quotes allowed). The path may go through the `current` symlink a deploy switches
    /// (`file:/srv/app/current/RELEASE`).
    case file(String)

    /// As the setting is written.
    package var description: String {
        switch self {
        case .label(let label): label
        case .file(let path): "file:" + path
        }
    }

    /// The longest label, in bytes.
    package static let maximumLength = 128
    /// The largest label file read.
    static let maximumFileSize = 4096
    /// What a label may contain besides ASCII letters and digits: enough for versions, dates and commit ids, nothing
    /// that needs quoting in a shell, a URL's query or a log line.
    static let punctuation: Set<Character> = [".", "_", "-", "+", ":", "~", "@"]

    /// Reads the setting's value: `file:PATH` with an absolute path, else the label itself.
    ///
    /// - Throws: ``ConfigurationError`` for a relative path or a label with other characters.
    init(parsing text: String) throws(ConfigurationError) {
        if text.hasPrefix("file:") {
            let path = String(text.dropFirst("file:".count))
            guard path.hasPrefix("/") else {
                throw ConfigurationError(
                    "release \(text): the file's path must be absolute, e.g. file:/srv/app/current/RELEASE")
            }
            self = .file(path)
        } else {
            self = .label(try Self.checked(text, from: "release '\(text)'"))
        }
    }

    /// The label; a file is read now.
    ///
    /// - Throws: ``ConfigurationError`` when the file cannot be read or holds no usable label.
    package func resolve() throws(ConfigurationError) -> String {
        switch self {
        case .label(let label): return label
        case .file(let path): return try Self.read(path)
        }
    }

    private static func read(_ path: String) throws(ConfigurationError) -> String {
        let bytes: [UInt8]
        do { bytes = try FileText.readRegularFile(path, limit: maximumFileSize) } catch {
            let why: String
            switch error {
            case .notRegular(let kind): why = "it is \(kind), not a file"
            case .tooLarge: why = "it is larger than \(maximumFileSize) bytes; it should hold one line, e.g. v2"
            case .system(let failure): why = failure.reason
            }
            throw ConfigurationError(
                "release file \(path) cannot be read: \(why); write the release's label into it (e.g. "
                    + "`echo v2 > \(path)`), or set release = \"v2\"")
        }
        let text = String(decoding: bytes, as: UTF8.self)
        var line = Substring(text.prefix { $0 != "\n" && $0 != "\r\n" }).trimmingSpaces
        if let equals = line.firstIndex(of: "="),
            line[..<equals].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") })
        {
            line = line[line.index(after: equals)...].trimmingSpaces
            if line.count >= 2, let quote = line.first, quote == "\"" || quote == "'", line.last == quote {
                line = line.dropFirst().dropLast()
            }
        }
        return try checked(String(line), from: "release file \(path)")
    }

    /// `label` when it is one, else an error saying what is wrong with it, naming where it came from.
    static func checked(_ label: String, from origin: String) throws(ConfigurationError) -> String {
        guard !label.isEmpty else {
            throw ConfigurationError("\(origin) gives an empty label; write the release's name, e.g. v2")
        }
        guard label.utf8.count <= maximumLength else {
            throw ConfigurationError(
                "\(origin) gives a label of \(label.utf8.count) bytes; at most \(maximumLength) are allowed")
        }
        if let bad = label.first(where: { !isAllowed($0) }) {
            throw ConfigurationError(
                "\(origin) gives the label '\(PrintableText.escaped(label))', with '\(PrintableText.escaped(String(bad)))'"
                    + " in it; a label has letters, digits and . _ - + : ~ @ only")
        }
        return label
    }

    private static func isAllowed(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber || punctuation.contains(character))
    }
}

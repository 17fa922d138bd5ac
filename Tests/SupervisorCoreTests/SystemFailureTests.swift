import Foundation
import SystemdSupport
import Testing

@testable import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

/// Start-up and system failures carry a code and the system call behind them; the tests match codes, since the code
/// is what a caller branches on, and the errno where one failed.
@Suite("System failures: codes and causes")
struct SystemFailureTests {
    /// A fresh directory of this user's, mode 0755, removed at the end.
    private func withDirectory(_ body: (String) throws -> Void) throws {
        var template = Array("/tmp/supervisor-failure-XXXXXX".utf8CString)
        let made = try #require(template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) })
        let path = String(cString: made)
        chmod(path, 0o755)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try body(path)
    }

    private func failure(_ body: () throws -> Void) -> SystemFailure? {
        do { try body() } catch let failure as SystemFailure { return failure } catch {
            Issue.record("not a SystemFailure: \(error)")
        }
        return nil
    }

    @Test("a runtime directory below a file cannot be made: runtimeDirectory, with mkdir's ENOTDIR")
    func directoryBelowFile() throws {
        try withDirectory { directory in
            #expect(FileManager.default.createFile(atPath: "\(directory)/file", contents: Data()))
            let failure = try #require(failure { try RuntimeDirectory.ensure("\(directory)/file/run", mode: 0o755) })
            #expect(failure.code == .runtimeDirectory)
            #expect(failure.cause?.call == "mkdir")
            #expect(failure.errno == ENOTDIR)
            #expect(failure.message.hasPrefix("cannot create directory \(directory)/file/run: "))
        }
    }

    @Test("a directory others may write: untrustedDirectory, and no system call failed")
    func writableByOthers() throws {
        try withDirectory { directory in
            chmod(directory, 0o777)
            let failure = try #require(failure { try RuntimeDirectory.checkTrusted(directory) })
            #expect(failure.code == .untrustedDirectory)
            #expect(failure.cause == nil)
            chmod(directory, 0o1777)
            #expect(throws: Never.self) { try RuntimeDirectory.checkTrusted(directory) }
        }
    }

    @Test("a second lock of the same name: alreadyRunning, naming the owner's pid")
    func lockHeld() throws {
        try withDirectory { directory in
            let first = try InstanceLock(controlSocketPath: "\(directory)/app.sock", name: "app")
            let failure = try #require(
                failure { _ = try InstanceLock(controlSocketPath: "\(directory)/app.sock", name: "app") })
            #expect(failure.code == .alreadyRunning)
            #expect(failure.message.contains("pid \(getpid())"))
            _ = first
        }
    }

    @Test("a lock file that is a symbolic link: lockFile, with open's ELOOP")
    func lockThroughLink() throws {
        try withDirectory { directory in
            symlink("/etc/passwd", "\(directory)/app.sock.lock")
            let failure = try #require(
                failure { _ = try InstanceLock(controlSocketPath: "\(directory)/app.sock", name: "app") })
            #expect(failure.code == .lockFile)
            #expect(failure.errno == ELOOP)
            #expect(failure.message.contains("is a symbolic link"))
        }
    }

    @Test("prepare tells a setting to change from the system to fix")
    func startFailures() throws {
        try withDirectory { directory in
            var flags = ConfigurationLayer()
            flags[Settings.command] = ["/bin/true"]
            flags[Settings.controlSocket] = "\(directory)/app.sock"
            flags[Settings.name] = "app"
            let source = ConfigurationSource(file: nil, flags: flags, defaultInstances: 1, searchPath: "/usr/bin:/bin")
            let first = try Supervisor.prepare(source: source, environment: [:])
            #expect(throws: StartFailure.self) { try Supervisor.prepare(source: source, environment: [:]) }
            do throws(StartFailure) {
                _ = try Supervisor.prepare(source: source, environment: [:])
            } catch {
                guard case .system(let failure) = error else {
                    Issue.record("\(error)")
                    return
                }
                #expect(failure.code == .alreadyRunning)
            }
            var bad = flags
            bad[Settings.instances] = 0
            let badSource = ConfigurationSource(file: nil, flags: bad, defaultInstances: 1, searchPath: "/usr/bin:/bin")
            do throws(StartFailure) {
                _ = try Supervisor.prepare(source: badSource, environment: [:])
                Issue.record("instances = 0 was accepted")
            } catch {
                guard case .configuration(let problem) = error else {
                    Issue.record("\(error)")
                    return
                }
                #expect(problem.message.hasPrefix("instances must be between 1 and 1024"))
            }
            _ = first
        }
    }
}

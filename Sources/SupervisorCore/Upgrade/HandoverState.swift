#if canImport(FoundationEssentials)
internal import FoundationEssentials
#else
internal import Foundation
#endif

/// Everything a running supervisor hands to the program it executes in place (`supervisor upgrade`), written to a
/// memory file whose descriptor survives the exec: the rollout machine, the configuration of each generation (the
/// config file's bytes, parsed again by the next program), every instance and the descriptors it uses, the
/// listening sockets, the timers (as absolute monotonic times: `CLOCK_MONOTONIC` is the same across an exec), and the
/// descriptors of the control socket, the health endpoint, the lock, the signal pipe and the lifeline.
///
/// The format is versioned: a program reads every format from 1 to ``currentFormat``, and refuses a newer one (a
/// downgrade to a binary that does not know it) with a message that says so, at the pre-flight check, while nothing
/// has changed yet. A field added later must have a default, so that older states still read.
package struct HandoverState: Codable, Sendable {
    /// The format this binary writes, and the newest it reads.
    package static let currentFormat = 1

    /// One instance and what it holds.
    package struct Instance: Codable, Sendable {
        package var id: InstanceID
        package var pid: Int32
        package var slot: Slot
        package var generation: Generation
        package var adminPort: Int?
        package var environment: [String]
        package var listenerInodes: [UInt64]
        package var notifyPath: String
        package var notifyDescriptor: Int32
        package var outputDescriptor: Int32
        /// The last lines it wrote, and what it wrote of the next one.
        package var lastLines: [String]
        package var partialLine: [UInt8]
    }

    /// A process the supervisor may signal (an instance's first process, an announced main process), and its pidfd;
    /// -1 without pidfd support.
    package struct HeldProcess: Codable, Sendable {
        package var pid: Int32
        package var descriptor: Int32
    }

    /// A listening socket of the `reuseport` or `shared` mode.
    package struct Listener: Codable, Sendable {
        package var key: ListenerKey
        package var descriptor: Int32
        /// A Unix socket whose path the supervisor bound (and removes at stop); `nil` in states before it existed.
        package var ownsFile: Bool?

        package init(key: ListenerKey, descriptor: Int32, ownsFile: Bool? = nil) {
            self.key = key
            self.descriptor = descriptor
            self.ownsFile = ownsFile
        }
    }

    /// A socket systemd passed that no instance has taken yet.
    package struct ActivatedListener: Codable, Sendable {
        package var address: ListenAddress
        package var descriptor: Int32
    }

    /// The config file of a generation as it was loaded (`nil`: no config file), with its generation (`nil`: the one
    /// the supervisor started with).
    package struct GenerationFile: Codable, Sendable {
        package var generation: Generation?
        package var bytes: [UInt8]?
        /// What the generation runs; `nil` for the initial configuration, and in states from before it was handed
        /// over.
        package var release: ReleaseIdentity? = nil
    }

    /// A timer of the rollout machine and when it is due.
    package struct Timer: Codable, Sendable {
        package var timer: RolloutMachine.TimerID
        package var deadline: ContinuousClock.Instant
    }

    /// What the probes of an instance have seen.
    package struct Probe: Codable, Sendable {
        package var id: InstanceID
        package var lastWatchdog: ContinuousClock.Instant?
        package var livenessFailures: Int
        package var summary: String?
    }

    /// Descriptors of the supervisor itself.
    package struct Descriptors: Codable, Sendable {
        /// The control socket, listening: connections that arrive during the exec wait in its queue.
        package var control: Int32
        /// The health endpoint's socket, listening, when there is one.
        package var health: Int32?
        /// The lock file, locked (the lock belongs to the open file, so it is held through the exec).
        package var lock: Int32
        /// The signal pipe's ends.
        package var signalRead: Int32
        package var signalWrite: Int32
        /// The write end of the lifeline's pipe, and the lifeline's pid.
        package var lifeline: Int32?
        package var lifelinePID: Int32?
        /// The executable the writer runs from, for the next program to execute again when it cannot take over.
        package var previousExecutable: Int32
    }

    /// The upgrade that executed the next program: who asked, and since when.
    package struct Upgrade: Codable, Sendable {
        /// The caller's id, which it asks for the result with.
        package var id: UInt64
        package var fromVersion: String
        package var binary: String
        package var startedAt: ContinuousClock.Instant
    }

    package var format: Int
    /// The version of the binary that wrote it.
    package var version: String
    /// The command line of `run`: the next program is executed with it, and reads its flags from it.
    package var arguments: [String]
    /// The environment `run` started with, which instances inherit.
    package var environment: [String]
    /// The path of the executable `run` was started from: where `upgrade` looks when given no binary.
    package var executablePath: String
    package var machine: RolloutMachine
    package var files: [GenerationFile]
    package var instances: [Instance]
    var retainedLines: [InstanceTable.Retained]
    package var processes: [HeldProcess]
    package var listeners: [Listener]
    package var activated: [ActivatedListener]
    package var timers: [Timer]
    package var probes: [Probe]
    package var descriptors: Descriptors
    package var lastStatusLine: String
    package var warnedAboutMigration: Bool
    var metrics: SupervisorMetrics.Tallies
    /// Earlier upgrades of this supervisor, oldest first (at most ``UpgradeRecord/kept``), and how many there were.
    package var upgrades: [UpgradeRecord]
    package var upgradeCount: Int
    package var upgrade: Upgrade

    /// Every descriptor the state names, which must survive the exec.
    package var keptDescriptors: [Int32] {
        var kept = [descriptors.control, descriptors.lock, descriptors.signalRead, descriptors.signalWrite]
        kept += [descriptors.health, descriptors.lifeline].compactMap { $0 }
        kept.append(descriptors.previousExecutable)
        kept += instances.flatMap { [$0.notifyDescriptor, $0.outputDescriptor] }
        kept += processes.map(\.descriptor).filter { $0 >= 0 }
        kept += listeners.map(\.descriptor) + activated.map(\.descriptor)
        return kept
    }

    /// The state as bytes.
    package func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(self))
    }

    /// Reads a state, checking its format first.
    ///
    /// - Throws: ``HandoverError`` for bytes that are not a state, or a format newer than `newestFormat`.
    package static func decode(
        _ bytes: [UInt8],
        newestFormat: Int = HandoverState.currentFormat
    ) throws(HandoverError) -> HandoverState {
        if Failpoint.isActive(.crashReadingState) { fatalError("failpoint 'crash-reading-state' is set") }
        struct Header: Decodable {
            var format: Int
            var version: String?
        }
        let data = Data(bytes)
        let header: Header
        do { header = try JSONDecoder().decode(Header.self, from: data) } catch {
            throw HandoverError("the handover state is unreadable (no format number): \(error)")
        }
        guard header.format >= 1, header.format <= newestFormat else {
            throw HandoverError(
                "the running supervisor (\(header.version ?? "?")) hands over its state in format \(header.format); "
                    + "this binary (\(SupervisorVersion.current)) reads formats 1 to \(newestFormat): it is older than "
                    + "the format. Upgrade to a binary at least as new, or stop and start the supervisor to change to "
                    + "this one")
        }
        do { return try JSONDecoder().decode(HandoverState.self, from: data) } catch {
            throw HandoverError("the handover state (format \(header.format)) is unreadable: \(error)")
        }
    }
}

/// An upgrade that happened, for `status`.
package struct UpgradeRecord: Codable, Equatable, Sendable {
    /// How many are kept.
    package static let kept = 8

    package var fromVersion: String
    package var toVersion: String
    /// Unix time in seconds.
    package var finishedAt: Double
    /// From the request to the next program's first turn of its loop.
    package var seconds: Double
    /// `nil` when it succeeded; why not, when the next program could not take over and this one came back.
    package var failure: String?
}

/// Why an upgrade was refused or failed.
package struct HandoverError: Error, CustomStringConvertible, Sendable {
    package let description: String
    package init(_ description: String) { self.description = description }
}

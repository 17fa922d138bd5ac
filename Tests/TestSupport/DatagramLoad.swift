import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A UDP client that sends numbered datagrams to 127.0.0.1:`port` at a steady rate from several sockets (so that
/// `SO_REUSEPORT` spreads them over every slot's socket) and counts the answers of an echo server (the demo server's
/// `--udp-echo`: `pid=PID ` and the datagram): sent, answered, lost, and which pids answered.
package final class DatagramLoad: Sendable {
    package struct Counts: Sendable, CustomStringConvertible {
        package var sent = 0
        package var answered = 0
        /// Answers to a number already answered, or that was never sent.
        package var unexpected = 0
        package var answersByPid: [Int32: Int] = [:]

        package var lost: Int { sent - answered }

        package var description: String {
            "sent \(sent), answered \(answered), lost \(lost), unexpected \(unexpected), "
                + "\(answersByPid.count) pids answered"
        }
    }

    private let sockets: [CInt]
    private let rate: Int
    private let stopping = Atomic<Bool>(false)
    private let sendingDone = Atomic<Bool>(false)
    private let receiving = Atomic<Bool>(true)
    private let counts = Mutex(Counts())
    private let answeredNumbers = Mutex<Set<UInt64>>([])
    private let running = DispatchGroup()

    /// Connected sockets to 127.0.0.1:`port`, `rate` datagrams a second in all.
    package init(port: Int, rate: Int, sockets count: Int = 8) throws {
        var sockets: [CInt] = []
        for _ in 0..<count {
            let fd = try posixCall("socket") {
                socket(AF_INET, CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
            }
            var size: CInt = 8 << 20
            // As root the buffer may be larger than net.core.rmem_max: answers must not be dropped on this side.
            if setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, socklen_t(MemoryLayout<CInt>.size)) != 0 {
                setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<CInt>.size))
            }
            var address = sockaddr_in.loopback(port: port)
            _ = try withUnsafePointer(to: &address) { pointer in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                    try posixCall("connect") { connect(fd, generic, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            }
            sockets.append(fd)
        }
        self.sockets = sockets
        self.rate = rate
    }

    deinit {
        for fd in sockets { close(fd) }
    }

    /// Starts the sending and the receiving thread.
    package func start() {
        running.enter()
        Thread { [self] in
            defer { running.leave() }
            send()
        }.start()
        running.enter()
        Thread { [self] in
            defer { running.leave() }
            receive()
        }.start()
    }

    /// Stops sending, waits up to `grace` for the last answers, and returns the counts.
    package func stop(grace: Duration = .seconds(2)) -> Counts {
        stopping.store(true, ordering: .relaxed)
        let deadline = ContinuousClock.now + grace
        while !sendingDone.load(ordering: .relaxed) { usleep(1000) }
        while ContinuousClock.now < deadline {
            let counted = counts.withLock { $0 }
            if counted.answered >= counted.sent { break }
            usleep(10_000)
        }
        receiving.store(false, ordering: .relaxed)
        running.wait()
        return counts.withLock { $0 }
    }

    /// What was counted so far.
    package var current: Counts { counts.withLock { $0 } }

    private func send() {
        defer { sendingDone.store(true, ordering: .relaxed) }
        let clock = ContinuousClock()
        let start = clock.now
        var number: UInt64 = 0
        while !stopping.load(ordering: .relaxed) {
            // Catch up to the rate every millisecond, in a burst.
            let due = UInt64(Double((clock.now - start) / .milliseconds(1)) * Double(rate) / 1000)
            while number < due {
                let text = Array("n=\(number)".utf8)
                let fd = sockets[Int(number % UInt64(sockets.count))]
                let sent = text.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
                if sent == text.count {
                    number += 1
                    counts.withLock { $0.sent += 1 }
                } else if errno == ECONNREFUSED {
                    // An ICMP port unreachable for an earlier datagram (nothing bound for a moment): this one was not
                    // sent; try it again.
                    continue
                } else {
                    break
                }
            }
            usleep(1000)
        }
    }

    private func receive() {
        var polls = sockets.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        var buffer = [UInt8](repeating: 0, count: 512)
        // Until `stop` has waited for the last answers.
        while receiving.load(ordering: .relaxed) {
            guard poll(&polls, nfds_t(polls.count), 20) > 0 else { continue }
            for index in polls.indices where polls[index].revents != 0 {
                while true {
                    let length = buffer.withUnsafeMutableBytes {
                        recv(polls[index].fd, $0.baseAddress, $0.count, CInt(MSG_DONTWAIT))
                    }
                    guard length > 0 else { break }
                    record(String(decoding: buffer[0..<length], as: UTF8.self))
                }
            }
        }
    }

    private func record(_ answer: String) {
        // pid=PID n=NUMBER
        let parts = answer.split(separator: " ")
        guard parts.count == 2, parts[0].hasPrefix("pid="), let pid = Int32(parts[0].dropFirst(4)),
            parts[1].hasPrefix("n="), let number = UInt64(parts[1].dropFirst(2))
        else {
            counts.withLock { $0.unexpected += 1 }
            return
        }
        let fresh = answeredNumbers.withLock { $0.insert(number).inserted }
        counts.withLock { counts in
            if fresh {
                counts.answered += 1
                counts.answersByPid[pid, default: 0] += 1
            } else {
                counts.unexpected += 1
            }
        }
    }
}

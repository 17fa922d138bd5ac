import Testing

@testable import SupervisorCore

@Suite("Parsing what the kernel reports")
struct SystemParsingTests {
    @Test("a /proc/PID/stat line whose command holds spaces and parentheses")
    func statLine() {
        let stat = ProcessStat(statLine: "4312 (my (odd) server) S 4300 4312 4312 0 -1 4194560 135 0 0 0")
        #expect(stat?.pid == 4312)
        #expect(stat?.command == "my (odd) server")
        #expect(stat?.parentPID == 4300)
        #expect(stat?.processGroup == 4312)
        #expect(stat?.session == 4312)
        #expect(ProcessStat(statLine: "garbage") == nil)
        #expect(stat?.nice == nil, "the line stops before field 19")
        let full = ProcessStat(statLine: "7 (w) S 1 7 7 0 -1 4194560 0 0 0 0 0 0 0 0 39 19 1 0 100 0 0")
        #expect(full?.nice == 19)
    }

    @Test("a /proc/PID/status line's values, after the tab the kernel writes: the first is not lost")
    func statusValues() {
        let status = "Name:\tserver\nGroups:\t27 33 \nCapEff:\t000001fffeffffff\n"
        #expect(FileText.statusValues("Groups", in: status) == ["27", "33"])
        #expect(FileText.statusValues("CapEff", in: status) == ["000001fffeffffff"])
        #expect(FileText.statusValues("Groups", in: "Groups:\t\n") == [])
        #expect(FileText.statusValues("Uid", in: status) == nil)
    }

    @Test("LISTEN sockets are picked out of /proc/net/tcp; other states are skipped")
    func procNetTCP() {
        let text = """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 91234 1 0
               1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 91299 1 0
               2: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0
            """
        let sockets = ListeningSocket.parse(procNetTCP: text)
        #expect(
            sockets == [
                ListeningSocket(port: 8080, hexAddress: "0100007F", inode: 91234),
                ListeningSocket(port: 80, hexAddress: "00000000", inode: 777),
            ])
        #expect(sockets[1].isWildcard)
        let address = ListenAddress(host: "127.0.0.1", port: 8080)
        #expect(address.overlaps(sockets[0]))
        #expect(!address.overlaps(sockets[1]))
        #expect(ListenAddress(host: "", port: 80).overlaps(sockets[1]))
    }

    @Test("process trees and descendants")
    func processTree() {
        func stat(_ pid: Int32, _ parent: Int32) -> ProcessStat {
            ProcessStat(statLine: "\(pid) (p) S \(parent) \(pid) \(pid) 0")!
        }
        let table = ProcessTable(processes: [stat(1, 0), stat(10, 1), stat(11, 10), stat(12, 11), stat(20, 1)])
        #expect(table.tree(of: 10) == [10, 11, 12])
        #expect(table.isDescendant(12, of: 10))
        #expect(!table.isDescendant(20, of: 10))
    }

    @Test("wait statuses: exit codes, signals, core dumps")
    func exitStatus() {
        #expect(ExitStatus(waitStatus: 2 << 8) == .exited(code: 2))
        #expect(ExitStatus(waitStatus: 9).description == "was killed by SIGKILL")
        #expect(ExitStatus(waitStatus: 11 | 0x80).description == "was killed by SIGSEGV (core dumped)")
        #expect(ExitStatus(waitStatus: 0).isSuccess)
    }

    @Test("an instance's environment: the supervisor's own systemd variables are withheld, ours are added")
    func instanceEnvironment() {
        let environment = InstanceEnvironment.build(
            inherited: [
                "PATH=/usr/bin", "NOTIFY_SOCKET=/run/systemd/notify", "LISTEN_FDS=2", "JOURNAL_STREAM=8:9",
                "HOME=/root",
            ],
            additions: [EnvironmentVariable(name: "HOME", value: "/srv")],
            instance: [EnvironmentVariable(name: "NOTIFY_SOCKET", value: "/run/supervisor/app.notify/1.sock")])
        #expect(environment == ["PATH=/usr/bin", "HOME=/srv", "NOTIFY_SOCKET=/run/supervisor/app.notify/1.sock"])
    }

    @Test("durations for people")
    func secondsText() {
        #expect(Duration.milliseconds(410).secondsText == "0.41 s")
        #expect(Duration.seconds(60).secondsText == "60 s")
        #expect(Duration.milliseconds(1500).secondsText == "1.5 s")
        #expect(Duration.milliseconds(50).secondsText == "0.05 s")
        #expect(Duration.milliseconds(13).secondsText == "0.013 s")
        #expect(Duration.milliseconds(12_530).secondsText == "12.53 s")
        #expect(Duration.zero.secondsText == "0 s")
    }
}

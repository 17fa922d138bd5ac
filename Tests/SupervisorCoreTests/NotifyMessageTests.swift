import Testing

@testable import SupervisorCore

@Suite("sd_notify message parser")
struct NotifyMessageTests {
    private func parse(_ text: String) throws -> NotifyMessage { try NotifyMessage.parse(Array(text.utf8)) }

    @Test("READY=1 with STATUS= sets both")
    func readyAndStatus() throws {
        let message = try parse("READY=1\nSTATUS=serving on :8080")
        #expect(message.ready)
        #expect(message.status == "serving on :8080")
        #expect(message.problems.isEmpty)
    }

    @Test("every key systemd documents is understood")
    func allKeys() throws {
        let message = try parse(
            "STOPPING=1\nRELOADING=1\nMONOTONIC_USEC=123\nMAINPID=4312\nWATCHDOG=1\nWATCHDOG_USEC=5000000\n"
                + "EXTEND_TIMEOUT_USEC=9000\nERRNO=2\nBARRIER=1\n")
        #expect(message.stopping && message.reloading && message.barrier)
        #expect(!message.ready)
        #expect(message.monotonicMicroseconds == 123)
        #expect(message.mainPID == 4312)
        #expect(message.watchdog == .ping)
        #expect(message.watchdogMicroseconds == 5_000_000)
        #expect(message.extendTimeoutMicroseconds == 9000)
        #expect(message.errorNumber == 2)
        #expect(message.problems.isEmpty)
    }

    @Test("WATCHDOG=trigger asks to be treated as hung")
    func watchdogTrigger() throws {
        #expect(try parse("WATCHDOG=trigger").watchdog == .trigger)
    }

    @Test("unknown keys and lines without '=' are ignored, like systemd does")
    func unknownKeys() throws {
        let message = try parse("FDSTORE=1\nX_CUSTOM=7\ngarbage\nREADY=1")
        #expect(message.ready)
        #expect(message.ignoredKeys == ["FDSTORE", "X_CUSTOM", "garbage"])
    }

    @Test("bad values of known keys are reported and ignored; the rest of the datagram still counts")
    func badValues() throws {
        let message = try parse("READY=2\nMAINPID=abc\nMAINPID=-4\nWATCHDOG=yes\nSTATUS=ok")
        #expect(!message.ready)
        #expect(message.mainPID == nil)
        #expect(message.watchdog == nil)
        #expect(message.status == "ok")
        #expect(message.problems.count == 4)
        #expect(message.problems[0] == "READY=2 is not 1")
    }

    @Test("STATUS= that is not UTF-8 is dropped with a problem")
    func statusMustBeUTF8() throws {
        let message = try NotifyMessage.parse(Array("READY=1\nSTATUS=".utf8) + [0xff, 0xfe])
        #expect(message.ready)
        #expect(message.status == nil)
        #expect(message.problems == ["STATUS= is not valid UTF-8"])
    }

    @Test("an empty datagram or one with a NUL byte is rejected whole")
    func rejectedDatagrams() {
        #expect(throws: NotifyMessage.ParseError.empty) { try NotifyMessage.parse([UInt8]()) }
        #expect(throws: NotifyMessage.ParseError.containsNUL) { try NotifyMessage.parse(Array("READY=1".utf8) + [0]) }
    }

    @Test("blank lines and a trailing newline are harmless; the last STATUS= wins")
    func blankLines() throws {
        let message = try parse("\n\nSTATUS=one\n\nSTATUS=two\n")
        #expect(message.status == "two")
        #expect(message.ignoredKeys.isEmpty)
    }
}

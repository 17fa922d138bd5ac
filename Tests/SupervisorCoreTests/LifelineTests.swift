import Testing

@testable import SupervisorCore

@Suite("Lifeline: the list of process groups to stop if the supervisor dies")
struct LifelineTests {
    @Test("watch and forget lines round-trip; the last line for a group wins")
    func roundTrip() {
        var registry = Lifeline.Registry()
        let watch = Lifeline.watchLine(group: 4312, signal: 15, drainTimeout: .milliseconds(30_000))
        #expect(watch == "+4312 15 30000\n")
        let watched = registry.apply(watch.dropLast())
        #expect(watched)
        #expect(registry.groups[4312] == Lifeline.Group(id: 4312, signal: 15, drainTimeout: .seconds(30)))
        let forgotten = registry.apply(Lifeline.forgetLine(group: 4312).dropLast())
        #expect(forgotten)
        #expect(registry.groups.isEmpty)
    }

    @Test("malformed lines are ignored, and never list pid 0, 1 or a negative group")
    func malformed() {
        var registry = Lifeline.Registry()
        for line in [
            "", "+", "+12", "+12 15", "+12 x 100", "+0 15 100", "+1 15 100", "+-5 15 100", "?12", "-x",
            "+12 15 -1", "+99999999999 15 1",
        ] {
            let understood = registry.apply(Substring(line))
            #expect(!understood, "\(line)")
        }
        #expect(registry.groups.isEmpty)
    }
}

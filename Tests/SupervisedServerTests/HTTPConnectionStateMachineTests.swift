import TestSupport
import Testing

@testable import SupervisedServer

@Suite("One connection's drain rules (docs/architecture.md), without sockets")
struct HTTPConnectionStateMachineTests {
    @Test("Keep-alive requests keep the connection open while not draining")
    func keepAliveWhileServing() {
        var machine = HTTPConnectionStateMachine()
        #expect(machine.requestHeadReceived(keepAlive: true) == .process)
        #expect(machine.requestEndReceived() == .process)
        #expect(machine.responseReady(responseAsksToClose: false) == .write(keepAlive: true))
        #expect(machine.state == .idle)
    }

    @Test("A client that asks to close, or a responder that does, gets Connection: close")
    func closeWhenAsked() {
        var client = HTTPConnectionStateMachine()
        _ = client.requestHeadReceived(keepAlive: false)
        _ = client.requestEndReceived()
        #expect(client.responseReady(responseAsksToClose: false) == .write(keepAlive: false))
        #expect(client.state == .closingAfterResponse)

        var responder = HTTPConnectionStateMachine()
        _ = responder.requestHeadReceived(keepAlive: true)
        _ = responder.requestEndReceived()
        #expect(responder.responseReady(responseAsksToClose: true) == .write(keepAlive: false))
    }

    @Test("Draining an idle connection starts the grace instead of closing it")
    func idleConnectionGetsGrace() {
        var machine = HTTPConnectionStateMachine()
        #expect(machine.drainStarted() == .startIdleGrace)
        #expect(machine.state == .idle)
        #expect(machine.drainStarted() == .none, "idempotent")
        #expect(machine.idleGraceEnded() == .close)
    }

    @Test("A request that arrives within the grace is answered with Connection: close, and the grace is moot")
    func requestWithinGrace() {
        var machine = HTTPConnectionStateMachine()
        _ = machine.drainStarted()
        #expect(machine.requestHeadReceived(keepAlive: true) == .process)
        #expect(machine.idleGraceEnded() == .none, "a grace timer firing late closes nothing in flight")
        #expect(machine.requestEndReceived() == .process)
        #expect(machine.responseReady(responseAsksToClose: false) == .write(keepAlive: false))
        #expect(machine.requestHeadReceived(keepAlive: true) == .discard, "a pipelined request after the last")
    }

    @Test("A request in flight when the drain starts is answered with Connection: close")
    func requestInFlight() {
        var receiving = HTTPConnectionStateMachine()
        _ = receiving.requestHeadReceived(keepAlive: true)
        #expect(receiving.drainStarted() == .none)
        #expect(receiving.requestBodyReceived() == .process)
        _ = receiving.requestEndReceived()
        #expect(receiving.responseReady(responseAsksToClose: false) == .write(keepAlive: false))

        var responding = HTTPConnectionStateMachine()
        _ = responding.requestHeadReceived(keepAlive: true)
        _ = responding.requestEndReceived()
        #expect(responding.drainStarted() == .none)
        #expect(responding.responseReady(responseAsksToClose: false) == .write(keepAlive: false))
        #expect(responding.lingerEnded() == .close)
    }

    @Test("The client's FIN closes an idle connection at once, and one in flight after its response")
    func clientHalfClose() {
        var idle = HTTPConnectionStateMachine()
        #expect(idle.inputClosed() == .close)

        var inFlight = HTTPConnectionStateMachine()
        _ = inFlight.requestHeadReceived(keepAlive: true)
        _ = inFlight.requestEndReceived()
        #expect(inFlight.inputClosed() == .none)
        #expect(inFlight.responseReady(responseAsksToClose: false) == .write(keepAlive: false))
        #expect(inFlight.inputClosed() == .close, "the client closing after the last response ends it")
    }

    @Test("A body over the limit is answered early and the rest of the request is discarded")
    func requestTooLarge() {
        var machine = HTTPConnectionStateMachine()
        _ = machine.requestHeadReceived(keepAlive: true)
        #expect(machine.requestTooLarge() == .write(keepAlive: false))
        #expect(machine.requestBodyReceived() == .discard)
        #expect(machine.requestEndReceived() == .discard)
    }

    @Test("Nothing is written once the channel is closed")
    func closedChannel() {
        var machine = HTTPConnectionStateMachine()
        _ = machine.requestHeadReceived(keepAlive: true)
        _ = machine.requestEndReceived()
        machine.channelClosed()
        #expect(machine.responseReady(responseAsksToClose: false) == .discard)
        #expect(machine.drainStarted() == .none)
    }
}

@Suite("One connection's timeouts: which runs when, and what ends")
struct HTTPConnectionTimeoutTests {
    @Test("Idle until a request's first byte, then the request timeout until the request is complete")
    func timeoutFollowsTheRequest() {
        var machine = HTTPConnectionStateMachine()
        #expect(machine.runningTimeout == .idle)
        machine.requestBytesReceived()
        #expect(machine.state == .receivingHead)
        #expect(machine.runningTimeout == .request)
        #expect(machine.requestHeadReceived(keepAlive: true) == .process)
        #expect(machine.runningTimeout == .request, "the same phase: the timer is not restarted")
        #expect(machine.requestEndReceived() == .process)
        #expect(machine.runningTimeout == nil, "the responder's time does not count")
        #expect(machine.responseReady(responseAsksToClose: false) == .write(keepAlive: true))
        #expect(machine.runningTimeout == .idle)
        machine.requestBytesReceived()
        machine.requestBytesReceived()
        #expect(machine.state == .receivingHead, "more bytes change nothing")
    }

    @Test("The request timeout answers 408 through the HTTP layer once the head arrived, below it before")
    func requestTimeoutAnswers() {
        var headless = HTTPConnectionStateMachine()
        headless.requestBytesReceived()
        #expect(headless.requestTimeoutEnded() == .answerRequestTimeout(headReceived: false))
        #expect(headless.state == .closingAfterResponse)
        #expect(headless.requestHeadReceived(keepAlive: true) == .discard, "the rest of the request is dropped")

        var bodiless = HTTPConnectionStateMachine()
        _ = bodiless.requestHeadReceived(keepAlive: true)
        #expect(bodiless.requestTimeoutEnded() == .answerRequestTimeout(headReceived: true))
        #expect(bodiless.requestBodyReceived() == .discard)
        #expect(bodiless.lingerEnded() == .close)

        var answering = HTTPConnectionStateMachine()
        machineAwaitingResponse(&answering)
        #expect(answering.requestTimeoutEnded() == .none, "a late timer cuts off no response")
    }

    @Test("The idle timeout closes only an idle connection, and does not run while draining")
    func idleTimeout() {
        var idle = HTTPConnectionStateMachine()
        #expect(idle.idleTimeoutEnded() == .close)

        var arriving = HTTPConnectionStateMachine()
        arriving.requestBytesReceived()
        #expect(arriving.idleTimeoutEnded() == .none, "a late idle timer cuts off no request")

        var draining = HTTPConnectionStateMachine()
        #expect(draining.drainStarted() == .startIdleGrace)
        #expect(draining.runningTimeout == nil, "the grace applies instead")
    }

    @Test("A partial head when the drain starts is a request in flight, not idle; the client's FIN ends it")
    func partialHeadWhileDraining() {
        var machine = HTTPConnectionStateMachine()
        machine.requestBytesReceived()
        #expect(machine.drainStarted() == .none, "no grace: the request is answered when complete")
        #expect(machine.runningTimeout == .request)
        #expect(machine.requestHeadReceived(keepAlive: true) == .process)
        #expect(machine.requestEndReceived() == .process)
        #expect(machine.responseReady(responseAsksToClose: false) == .write(keepAlive: false))

        var abandoned = HTTPConnectionStateMachine()
        abandoned.requestBytesReceived()
        #expect(abandoned.inputClosed() == .close)
    }

    private func machineAwaitingResponse(_ machine: inout HTTPConnectionStateMachine) {
        _ = machine.requestHeadReceived(keepAlive: true)
        _ = machine.requestEndReceived()
    }
}

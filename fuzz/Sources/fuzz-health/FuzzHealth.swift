import Dispatch
import Foundation
import FuzzSupport
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Prometheus
import SupervisorHTTP

@testable import SupervisedServer
@testable import SupervisorCore

/// The health endpoint's request handling: bytes as a client sends them on one connection, through the same pipeline
/// the endpoint serves with (NIO's HTTP/1 decoder with the endpoint's limits, pipelining assistance, error handling,
/// and the connection handler with its state machine), each request then answered by the endpoint's routes.
let registry = PrometheusCollectorRegistry()
let routes = HealthRoutes(
    observer: SupervisorObserver { _ in }, registry: registry, livenessTimeout: .milliseconds(1))
let configuration = SupervisedHTTPServer.Configuration(
    maximumRequestBodySize: 4096, requestTimeout: .seconds(5), idleTimeout: .seconds(5), maximumConnections: 64)

/// The routes' answer, waited for here (they are async; the fuzzer's thread may block).
func answer(_ request: HTTPServerRequest) -> HTTPServerResponse {
    let done = DispatchSemaphore(value: 0)
    let result = ResponseBox()
    Task {
        result.response = await routes.respond(method: request.head.method, uri: request.head.uri)
        done.signal()
    }
    done.wait()
    return result.response!
}

final class ResponseBox: @unchecked Sendable {
    var response: HTTPServerResponse?
}

func fuzzOne(_ bytes: [UInt8]) {
    let channel = EmbeddedChannel()
    let pipeline = channel.pipeline.syncOperations
    var limits = NIOHTTPDecoderLimitConfiguration()
    limits.maxHeaderFieldSize = configuration.maximumRequestHeadSize
    limits.maxHeaderListSize = configuration.maximumRequestHeadSize
    let connection = HTTPConnectionHandler(
        responder: .onEventLoop(answer), tracker: ConnectionTracker(), configuration: configuration)
    do {
        try pipeline.configureHTTPServerPipeline(
            withPipeliningAssistance: true, withErrorHandling: true, withEncoderConfiguration: .init(),
            withDecoderLimitConfiguration: limits)
        try pipeline.addHandler(connection)
        try pipeline.addHandler(RequestArrivalObserver(connection: connection), position: .first)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        try channel.writeInbound(channel.allocator.buffer(bytes: bytes))
    } catch {
        // A protocol error closes the connection: that is an answer too.
    }
    channel.embeddedEventLoop.run()
    while (try? channel.readOutbound(as: IOData.self)) ?? nil != nil {}
    _ = try? channel.finish(acceptAlreadyClosed: true)
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzInput.run(data, size, fuzzOne)
}
#else
@main enum Replay { static func main() { FuzzInput.replayCommandLine(fuzzOne) } }
#endif

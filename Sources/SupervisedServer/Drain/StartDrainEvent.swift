/// The user event that tells a connection's ``HTTPConnectionHandler`` that the server drains.
///
/// It is deliberately not NIO's `ChannelShouldQuiesceEvent`: `HTTPServerPipelineHandler` reacts to that one by
/// closing an idle connection at once, which races the client's next request.
struct StartDrainEvent: Sendable {}

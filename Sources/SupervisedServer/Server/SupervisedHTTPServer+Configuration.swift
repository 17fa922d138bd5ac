extension SupervisedHTTPServer {
    /// How a ``SupervisedHTTPServer`` drains and what it accepts.
    public struct Configuration: Sendable {
        /// How long a connection that is idle when the drain starts (keep-alive between requests, or accepted with no
        /// request yet) stays open for a request that may already be on its way. A request that arrives within it is
        /// answered with `Connection: close`. Default 1 s. Closing idle connections at once loses such requests.
        public var idleGrace: Duration
        /// How long the drain may take in all; whatever connection is still open then is closed, requests in
        /// flight included. Default 25 s; keep it below the supervisor's `drain-timeout` (or systemd's
        /// `TimeoutStopSec=`), which ends with SIGKILL.
        public var drainDeadline: Duration
        /// How long to wait for the client to close after the last response of a connection, once output is shut
        /// (`Connection: close` responses). Default 2 s.
        public var closeLinger: Duration
        /// The largest request body accepted; a larger one is answered with `413` and the connection is closed.
        /// Default 1 MiB.
        public var maximumRequestBodySize: Int
        /// How often ``SupervisedHTTPServer/drain(progress:)`` reports the number of open connections while it waits
        /// (only when the number changed). Default 500 ms.
        public var progressInterval: Duration
        /// The listen backlog for sockets this server binds. Default 1024.
        public var backlog: Int32

        /// A configuration; every parameter has the default described on its property.
        public init(
            idleGrace: Duration = .seconds(1),
            drainDeadline: Duration = .seconds(25),
            closeLinger: Duration = .seconds(2),
            maximumRequestBodySize: Int = 1 << 20,
            progressInterval: Duration = .milliseconds(500),
            backlog: Int32 = 1024
        ) {
            self.idleGrace = idleGrace
            self.drainDeadline = drainDeadline
            self.closeLinger = closeLinger
            self.maximumRequestBodySize = maximumRequestBodySize
            self.progressInterval = progressInterval
            self.backlog = backlog
        }
    }
}

extension SupervisedHTTPServer {
    /// How a ``SupervisedHTTPServer`` binds, drains, and what it accepts.
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
        /// The largest request head accepted: the request line plus every header name and value (NIO's decoder counts
        /// them without the separators), and also the largest single one. A larger head is answered with `400` and
        /// the connection is closed (NIO's protocol error handling; it never reaches the responder). Default 80 KiB,
        /// NIO's own default, made explicit here.
        public var maximumRequestHeadSize: Int
        /// How long a request may take to arrive completely, head and body, counted from the first byte of it that
        /// arrives while the connection waits for a request (a connection that sends nothing is idle instead, see
        /// ``idleTimeout``). A request that is not complete by then is answered with `408 Request Timeout` and
        /// `Connection: close`, and the connection is closed: a client that trickles a request (slowloris) cannot
        /// hold a connection for ever. The time the responder takes does not count. Applies while draining too.
        /// Default 30 s; `nil` for no limit. Raise it for large uploads over slow links.
        public var requestTimeout: Duration?
        /// How long a connection may wait for its next request (keep-alive between requests, or accepted with no
        /// request yet) before it is closed, while not draining; draining uses ``idleGrace`` instead.
        ///
        /// Closing an idle connection races the client's next request (docs/architecture.md): a request sent at that
        /// moment is lost, and only clients that retry on a reused connection recover. So the default is long, 60 s, longer
        /// than the idle timeouts of most client connection pools, which then close first; lower it only to free
        /// resources, and prefer a value above your clients' pool timeouts. `nil` keeps idle connections open until
        /// the client closes them or the drain starts.
        public var idleTimeout: Duration?
        /// How often ``SupervisedHTTPServer/drain(progress:)`` reports the number of open connections while it waits
        /// (only when the number changed). Default 500 ms.
        public var progressInterval: Duration
        /// How many client connections may be open at once; one accepted beyond that is answered `503 Service
        /// Unavailable` with `Connection: close` and `Retry-After: 1`, and closed, without reading a request. Default
        /// `nil`, no limit: an instance behind a load balancer is limited by its descriptors. A port that anyone may
        /// reach but that only a few clients use (a health or admin endpoint) should set it, so idle connections cannot
        /// take every descriptor of the process.
        public var maximumConnections: Int?
        /// Called (on an event loop) for each connection refused by ``maximumConnections``, e.g. to log it.
        public var onConnectionRefused: (@Sendable () -> Void)?
        /// The listen backlog for sockets this server binds. Default 1024.
        public var backlog: Int32
        /// Whether sockets this server binds (``ListenSource/address(_:)``) set `SO_REUSEPORT`, so that other
        /// processes (the other instances, and the replacement during a rollout) can bind the same address and the
        /// kernel balances connections among them. Default `true`.
        ///
        /// `false` binds exclusively: binding fails with ``ListenError`` (``ListenError/isAddressInUse``) when any
        /// other socket is bound to the address, and any later bind of it fails while this server listens. Use it for
        /// a port that must belong to one process, such as a per-instance admin or health port: a stale process
        /// holding it is then an error instead of silently sharing its probes. Inherited sockets are not affected.
        public var reusePort: Bool

        /// A configuration; every parameter has the default described on its property.
        public init(
            idleGrace: Duration = .seconds(1),
            drainDeadline: Duration = .seconds(25),
            closeLinger: Duration = .seconds(2),
            maximumRequestBodySize: Int = 1 << 20,
            maximumRequestHeadSize: Int = 80 * 1024,
            backlog: Int32 = 1024,
            reusePort: Bool = true,
            requestTimeout: Duration? = .seconds(30),
            idleTimeout: Duration? = .seconds(60),
            progressInterval: Duration = .milliseconds(500),
            maximumConnections: Int? = nil,
            onConnectionRefused: (@Sendable () -> Void)? = nil
        ) {
            self.maximumConnections = maximumConnections
            self.onConnectionRefused = onConnectionRefused
            self.idleGrace = idleGrace
            self.drainDeadline = drainDeadline
            self.closeLinger = closeLinger
            self.maximumRequestBodySize = maximumRequestBodySize
            self.maximumRequestHeadSize = maximumRequestHeadSize
            self.requestTimeout = requestTimeout
            self.idleTimeout = idleTimeout
            self.progressInterval = progressInterval
            self.backlog = backlog
            self.reusePort = reusePort
        }
    }
}

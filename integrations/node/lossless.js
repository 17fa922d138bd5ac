'use strict';
// Serves a Node `http` request listener under the supervisor (or systemd) so that stopping it loses no request:
// sockets from LISTEN_FDS, READY=1 once listening, and on SIGTERM a drain that closes no connection under a client.
// Node >= 19's server.close() calls closeIdleConnections() at once, racing the client's next request on each idle
// keep-alive connection, and leaves busy keep-alive connections open for ever; this module does neither.

const http = require('http');
const net = require('net');
const { execFile } = require('child_process');

const FIRST_LISTEN_FD = 3; // SD_LISTEN_FDS_START

/**
 * Where to listen: `{fd}` for each socket of LISTEN_FDS when LISTEN_PID is this process (the supervisor's reuseport
 * and shared modes, systemd socket activation), else `{host, port, reusePort}` for each address of SUPERVISOR_LISTEN
 * (app mode; Node has no SO_REUSEPORT before 22.12, so there it throws: use reuseport or shared mode).
 */
function listenTargets(env = process.env) {
  if (env.LISTEN_FDS && Number(env.LISTEN_PID) === process.pid) {
    const count = Number(env.LISTEN_FDS);
    if (!(count >= 1)) throw new Error(`LISTEN_FDS=${env.LISTEN_FDS}: not a positive count`);
    for (const name of ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES']) delete env[name];
    return Array.from({ length: count }, (_, i) => ({ fd: FIRST_LISTEN_FD + i }));
  }
  const addrs = (env.SUPERVISOR_LISTEN || '').split(',').map((a) => a.trim()).filter(Boolean);
  if (addrs.length === 0) {
    throw new Error('no socket to serve on: neither LISTEN_FDS (for this pid) nor SUPERVISOR_LISTEN is set');
  }
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 22 || (major === 22 && minor < 12)) {
    throw new Error(`Node ${process.versions.node} cannot bind with SO_REUSEPORT (22.12 can): ` +
      'run it with listen-mode = "reuseport" or "shared", which pass the socket as fd 3');
  }
  return addrs.map((a) => {
    const m = /^\[?(.*?)\]?:(\d+)$/.exec(a);
    if (!m) throw new Error(`SUPERVISOR_LISTEN address ${a}: not HOST:PORT`);
    return { host: m[1], port: Number(m[2]), reusePort: true };
  });
}

/**
 * Sends READY=1 to NOTIFY_SOCKET. Node has no unix datagram sockets, so `systemd-notify --ready` does it as a child
 * (the supervisor accepts messages from the instance's descendants; systemd-notify waits on a barrier until the
 * message was read, so it is alive when its credentials are checked). Does nothing when NOTIFY_SOCKET is unset.
 */
function notifyReady(log = console.error) {
  if (!process.env.NOTIFY_SOCKET) return;
  execFile('systemd-notify', ['--ready'], (err) => {
    if (err) log(`lossless: READY=1 not sent (systemd-notify: ${err.message})`);
  });
}

/**
 * Serves `requestListener` on every socket of listenTargets(), sends READY=1 once all listen, and drains on SIGTERM
 * or SIGINT: stops accepting, answers every request from then on (and those in flight whose headers are not out)
 * with `Connection: close`, closes a connection only after it stayed idle through `grace` ms, and calls `onDrained`
 * once none is left (default: exit 0), or destroys what is left at `deadline` ms (then exit 1).
 * Returns the http.Server objects.
 */
function serve(requestListener, options = {}) {
  const grace = options.grace ?? 1000;
  const deadline = options.deadline ?? 25000;
  const log = options.log ?? console.error;
  const onDrained = options.onDrained ?? ((complete) => process.exit(complete ? 0 : 1));
  const targets = listenTargets();

  let draining = false;
  let drainStart = 0;
  const sockets = new Map(); // socket -> { responses: those not finished, idleSince }

  const servers = targets.map((target) => {
    const server = http.createServer(options.serverOptions ?? {});
    server.on('connection', (socket) => {
      sockets.set(socket, { responses: new Set(), idleSince: Date.now() });
      socket.on('close', () => { sockets.delete(socket); if (draining) check(); });
    });
    server.on('request', (req, res) => {
      const state = sockets.get(req.socket);
      if (state) {
        state.responses.add(res);
        res.on('close', () => { state.responses.delete(res); state.idleSince = Date.now(); });
      }
      // Node closes the connection after a response whose header says so.
      if (draining) res.setHeader('Connection', 'close');
      requestListener(req, res);
    });
    return server;
  });

  let listening = 0;
  servers.forEach((server, i) => {
    server.on('error', (err) => { log(`lossless: ${JSON.stringify(targets[i])}: ${err.message}`); process.exit(1); });
    server.listen(targets[i], () => { if (++listening === servers.length) notifyReady(log); });
  });

  let timer = null;
  let deadlineTimer = null;
  let finished = false;
  function check() {
    const now = Date.now();
    for (const [socket, state] of sockets) {
      if (state.responses.size === 0 && now - Math.max(state.idleSince, drainStart) >= grace) socket.destroy();
    }
    if (sockets.size === 0) finish(true);
  }
  function finish(complete) {
    if (finished) return; // the deadline's destroy() calls and late close events come back here
    finished = true;
    clearInterval(timer);
    clearTimeout(deadlineTimer);
    log(complete ? `lossless: drained in ${Date.now() - drainStart} ms`
      : `lossless: drain deadline reached: destroyed ${sockets.size} connections`);
    onDrained(complete);
  }
  function drain(signal) {
    if (draining) return;
    draining = true;
    drainStart = Date.now();
    log(`lossless: ${signal}: draining (grace ${grace} ms, deadline ${deadline} ms)`);
    // Stop accepting without server.close(), which closes the idle connections at once (Node >= 19). With fd 3
    // this closes this process's descriptor only: the supervisor keeps its copy, nothing queued is lost.
    for (const server of servers) net.Server.prototype.close.call(server);
    for (const state of sockets.values()) {
      for (const res of state.responses) if (!res.headersSent) res.setHeader('Connection', 'close');
    }
    timer = setInterval(check, 25);
    deadlineTimer = setTimeout(() => { for (const s of sockets.keys()) s.destroy(); finish(false); }, deadline);
    check();
  }
  for (const signal of options.signals ?? ['SIGTERM', 'SIGINT']) process.on(signal, () => drain(signal));
  return servers;
}

module.exports = { serve, listenTargets, notifyReady };

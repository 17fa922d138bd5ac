'use strict';
// The naive server made lossless with lossless.js: sockets from LISTEN_FDS, READY=1 once listening, and a drain
// that closes no connection under a client.
const { serve } = require('./lossless');

serve((req, res) => {
  res.end(`hello from node-lossless pid ${process.pid}\n`);
}, { grace: 1000, deadline: 25000 });

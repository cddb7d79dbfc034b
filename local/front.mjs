// The local stack's front door, as Supabase's gateway is for deployed functions: it accepts the
// connections on PORT and passes each request to the functions' Deno server, and it times out
// clients that send their headers or body too slowly (408, connection closed), so a slow client
// holds a connection locally no longer than the gateway would let it. (Deno.serve has no such
// timeouts of its own: 20 slow clients stayed connected for a whole 64 s test.)
import http from 'node:http';

export const FRONT_TIMEOUTS = {
  /** All request headers must arrive within this (PROFILE_SYNC_DEV_HEADERS_TIMEOUT_MS). */
  headersMs: 10_000,
  /** The whole request, body included, must arrive within this (PROFILE_SYNC_DEV_REQUEST_TIMEOUT_MS). */
  requestMs: 30_000,
};

/**
 * Listens on host:port and proxies every request to http://127.0.0.1:innerPort. Resolves with
 * `close()` once listening; rejects with the listen error (EADDRINUSE…).
 */
export function startFront({ host, port, innerPort, headersMs = FRONT_TIMEOUTS.headersMs, requestMs = FRONT_TIMEOUTS.requestMs }) {
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer({
    headersTimeout: headersMs,
    requestTimeout: Math.max(requestMs, headersMs),
    // how often Node looks for connections past those timeouts (30 s by default)
    connectionsCheckingInterval: Math.min(1000, headersMs),
  }, (req, res) => {
    const upstream = http.request(
      { host: '127.0.0.1', port: innerPort, method: req.method, path: req.url, headers: req.headers, agent },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (res.headersSent) return res.destroy();
      res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'functions_unavailable', message: 'The functions server is not answering.' } }));
    });
    req.on('aborted', () => upstream.destroy());
    // A client gone before its answer: the functions server sees its connection close too.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve({
        close: () =>
          new Promise((done) => {
            server.close(() => done());
            server.closeAllConnections();
            agent.destroy();
          }),
      });
    });
  });
}

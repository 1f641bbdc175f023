// h2_streams.cjs URL COUNT -- opens COUNT SSE streams (GET URL) on one HTTP/2 connection,
// certificate unchecked (the test's own), and prints one JSON line once every stream has its
// answer: [{status, retryAfter, server}] (server: X-RN-Server, set only by a gateway). The
// streams stay open until a line (or the end) arrives on stdin, or 120 s pass; then it exits.
'use strict';
const http2 = require('node:http2');

const [url, count] = [new URL(process.argv[2]), Number(process.argv[3])];
const session = http2.connect(url.origin, { rejectUnauthorized: false });
const answers = [];
const end = (code) => { session.destroy(); process.exit(code); };
setTimeout(() => end(1), 120000).unref();
session.on('error', (e) => { console.log(JSON.stringify({ error: String(e) })); end(1); });
for (let i = 0; i < count; i++) {
  const req = session.request({ ':path': url.pathname + url.search, accept: 'text/event-stream' });
  req.on('response', (h) => {
    answers.push({ status: h[':status'], retryAfter: h['retry-after'] ?? null,
      server: h['x-rn-server'] ?? null });
    if (answers.length === count) console.log(JSON.stringify(answers));
  });
  req.on('data', () => {});
  req.on('error', () => {});
}
process.stdin.on('data', () => end(0));
process.stdin.on('end', () => end(0));

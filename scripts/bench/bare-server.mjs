// Child process of the ingestion benchmark: the floor — node:http reading the body and answering 200
// (node:https with BARE_TLS_CERT / BARE_TLS_KEY, for BENCH_TLS=1).
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';

const tls = process.env.BARE_TLS_CERT ? { cert: readFileSync(process.env.BARE_TLS_CERT), key: readFileSync(process.env.BARE_TLS_KEY) } : undefined;
const answer = (req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"received":1,"accepted":1,"duplicates":0,"quarantined":0}');
  });
};
const server = tls ? createHttpsServer(tls, answer) : createServer(answer);
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port, msg: 'bare server listening' })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));

// Child process of the ingestion benchmark: the floor — node:http reading the body and answering 200.
import { createServer } from 'node:http';

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"received":1,"accepted":1,"duplicates":0,"quarantined":0}');
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port, msg: 'bare server listening' })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));

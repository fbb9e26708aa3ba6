// Runs s3rver in its own process: it needs `node --openssl-legacy-provider` (its paginated
// listing uses an MD4-based token), which must not leak into the test processes.
const S3rver = require('s3rver');

const directory = process.argv[2];
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, resetOnClose: true });
server.run().then(
  (address) => process.stdout.write(JSON.stringify({ port: address.port }) + '\n'),
  (err) => { console.error(err); process.exit(1); },
);
process.on('SIGTERM', () => server.close(() => process.exit(0)));

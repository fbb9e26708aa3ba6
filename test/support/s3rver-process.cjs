// Runs s3rver in its own process: it needs `node --openssl-legacy-provider` (its paginated
// listing uses an MD4-based token), which must not leak into the test processes.
const S3rver = require('s3rver');
const FilesystemStore = require('s3rver/lib/stores/filesystem');

// s3rver prunes folders nested below a common prefix, so a delimited listing of "a/" misses the
// prefix "a/b/" when "a/b/" holds only deeper keys ("a/b/c/d"); S3 reports it (pgBackRest's
// archive/<stanza>/15-1/<16 hex>/ layout needs it). List without the delimiter, then fold.
const listObjects = FilesystemStore.prototype.listObjects;
FilesystemStore.prototype.listObjects = async function listObjectsFolded(bucket, options) {
  const { delimiter = '', prefix = '', maxKeys = Infinity } = options;
  if (!delimiter) return listObjects.call(this, bucket, options);
  const all = await listObjects.call(this, bucket, { ...options, delimiter: '', maxKeys: Infinity });
  const commonPrefixes = new Set();
  const objects = [];
  let isTruncated = false;
  for (const object of all.objects) {
    const at = object.key.indexOf(delimiter, prefix.length);
    if (at !== -1) {
      commonPrefixes.add(object.key.slice(0, at + delimiter.length));
    } else if (objects.length < maxKeys) {
      objects.push(object);
    } else {
      isTruncated = true;
      break;
    }
  }
  return { objects, commonPrefixes: [...commonPrefixes].sort(), isTruncated };
};

const directory = process.argv[2];
// Optional, for pgBackRest (S3 over TLS only): S3RVER_TLS_KEY/S3RVER_TLS_CERT files, S3RVER_BUCKETS=a,b created at start.
const fs = require('node:fs');
const tls = process.env.S3RVER_TLS_KEY ? { key: fs.readFileSync(process.env.S3RVER_TLS_KEY), cert: fs.readFileSync(process.env.S3RVER_TLS_CERT) } : {};
const configureBuckets = (process.env.S3RVER_BUCKETS || '').split(',').filter(Boolean).map((name) => ({ name }));
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, resetOnClose: true, configureBuckets, ...tls });
server.run().then(
  (address) => process.stdout.write(JSON.stringify({ port: address.port }) + '\n'),
  (err) => { console.error(err); process.exit(1); },
);
process.on('SIGTERM', () => server.close(() => process.exit(0)));

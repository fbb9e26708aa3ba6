import { readFile } from 'node:fs/promises';
import { type ReportVerification, verifyReport } from '../../core/drill/evidence.ts';
import { DrError } from '../../core/errors.ts';
import { COMMON, type Command, optionalString, REPO_READ, repository, usage } from './args.ts';

export const reportVerifyCommand: Command = {
  summary: "Check a drill report's signature, and that the backup manifest it records is unchanged",
  usage: `Usage: dr report verify FILE [--public-key PEM] [--repo URL]

  FILE, --file FILE  a drill report's .json
  --public-key PEM   the signer's public key (openssl pkey -in key.pem -pubout), to check the
                     signature against your own copy rather than the one the report carries
  --repo URL         the backup repository: also check that the manifest the drill restored still
                     has the SHA-256 the report recorded
  --json, --quiet

Exit status: 0 when the signature (and manifest) check out; 1 when anything was edited, the
report is unsigned, or the manifest changed.`,
  options: { ...COMMON, ...REPO_READ, file: { type: 'string' }, 'public-key': { type: 'string' } },
  positional: 'file',
  async run(v, io) {
    const file = optionalString(v, 'file');
    if (file === undefined)
      throw usage('name the report file, e.g. dr report verify reports/drills/2026-12-06/crypto_stock.json');
    const json = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new DrError(`cannot read ${file}: ${err.code ?? err.message}`, 'give the path of a drill report .json');
    });
    const keyPath = optionalString(v, 'public-key');
    const trustedPublicKey =
      keyPath === undefined
        ? undefined
        : await readFile(keyPath, 'utf8').catch((err: NodeJS.ErrnoException) => {
            throw new DrError(
              `cannot read the public key ${keyPath}: ${err.code ?? err.message}`,
              'give a PEM public key (openssl pkey -in key.pem -pubout -out key.pub)',
            );
          });
    io.log(`verifying ${file}`);
    return verifyReport(json, {
      trustedPublicKey,
      repo: optionalString(v, 'repo') === undefined ? undefined : repository(v),
    });
  },
  human: (r: ReportVerification) => [r.valid ? 'VALID' : 'INVALID', ...r.findings.map((f) => `  ${f}`)].join('\n'),
  exitCode: (r: ReportVerification) => (r.valid ? 0 : 1),
};

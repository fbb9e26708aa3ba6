import { readFile } from 'node:fs/promises';
import { verifyReport } from '../../core/drill/evidence.ts';
import { DrError } from '../../core/errors.ts';
import { COMMON, optionalString, REPO_READ, repository, usage } from './args.ts';
import { defineCommand } from './command.ts';

export const reportVerifyCommand = defineCommand({
  summary: "Check a drill report's signature, and that the backup manifest it records is unchanged",
  synopsis: 'report verify FILE [--public-key PEM] [--repo URL]',
  flags: {
    ...COMMON,
    file: { type: 'string', arg: 'FILE', help: "a drill report's .json (or FILE as the argument)" },
    'public-key': {
      type: 'string',
      arg: 'PEM',
      help: "the signer's public key (openssl pkey -in key.pem -pubout), to check the\nsignature against your own copy rather than the one the report carries",
    },
    repo: {
      ...REPO_READ.repo,
      help: 'the backup repository: also check that the manifest the drill restored still\nhas the SHA-256 the report recorded',
    },
  },
  notes: `Exit status: 0 when the signature (and manifest) check out; 1 when anything was edited, the
report is unsigned, or the manifest changed.`,
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
  human: (r) => [r.valid ? 'VALID' : 'INVALID', ...r.findings.map((f) => `  ${f}`)].join('\n'),
  exitCode: (r) => (r.valid ? 0 : 1),
});

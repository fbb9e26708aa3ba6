/**
 * Drill evidence an auditor can check: the report JSON signed over its canonical form (every
 * field, sorted keys), with a local Ed25519 key file on a laptop or an asymmetric KMS key
 * (ECDSA P-256, SHA-256) on AWS, and `dr report verify` that checks the signature and, against
 * the repository, the SHA-256 of the manifest the drill restored. One edited byte fails it.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { buffer } from 'node:stream/consumers';
import pkg from '../../package.json' with { type: 'json' };
import { DrError } from '../errors.ts';
import { manifestKey } from '../repository/layout.ts';
import type { Repository } from '../repository/types.ts';

/** This tool's version, recorded in every report. */
export const DR_VERSION: string = pkg.version;

/** A report's signature; `value` signs canonicalJson(report without `signature`). */
export interface ReportSignature {
  readonly algorithm: 'ed25519' | 'ecdsa-p256-sha256';
  /** A file path's key fingerprint (SHA-256 of the public key, SPKI DER) or the KMS key ARN. */
  readonly keyId: string;
  /** The public key (SPKI PEM), so a report can be checked offline against a pinned fingerprint. */
  readonly publicKey: string;
  /** Base64. */
  readonly value: string;
}

/** Signs bytes: a local key, or KMS. */
export interface ReportSigner {
  readonly algorithm: ReportSignature['algorithm'];
  readonly keyId: string;
  readonly publicKey: string;
  sign(data: Buffer): Promise<Buffer>;
}

/** JSON with object keys sorted at every level: the same report always yields the same bytes. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The bytes a report's signature covers: everything but the signature fields themselves. */
function signedBytes(report: Record<string, unknown>): Buffer {
  const { signature: _signature, unsigned: _unsigned, ...rest } = report;
  return Buffer.from(canonicalJson(rest));
}

export function keyFingerprint(publicKey: KeyObject): string {
  return `sha256:${createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')}`;
}

/** A signer from an Ed25519 private key in a PEM file (`openssl genpkey -algorithm ed25519 -out key.pem`). */
export async function fileSigner(path: string): Promise<ReportSigner> {
  let key: KeyObject;
  try {
    key = createPrivateKey(await readFile(path));
  } catch (err) {
    throw new DrError(
      `cannot read the signing key ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      'give an Ed25519 private key in PEM (openssl genpkey -algorithm ed25519 -out drill-signing.pem)',
    );
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new DrError(
      `signing key ${path} is ${key.asymmetricKeyType}, not Ed25519`,
      'create one with openssl genpkey -algorithm ed25519 -out drill-signing.pem',
    );
  const publicKey = createPublicKey(key);
  return {
    algorithm: 'ed25519',
    keyId: keyFingerprint(publicKey),
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    sign: async (data) => sign(null, data, key),
  };
}

/**
 * A signer over an asymmetric KMS key (key spec ECC_NIST_P256, usage SIGN_VERIFY): the digest is
 * signed (MessageType DIGEST), so a report of any size fits KMS's 4 KiB message limit. `kmsSign`
 * is KMS Sign; `publicKeyDer` its GetPublicKey answer.
 */
export function kmsSigner(
  keyArn: string,
  publicKeyDer: Uint8Array,
  kmsSign: (digest: Buffer) => Promise<Uint8Array>,
): ReportSigner {
  return {
    algorithm: 'ecdsa-p256-sha256',
    keyId: keyArn,
    publicKey: createPublicKey({ key: Buffer.from(publicKeyDer), format: 'der', type: 'spki' })
      .export({ type: 'spki', format: 'pem' })
      .toString(),
    sign: async (data) => Buffer.from(await kmsSign(createHash('sha256').update(data).digest())),
  };
}

/** The report with its signature, or, when `signer` fails, marked unsigned with the reason. */
export async function signReport<T extends object>(
  report: T,
  signer: ReportSigner | undefined,
  unsignedReason?: string,
): Promise<T & { signature: ReportSignature | null; unsigned?: string }> {
  if (!signer) return { ...report, signature: null, unsigned: unsignedReason ?? 'no signing key configured' };
  const value = await signer.sign(signedBytes(report as Record<string, unknown>));
  return {
    ...report,
    signature: {
      algorithm: signer.algorithm,
      keyId: signer.keyId,
      publicKey: signer.publicKey,
      value: value.toString('base64'),
    },
  };
}

export interface ReportVerification {
  readonly valid: boolean;
  /** What was checked, one line each, and what failed. */
  readonly findings: string[];
  readonly keyId: string | null;
}

/**
 * Checks a report file's signature (against `trustedPublicKey` when given, else the key the
 * report carries, whose fingerprint is then reported for the caller to pin) and, with `repo`, that
 * the manifest the drill restored still has the recorded SHA-256.
 */
export async function verifyReport(
  json: string,
  options: { readonly trustedPublicKey?: string; readonly repo?: Repository } = {},
): Promise<ReportVerification> {
  let report: Record<string, unknown>;
  try {
    report = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return { valid: false, findings: ['the file is not JSON'], keyId: null };
  }
  const findings: string[] = [];
  const signature = report.signature as ReportSignature | null | undefined;
  if (!signature) {
    return {
      valid: false,
      findings: [`the report is unsigned${typeof report.unsigned === 'string' ? ` (${report.unsigned})` : ''}`],
      keyId: null,
    };
  }
  let valid = true;
  try {
    const key = createPublicKey(options.trustedPublicKey ?? signature.publicKey);
    const data = signedBytes(report);
    const ok =
      signature.algorithm === 'ed25519'
        ? verify(null, data, key, Buffer.from(signature.value, 'base64'))
        : verify('sha256', data, { key, dsaEncoding: 'der' }, Buffer.from(signature.value, 'base64'));
    findings.push(
      ok
        ? `signature valid (${signature.algorithm}, key ${signature.algorithm === 'ed25519' ? keyFingerprint(key) : signature.keyId})`
        : 'signature does not match: the report was changed after it was signed, or signed by another key',
    );
    if (!options.trustedPublicKey)
      findings.push('the key was taken from the report itself: pass --public-key to check it against your own copy');
    valid &&= ok;
  } catch (err) {
    findings.push(`signature cannot be checked: ${(err as Error).message}`);
    valid = false;
  }
  const evidence = report.evidence as { manifestSha256?: string | null } | undefined;
  const backup = report.backup as { id?: string } | null | undefined;
  if (options.repo && backup?.id && typeof report.database === 'string') {
    if (!evidence?.manifestSha256) {
      findings.push('the report records no manifest SHA-256');
      valid = false;
    } else {
      const actual = await manifestSha256(options.repo, report.database, backup.id).catch(
        (err: Error) => `unreadable (${err.message})`,
      );
      const ok = actual === evidence.manifestSha256;
      findings.push(
        ok
          ? `manifest of backup ${backup.id} unchanged (SHA-256 ${actual.slice(0, 16)}…)`
          : `manifest of backup ${backup.id} is ${actual.startsWith('unreadable') ? actual : `SHA-256 ${actual}`}, the report recorded ${evidence.manifestSha256}`,
      );
      valid &&= ok;
    }
  }
  return { valid, findings, keyId: signature.keyId };
}

/** SHA-256 of a backup's manifest as stored. */
export async function manifestSha256(repo: Repository, database: string, id: string): Promise<string> {
  return createHash('sha256')
    .update(await buffer(await repo.get(manifestKey(database, id))))
    .digest('hex');
}

/**
 * The RPO the drill achieved: how far the newest row restored (the most recent table's MAX(time)
 * in the manifest, which verify checked) lies before the backup's snapshot.
 */
export function achievedRpo(
  backupStartedAt: string,
  tables: readonly { schema: string; name: string; maxTime?: string | null }[],
): { seconds: number; table: string; newestRow: string } | null {
  let best: { ms: number; table: string; text: string } | undefined;
  for (const t of tables) {
    if (!t.maxTime) continue;
    const ms = pgTimeMs(t.maxTime);
    if (Number.isNaN(ms)) continue;
    if (!best || ms > best.ms) best = { ms, table: `${t.schema}.${t.name}`, text: t.maxTime };
  }
  if (!best) return null;
  return {
    seconds: Math.max(0, Math.round((Date.parse(backupStartedAt) - best.ms) / 1000)),
    table: best.table,
    newestRow: best.text,
  };
}

/** PostgreSQL's text of a date, timestamp or timestamptz (UTC session) as epoch ms; a value without a zone is UTC. */
function pgTimeMs(text: string): number {
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) return Date.parse(`${text}T00:00:00Z`);
  const iso = text.replace(' ', 'T').replace(/([+-]\d{2})$/, '$1:00');
  return Date.parse(/([+-]\d{2}:\d{2}|Z)$/.test(iso) ? iso : `${iso}Z`);
}

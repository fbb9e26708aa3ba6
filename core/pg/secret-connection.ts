/**
 * Connecting to a database with an RDS-style Secrets Manager secret and one TLS policy: the
 * verify and drill-cleanup Lambdas share it. The secret's text is given (the caller fetches it),
 * so this stays free of AWS calls.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { z } from 'zod';
import { VerifyEnv } from '../contract.ts';
import { DrError } from '../errors.ts';
import { connectionError } from './connection.ts';

/** RDS-style secret JSON; host and port may also come from the event. */
const DatabaseSecretSchema = z.looseObject({
  username: z.string().min(1),
  password: z.string(),
  host: z.string().min(1).optional(),
  port: z.coerce.number().int().min(1).max(65535).optional(),
});

/** The sslmodes the Lambdas support (libpq names). */
export const SSL_MODES = ['disable', 'prefer', 'require', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** The configured sslmode, else verify-full with a CA bundle and prefer without. */
export function sslModeOf(configured: string | undefined, caBundle: string | undefined): SslMode {
  if (configured === undefined) return caBundle ? 'verify-full' : 'prefer';
  if (!(SSL_MODES as readonly string[]).includes(configured))
    throw new DrError(`${VerifyEnv.sslMode} "${configured}" is not supported`, `use one of ${SSL_MODES.join(', ')}`);
  return configured as SslMode;
}

export function parseSecret(text: string, arn: string): z.infer<typeof DatabaseSecretSchema> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new DrError(
      `secret ${arn} is not JSON`,
      'store {"username": ..., "password": ..., "host": ..., "port": ...} as RDS does',
    );
  }
  const parsed = DatabaseSecretSchema.safeParse(json);
  if (!parsed.success)
    throw new DrError(
      `secret ${arn} lacks ${parsed.error.issues[0].path.join('.')}`,
      'store {"username": ..., "password": ..., "host": ..., "port": ...} as RDS does',
    );
  return parsed.data;
}

let caCache: { path: string; pem: string } | undefined;

function readCa(path: string): string {
  if (caCache?.path !== path) {
    try {
      caCache = { path, pem: readFileSync(path, 'utf8') };
    } catch (err) {
      throw new DrError(
        `cannot read the CA bundle ${path} (${(err as Error).message})`,
        `set ${VerifyEnv.caBundle} to a PEM file inside the function, or unset it`,
      );
    }
  }
  return caCache.pem;
}

/** node-postgres TLS options for `mode`; verify-full checks the chain and the host name (Node's default). */
export function tlsOptions(mode: SslMode, caBundle: string | undefined): pg.ClientConfig['ssl'] {
  switch (mode) {
    case 'disable':
      return false;
    case 'prefer':
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-full':
      return { rejectUnauthorized: true, ca: caBundle ? readCa(caBundle) : undefined };
  }
}

/** Connects with TLS per `mode`; `prefer` falls back to plain text only when the server has no TLS at all. */
export async function connectTls(
  config: pg.ClientConfig,
  mode: SslMode,
  caBundle: string | undefined,
  display: string,
): Promise<pg.Client> {
  const attempt = async (ssl: pg.ClientConfig['ssl']) => {
    const client = new pg.Client({ ...config, ssl });
    client.on('error', () => {});
    await client.connect();
    return client;
  };
  try {
    try {
      return await attempt(tlsOptions(mode, caBundle));
    } catch (err) {
      if (mode === 'prefer' && /does not support SSL/i.test(String(err))) return await attempt(false);
      throw err;
    }
  } catch (err) {
    throw connectionError(err, display, 'target');
  }
}

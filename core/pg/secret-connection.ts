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
import { connectWithSslMode, isSslMode, SSL_MODES, type SslMode, verifiesServer } from './tls.ts';

/** RDS-style secret JSON; host and port may also come from the event. */
const DatabaseSecretSchema = z.looseObject({
  username: z.string().min(1),
  password: z.string(),
  host: z.string().min(1).optional(),
  port: z.coerce.number().int().min(1).max(65535).optional(),
});

/** The configured sslmode, else verify-full with a CA bundle and prefer without. */
export function sslModeOf(configured: string | undefined, caBundle: string | undefined): SslMode {
  if (configured === undefined) return caBundle ? 'verify-full' : 'prefer';
  if (!isSslMode(configured))
    throw new DrError(`${VerifyEnv.sslMode} "${configured}" is not supported`, `use one of ${SSL_MODES.join(', ')}`);
  return configured;
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
      `secret ${arn} lacks ${parsed.error.issues[0]!.path.join('.')}`,
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

/** Connects with TLS per `mode` (core/pg/tls.ts, as libpq); `caBundle` is a PEM file for the verifying modes. */
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
    return await connectWithSslMode(mode, verifiesServer(mode) && caBundle ? readCa(caBundle) : undefined, attempt);
  } catch (err) {
    throw connectionError(err, display, 'target');
  }
}

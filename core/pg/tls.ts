/**
 * TLS as libpq's `sslmode` means it, for node-postgres: dr's own connections (core/pg/connection.ts),
 * the Lambdas' (core/pg/secret-connection.ts) and the modes the constructs configure all use this
 * one mapping, so a TLS-only server works for dr's queries as it does for pg_dump in the same run.
 */
import type pg from 'pg';

/** libpq's sslmodes, as config, URLs (`?sslmode=`), PGSSLMODE and the Lambdas' env take them. */
export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

export function isSslMode(value: string): value is SslMode {
  return (SSL_MODES as readonly string[]).includes(value);
}

/** Whether `mode` checks the server's certificate (and so needs a CA bundle). */
export function verifiesServer(mode: SslMode): boolean {
  return mode === 'verify-ca' || mode === 'verify-full';
}

/**
 * node-postgres TLS options for the first attempt in `mode` (connectWithSslMode makes the second).
 * `ca` is the PEM text of the CA bundle for the verifying modes; without it Node's own CAs are used.
 */
export function tlsOptions(mode: SslMode, ca: string | undefined): pg.ClientConfig['ssl'] {
  switch (mode) {
    case 'disable':
    case 'allow':
      return false;
    case 'prefer':
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-ca':
      // The chain only, as libpq does: no host name check.
      return { rejectUnauthorized: true, ca, checkServerIdentity: () => undefined };
    case 'verify-full':
      return { rejectUnauthorized: true, ca };
  }
}

/**
 * Connects in `mode`: `attempt` opens a connection with the TLS options it is given. `prefer` falls
 * back to plain text only when the server has no TLS at all, as libpq does; `allow` (plain text
 * first) tries TLS, unverified, when the server refuses plain text.
 */
export async function connectWithSslMode<T>(
  mode: SslMode,
  ca: string | undefined,
  attempt: (ssl: pg.ClientConfig['ssl']) => Promise<T>,
): Promise<T> {
  try {
    return await attempt(tlsOptions(mode, ca));
  } catch (err) {
    if (mode === 'prefer' && /does not support SSL/i.test(String(err))) return await attempt(false);
    if (mode === 'allow' && /no encryption|SSL off/i.test(String(err)))
      return await attempt({ rejectUnauthorized: false });
    throw err;
  }
}

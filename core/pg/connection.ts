/**
 * PostgreSQL connections and client tools, following libpq conventions: a `postgres://` URL whose
 * missing parts come from the PG* environment variables and ~/.pgpass, for node-postgres and for
 * pg_dump/pg_restore/psql alike. Passwords are never printed: use `displayUrl`.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pgpass from 'pgpass';
import { DrError } from '../errors.ts';
import {
  diesWithParent,
  interruption,
  isSetprivExecFailure,
  throwIfInterrupted,
  trackCancel,
  trackChild,
} from '../signals.ts';
import { connectWithSslMode, isSslMode, verifiesServer } from './tls.ts';

export interface PgUrl {
  /** The URL as given, passed to libpq tools unchanged. */
  readonly url: string;
  /** The database the URL names (or PGDATABASE / the user name, as libpq does). */
  readonly database: string;
  /** user@host:port/database, with no password. */
  readonly display: string;
}

/**
 * Parses a connection string as libpq does: a `postgres://` URI (query parameters `host` (a socket
 * directory too), `port`, `user`, `dbname`, `sslmode`… included) or a keyword/value string
 * (`host=db port=5432 dbname=crypto_stock`). `url` is the equivalent URI, for node-postgres and the
 * client tools alike. `flag` names the option in the error (a usage error: exit 2), e.g. `--db`.
 */
export function parsePgUrl(value: string, flag: string): PgUrl {
  const uri = toUri(value);
  let url: URL | undefined;
  try {
    url = uri === undefined ? undefined : new URL(uri);
  } catch {
    url = undefined;
  }
  if (!url) {
    throw new DrError(
      `${flag} "${redact(value)}" is not a connection URL`,
      'use postgres://user@host:5432/database or "host=… dbname=…" (password from PGPASSWORD or ~/.pgpass)',
      2,
    );
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new DrError(
      `${flag} "${redact(value)}" is not a PostgreSQL URL`,
      'use postgres://user@host:5432/database',
      2,
    );
  }
  const { user, database, host, port } = uriParts(url);
  return { url: uri!, database, display: `${user}@${host ?? 'localhost'}:${port}/${database}` };
}

/** The parts libpq reads from a URI, query parameters and PG* defaults included. */
function uriParts(url: URL): {
  user: string;
  password?: string;
  database: string;
  host?: string;
  port: number;
  params: Map<string, string>;
} {
  const q = queryOf(url);
  const user = decodeURIComponent(url.username) || q.get('user') || defaultUser();
  const database =
    decodeURIComponent(url.pathname.replace(/^\//, '')) || q.get('dbname') || process.env.PGDATABASE || user;
  const host =
    decodeURIComponent(url.hostname.replace(/^\[(.*)\]$/, '$1')) || q.get('host') || process.env.PGHOST || undefined;
  const port = Number(url.port || q.get('port') || process.env.PGPORT || 5432);
  const password = decodeURIComponent(url.password) || q.get('password') || undefined;
  return { user, password, database, host, port, params: q };
}

/** A URI's query parameters as libpq decodes them (%XX only). */
function queryOf(url: URL): Map<string, string> {
  const params = new Map<string, string>();
  for (const part of url.search.slice(1).split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const decode = (t: string) => {
      try {
        return decodeURIComponent(t);
      } catch {
        return t;
      }
    };
    params.set(decode(eq < 0 ? part : part.slice(0, eq)), decode(eq < 0 ? '' : part.slice(eq + 1)));
  }
  return params;
}

/** A URI as given; a libpq keyword/value string as the equivalent URI; undefined when it is neither. */
function toUri(value: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value.trim())) return value.trim();
  const pairs = parseConninfo(value);
  if (!pairs || pairs.size === 0) return undefined;
  const params = new Map<string, string>();
  const host = pairs.get('host');
  const inAuthority = host !== undefined && host !== '' && !host.startsWith('/') && !host.includes(',');
  let authority = '';
  if (inAuthority) {
    const user = pairs.get('user');
    const password = pairs.get('password');
    if (user) authority = `${encodeURIComponent(user)}${password ? `:${encodeURIComponent(password)}` : ''}@`;
    authority += host.includes(':') ? `[${host}]` : encodeURIComponent(host);
    if (pairs.get('port')) authority += `:${pairs.get('port')}`;
  }
  for (const [key, v] of pairs) {
    if (key === 'dbname' || (inAuthority && ['host', 'port', 'user', 'password'].includes(key))) continue;
    params.set(key, v);
  }
  const db = pairs.get('dbname');
  // Percent-encoding only: libpq reads `+` as a plus, not a space.
  const query = [...params].map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
  return `postgresql://${authority}/${db ? encodeURIComponent(db) : ''}${query ? `?${query}` : ''}`;
}

/** `key=value key2='quoted \'value\''` as libpq reads it; undefined when malformed. */
function parseConninfo(text: string): Map<string, string> | undefined {
  const pairs = new Map<string, string>();
  const re = /\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?:'((?:\\.|[^'\\])*)'|((?:\\.|[^\s'\\])*))/y;
  let at = 0;
  while (at < text.length) {
    if (/^\s*$/.test(text.slice(at))) break;
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) return undefined;
    pairs.set(m[1]!, (m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1'));
    at = re.lastIndex;
  }
  return pairs;
}

/** libpq's default user: PGUSER, else the operating-system user name (not $USER, which may be unset). */
export function defaultUser(): string {
  if (process.env.PGUSER) return process.env.PGUSER;
  try {
    return userInfo().username;
  } catch {
    return 'postgres';
  }
}

/** The same server and credentials, another database (e.g. `postgres` for CREATE DATABASE). */
export function withDatabase(url: string, database: string): string {
  const u = new URL(toUri(url) ?? url);
  if (queryOf(u).has('dbname')) u.search = u.search.replace(/([?&])dbname=[^&]*&?/, '$1').replace(/[?&]$/, '');
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

/** Removes a password from anything that looks like a URL, for messages. */
export function redact(text: string): string {
  return text
    .replace(/(\w+:\/\/[^:/@\s]*):[^@\s]*@/g, '$1:***@')
    .replace(/(\bpassword\s*=\s*)('(?:\\.|[^'\\])*'|[^\s&]*)/gi, '$1***');
}

/**
 * node-postgres options from the URI's parts, explicitly: node-postgres' own connection-string
 * parser knows neither libpq's defaults (the OS user) nor its sslmode semantics.
 */
function clientConfig(url: string, ssl: pg.ClientConfig['ssl']): pg.ClientConfig {
  const { user, password, database, host, port, params } = uriParts(new URL(toUri(url) ?? url));
  const config: pg.ClientConfig = {
    host: host ?? 'localhost',
    port,
    user,
    database,
    ssl,
    connectionTimeoutMillis: Number(params.get('connect_timeout') ?? process.env.PGCONNECT_TIMEOUT ?? 10) * 1000,
    application_name: params.get('application_name') ?? 'dr',
  };
  if (password !== undefined) config.password = password;
  else if (process.env.PGPASSWORD === undefined) {
    // ~/.pgpass, looked up the way libpq does (node-postgres' built-in lookup is deprecated).
    const info = { host: host && !host.startsWith('/') ? host : 'localhost', port: String(port), database, user };
    config.password = () => new Promise<string>((resolve) => pgpass(info, (pass) => resolve(pass ?? '')));
  }
  return config;
}

/** Opens a node-postgres connection, turning connection failures into one-line DrErrors. */
export async function connect(url: string, role = 'database'): Promise<pg.Client> {
  throwIfInterrupted();
  const parts = uriParts(new URL(toUri(url) ?? url));
  // No sslmode: libpq's default `prefer` (TLS when the server offers it), as pg_dump in the same
  // run does; a Unix socket never uses TLS.
  const given = parts.params.get('sslmode') ?? process.env.PGSSLMODE;
  const sslmode = given || (parts.host?.startsWith('/') ? 'disable' : 'prefer');
  const attempt = async (ssl: pg.ClientConfig['ssl']) => {
    const client = new pg.Client(clientConfig(url, ssl));
    // A dropped connection must surface as a query error, not crash the process.
    client.on('error', () => {});
    await client.connect();
    return client;
  };
  const tracked = async (ssl: pg.ClientConfig['ssl']) => {
    const client = await attempt(ssl);
    const { processID, secretKey } = client as unknown as { processID: number; secretKey: number };
    const untrack = trackCancel(() => sendCancel(parts.host ?? 'localhost', parts.port, processID, secretKey));
    client.once('end', untrack);
    retryCancelledCleanup(client);
    return client;
  };
  try {
    if (!isSslMode(sslmode))
      throw new DrError(`unknown sslmode "${sslmode}"`, 'use disable, prefer, require, verify-ca or verify-full');
    const rootCert = verifiesServer(sslmode) ? process.env.PGSSLROOTCERT : undefined;
    return await connectWithSslMode(sslmode, rootCert ? readFileSync(rootCert, 'utf8') : undefined, tracked);
  } catch (err) {
    throw connectionError(err, parsePgUrl(url, role).display, role);
  }
}

/**
 * A signal's CancelRequest travels on its own socket and stops whatever statement the session runs
 * when it arrives: if the statement it was meant for has ended by then, it stops the first cleanup
 * statement instead (a DROP of the staging database, seen leaving it behind). A statement started
 * after the signal that fails as cancelled is therefore run once more: the cancel is spent. Once
 * per connection, as one cancel stops one statement.
 */
function retryCancelledCleanup(client: pg.Client): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  let retried = false;
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    const result = query(...args);
    if (interruption() === undefined || !(result instanceof Promise)) return result;
    return result.catch((err: unknown) => {
      if (retried || !cancelledByRequest(err)) throw err;
      retried = true;
      return query(...args);
    });
  };
}

/**
 * Whether a statement failed to a CancelRequest (dr's own, on a signal), not to a timeout:
 * PostgreSQL gives both 57014, and a statement_timeout run again would only time out again. The
 * text tells them apart on an English server; elsewhere, any 57014 counts.
 */
export function cancelledByRequest(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  return e?.code === '57014' && !/statement timeout/.test(e.message ?? '');
}

/** PostgreSQL's CancelRequest (no authentication needed): stops the session's running statement. */
function sendCancel(host: string, port: number, processID: number, secretKey: number): void {
  const socket = host.startsWith('/') ? createConnection(`${host}/.s.PGSQL.${port}`) : createConnection(port, host);
  const message = Buffer.alloc(16);
  message.writeInt32BE(16, 0);
  message.writeInt32BE(80877102, 4);
  message.writeInt32BE(processID, 8);
  message.writeInt32BE(secretKey, 12);
  socket.once('connect', () => socket.end(message));
  socket.on('error', () => {});
}

/** Maps node-postgres / libpq failures to what the user must fix. */
export function connectionError(err: unknown, display: string, role: string): DrError {
  if (err instanceof DrError) return err;
  const e = err as { code?: string; message?: string };
  const message = redact(e.message ?? String(err));
  switch (e.code) {
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ETIMEDOUT':
      return new DrError(
        `cannot reach the ${role} server ${display} (${e.code})`,
        'check host and port, that PostgreSQL is running, and the network path (security groups)',
        1,
        { cause: err },
      );
    case '28P01':
    case '28000':
      return new DrError(
        `authentication failed for ${display}: ${message}`,
        'check PGPASSWORD, ~/.pgpass or the database secret',
        1,
        { cause: err },
      );
    case '3D000':
      return new DrError(
        `database "${parsePgUrlSafe(display)}" does not exist on the ${role} server (${display})`,
        'check the database name in the URL',
        1,
        { cause: err },
      );
  }
  if (/timeout/i.test(message)) {
    return new DrError(
      `cannot reach the ${role} server ${display} (timeout)`,
      'check host and port, and the network path (security groups)',
      1,
      { cause: err },
    );
  }
  return new DrError(
    `cannot connect to the ${role} server ${display}: ${message}`,
    'check the connection URL and the server log',
    1,
    { cause: err },
  );
}

function parsePgUrlSafe(display: string): string {
  return display.slice(display.lastIndexOf('/') + 1);
}

/** A server error raised by a query (it has a SQLSTATE), as a one-line DrError saying what to do. */
export function queryError(err: unknown, doing: string): DrError | undefined {
  const e = err as { code?: unknown; message?: string };
  if (typeof e?.code !== 'string' || !/^[0-9A-Z]{5}$/.test(e.code)) return undefined;
  const hint =
    e.code === '42501'
      ? 'the backup user needs read access to every table: GRANT pg_read_all_data TO <user> (PostgreSQL 14+)'
      : 'see the PostgreSQL server log';
  return new DrError(`${doing} failed: ${redact(e.message ?? e.code)}`, hint, 1, { cause: err });
}

/** libpq error text printed by pg_dump/pg_restore/psql, mapped like connectionError(). */
export function toolConnectionError(stderr: string, display: string, role: string): DrError | undefined {
  if (
    /Connection refused|could not translate host name|No route to host|timeout expired|Network is unreachable/i.test(
      stderr,
    )
  ) {
    return connectionError({ code: 'ECONNREFUSED' }, display, role);
  }
  if (/password authentication failed|no password supplied|no pg_hba.conf entry/i.test(stderr)) {
    return connectionError({ code: '28P01', message: firstErrorLine(stderr) }, display, role);
  }
  if (/database ".*" does not exist/.test(stderr)) return connectionError({ code: '3D000' }, display, role);
  return undefined;
}

export function firstErrorLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return redact(lines.find((l) => /error|fatal/i.test(l)) ?? lines[0] ?? 'no output');
}

// ---------------------------------------------------------------------------------------------
// Client tools

export interface PgTools {
  /** Directory of pg_dump & co.; undefined means PATH. */
  readonly binDir?: string;
}

export function toolPath(tools: PgTools, name: string): string {
  return tools.binDir ? join(tools.binDir, name) : name;
}

export interface ToolResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunToolOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Called for each stderr line as it arrives (progress). */
  readonly onStderrLine?: (line: string) => void;
  /** Where stdout goes: captured (default) or a file descriptor / stream-like sink. */
  readonly stdout?: 'capture' | 'ignore';
  /** Stops the tool (SIGTERM) when aborted, e.g. when the rest of a backup has failed. */
  readonly signal?: AbortSignal;
}

/** Runs a client tool to completion; never throws on a non-zero exit (callers map the error). */
export function runTool(
  tools: PgTools,
  name: string,
  args: string[],
  options: RunToolOptions = {},
): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    // After a signal nothing new starts; the caller fails as for a tool that failed, and the CLI
    // reports the interruption (never a rejection: a promise not awaited yet must not crash dr).
    if (interruption())
      return resolve({ code: 128, stdout: '', stderr: `${name}: not started: interrupted by ${interruption()}` });
    // Under setpriv --pdeathsig where available: the tool dies with dr, even by kill -9.
    const tool = diesWithParent(toolPath(tools, name), args);
    const child = spawn(tool.file, tool.args, {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', options.stdout === 'ignore' ? 'ignore' : 'pipe', 'pipe'],
      signal: options.signal,
    });
    trackChild(child);
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      // Keep the head and tail of very chatty output (verbose mode), enough for error messages.
      stderr = stderr.length < 1_000_000 ? stderr + d : stderr;
      if (options.onStderrLine) {
        const lines = (partial + d).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) options.onStderrLine(line);
      }
    });
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (err.name === 'AbortError') return; // 'close' follows and reports the exit
      if (err.code === 'ENOENT') {
        reject(
          new DrError(
            `${name} not found${tools.binDir ? ` in ${tools.binDir}` : ' on PATH'}`,
            "install the PostgreSQL client tools of the server's major version, or point --pg-bin at them",
          ),
        );
      } else reject(err);
    });
    child.once('close', (code, signal) => {
      if (partial && options.onStderrLine) options.onStderrLine(partial);
      if (code !== 0 && isSetprivExecFailure(stderr)) {
        return reject(
          new DrError(
            `${name} not found${tools.binDir ? ` in ${tools.binDir}` : ' on PATH'}`,
            "install the PostgreSQL client tools of the server's major version, or point --pg-bin at them",
          ),
        );
      }
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

export interface ToolVersion {
  readonly text: string;
  readonly major: number;
}

/** `pg_dump --version` → { text: '15.20', major: 15 }. */
export async function toolVersion(tools: PgTools, name: string): Promise<ToolVersion> {
  const result = await runTool(tools, name, ['--version']);
  const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(result.stdout);
  if (result.code !== 0 || !m)
    throw new DrError(
      `cannot tell the version of ${toolPath(tools, name)}`,
      'check the PostgreSQL client installation',
    );
  const [, major = '', minor] = m;
  return { text: minor ? `${major}.${minor}` : major, major: Number(major) };
}

/** server_version_num 150020 → 15; 90624 → 9. */
export function serverMajor(versionNum: number): number {
  return versionNum >= 100000 ? Math.floor(versionNum / 10000) : Math.floor(versionNum / 100) / 100;
}

/** pg_dump and pg_restore cannot read a newer server's catalogs or archives: say which client to install. */
export function assertClientNotOlder(
  tool: string,
  client: ToolVersion,
  serverVersion: string,
  serverVersionNum: number,
): void {
  const major = serverMajor(serverVersionNum);
  if (client.major < major) {
    throw new DrError(
      `${tool} ${client.text} is older than the server (PostgreSQL ${serverVersion})`,
      `install the PostgreSQL ${major} client tools, or point --pg-bin at them`,
    );
  }
}

/** A string literal for SQL text (standard_conforming_strings, on since PostgreSQL 9.1: only quotes double). */
export function quoteLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function qualified(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}

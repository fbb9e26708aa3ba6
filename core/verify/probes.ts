/**
 * Probes of the application beside the restored database: an HTTP(S) health URL must answer 2xx,
 * a WebSocket URL must accept the handshake. Each gives a VerifyCheck, so the verification and the
 * drill report treat them like the catalog checks.
 */
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { DrError } from '../errors.ts';
import { redact } from '../pg/connection.ts';
import type { VerifyCheck } from './verify.ts';

/** A health URL, or a DrError saying what is wrong with it. */
export function parseHealthUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new DrError(
      `health URL "${redact(value)}" is not a URL`,
      'use http(s)://host[:port]/path, e.g. https://api.example.com/health',
      2,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new DrError(
      `health URL "${redact(value)}" is not http(s)`,
      'use http(s)://host[:port]/path, e.g. https://api.example.com/health',
      2,
    );
  }
  return url;
}

/** GET `url`: passes on a 2xx answer within the timeout (redirects followed); actual is the status or the failure. */
export async function checkHealthUrl(url: URL, timeoutMs: number): Promise<VerifyCheck> {
  const object = redact(url.toString());
  let actual: string | number;
  try {
    const response = await fetch(url, {
      signal: AbortSignal.timeout(timeoutMs),
      headers: { 'user-agent': 'crypto-stock-dr verify' },
    });
    // Release the socket; the body is not needed.
    await response.body?.cancel().catch(() => {});
    actual = response.status;
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    actual =
      e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
  }
  return {
    name: 'health-url',
    object,
    expected: '2xx',
    actual,
    passed: typeof actual === 'number' && actual >= 200 && actual < 300,
  };
}

/**
 * A WebSocket handshake (HTTP Upgrade, RFC 6455): passes when the server answers 101 Switching
 * Protocols within `timeoutMs`. The connection is closed right after; no frames are sent.
 */
export function probeWebSocket(url: string, timeoutMs: number): Promise<VerifyCheck> {
  const check = (actual: string | number | null): VerifyCheck => ({
    name: 'websocket',
    object: url,
    expected: 101,
    actual,
    passed: actual === 101,
  });
  return new Promise((resolve) => {
    let u: URL;
    try {
      u = new URL(url.replace(/^ws/i, 'http'));
    } catch {
      resolve(check('invalid URL'));
      return;
    }
    const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(u, {
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
        'User-Agent': 'crypto-stock-dr drill',
      },
      timeout: timeoutMs,
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(check(res.statusCode ?? null));
    });
    req.on('response', (res) => {
      res.resume();
      resolve(check(res.statusCode ?? null));
    });
    req.on('timeout', () => {
      req.destroy();
      resolve(check(`no answer in ${timeoutMs} ms`));
    });
    req.on('error', (err) => resolve(check(err.message)));
    req.end();
  });
}

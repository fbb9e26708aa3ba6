import { optionalString, usage, type Values } from './args.ts';
import { parseAge } from './check.ts';

/** --lock-timeout as milliseconds, or undefined (the default, 5 minutes: core/pg/locks.ts). */
export function lockTimeout(v: Values): number | undefined {
  const raw = optionalString(v, 'lock-timeout');
  if (raw === undefined) return undefined;
  try {
    return parseAge(raw) * 1000;
  } catch {
    throw usage(`--lock-timeout must be a duration like 30s, 5m or 1h, got "${raw}"`);
  }
}

/**
 * Verification of a restored database against the manifest recorded at backup time (not against
 * production): the one implementation behind `dr verify`, the verify Lambda and drills.
 */
import type { Manifest } from './manifest.ts';

export interface VerifyOptions {
  readonly manifest: Manifest;
  /** The restored database's URL. */
  readonly target: string;
  /** Application health URLs; each must answer 2xx within `healthTimeoutMs`. @default - none */
  readonly healthUrls?: readonly string[];
  /** @default 5000 */
  readonly healthTimeoutMs?: number;
}

export interface VerifyCheck {
  /** What was checked: table-present, unexpected-table, row-count, freshness, index, constraint, sequence, extension, health-url. */
  readonly name: string;
  /** The object checked, e.g. `public.candles`, `public.candles_pkey`, a URL. */
  readonly object: string;
  readonly expected: string | number | null;
  readonly actual: string | number | null;
  readonly passed: boolean;
}

export interface VerifyResult {
  readonly passed: boolean;
  readonly backupId: string;
  readonly database: string;
  readonly target: string;
  readonly checks: VerifyCheck[];
  readonly durationMs: number;
}

export async function verifyAgainstManifest(_options: VerifyOptions): Promise<VerifyResult> {
  throw new Error('not implemented yet');
}

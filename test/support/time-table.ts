/** Shared by test/core/time.test.ts (every parser) and test/bin/usage-contract.test.ts (the dr binary). */
/**
 * Inputs of the time grammar (core/time.ts): [input, the instant it means (UTC) or undefined when
 * refused, 'date' for a bare date (a range's ends only)].
 */
export const TIME_TABLE: readonly (readonly [string, string | undefined, 'date'?])[] = [
  ['2026-01-10T00:00:00Z', '2026-01-10T00:00:00.000Z'],
  ['2026-01-10', '2026-01-10T00:00:00.000Z', 'date'],
  ['2026-01-10T01:00:00+0100', '2026-01-10T00:00:00.000Z'],
  ['2026-01-10T01:00:00+01:00', '2026-01-10T00:00:00.000Z'],
  ['2026-01-10T01:00:00+01', '2026-01-10T00:00:00.000Z'],
  ['2026-01-09T19:30:00-04:30', '2026-01-10T00:00:00.000Z'],
  ['2026-01-10 00:00:00Z', '2026-01-10T00:00:00.000Z'],
  ['2026-01-10 00:00:00.123456+00', '2026-01-10T00:00:00.123456Z'],
  ['2026-01-10t00:00:00z', '2026-01-10T00:00:00.000Z'],
  ['2026-01-10T00:00Z', '2026-01-10T00:00:00.000Z'],
  ['2026-01-10T00:00:00.5Z', '2026-01-10T00:00:00.500Z'],
  ['  2026-01-10T00:00:00Z ', '2026-01-10T00:00:00.000Z'],
  ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00.000Z'],
  // A space before the zone is not ISO 8601.
  ['2026-01-10T00:00:00 Z', undefined],
  ['2026-01-10T01:00:00 +01:00', undefined],
  // More than microseconds: PostgreSQL would round it silently.
  ['2026-01-10T00:00:00.1234567Z', undefined],
  // No zone: the server's or the shell's zone would decide.
  ['2026-01-10T00:00:00', undefined],
  ['2026-01-10 00:00', undefined],
  // Dates and times that do not exist.
  ['2026-02-30', undefined, 'date'],
  ['2026-02-30T00:00:00Z', undefined],
  ['2026-01-10T24:00:00Z', undefined],
  ['2026-01-10T00:00:60Z', undefined],
  ['2026-01-10T00:00:00+24:00', undefined],
  ['2026-01-10T00:00:00+1', undefined],
  ['20260110T000000Z', undefined],
  ['2026-1-10', undefined],
  ['yesterday', undefined],
  ['', undefined],
];

/** The inputs dr restore --since, --at and the request schema disagreed on before core/time.ts. */
export const DISPUTED_TIMES: readonly string[] = [
  '2026-01-10',
  '2026-01-10T01:00:00+0100',
  '2026-01-10 00:00:00Z',
  '2026-01-10T00:00:00 Z',
  '2026-01-10T00:00:00.1234567Z',
  '2026-02-30T00:00:00Z',
  '2026-01-10T00:00:00Z',
  '2026-01-10T00:00:00',
];

import { describe, expect, it } from 'vitest';
import {
  MAX_DRILLED_NAME,
  SCRATCH_NAME_FORMAT,
  SCRATCH_NAME_PATTERN,
  scratchDatabaseName,
  scratchDay,
} from '../../../core/drill/scratch.ts';

describe('scratch database names, stated once', () => {
  const at = new Date('2026-01-05T23:30:00Z');

  it('the workflow template, filled as States.Format does, gives the name dr drill gives', () => {
    const name = 'x'.repeat(MAX_DRILLED_NAME);
    const filled = [name, scratchDay(at)].reduce((s, arg) => s.replace('{}', arg), SCRATCH_NAME_FORMAT);
    expect(filled).toBe(scratchDatabaseName(name, at));
    expect(scratchDatabaseName('market', at)).toBe('drill_market_20260105');
  });

  it('the sweep pattern matches scratch names and nothing else', () => {
    const pattern = new RegExp(SCRATCH_NAME_PATTERN);
    expect(pattern.test(scratchDatabaseName('market', at))).toBe(true);
    expect(pattern.test(scratchDatabaseName('y'.repeat(80), at))).toBe(true);
    for (const other of ['market', 'drill_', 'drill_market', 'drill_market_2026010', 'xdrill_a_20260105'])
      expect(pattern.test(other)).toBe(false);
  });
});

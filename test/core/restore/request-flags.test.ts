/** The flag rules of a local `dr restore`: one row per mode (FLAGS_OF_MODE), the mode derived as for a request. */
import { describe, expect, it } from 'vitest';
import { restoreFlagProblem, restoreModeOf } from '../../../core/restore/request.ts';

/** `given` for a set of flags; --backup counts as given only with a backup id (as dr restore does). */
const check = (flags: readonly string[]) => {
  const given = (flag: string) => flags.includes(flag);
  const mode = restoreModeOf({
    pointInTime: given('at') || given('pitr') || given('latest'),
    range: given('since') || given('until') || given('time-column'),
    tables: given('tables'),
  });
  return { mode, problem: restoreFlagProblem(mode, given) };
};

describe('restoreModeOf', () => {
  it('pitr with a recovery target, range with a time range, table with tables, else full', () => {
    expect(restoreModeOf({ pointInTime: true, range: true, tables: true })).toBe('pitr');
    expect(restoreModeOf({ pointInTime: false, range: true, tables: true })).toBe('range');
    expect(restoreModeOf({ pointInTime: false, range: true, tables: false })).toBe('range');
    expect(restoreModeOf({ pointInTime: false, range: false, tables: true })).toBe('table');
    expect(restoreModeOf({ pointInTime: false, range: false, tables: false })).toBe('full');
  });
});

describe('restoreFlagProblem', () => {
  it('accepts what each mode takes', () => {
    for (const flags of [
      ['repo', 'target', 'overwrite', 'with-globals', 'hold-timescale-jobs', 'backup'],
      ['repo', 'tables', 'merge', 'lock-timeout'],
      ['repo', 'tables', 'since', 'until', 'time-column', 'replace-newer'],
      ['repo', 'tables', 'since', 'until', 'merge'],
      ['pitr', 'stanza', 'at', 'pg-server-bin', 'overwrite'],
      ['pitr', 'stanza', 'latest', 'tables', 'since', 'until', 'time-column'],
    ])
      expect(check(flags), flags.join(' ')).toMatchObject({ problem: undefined });
  });

  it('refuses a flag that does not apply, with the one-line message dr restore prints', () => {
    const cases: [string[], string | RegExp][] = [
      [['repo', 'stanza'], '--stanza applies to point-in-time restores only; add --at and --pitr, or drop --stanza'],
      [['repo', 'since', 'until'], '--since needs --tables (a range restore applies to named tables)'],
      [['repo', 'until'], '--until needs --tables (a range restore applies to named tables)'],
      [['pitr', 'at', 'time-column'], '--time-column needs --tables (a range restore applies to named tables)'],
      [['repo', 'merge'], '--merge applies to table restores only; add --tables, or drop --merge'],
      [
        ['repo', 'tables', 'replace-newer'],
        '--replace-newer applies to range restores (--since/--until) only; drop it',
      ],
      [
        ['repo', 'tables', 'since', 'until', 'merge', 'replace-newer'],
        "--merge keeps the target's rows and --replace-newer replaces them: give one",
      ],
      [['repo', 'tables', 'overwrite'], /^--overwrite replaces a whole database/],
      [['pitr', 'at', 'tables', 'overwrite'], /^--overwrite replaces a whole database/],
      [
        ['repo', 'tables', 'with-globals'],
        '--with-globals applies to full restores only; drop it, or restore without --tables',
      ],
      [['pitr', 'at', 'with-globals'], /^--with-globals applies to logical backups/],
      [['pitr', 'at', 'repo'], /^--repo names a repository of logical backups/],
      [['pitr', 'at', 'backup'], /^--backup names a logical backup; .*drop --backup$/],
      [['repo', 'lock-timeout'], '--lock-timeout applies to table restores (--tables) only; drop it'],
      [['pitr', 'at', 'tables', 'merge'], '--merge does not apply to a pitr restore; drop it'],
      [
        ['pitr', 'at', 'hold-timescale-jobs'],
        '--hold-timescale-jobs applies to restores of logical backups only; drop it',
      ],
    ];
    for (const [flags, message] of cases) {
      const { problem } = check(flags);
      if (typeof message === 'string') expect(problem, flags.join(' ')).toBe(message);
      else expect(problem, flags.join(' ')).toMatch(message);
    }
  });
});

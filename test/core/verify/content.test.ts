/**
 * Verification that proves the data came back: each of the ten changes a QA pass made to a
 * faithful restore (same counts, same MAX(time)) fails verify with the difference named, on the
 * plain and on the TimescaleDB sample; the faithful restore passes; a backup without
 * fingerprints verifies by counts and says so.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../../core/backup/backup.ts';
import type { Manifest } from '../../../core/backup/manifest.ts';
import { readManifest } from '../../../core/repository/backups.ts';
import { openRepository, type Repository } from '../../../core/repository/index.ts';
import { runRestore } from '../../../core/restore/full.ts';
import { describeFailure, type VerifyResult, verifyAgainstManifest } from '../../../core/verify/verify.ts';
import { dropDatabase, pgUrl, uniqueName } from '../../../fixtures/pg.ts';
import { runDr } from '../../support/cli.ts';
import { backupAndRestore, type RestoredFixture } from '../../support/restored.ts';
import {
  dropTimescaleDatabase,
  type TimescaleFixture,
  timescaleBackupAndRestore,
  timescaleUrl,
} from '../../support/timescale.ts';

/** Each change, and what verify must say about it. */
const CHANGES: { what: string; sql: string; check: string; says: RegExp }[] = [
  {
    what: 'a candles value changed (same count, same MAX(time))',
    sql: `UPDATE candles SET close = close + 1 WHERE symbol_id = 2 AND time = (SELECT max(time) FROM candles WHERE symbol_id = 2)`,
    check: 'content',
    says: /content of public\.candles differs from the backup: /,
  },
  {
    what: 'an ml_features jsonb value changed',
    sql: `UPDATE ml_features SET features = features || '{"momentum": 9}' WHERE id = (SELECT min(id) FROM ml_features)`,
    check: 'content',
    says: /content of public\.ml_features differs from the backup: \d{4}-\d{2}-\d{2}: 1\d* rows, backup has 1\d* \(contents differ\)/,
  },
  {
    what: 'a value of the quoted unicode table changed',
    sql: `UPDATE "Reporting"."Daily Summary" SET "Note" = 'Clôture modifiée' WHERE "Day" = (SELECT min("Day") FROM "Reporting"."Daily Summary") AND "Note" IS NOT NULL`,
    check: 'content',
    says: /content of "Reporting"\."Daily Summary" differs from the backup: \d{4}-\d{2}-\d{2}: \d+ rows, backup has \d+ \(contents differ\)/,
  },
  {
    what: 'a dropped trigger',
    sql: 'DROP TRIGGER alerts_audit ON alerts',
    check: 'trigger',
    says: /trigger public\.alerts\.alerts_audit is missing/,
  },
  {
    what: 'a replaced function body',
    sql: `CREATE OR REPLACE FUNCTION audit_alert_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`,
    check: 'routine',
    says: /routine audit_alert_change\(\) differs/,
  },
  {
    what: 'a renamed enum value',
    sql: `ALTER TYPE alert_severity RENAME VALUE 'info' TO 'notice'`,
    check: 'enum',
    says: /enum alert_severity differs: notice, warning, critical, backup has info, warning, critical/,
  },
  {
    what: 'a dropped column',
    sql: 'ALTER TABLE ml_features DROP COLUMN score',
    check: 'column',
    says: /column public\.ml_features\.score is missing/,
  },
  {
    what: 'a changed column type',
    sql: 'ALTER TABLE audit_logs ALTER COLUMN actor TYPE varchar(100)',
    check: 'column',
    says: /column public\.audit_logs\.actor type character varying\(100\), backup has text/,
  },
  {
    what: 'a dropped default',
    sql: 'ALTER TABLE alerts ALTER COLUMN acknowledged DROP DEFAULT',
    check: 'column',
    says: /column public\.alerts\.acknowledged default none, backup has false/,
  },
  {
    what: 'a dropped NOT NULL',
    sql: 'ALTER TABLE alerts ALTER COLUMN message DROP NOT NULL',
    check: 'column',
    says: /column public\.alerts\.message no NOT NULL, backup has NOT NULL/,
  },
];

const failures = (r: VerifyResult) => r.checks.filter((c) => !c.passed);

for (const sample of ['plain', 'TimescaleDB'] as const) {
  describe(`verify on the ${sample} sample`, () => {
    let clone: (sql: string) => Promise<string>;
    let verify: (database: string) => Promise<VerifyResult>;
    let restored: string;
    let cleanup: () => Promise<void>;
    /** The sample's source, where its repository is and the server's URL of a database. */
    let source: { database: string; repo: Repository; url: (db: string) => string };
    const extraDatabases: string[] = [];

    beforeAll(async () => {
      if (sample === 'plain') {
        const fx: RestoredFixture = await backupAndRestore('dr_vc');
        clone = (sql) => fx.clone((c) => c.query(sql));
        verify = (db) => verifyAgainstManifest({ manifest: fx.manifest, target: pgUrl(db) });
        source = { database: fx.source, repo: openRepository(fx.repoUrl), url: pgUrl };
        ({ restored, cleanup } = fx);
      } else {
        const fx: TimescaleFixture = await timescaleBackupAndRestore('dr_vcts');
        clone = fx.clone;
        verify = (db) => verifyAgainstManifest({ manifest: fx.manifest, target: timescaleUrl(db) });
        source = { database: fx.source, repo: fx.repo, url: timescaleUrl };
        ({ restored, cleanup } = fx);
      }
    });
    afterAll(async () => {
      const drop = sample === 'plain' ? dropDatabase : (db: string) => dropTimescaleDatabase(db);
      for (const db of extraDatabases) await drop(db);
      await cleanup();
    });

    it("passes a faithful restore, with every table's content compared", async () => {
      const result = await verify(restored);
      expect(failures(result)).toEqual([]);
      expect(result.content).toEqual({ method: 'fingerprints', countsOnly: [] });
      expect(result.checks.filter((c) => c.name === 'content').map((c) => c.object)).toEqual(
        expect.arrayContaining(['public.candles', 'public.ml_features', '"Reporting"."Daily Summary"']),
      );
    });

    it('passes a --jobs 1 backup (its files complete as pg_dump starts each next table) restored, every relation fingerprinted', async () => {
      const backup = await runBackup({ db: source.url(source.database), repository: source.repo, jobs: 1 });
      const manifest: Manifest = await readManifest(source.repo, source.database, backup.id);
      expect(manifest.dump.jobs).toBe(1);
      expect(manifest.fingerprints?.skipped).toEqual([]);
      const target = uniqueName(`dr_vc1_${sample === 'plain' ? 'p' : 'ts'}`);
      extraDatabases.push(target);
      await runRestore({ repository: source.repo, backup: backup.id, target: source.url(target) });
      const result = await verifyAgainstManifest({ manifest, target: source.url(target) });
      expect(failures(result)).toEqual([]);
      expect(result.content).toEqual({ method: 'fingerprints', countsOnly: [] });
    });

    for (const change of CHANGES) {
      it(`fails on ${change.what}, naming it`, async () => {
        const result = await verify(await clone(change.sql));
        const failed = failures(result);
        expect(failed.length).toBeGreaterThan(0);
        const named = failed.filter((c) => c.name === change.check).map(describeFailure);
        expect(
          named.some((line) => change.says.test(line)),
          named.join('\n') || failed.map(describeFailure).join('\n'),
        ).toBe(true);
        // Counts and freshness alone would not have seen it.
        expect(failed.filter((c) => c.name === 'row-count' || c.name === 'freshness')).toEqual([]);
      });
    }
  });
}

describe('backups without fingerprints', () => {
  let fx: RestoredFixture;
  beforeAll(async () => {
    fx = await backupAndRestore('dr_vc_old');
  });
  afterAll(async () => {
    await fx.cleanup();
  });

  it('an older manifest (no fingerprints) verifies by counts as before, and says so', async () => {
    const { fingerprints: _, ...older } = fx.manifest;
    const result = await verifyAgainstManifest({ manifest: older, target: pgUrl(fx.restored) });
    expect(result.passed).toBe(true);
    expect(result.content.method).toBe('counts only');
    expect(result.checks.some((c) => c.name === 'content')).toBe(false);
  });

  it('dr backup --no-fingerprints records none, and dr verify prints "counts only"', async () => {
    const repository = openRepository(fx.repoUrl);
    const backup = await runBackup({ db: pgUrl(fx.source), repository, jobs: 2, fingerprints: false });
    expect((await readManifest(repository, fx.source, backup.id)).fingerprints).toBeUndefined();
    // Its CPU report: dr's own process, with no row hashed; one with fingerprints hashes every row.
    expect(backup.cpu.rowHashingMs).toBe(0);
    expect(backup.cpu.processMs).toBeGreaterThan(0);
    const hashed = await runBackup({ db: pgUrl(fx.source), repository, jobs: 2 });
    expect(hashed.cpu.rowHashingMs).toBeGreaterThan(0);
    expect(hashed.cpu.processMs).toBeGreaterThan(hashed.cpu.rowHashingMs);
    const cli = await runDr([
      'verify',
      '--repo',
      fx.repoUrl,
      '--backup',
      backup.id,
      '--database',
      fx.source,
      '--target',
      pgUrl(fx.restored),
    ]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toContain('content: counts only (the backup has no fingerprints)');
  });
});

import { describe, expect, it } from 'vitest';
import { testConfig } from './helpers.ts';

describe('parseConfig: pitr and job.ephemeralStorageGiB', () => {
  it('defaults: PITR on for stanza crypto_stock, RPO 300 s, base backups at most 8 days old, 100 GiB of task storage', () => {
    const config = testConfig({});
    expect(config.pitr).toEqual({ enabled: true, stanza: 'crypto_stock', rpoSeconds: 300, baseBackupMaxAgeDays: 8 });
    expect(config.job.ephemeralStorageGiB).toBe(100);
  });

  it('keeps given values and fills the rest', () => {
    const config = testConfig({
      pitr: { stanza: 'main', rpoSeconds: 120 },
      job: { cpu: 1024, memoryMiB: 2048, ephemeralStorageGiB: 200 },
    });
    expect(config.pitr).toEqual({ enabled: true, stanza: 'main', rpoSeconds: 120, baseBackupMaxAgeDays: 8 });
    expect(config.job.ephemeralStorageGiB).toBe(200);
    expect(testConfig({ pitr: { enabled: false } }).pitr.enabled).toBe(false);
  });

  it.each([
    [
      { job: { ephemeralStorageGiB: 20 } },
      'job.ephemeralStorageGiB: at least 21 GiB (Fargate gives 20 GiB without this setting; a PITR restore needs room for the whole cluster)',
    ],
    [{ job: { ephemeralStorageGiB: 500 } }, 'job.ephemeralStorageGiB: at most 200 GiB (the Fargate maximum)'],
    [{ pitr: { rpoSeconds: 30 } }, 'pitr.rpoSeconds: at least 60 seconds (archive_timeout plus archiving)'],
    [
      { pitr: { stanza: 'my stanza' } },
      'pitr.stanza: a pgBackRest stanza: letters, digits, _, - and ., e.g. crypto_stock',
    ],
  ])('refuses %j with a message naming the setting and the fix', (raw, line) => {
    expect(() => testConfig(raw)).toThrow(`  ✖ ${line}`);
  });
});

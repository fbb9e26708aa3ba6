import { describe, expect, it } from 'vitest';
import { DEFAULT_DATABASE, parseConfig } from '../../lib/config.ts';
import { shippedConfig } from './helpers.ts';

describe('parseConfig', () => {
  it('fills in the documented defaults from nothing', () => {
    const config = parseConfig(undefined);
    expect(config).toEqual({
      databases: [{ name: 'crypto_stock', host: 'db.internal.example', port: 5432, secret: 'crypto-stock/db' }],
      postgresMajorVersion: 15,
      backupConcurrency: 2,
      sslMode: 'require',
      job: { cpu: 1024, memoryMiB: 2048, dumpJobs: 1, ephemeralStorageGiB: 100 },
      rtoSeconds: 3600,
      drill: {
        scratchServer: { host: 'db.internal.example', port: 5432, secret: 'crypto-stock/db' },
        scheduleEnabled: true,
        healthUrls: [],
      },
      offsite: { enabled: true, region: 'us-west-2', replicationTimeControl: false },
      pitr: { enabled: true, stanza: 'crypto_stock', rpoSeconds: 300, baseBackupMaxAgeDays: 8 },
    });
    expect(config.databases[0]).toEqual(DEFAULT_DATABASE);
  });

  it('cdk.json ships exactly the defaults', () => {
    expect(shippedConfig()).toEqual(parseConfig(undefined));
  });

  it('defaults port and secret per database and dump jobs from cpu', () => {
    const config = parseConfig({ databases: [{ name: 'a', host: 'h' }], job: { cpu: 4096, memoryMiB: 8192 } });
    expect(config.databases).toEqual([{ name: 'a', host: 'h', port: 5432, secret: 'crypto-stock/db' }]);
    expect(config.job.dumpJobs).toBe(4);
  });

  it('takes a separate drill scratch server, RTO and health URLs', () => {
    const config = parseConfig({ rtoSeconds: 14400, drill: { scratchServer: { host: 'staging', secret: 'staging/db' }, scheduleEnabled: false, healthUrls: ['https://api.example/health'] } });
    expect(config.rtoSeconds).toBe(14400);
    expect(config.drill).toEqual({ scratchServer: { host: 'staging', port: 5432, secret: 'staging/db' }, scheduleEnabled: false, healthUrls: ['https://api.example/health'] });
  });

  it('takes the offsite target and hardening options; a CA bundle makes sslmode verify-full unless set', () => {
    const config = parseConfig({
      offsite: { region: 'eu-central-1', account: '210987654321', replicationTimeControl: true },
      sslRootCert: 'rds', databaseSecurityGroupId: 'sg-0123abcd', secretRotationDays: 30,
    });
    expect(config.offsite).toEqual({ enabled: true, region: 'eu-central-1', account: '210987654321', replicationTimeControl: true });
    expect(config).toMatchObject({ sslMode: 'verify-full', sslRootCert: 'rds', databaseSecurityGroupId: 'sg-0123abcd', secretRotationDays: 30 });
    expect(parseConfig({ sslRootCert: '/etc/ssl/db-ca.pem', sslMode: 'verify-ca' }).sslMode).toBe('verify-ca');
    expect(parseConfig({ offsite: { enabled: false } }).offsite.enabled).toBe(false);
  });

  it.each([
    [{ offsite: { region: 'west' } }, /offsite\.region: an AWS region like us-west-2/],
    [{ offsite: { account: '1234' } }, /offsite\.account: a 12-digit AWS account id/],
    [{ sslRootCert: 'certs/ca.pem' }, /sslRootCert: 'rds' or an absolute path/],
    [{ databaseSecurityGroupId: 'db-sg' }, /databaseSecurityGroupId/],
    [{ secretRotationDays: 0 }, /secretRotationDays/],
    [{ rtoSeconds: 10 }, /rtoSeconds: at least 60 seconds/],
    [{ drill: { scratchServer: { host: 'h' } } }, /drill\.scratchServer\.secret/],
    [{ drill: { healthUrls: ['ftp://x'] } }, /drill\.healthUrls\[0\]/],
    [{ databases: [] }, /databases: list at least one database/],
    [{ databases: [{ name: 'a-b', host: 'h' }, { name: 'a_b', host: 'h' }] }, /"a_b" and "a-b" collide .*rename one/],
    [{ databases: [{ name: '1x', host: 'h' }] }, /databases\[0\]\.name/],
    [{ backupConcurrency: 0 }, /backupConcurrency/],
    [{ job: { cpu: 1000 } }, /job\.cpu: 1000 is not a Fargate size; use one of 256, 512/],
    [{ job: { cpu: 1024, memoryMiB: 512 } }, /job\.memoryMiB: 512 is not valid with cpu 1024; use 2048\.\.8192/],
    [{ vpcId: 'my-vpc' }, /vpcId/],
    [{ alertEmail: 'nope' }, /alertEmail/],
    [{ databse: [] }, /databse/],
  ])('rejects %j with a message that says what to fix', (raw, message) => {
    expect(() => parseConfig(raw)).toThrow(message);
    expect(() => parseConfig(raw)).toThrow(/cdk\.json context, or the JSON file passed with `-c configFile=<path>`/);
  });
});

import { describe, expect, it } from 'vitest';
import { DEFAULT_DATABASE, parseConfig } from '../../lib/config.ts';
import { shippedConfig, testConfig } from './helpers.ts';

describe('parseConfig', () => {
  it("fills in the documented defaults around an example config's placeholders, and lists them", () => {
    const config = parseConfig({ example: true });
    expect(config).toEqual({
      example: true,
      databases: [{ name: 'crypto_stock', host: 'db.internal.example', port: 5432, secret: 'crypto-stock/db' }],
      postgresMajorVersion: 15,
      timescaleVersion: '2.28.3',
      backupConcurrency: 2,
      sslMode: 'verify-full',
      sslRootCert: 'rds',
      insecureTls: false,
      job: { cpu: 1024, memoryMiB: 2048, dumpJobs: 1, ephemeralStorageGiB: 100 },
      rtoSeconds: 3600,
      drill: {
        scratchServer: { host: 'scratch.internal.example', port: 5432, secret: 'example/scratch-db' },
        scheduleEnabled: true,
        healthUrls: [],
      },
      offsite: { enabled: true, region: 'us-west-2', allowSameAccount: false, replicationTimeControl: false },
      pitr: { enabled: true, stanza: 'crypto_stock', rpoSeconds: 300, baseBackupMaxAgeDays: 8 },
      placeholders: [
        'databases[0].host ("db.internal.example")',
        expect.stringMatching(/^drill\.scratchServer \(missing/),
        expect.stringMatching(/^alertEmail or alertTopicArn \(missing/),
        expect.stringMatching(/^offsite\.account \(missing/),
      ],
    });
    expect(config.databases[0]).toEqual(DEFAULT_DATABASE);
  });

  it('cdk.json ships an example config: it parses, with its placeholders listed', () => {
    expect(shippedConfig().example).toBe(true);
    expect(shippedConfig().placeholders).toEqual([
      'databases[0].host ("db.internal.example")',
      'drill.scratchServer.host ("staging-db.internal.example")',
      'drill.scratchServer.secret ("crypto-stock/staging-db-example")',
      'alertEmail ("oncall@example.com")',
      expect.stringMatching(/^offsite\.account \(missing/),
    ]);
  });

  const deployable = {
    databases: [{ name: 'crypto_stock', host: 'db.prod.internal', secret: 'crypto-stock/db' }],
    drill: { scratchServer: { host: 'staging.db.internal', secret: 'crypto-stock/staging-db' } },
    alertEmail: 'oncall@corp.test',
    offsite: { account: '210987654321' },
  };

  it('a real config (not "example": true) with every required setting parses, with no placeholders', () => {
    expect(parseConfig(deployable).placeholders).toEqual([]);
    expect(parseConfig({ ...deployable, offsite: { allowSameAccount: true } }).offsite).toMatchObject({
      allowSameAccount: true,
    });
    expect(
      parseConfig({ ...deployable, alertEmail: undefined, alertTopicArn: 'arn:aws:sns:us-east-1:123456789012:on-call' })
        .alertTopicArn,
    ).toBe('arn:aws:sns:us-east-1:123456789012:on-call');
  });

  it('a real config with placeholders, or without offsite account, scratch server or alert subscription, fails naming each field and how to set it', () => {
    expect(() => parseConfig({})).toThrow(
      /it is not marked "example": true, so it must be deployable; set each of these:\n {2}✖ databases\[0\]\.host \("db\.internal\.example"\)\n {2}✖ drill\.scratchServer \(missing: a staging server and its own secret.*\n {2}✖ alertEmail or alertTopicArn \(missing: who the alarms reach.*\n {2}✖ offsite\.account \(missing: a separate AWS account for the offsite copy, or "allowSameAccount": true/,
    );
    expect(() => parseConfig({ ...deployable, alertEmail: 'ops@example.com' })).toThrow(
      '✖ alertEmail ("ops@example.com")',
    );
    expect(() =>
      parseConfig({ ...deployable, databases: [{ name: 'a', host: 'h', secret: 'example-secret' }] }),
    ).toThrow('✖ databases[0].secret ("example-secret")');
    expect(() => parseConfig({ ...deployable, offsite: {} })).toThrow('✖ offsite.account (missing');
    expect(parseConfig({ ...deployable, offsite: { enabled: false } }).placeholders).toEqual([]);
  });

  it('refuses a scratch server on a production host or with a production secret, and a database security group without vpcId', () => {
    expect(() =>
      parseConfig({ ...deployable, drill: { scratchServer: { host: 'DB.prod.internal', secret: 's' } } }),
    ).toThrow(
      'drill.scratchServer.host: DB.prod.internal is the server of production database "crypto_stock"; drills create and drop drill_* databases there, so point it at a separate staging server',
    );
    expect(() =>
      parseConfig({ ...deployable, drill: { scratchServer: { host: 'staging', secret: 'crypto-stock/db' } } }),
    ).toThrow(
      'drill.scratchServer.secret: "crypto-stock/db" is a production database secret; give the staging server a secret of its own',
    );
    expect(() => parseConfig({ ...deployable, databaseSecurityGroupId: 'sg-0123abcd' })).toThrow(
      /databaseSecurityGroupId: a security group lives in a VPC; set vpcId/,
    );
  });

  it('TLS verifies by default (verify-full, RDS bundle); a mode that does not verify needs insecureTls: true', () => {
    expect(parseConfig(deployable)).toMatchObject({ sslMode: 'verify-full', sslRootCert: 'rds' });
    for (const mode of ['disable', 'allow', 'prefer', 'require']) {
      expect(() => parseConfig({ ...deployable, sslMode: mode })).toThrow(
        `sslMode: "${mode}" does not verify the database server's certificate; use "verify-full" (with sslRootCert "rds" for RDS), or set "insecureTls": true to accept it`,
      );
      expect(parseConfig({ ...deployable, sslMode: mode, insecureTls: true })).toMatchObject({
        sslMode: mode,
        sslRootCert: undefined,
      });
    }
  });

  it('defaults port and secret per database and dump jobs from cpu', () => {
    const config = testConfig({ databases: [{ name: 'a', host: 'h' }], job: { cpu: 4096, memoryMiB: 8192 } });
    expect(config.databases).toEqual([{ name: 'a', host: 'h', port: 5432, secret: 'crypto-stock/db' }]);
    expect(config.job.dumpJobs).toBe(4);
  });

  it('takes a separate drill scratch server, RTO and health URLs', () => {
    const config = testConfig({
      rtoSeconds: 14400,
      drill: {
        scratchServer: { host: 'staging', secret: 'staging/db' },
        scheduleEnabled: false,
        healthUrls: ['https://api.example/health'],
      },
    });
    expect(config.rtoSeconds).toBe(14400);
    expect(config.drill).toEqual({
      scratchServer: { host: 'staging', port: 5432, secret: 'staging/db' },
      scheduleEnabled: false,
      healthUrls: ['https://api.example/health'],
    });
  });

  it('takes the offsite target and hardening options; a CA bundle makes sslmode verify-full unless set', () => {
    const config = testConfig({
      offsite: { region: 'eu-central-1', account: '210987654321', replicationTimeControl: true },
      sslRootCert: 'rds',
      databaseSecurityGroupId: 'sg-0123abcd',
      vpcId: 'vpc-0123abcd',
      secretRotationDays: 30,
      secretKmsKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      timescaleVersion: '2.17.2',
    });
    expect(config.offsite).toEqual({
      enabled: true,
      region: 'eu-central-1',
      account: '210987654321',
      allowSameAccount: false,
      replicationTimeControl: true,
    });
    expect(config).toMatchObject({
      secretKmsKeyArn: expect.stringMatching(/^arn:aws:kms:/),
      timescaleVersion: '2.17.2',
    });
    expect(config).toMatchObject({
      sslMode: 'verify-full',
      sslRootCert: 'rds',
      databaseSecurityGroupId: 'sg-0123abcd',
      secretRotationDays: 30,
    });
    expect(testConfig({ sslRootCert: '/etc/ssl/db-ca.pem', sslMode: 'verify-ca' }).sslMode).toBe('verify-ca');
    expect(testConfig({ offsite: { enabled: false } }).offsite.enabled).toBe(false);
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
    [
      {
        databases: [
          { name: 'a-b', host: 'h' },
          { name: 'a_b', host: 'h' },
        ],
      },
      /"a_b" and "a-b" collide .*rename one/,
    ],
    [{ databases: [{ name: '1x', host: 'h' }] }, /databases\[0\]\.name/],
    [{ backupConcurrency: 0 }, /backupConcurrency/],
    [{ job: { cpu: 1000 } }, /job\.cpu: 1000 is not a Fargate size; use one of 256, 512/],
    [{ job: { cpu: 1024, memoryMiB: 512 } }, /job\.memoryMiB: 512 is not valid with cpu 1024; use 2048\.\.8192/],
    [{ vpcId: 'my-vpc' }, /vpcId/],
    [{ alertEmail: 'nope' }, /alertEmail/],
    [{ timescaleVersion: '2.28' }, /timescaleVersion: a TimescaleDB release like 2\.28\.3/],
    [{ breakGlassRoleArn: 'admin' }, /breakGlassRoleArn: an IAM role ARN/],
    [{ alertTopicArn: 'on-call' }, /alertTopicArn: an SNS topic ARN/],
    [{ databse: [] }, /databse/],
  ])('rejects %j with a message that says what to fix', (raw, message) => {
    expect(() => testConfig(raw)).toThrow(message);
    expect(() => testConfig(raw)).toThrow(/cdk\.json context, or the JSON file passed with `-c configFile=<path>`/);
  });
});

/**
 * The drill-age handler in its own process (as the Lambda runtime loads it), against report keys in
 * s3rver: its DaysSinceLastDrill datapoints are read back from the EMF lines it prints.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { DrillAgeEnv, Metrics } from '../../core/contract.ts';
import { invokeHandler } from '../support/handler.ts';
import { createTestBucket, s3Client } from '../support/s3.ts';

const invoke = (env: Record<string, string>, event: unknown) => invokeHandler('drill-age', env, event);

const day = (daysAgo: number) => new Date(Date.now() - daysAgo * 86_400_000).toISOString().slice(0, 10);

describe('drill-age Lambda (real handler process, real s3rver; the EMF line stands in for CloudWatch)', () => {
  let bucket: string;
  beforeAll(async () => {
    bucket = await createTestBucket('dr-drill-age');
    const keys = [
      `reports/drills/${day(40)}/crypto_stock.json`,
      `reports/drills/${day(3)}/crypto_stock.md`, // only the JSON marks a finished report
      `reports/drills/${day(10)}/crypto_stock-031500Z.json`, // a second drill that day
      `reports/drills/${day(2)}/crypto_stock_v2.json`, // another database whose name starts alike
    ];
    for (const Key of keys) await s3Client().send(new PutObjectCommand({ Bucket: bucket, Key, Body: '{}' }));
  });

  it('prints DaysSinceLastDrill per drilled database and none for a database never drilled', async () => {
    const { code, stdout, stderr, result } = await invoke(
      {
        [DrillAgeEnv.repo]: `s3://${bucket}/`,
        [DrillAgeEnv.databases]: JSON.stringify(['crypto_stock', 'never_drilled']),
      },
      { 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} },
    );
    expect(code, stderr).toBe(0);
    expect(result).toEqual([{ database: 'crypto_stock', lastDrill: day(10), days: 10 }, { database: 'never_drilled' }]);
    const emf = stdout.map((l) => JSON.parse(l));
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({
      _aws: {
        CloudWatchMetrics: [
          {
            Namespace: Metrics.namespace,
            Dimensions: [[Metrics.dimension]],
            Metrics: [{ Name: Metrics.daysSinceLastDrill, Unit: 'None' }],
          },
        ],
      },
      [Metrics.dimension]: 'crypto_stock',
      [Metrics.daysSinceLastDrill]: 10,
    });
  });

  it('refuses to start without its database list, naming the setting', async () => {
    const { code, stderr } = await invoke(
      { [DrillAgeEnv.repo]: `s3://${bucket}/`, [DrillAgeEnv.databases]: 'crypto_stock' },
      {},
    );
    expect(code).not.toBe(0);
    expect(stderr).toContain(DrillAgeEnv.databases);
    expect(stderr).toContain('a JSON array of database names');
  });
});

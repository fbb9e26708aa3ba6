/**
 * The drill-report Lambda signs the report JSON with KMS (issue 15 §3), against real s3rver (the
 * vault). KMS has no local equivalent, so its two calls are replaced by a stand-in that really
 * signs: GetPublicKey answers a P-256 key's SPKI, and Sign (MessageType DIGEST) signs the digest
 * with `openssl pkeyutl`, as KMS does. The report must then pass core's verification, fail it
 * with one byte edited, and be written unsigned, with the reason and ReportUnsigned, when KMS fails.
 * With DR_REPORT_LOCK=compliance (as the stack sets it) every report object's PutObject carries a
 * COMPLIANCE lock for EVIDENCE_RETENTION_DAYS; s3rver does not enforce Object Lock, so what is
 * checked is what the Lambda sends (S3Client.send observed, not replaced).
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { GetPublicKeyCommand, type SignCommand } from '@aws-sdk/client-kms';
import { PutObjectCommand, type PutObjectCommandInput, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Metrics, REPORT_LOCK_COMPLIANCE, ReportEnv } from '../../core/contract.ts';
import { verifyReport } from '../../core/drill/evidence.ts';
import { openRepository, type Repository } from '../../core/repository/index.ts';
import { EVIDENCE, EVIDENCE_RETENTION_DAYS, RETENTION_TAG_KEY } from '../../core/repository/tiers.ts';
import { createHandler } from '../../lambdas/drill-report/handler.ts';
import { captureStdout, type StdoutCapture } from '../support/handler.ts';
import { createTestBucket, useS3Env } from '../support/s3.ts';

const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/0b1c2d3e-drill-report-signing';
const dir = mkdtempSync(join(tmpdir(), 'dr-kms-'));
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const keyFile = join(dir, 'key.pem');
writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
let bucket: string;
let repo: Repository;
let stdout: StdoutCapture;

beforeAll(async () => {
  stdout = captureStdout();
  useS3Env();
  bucket = await createTestBucket('dr-signing');
  repo = openRepository(`s3://${bucket}/`);
});
afterAll(() => {
  stdout.restore();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * KMS as the handler uses it, signing for real; `fail` makes Sign throw as KMS does without
 * kms:Sign, `failPublicKey` makes GetPublicKey throw (a disabled key) until it is cleared.
 */
function kmsStandIn(fail?: Error, failPublicKey?: { error?: Error }) {
  const calls: string[] = [];
  return {
    calls,
    send: async (command: GetPublicKeyCommand | SignCommand) => {
      calls.push(command.constructor.name);
      expect(command.input.KeyId).toBe(KEY_ARN);
      if (command instanceof GetPublicKeyCommand) {
        if (failPublicKey?.error) throw failPublicKey.error;
        return { PublicKey: publicKey.export({ type: 'spki', format: 'der' }) };
      }
      if (fail) throw fail;
      expect(command.input).toMatchObject({ MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' });
      const digest = join(dir, `digest-${calls.length}`);
      writeFileSync(digest, command.input.Message as Uint8Array);
      return { Signature: execFileSync('openssl', ['pkeyutl', '-sign', '-inkey', keyFile, '-in', digest]) };
    },
  };
}

function harness(kms: ReturnType<typeof kmsStandIn>, env: Record<string, string> = {}) {
  const mark = stdout.mark();
  const handler = createHandler({
    env: {
      [ReportEnv.repo]: `s3://${bucket}/`,
      [ReportEnv.topicArn]: 'arn:aws:sns:eu-west-1:123456789012:dr-alarms',
      [ReportEnv.signingKeyArn]: KEY_ARN,
      ...env,
    },
    sns: { send: async () => ({}) } as never,
    kms: kms as never,
  });
  return { handler, emf: () => stdout.emf(mark) };
}

// A drill that failed before it picked a backup: still a report, still evidence to sign.
const event = { database: 'crypto_stock', errors: { step: 'restore', message: 'no complete backup of crypto_stock' } };

describe('drill-report Lambda signing (real s3rver; mocked KMS control plane that signs with a local P-256 key)', () => {
  it('signs the report JSON with KMS: dr report verify passes it, and fails it with one byte edited', async () => {
    const kms = kmsStandIn();
    const { handler, emf } = harness(kms);
    const out = await handler(event);
    expect(out.signed).toBe(true);
    const json = await text(await repo.get(out.keys.json));
    const report = JSON.parse(json);
    expect(report.signature).toMatchObject({ algorithm: 'ecdsa-p256-sha256', keyId: KEY_ARN });
    expect(report.unsigned).toBeUndefined();
    expect(await verifyReport(json)).toMatchObject({ valid: true, keyId: KEY_ARN });
    // Pinned to the KMS key's public key, as an auditor would check it.
    expect(
      (await verifyReport(json, { trustedPublicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString() }))
        .valid,
    ).toBe(true);
    const edited = json.replace('"crypto_stock"', '"crypto_stocc"');
    expect(edited).not.toBe(json);
    expect(await verifyReport(edited)).toMatchObject({
      valid: false,
      findings: expect.arrayContaining([expect.stringMatching(/signature does not match/)]),
    });
    expect(emf()[0]!._aws.CloudWatchMetrics[0].Metrics.map((m: { Name: string }) => m.Name)).not.toContain(
      Metrics.reportUnsigned,
    );

    // The public key is fetched once per container, not per drill.
    await handler(event);
    expect(kms.calls.filter((c) => c === 'GetPublicKeyCommand')).toHaveLength(1);
    expect(kms.calls.filter((c) => c === 'SignCommand')).toHaveLength(2);
  });

  it('KMS refusing Sign: the report is still written, marked unsigned with the reason, and ReportUnsigned is emitted', async () => {
    const denied = Object.assign(new Error('User is not authorized to perform: kms:Sign'), {
      name: 'AccessDeniedException',
    });
    const { handler, emf } = harness(kmsStandIn(denied));
    const out = await handler(event);
    expect(out.signed).toBe(false);
    const report = JSON.parse(await text(await repo.get(out.keys.json)));
    expect(report.signature).toBeNull();
    expect(report.unsigned).toMatch(
      new RegExp(`signing with KMS key ${KEY_ARN} failed: User is not authorized to perform: kms:Sign`),
    );
    expect(emf()[0]).toMatchObject({ [Metrics.reportUnsigned]: 1 });
    expect((await verifyReport(JSON.stringify(report))).valid).toBe(false);
  });

  it('KMS key disabled (GetPublicKey fails): the report is written unsigned with the reason; the next drill fetches the key again and signs', async () => {
    const disabled: { error?: Error } = {
      error: Object.assign(new Error(`${KEY_ARN} is disabled.`), { name: 'DisabledException' }),
    };
    const kms = kmsStandIn(undefined, disabled);
    const { handler, emf } = harness(kms);
    const out = await handler(event);
    expect(out.signed).toBe(false);
    const report = JSON.parse(await text(await repo.get(out.keys.json)));
    expect(report.signature).toBeNull();
    expect(report.unsigned).toBe(`signing with KMS key ${KEY_ARN} failed: ${KEY_ARN} is disabled.`);
    expect(emf()[0]).toMatchObject({ [Metrics.reportUnsigned]: 1 });
    expect(kms.calls).toEqual(['GetPublicKeyCommand']);

    // Re-enabled: a failed lookup was not cached.
    disabled.error = undefined;
    const again = await handler(event);
    expect(again.signed).toBe(true);
    expect((await verifyReport(await text(await repo.get(again.keys.json)))).valid).toBe(true);
    expect(kms.calls).toEqual(['GetPublicKeyCommand', 'GetPublicKeyCommand', 'SignCommand']);
  });
});

describe('drill-report Lambda Object Lock (real s3rver, which does not enforce locks: the PutObject input is checked)', () => {
  it(`with ${ReportEnv.reportLock}=${REPORT_LOCK_COMPLIANCE} every report object is put with a COMPLIANCE lock for ${EVIDENCE_RETENTION_DAYS} days and tagged ${EVIDENCE}; without it, no lock`, async () => {
    const send = vi.spyOn(S3Client.prototype, 'send');
    try {
      const puts = (): PutObjectCommandInput[] =>
        send.mock.calls
          .map(([command]) => command as unknown)
          .filter((c) => c instanceof PutObjectCommand)
          .map((c) => c.input);
      const before = Date.now();
      const out = await harness(kmsStandIn(), { [ReportEnv.reportLock]: REPORT_LOCK_COMPLIANCE }).handler(event);
      const after = Date.now();
      const written = puts();
      expect(written.map((p) => p.Key).sort()).toEqual(Object.values(out.keys).sort());
      for (const put of written) {
        expect(put).toMatchObject({ ObjectLockMode: 'COMPLIANCE', Tagging: `${RETENTION_TAG_KEY}=${EVIDENCE}` });
        const until = (put.ObjectLockRetainUntilDate as Date).getTime();
        expect(until).toBeGreaterThanOrEqual(before + EVIDENCE_RETENTION_DAYS * 86_400_000);
        expect(until).toBeLessThanOrEqual(after + EVIDENCE_RETENTION_DAYS * 86_400_000);
      }
      // s3rver took the locked writes: the signed report reads back and verifies.
      expect((await verifyReport(await text(await repo.get(out.keys.json)))).valid).toBe(true);

      send.mockClear();
      await harness(kmsStandIn()).handler(event);
      expect(puts()).toHaveLength(3);
      for (const put of puts()) expect(put.ObjectLockMode).toBeUndefined();
    } finally {
      send.mockRestore();
    }
  });
});

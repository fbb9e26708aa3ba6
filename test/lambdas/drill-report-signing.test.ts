/**
 * The drill-report Lambda signs the report JSON with KMS (issue 15 §3), against real s3rver (the
 * vault). KMS has no local equivalent, so its two calls are replaced by a stand-in that really
 * signs: GetPublicKey answers a P-256 key's SPKI, and Sign (MessageType DIGEST) signs the digest
 * with `openssl pkeyutl`, as KMS does. The report must then pass core's verification, fail it
 * with one byte edited, and be written unsigned, with the reason and ReportUnsigned, when KMS fails.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { GetPublicKeyCommand, SignCommand } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics, ReportEnv } from '../../core/contract.ts';
import { verifyReport } from '../../core/evidence.ts';
import { openRepository, type Repository } from '../../core/repository/index.ts';
import { createHandler } from '../../lambdas/drill-report/handler.ts';
import { createTestBucket, useS3Env } from '../support/s3.ts';

const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/0b1c2d3e-drill-report-signing';
const dir = mkdtempSync(join(tmpdir(), 'dr-kms-'));
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const keyFile = join(dir, 'key.pem');
writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
let bucket: string;
let repo: Repository;

beforeAll(async () => {
  useS3Env();
  bucket = await createTestBucket('dr-signing');
  repo = openRepository(`s3://${bucket}/`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** KMS as the handler uses it, signing for real; `fail` makes Sign throw as KMS does without kms:Sign. */
function kmsStandIn(fail?: Error) {
  const calls: string[] = [];
  return {
    calls,
    send: async (command: GetPublicKeyCommand | SignCommand) => {
      calls.push(command.constructor.name);
      expect(command.input.KeyId).toBe(KEY_ARN);
      if (command instanceof GetPublicKeyCommand) return { PublicKey: publicKey.export({ type: 'spki', format: 'der' }) };
      if (fail) throw fail;
      expect(command.input).toMatchObject({ MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' });
      const digest = join(dir, `digest-${calls.length}`);
      writeFileSync(digest, command.input.Message as Uint8Array);
      return { Signature: execFileSync('openssl', ['pkeyutl', '-sign', '-inkey', keyFile, '-in', digest]) };
    },
  };
}

function harness(kms: ReturnType<typeof kmsStandIn>) {
  const printed: string[] = [];
  const handler = createHandler({
    env: { [ReportEnv.repo]: `s3://${bucket}/`, [ReportEnv.topicArn]: 'arn:aws:sns:eu-west-1:123456789012:dr-alarms', [ReportEnv.signingKeyArn]: KEY_ARN },
    sns: { send: async () => ({}) } as never,
    kms: kms as never,
    print: (line) => printed.push(line),
  });
  return { handler, emf: () => printed.map((l) => JSON.parse(l)) };
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
    expect((await verifyReport(json, { trustedPublicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString() })).valid).toBe(true);
    const edited = json.replace('"crypto_stock"', '"crypto_stocc"');
    expect(edited).not.toBe(json);
    expect(await verifyReport(edited)).toMatchObject({ valid: false, findings: expect.arrayContaining([expect.stringMatching(/signature does not match/)]) });
    expect(emf()[0]._aws.CloudWatchMetrics[0].Metrics.map((m: { Name: string }) => m.Name)).not.toContain(Metrics.reportUnsigned);

    // The public key is fetched once per container, not per drill.
    await handler(event);
    expect(kms.calls.filter((c) => c === 'GetPublicKeyCommand')).toHaveLength(1);
    expect(kms.calls.filter((c) => c === 'SignCommand')).toHaveLength(2);
  });

  it('KMS refusing Sign: the report is still written, marked unsigned with the reason, and ReportUnsigned is emitted', async () => {
    const denied = Object.assign(new Error('User is not authorized to perform: kms:Sign'), { name: 'AccessDeniedException' });
    const { handler, emf } = harness(kmsStandIn(denied));
    const out = await handler(event);
    expect(out.signed).toBe(false);
    const report = JSON.parse(await text(await repo.get(out.keys.json)));
    expect(report.signature).toBeNull();
    expect(report.unsigned).toMatch(new RegExp(`signing with KMS key ${KEY_ARN} failed: User is not authorized to perform: kms:Sign`));
    expect(emf()[0]).toMatchObject({ [Metrics.reportUnsigned]: 1 });
    expect((await verifyReport(JSON.stringify(report))).valid).toBe(false);
  });
});

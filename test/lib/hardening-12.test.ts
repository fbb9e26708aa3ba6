/**
 * The rest of issue 12 as template assertions: the newest verified backup's Legal Hold (grants and
 * its age alarm), the PITR repository's offsite replica, egress only to the endpoints, the S3
 * prefix list and the database security group, the S3 gateway endpoint's policy, and the job
 * image's RDS CA bundle pinned by SHA-256.
 */
import { readFileSync } from 'node:fs';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { describe, expect, it } from 'vitest';
import { DrStack } from '../../lib/dr-stack.ts';
import { newApp, shippedRaw, testConfig } from './helpers.ts';

const SHA = 'a'.repeat(64);

describe('issue 12 §6: the RDS CA bundle is verified by SHA-256', () => {
  /** The job image's docker build arguments and the stack's warnings. */
  function synth(raw: Record<string, unknown>) {
    const app = newApp();
    const stack = new DrStack(app, 'Image', { config: testConfig({ ...shippedRaw(), offsite: { enabled: false }, ...raw }) });
    const assembly = app.synth();
    const manifests = assembly.artifacts.filter((a): a is cxapi.AssetManifestArtifact => a instanceof cxapi.AssetManifestArtifact);
    const images = manifests.flatMap((m) => Object.values(JSON.parse(readFileSync(m.file, 'utf8')).dockerImages ?? {})) as any[];
    const warnings = assembly.getStackArtifact(stack.artifactId).messages.filter((m) => m.level === 'warning').map((m) => String(m.entry.data));
    return { buildArgs: images.map((image) => image.source.dockerBuildArgs), warnings };
  }

  it('passes config rdsCaBundleSha256 to the image build as RDS_CA_BUNDLE_SHA256', () => {
    expect(synth({ rdsCaBundleSha256: SHA }).buildArgs).toEqual([{ PG_MAJOR: '15', TIMESCALEDB_VERSION: '2.28.3', RDS_CA_BUNDLE_SHA256: SHA }]);
    expect(synth({ rdsCaBundleSha256: SHA }).warnings.filter((w) => w.includes('rdsCaBundleSha256'))).toEqual([]);
  });

  it('without it, synth warns that the image will not build (the Dockerfile refuses a missing hash)', () => {
    const { buildArgs, warnings } = synth({});
    expect(buildArgs).toEqual([{ PG_MAJOR: '15', TIMESCALEDB_VERSION: '2.28.3' }]);
    expect(warnings).toContainEqual(expect.stringContaining('config rdsCaBundleSha256 is not set: the job image refuses to build'));
  });

  it('refuses a malformed hash in config, saying how to compute it', () => {
    expect(() => testConfig({ rdsCaBundleSha256: 'ABC' })).toThrow(/rdsCaBundleSha256: the SHA-256 of global-bundle.pem in 64 lowercase hex digits \(curl -fsSL https:\/\/truststore\.pki\.rds\.amazonaws\.com\/global\/global-bundle\.pem \| sha256sum\)/);
  });
});

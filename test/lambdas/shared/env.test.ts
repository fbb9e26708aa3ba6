/** The Lambdas' one environment reader: the first variable unset or invalid, named. */

import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { json, optional, readEnv, repositoryUrl, required } from '../../../lambdas/shared/env.ts';

const schema = z.object({ DR_REPO: repositoryUrl('repository URL'), DR_TOPIC: required, DR_CA: optional });

describe('readEnv', () => {
  it('returns the parsed values, an empty optional one as unset', () => {
    expect(readEnv(schema, { DR_REPO: 's3://vault/', DR_TOPIC: 'arn:t', DR_CA: '' })).toEqual({
      DR_REPO: 's3://vault/',
      DR_TOPIC: 'arn:t',
      DR_CA: undefined,
    });
  });

  it('names the first variable unset (empty counts as unset) or invalid, and who sets it', () => {
    expect(() => readEnv(schema, { DR_TOPIC: 'arn:t' })).toThrow('environment variable DR_REPO is not set');
    expect(() => readEnv(schema, { DR_REPO: 's3://vault/', DR_TOPIC: '' })).toThrow(
      'environment variable DR_TOPIC is not set',
    );
    expect(() => readEnv(schema, { DR_REPO: 'vault', DR_TOPIC: 'arn:t' })).toThrow(
      'environment variable DR_REPO is invalid: an s3:// or file:// repository URL',
    );
    let error: unknown;
    try {
      readEnv(schema, {});
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ name: 'DrError', hint: 'the CDK construct sets it; redeploy the stack' });
  });

  it('parses a JSON variable through its schema, saying what it must be', () => {
    const names = z.object({ DR_DATABASES: json(z.array(z.string().min(1)).min(1), 'a JSON array of database names') });
    expect(readEnv(names, { DR_DATABASES: '["a","b"]' })).toEqual({ DR_DATABASES: ['a', 'b'] });
    expect(() => readEnv(names, { DR_DATABASES: 'a' })).toThrow(
      'environment variable DR_DATABASES is invalid: a JSON array of database names (not JSON)',
    );
    expect(() => readEnv(names, { DR_DATABASES: '["a",""]' })).toThrow(
      /DR_DATABASES is invalid: a JSON array of database names \(1\. Too small/,
    );
  });
});

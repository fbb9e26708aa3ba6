/**
 * DrFunction, the one wrapper of every Lambda: runtime, architecture, tracing, logs, VPC and the
 * error for a missing handler. Most stacks skip esbuild bundling (context aws:cdk:bundling-stacks
 * = []); one test bundles the real verify handler, as `cdk synth` does.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { DrFunction, type DrFunctionProps } from '../../../lib/constructs/function.ts';
import { DrStack } from '../../../lib/dr-stack.ts';
import { newApp, onlyResource, shippedConfig } from '../helpers.ts';
import { resolveTokens } from './definition.ts';

function synth(props: Partial<DrFunctionProps> & { withVpc?: boolean } = {}, bundle = false) {
  const app = new App({ context: bundle ? {} : { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'FnTest', { env: { account: '123456789012', region: 'eu-west-1' } });
  const { withVpc, ...rest } = props;
  const vpc = withVpc ? new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 }) : undefined;
  const fn = new DrFunction(stack, 'Verify', {
    name: 'verify',
    description: 'Verifies a restored database',
    vpc,
    ...rest,
  });
  return { app, stack, fn, template: Template.fromStack(stack) };
}

describe('DrFunction', () => {
  it('is Node.js 24 (the newest runtime aws-cdk-lib offers) on arm64 with active X-Ray tracing, the handler export, and source maps on', () => {
    const { template } = synth();
    const fn = onlyResource(template, 'AWS::Lambda::Function').Properties;
    expect(fn).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      TracingConfig: { Mode: 'Active' },
      Handler: 'index.handler',
      Timeout: 60,
      MemorySize: 512,
      Description: 'Verifies a restored database',
      Environment: { Variables: { NODE_OPTIONS: '--enable-source-maps' } },
    });
    expect(fn.VpcConfig).toBeUndefined();
  });

  it('logs to its own log group, retained three months by default and kept on stack deletion', () => {
    const { template, stack, fn } = synth();
    template.hasResource('AWS::Logs::LogGroup', {
      Properties: { RetentionInDays: 90 },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      LoggingConfig: { LogGroup: stack.resolve(fn.logGroup.logGroupName) },
    });
  });

  it('takes timeout, memory, environment and log retention from props', () => {
    const { template } = synth({
      timeout: Duration.minutes(5),
      memorySize: 1024,
      environment: { DR_REPO: 's3://vault/backups' },
      logRetention: logs.RetentionDays.ONE_YEAR,
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 300,
      MemorySize: 1024,
      Environment: { Variables: { NODE_OPTIONS: '--enable-source-maps', DR_REPO: 's3://vault/backups' } },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 365 });
  });

  it('in a VPC: private subnets with egress and a new security group', () => {
    const { template, stack } = synth({ withVpc: true });
    const fn = onlyResource(template, 'AWS::Lambda::Function').Properties;
    const privateSubnets = Object.entries(
      template.findResources('AWS::EC2::Subnet', {
        Properties: { Tags: Match.arrayWith([{ Key: 'aws-cdk:subnet-type', Value: 'Private' }]) },
      }),
    ).map(([id]) => ({ Ref: id }));
    expect(privateSubnets).toHaveLength(2);
    expect(fn.VpcConfig.SubnetIds).toEqual(expect.arrayContaining(privateSubnets));
    expect(fn.VpcConfig.SecurityGroupIds).toHaveLength(1);
    template.resourceCountIs('AWS::EC2::SecurityGroup', 1);
    // ENI management for the VPC, on the function's role.
    template.hasResourceProperties('AWS::IAM::Role', {
      ManagedPolicyArns: Match.arrayWith([
        Match.objectLike({
          'Fn::Join': Match.arrayWith([
            Match.arrayWith([':iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole']),
          ]),
        }),
      ]),
    });
    expect(stack.resolve(fn.VpcConfig.SecurityGroupIds[0])).toEqual({
      'Fn::GetAtt': [expect.stringMatching(/^VerifySecurityGroup/), 'GroupId'],
    });
  });

  it('names the missing handler and how to fix it', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'FnTest');
    expect(() => new DrFunction(stack, 'Nope', { name: 'no-such-lambda', description: 'x' })).toThrow(
      'DrFunction FnTest/Nope: no handler at lambdas/no-such-lambda/handler.ts; name an existing folder under lambdas/',
    );
  });

  it('bundles the verify handler with esbuild into one ESM file at synth, which loads and answers', async () => {
    const { app, template } = synth({}, true);
    const assembly = app.synth();
    const code = onlyResource(template, 'AWS::Lambda::Function').Properties.Code;
    const assetHash = (code.S3Key as string).replace(/\.zip$/, '');
    const bundle = join(assembly.directory, `asset.${assetHash}`, 'index.mjs');
    expect(existsSync(bundle)).toBe(true);
    const source = readFileSync(bundle, 'utf8');
    // pg and the Secrets Manager client are inside the bundle; pg-native stays out.
    expect(source).toContain('GetSecretValue');
    expect(source).not.toMatch(/from\s*["']pg["']/);
    // The bundle runs as Lambda would load it: a bad event is refused by its schema.
    try {
      const { handler } = (await import(bundle)) as { handler: (event: unknown) => Promise<unknown> };
      await expect(handler({ database: 'crypto_stock' })).rejects.toThrow(/verify event is invalid: backupId/);
    } finally {
      rmSync(assembly.directory, { recursive: true, force: true });
    }
  });

  // Every Lambda the stack deploys bundles and loads as Lambda would load it: ESM, pg inside, and
  // its module-scope checks passing with the environment the stack gives it.
  it('bundles every Lambda of the stack, and each loads with the environment the stack sets', async () => {
    const app = newApp();
    const stack = new DrStack(app, 'BundleTest', {
      config: shippedConfig(),
      jobImage: ecs.ContainerImage.fromRegistry('public.ecr.aws/docker/library/busybox:latest'),
    });
    const assembly = app.synth();
    const template = Template.fromStack(stack);
    const functions = Object.values(template.findResources('AWS::Lambda::Function')) as {
      Properties: Record<string, any>;
    }[];
    const ours = functions.filter(
      (f) => f.Properties.Runtime === 'nodejs24.x' && f.Properties.Architectures?.[0] === 'arm64',
    );
    // Every folder under lambdas/ with a handler (lambdas/shared holds what they share).
    const lambdas = new URL('../../../lambdas/', import.meta.url);
    expect(ours.length).toBe(
      readdirSync(lambdas).filter((name) => existsSync(new URL(`${name}/handler.ts`, lambdas))).length,
    );
    const saved = { ...process.env };
    try {
      for (const f of ours) {
        const bundle = join(
          assembly.directory,
          `asset.${(f.Properties.Code.S3Key as string).replace(/\.zip$/, '')}`,
          'index.mjs',
        );
        for (const [name, value] of Object.entries(f.Properties.Environment?.Variables ?? {})) {
          process.env[name] = resolveTokens(value).replace(/^s3:\/\/arn:aws:dummy:[^/]*/, 's3://vault-bucket');
        }
        const { handler } = (await import(bundle)) as { handler: unknown };
        expect(typeof handler, f.Properties.Description).toBe('function');
      }
    } finally {
      process.env = saved;
      rmSync(assembly.directory, { recursive: true, force: true });
    }
  });
});

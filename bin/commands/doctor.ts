/**
 * `dr doctor --config <file>`: what a `cdk deploy` of that config would fail on, checked before
 * deploying: the config itself (placeholders), the CDK bootstrap of both regions, Docker with
 * buildx, the database and scratch secrets, and whether the databases answer from here.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DrError } from '../../core/errors.ts';
import { type DrConfig, parseConfig } from '../../lib/config.ts';
import { COMMON, optionalString, required } from './args.ts';
import { defineCommand } from './command.ts';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface DoctorCheck {
  readonly name: string;
  readonly status: CheckStatus;
  readonly message: string;
}

export interface DoctorResult {
  readonly passed: boolean;
  readonly checks: readonly DoctorCheck[];
}

/** The AWS and machine calls the doctor makes, replaceable in tests. */
export interface DoctorDeps {
  /** Status of the CDKToolkit stack in `region`, or undefined when it does not exist (CloudFormation DescribeStacks). */
  readonly bootstrapStatus: (region: string) => Promise<string | undefined>;
  /** SecretString of a secret (Secrets Manager GetSecretValue). */
  readonly secretString: (region: string, secretId: string) => Promise<string | undefined>;
  /** Runs a program, as spawnSync does: undefined status when it could not be started. */
  readonly run: (command: string, args: readonly string[]) => { status: number | null; stdout: string; error?: Error };
  /** Resolves when a TCP connection to host:port opens within `timeoutMs`. */
  readonly reach: (host: string, port: number, timeoutMs: number) => Promise<void>;
}

export const AWS_DEPS: DoctorDeps = {
  async bootstrapStatus(region) {
    try {
      const out = await new CloudFormationClient({ region }).send(
        new DescribeStacksCommand({ StackName: 'CDKToolkit' }),
      );
      return out.Stacks?.[0]?.StackStatus;
    } catch (err) {
      if (/does not exist/.test((err as Error).message)) return undefined;
      throw err;
    }
  },
  async secretString(region, secretId) {
    const out = await new SecretsManagerClient({ region }).send(new GetSecretValueCommand({ SecretId: secretId }));
    return out.SecretString;
  },
  run(command, args) {
    const r = spawnSync(command, [...args], { encoding: 'utf8', timeout: 20_000 });
    return { status: r.status, stdout: r.stdout ?? '', error: r.error };
  },
  reach(host, port, timeoutMs) {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no answer within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.end();
        resolve();
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  },
};

const message = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0];

/** Runs every check; never throws for a failed check (each is a line of the result). */
export async function runDoctor(
  configFile: string,
  region: string | undefined,
  deps: DoctorDeps = AWS_DEPS,
): Promise<DoctorResult> {
  const checks: DoctorCheck[] = [];
  const add = (name: string, status: CheckStatus, text: string) => checks.push({ name, status, message: text });

  let config: DrConfig | undefined;
  try {
    config = parseConfig(JSON.parse(readFileSync(configFile, 'utf8')));
  } catch (err) {
    add('config', 'fail', `${configFile}: ${(err as Error).message}`);
  }
  if (config?.example) {
    add(
      'config',
      'fail',
      `${configFile} is marked "example": true and cannot be deployed; remove "example" and set: ${config.placeholders.join('; ') || '(nothing else)'}`,
    );
  } else if (config) {
    add('config', 'ok', `${configFile} is a deployable config (${config.databases.length} database(s))`);
  }

  // Docker with buildx: the job image is built locally for linux/amd64 by cdk deploy.
  const docker = deps.run('docker', ['version', '--format', '{{.Server.Version}}']);
  if (docker.error || docker.status === null) {
    add(
      'docker',
      'fail',
      'Docker is not installed (or not on PATH): cdk deploy builds the job image with it; install Docker Engine or Docker Desktop with buildx',
    );
  } else if (docker.status !== 0) {
    add(
      'docker',
      'fail',
      'Docker is installed but its engine is not running or not reachable (docker version failed); start Docker (or check DOCKER_HOST and your permissions on the socket)',
    );
  } else {
    const buildx = deps.run('docker', ['buildx', 'version']);
    if (buildx.status === 0)
      add('docker', 'ok', `Docker engine ${docker.stdout.trim()} with buildx (the image is built for linux/amd64)`);
    else
      add(
        'docker',
        'fail',
        'Docker has no buildx plugin: install docker-buildx-plugin, needed to build the linux/amd64 job image',
      );
  }

  if (!region) {
    add('aws', 'fail', 'no AWS region: pass --region or set AWS_REGION to the primary region you deploy to');
    return { passed: false, checks };
  }
  if (!config) return { passed: false, checks };

  // CDK bootstrap of the primary region, and of the offsite region when it is reachable with these credentials.
  const regions = [region, ...(config.offsite.enabled ? [config.offsite.region] : [])];
  for (const r of regions) {
    const offsiteElsewhere = r !== region && config.offsite.account !== undefined;
    try {
      const status = await deps.bootstrapStatus(r);
      const how = `npx cdk bootstrap aws://${offsiteElsewhere ? config.offsite.account : '<account>'}/${r}${offsiteElsewhere ? ' --trust <primary account> --cloudformation-execution-policies arn:aws:iam::aws:policy/AdministratorAccess' : ''}`;
      if (status === undefined)
        add(`bootstrap ${r}`, 'fail', `region ${r} is not bootstrapped for the CDK (no CDKToolkit stack); run ${how}`);
      else if (!/_COMPLETE$/.test(status) || /ROLLBACK|DELETE/.test(status))
        add(
          `bootstrap ${r}`,
          'fail',
          `the CDKToolkit stack in ${r} is ${status}; fix it in the CloudFormation console, then ${how}`,
        );
      else
        add(
          `bootstrap ${r}`,
          'ok',
          `CDKToolkit ${status}${offsiteElsewhere ? " (checked with the current credentials: run doctor with the offsite account's too)" : ''}`,
        );
    } catch (err) {
      add(
        `bootstrap ${r}`,
        'fail',
        `cannot read the CDKToolkit stack in ${r}: ${message(err)}; check your AWS credentials (aws sts get-caller-identity)`,
      );
    }
  }

  // Secrets: readable, and holding the keys the job and the Lambdas read.
  const secrets = new Map<string, string>();
  for (const db of config.databases) secrets.set(db.secret, `database ${db.name}`);
  secrets.set(config.drill.scratchServer.secret, 'the drill scratch server');
  for (const [secretId, owner] of secrets) {
    try {
      const text = await deps.secretString(region, secretId);
      const parsed = text === undefined ? undefined : (JSON.parse(text) as Record<string, unknown>);
      const missing = ['username', 'password'].filter((k) => typeof parsed?.[k] !== 'string' || parsed[k] === '');
      if (missing.length > 0)
        add(
          `secret ${secretId}`,
          'fail',
          `secret of ${owner} lacks ${missing.join(' and ')}; store {"username":"…","password":"…"} (README "Deploying": aws secretsmanager create-secret)`,
        );
      else add(`secret ${secretId}`, 'ok', `readable, with username and password (${owner})`);
    } catch (err) {
      add(
        `secret ${secretId}`,
        'fail',
        `cannot read the secret of ${owner} in ${region}: ${message(err)}; create it (README "Deploying") or fix its name in the config`,
      );
    }
  }

  // Reachability from here: a warning only, since the databases usually answer only inside the VPC.
  const servers = new Map<string, number>();
  for (const db of config.databases) servers.set(db.host, db.port);
  servers.set(config.drill.scratchServer.host, config.drill.scratchServer.port);
  for (const [host, port] of servers) {
    try {
      await deps.reach(host, port, 5000);
      add(`reach ${host}:${port}`, 'ok', 'PostgreSQL port answers from this machine');
    } catch (err) {
      add(
        `reach ${host}:${port}`,
        'warn',
        `not reachable from this machine (${message(err)}); fine if it is reachable only inside the VPC: the job's subnets need a route and the database security group an ingress rule (README "Deploying")`,
      );
    }
  }
  return { passed: checks.every((c) => c.status !== 'fail'), checks };
}

export const doctorCommand = defineCommand({
  summary: 'Check a deployment config and this machine before cdk deploy',
  synopsis: 'doctor --config FILE [--region REGION] [--json]',
  description: `Checks, without deploying, what \`npx cdk deploy --all -c configFile=FILE\` would fail on:
the config (placeholders, required settings), Docker with buildx, the CDK bootstrap of the
primary and offsite regions, the database and scratch secrets (readable, with username and
password), and whether each database port answers from here (a warning only).`,
  flags: {
    ...COMMON,
    config: { type: 'string', arg: 'FILE', help: 'the deployment config (JSON, as for -c configFile=FILE)' },
    region: { type: 'string', arg: 'REGION', help: 'the primary region (default: AWS_REGION)' },
  },
  notes: 'Exit status 1 when any check fails; each failing line says how to fix it.',
  async run(v) {
    const file = required(v, 'config');
    const result = await runDoctor(
      file,
      optionalString(v, 'region') ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION,
    );
    if (result.checks.length === 0) throw new DrError('doctor ran no checks', 'report this as a bug');
    return result;
  },
  exitCode: (r) => (r.passed ? 0 : 1),
  human: (r) =>
    [
      ...r.checks.map(
        (c) => `${c.status === 'ok' ? 'ok  ' : c.status === 'warn' ? 'WARN' : 'FAIL'}  ${c.name}: ${c.message}`,
      ),
      r.passed
        ? 'ready to deploy: npx cdk deploy --all -c configFile=<this config>'
        : `${r.checks.filter((c) => c.status === 'fail').length} check(s) failed: fix them, then run dr doctor again`,
    ].join('\n'),
});

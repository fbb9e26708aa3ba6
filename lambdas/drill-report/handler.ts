/**
 * The drill state machine's last step, reached on success and from every Catch: builds the drill
 * report (core/drill/report/) from what the steps got through, writes it to the vault as
 * `reports/drills/<yyyy-mm-dd>/<db>.{html,md,json}`, publishes the summary to SNS and emits the
 * metrics RestoreSeconds, DrillPassed and BackupAgeHours (dimension Database) as one CloudWatch
 * Embedded Metric Format document. The report's facts are gathered by core/drill/facts.ts (the
 * backup's facts the same way as the local drill's). It throws only for a bad event or when the
 * report cannot be written; a failed drill is a report saying FAIL.
 *
 * Event (validated; see DrillReportEventSchema):
 *   { database, backupId?, startedAt?, rtoSeconds?, healthUrls?,
 *     restore? | restoreResultName?, verify?, scratch?, timings?, errors? }
 * Environment (core/contract.ts ReportEnv): DR_REPO (the vault), DR_REPORT_TOPIC_ARN, and
 * DR_REPORT_SIGNING_KEY_ARN (the report JSON is signed with KMS Sign; when KMS fails, the report is
 * written unsigned with the reason, and ReportUnsigned is emitted) and DR_REPORT_LOCK=compliance
 * (reports locked in COMPLIANCE mode for EVIDENCE_RETENTION_DAYS).
 */
import { GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { z } from 'zod';
import { Metrics, REPORT_LOCK_COMPLIANCE, ReportEnv } from '../../core/contract.ts';
import { kmsSigner, type ReportSigner, signReport } from '../../core/drill/evidence.ts';
import { gatherFacts, RestoreResultSchema } from '../../core/drill/facts.ts';
import { buildDrillReport } from '../../core/drill/report/build.ts';
import { CHECKLIST_SYMBOLS, type DrillReport } from '../../core/drill/report/model.ts';
import { type DrillReportKeys, readDrillHistory, writeDrillReport } from '../../core/drill/report/store.ts';
import { openRepository, type Repository } from '../../core/repository/index.ts';
import { REPORTS_ROOT } from '../../core/repository/layout.ts';
import { holdNewestVerified, newestVerifiedBackup, type VerifiedHold } from '../../core/repository/verified-hold.ts';
import { optional, readEnv, required } from '../shared/env.ts';
import {
  type MetricValue,
  type Observability,
  observability,
  publishMetrics,
  startInvocation,
} from '../shared/observability.ts';

const CheckSchema = z.object({
  name: z.string(),
  object: z.string(),
  expected: z.union([z.string(), z.number()]).nullable(),
  actual: z.union([z.string(), z.number()]).nullable(),
  passed: z.boolean(),
});

/** A JSON string (a Step Functions path to a string field) or the object itself. */
const jsonOrObject = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => {
    if (typeof v !== 'string') return v;
    try {
      return JSON.parse(v);
    } catch {
      return v;
    }
  }, schema);

/** ECS DescribeTasks times: epoch milliseconds or ISO text. */
const instant = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const ms = typeof v === 'number' ? v : Date.parse(v);
  if (!Number.isFinite(ms)) {
    ctx.addIssue({ code: 'custom', message: 'a time: epoch milliseconds or ISO 8601' });
    return z.NEVER;
  }
  return ms;
});
const TimingSchema = z.object({ startedAt: instant.optional(), stoppedAt: instant.optional() });

/** A Step Functions Catch output (`{Error, Cause}`) named by the step it came from, or a plain message. */
const StepErrorSchema = z.object({
  step: z.string().min(1),
  message: z.string().optional(),
  Error: z.string().optional(),
  Cause: z.string().optional(),
});

export const DrillReportEventSchema = z.object({
  database: z.string().min(1),
  /** The backup the drill picked; absent when it could not pick one. */
  backupId: z.string().min(1).optional(),
  /** When the drill started (the execution's start time). @default - now */
  startedAt: z
    .string()
    .refine((s) => Number.isFinite(Date.parse(s)), 'an ISO 8601 time')
    .optional(),
  /** @default 3600 */
  rtoSeconds: z.coerce.number().positive().optional(),
  /** The application URLs the verification was configured with (decides "not configured"). @default - those in the verify result */
  healthUrls: z.array(z.string()).optional(),
  /** The restore job's `dr restore --json` result, inline. */
  restore: jsonOrObject(RestoreResultSchema).optional(),
  /** Or: the DR_RESULT_NAME the restore job was given; its record is read from results/restores/<name>.json. */
  restoreResultName: z.string().min(1).optional(),
  /** The verify Lambda's result (core/verify/verify.ts VerifyResult). */
  verify: jsonOrObject(
    z.looseObject({
      passed: z.boolean(),
      checks: z.array(CheckSchema),
      totals: z.object({ checks: z.number(), failed: z.number() }).optional(),
      omittedPassedChecks: z.number().optional(),
      durationMs: z.number().optional(),
    }),
  ).optional(),
  /** The scratch database and whether the cleanup step dropped it. */
  scratch: z.object({ database: z.string(), server: z.string().default(''), dropped: z.boolean() }).optional(),
  /** Task timings, used when a result lacks them (e.g. a restore that failed: its task's run time). */
  timings: z
    .object({ restore: TimingSchema.optional(), verify: TimingSchema.optional(), cleanup: TimingSchema.optional() })
    .optional(),
  /** Failed steps (restore, verify-data, cleanup, …): one Catch output or several. */
  errors: z
    .union([StepErrorSchema, z.array(StepErrorSchema)])
    .transform((e) => (Array.isArray(e) ? e : [e]))
    .default([]),
});
export type DrillReportEvent = z.input<typeof DrillReportEventSchema>;

export interface DrillReportOutput {
  readonly database: string;
  readonly passed: boolean;
  readonly rtoPassed: boolean;
  readonly summary: string;
  /** Keys written in the vault. */
  readonly keys: DrillReportKeys;
  /** The newest verified backup under Legal Hold (core/repository/verified-hold.ts), when there is one. */
  readonly hold?: VerifiedHold;
  /** Whether the report JSON carries a KMS signature (else it says why it is unsigned). */
  readonly signed: boolean;
}

/** The SNS message's line about the Legal Hold of the newest verified backup. */
function holdLine(hold: VerifiedHold | undefined, error: string | undefined): string {
  if (error) return `\n\nLEGAL HOLD FAILED: the newest verified backup may expire (${error})`;
  if (!hold?.held) return '';
  return `\n\nNewest verified backup under legal hold: ${hold.held}${hold.released.length ? ` (released ${hold.released.join(', ')})` : ''}`;
}

const EnvSchema = z.object({
  [ReportEnv.repo]: required,
  [ReportEnv.topicArn]: required,
  [ReportEnv.signingKeyArn]: optional,
  [ReportEnv.reportLock]: optional,
});

export interface DrillReportDeps {
  /** The signing key is read when the handler is made, the rest at each invocation. @default - process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** SNS Publish of the summary. */
  readonly sns: Pick<SNSClient, 'send'>;
  /** KMS Sign and GetPublicKey of the signing key. */
  readonly kms: Pick<KMSClient, 'send'>;
  /** @default - observability('drill-report') */
  readonly observability?: Observability;
  readonly now?: () => Date;
  /** @default - openRepository(DR_REPO) */
  readonly repository?: Repository;
}

/** A signer over the KMS key `keyArn`; its public key is fetched once per container. */
function kmsReportSigner(client: Pick<KMSClient, 'send'>, keyArn: string): () => Promise<ReportSigner> {
  let signer: Promise<ReportSigner> | undefined;
  return () => {
    signer ??= client.send(new GetPublicKeyCommand({ KeyId: keyArn })).then((key) => {
      if (!key.PublicKey) throw new Error(`KMS returned no public key for ${keyArn}`);
      return kmsSigner(keyArn, key.PublicKey, async (digest) => {
        const out = await client.send(
          new SignCommand({ KeyId: keyArn, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }),
        );
        if (!out.Signature) throw new Error(`KMS Sign returned no signature for ${keyArn}`);
        return out.Signature;
      });
    });
    // A failed lookup is retried by the next drill, not cached.
    signer.catch(() => {
      signer = undefined;
    });
    return signer;
  };
}

export function createHandler(
  deps: DrillReportDeps,
): (event: unknown, context?: unknown) => Promise<DrillReportOutput> {
  const now = deps.now ?? (() => new Date());
  const { logger, metrics } = deps.observability ?? observability('drill-report');
  let repo: Repository | undefined = deps.repository;
  const keyArn = readEnv(EnvSchema.pick({ [ReportEnv.signingKeyArn]: true }), deps.env)[ReportEnv.signingKeyArn];
  const signer = keyArn ? kmsReportSigner(deps.kms, keyArn) : undefined;
  return async (raw, context) => {
    startInvocation(logger, raw, context);
    const event = DrillReportEventSchema.parse(raw);
    const env = readEnv(EnvSchema, deps.env);
    const topicArn = env[ReportEnv.topicArn];
    // On the vault (Object Lock on), reports go COMPLIANCE-locked as evidence (core/repository/tiers.ts).
    repo ??= openRepository(
      env[ReportEnv.repo],
      env[ReportEnv.reportLock] === REPORT_LOCK_COMPLIANCE ? { objectLock: 'tiered' } : {},
    );
    const finishedAt = now();

    const facts = await gatherFacts(repo, event, finishedAt);
    const unsignedReport = buildDrillReport({
      ...facts,
      previous: await readDrillHistory(repo, event.database, { prefix: `${REPORTS_ROOT}/` }).catch(() => []),
    });
    // An unsigned report is still evidence of the drill: written, marked unsigned with the reason, and alarmed on.
    let unsignedReason: string | undefined = signer
      ? undefined
      : `no signing key configured (${ReportEnv.signingKeyArn})`;
    let report: Awaited<ReturnType<typeof signReport<typeof unsignedReport>>>;
    try {
      report = await signReport(unsignedReport, signer && (await signer()), unsignedReason);
    } catch (err) {
      unsignedReason = `signing with KMS key ${keyArn} failed: ${(err as Error).message}`;
      logger.error(`drill report of ${event.database} written unsigned: ${unsignedReason}`);
      report = await signReport(unsignedReport, undefined, unsignedReason);
    }
    const keys = await writeDrillReport(repo, report, { prefix: `${REPORTS_ROOT}/` });

    // A passed drill verified its backup: the newest verified one keeps a Legal Hold (the older one's is released).
    let hold: VerifiedHold | undefined;
    let holdError: string | undefined;
    try {
      hold =
        report.passed && report.backup
          ? await holdNewestVerified(repo, event.database, report.backup.id, { now: finishedAt })
          : await newestVerifiedBackup(repo, event.database, finishedAt).then(
              (v) => v && { database: event.database, supported: true, held: v.id, released: [], ageHours: v.ageHours },
            );
    } catch (err) {
      holdError = (err as Error).message;
      logger.error(`legal hold of the newest verified backup of ${event.database} failed: ${holdError}`);
    }

    const values: MetricValue[] = [{ name: Metrics.drillPassed, value: report.passed ? 1 : 0, unit: 'None' }];
    if (signer && !report.signature) values.push({ name: Metrics.reportUnsigned, value: 1, unit: 'Count' });
    // Only a completed restore's time measures recovery; a failed one's would understate it.
    if (report.restore.completed && report.restore.seconds !== null)
      values.push({ name: Metrics.restoreSeconds, value: report.restore.seconds, unit: 'Seconds' });
    if (report.backup) values.push({ name: Metrics.backupAgeHours, value: report.backup.ageHours, unit: 'None' });
    if (report.trend.growthPercent != null)
      values.push({ name: Metrics.restoreTrendGrowthPercent, value: report.trend.growthPercent, unit: 'None' });
    if (report.trend.daysToRto != null)
      values.push({ name: Metrics.daysUntilRto, value: report.trend.daysToRto, unit: 'None' });
    if (hold?.ageHours != null)
      values.push({ name: Metrics.verifiedBackupAgeHours, value: hold.ageHours, unit: 'None' });
    publishMetrics(metrics, { [Metrics.dimension]: event.database }, values, finishedAt);

    await deps.sns.send(
      new PublishCommand({
        TopicArn: topicArn,
        Subject: `Restore drill ${report.passed ? 'PASS' : 'FAIL'}: ${event.database}`.slice(0, 100),
        Message: snsMessage(report, keys, repo.url) + holdLine(hold, holdError),
      }),
    );
    return {
      database: event.database,
      passed: report.passed,
      rtoPassed: report.restore.rtoPassed,
      summary: report.summary,
      keys,
      signed: report.signature !== null,
      ...(hold ? { hold } : {}),
    };
  };
}

export function defaultDeps(): DrillReportDeps {
  return { sns: new SNSClient({}), kms: new KMSClient({}), observability: observability('drill-report') };
}

export const handler = createHandler(defaultDeps());

function snsMessage(r: DrillReport, keys: DrillReportKeys, repoUrl: string): string {
  const base = repoUrl.replace(/\/$/, '');
  return [
    r.summary,
    '',
    ...r.checklist.map(
      (c) => `${CHECKLIST_SYMBOLS[c.state].padEnd(14)} ${c.item}${c.state === 'fail' ? `: ${c.detail}` : ''}`,
    ),
    ...(r.issues.length
      ? ['', 'Issues:', ...r.issues.slice(0, 20).map((i) => `- ${i.kind} (${i.step}): ${i.message}`)]
      : []),
    ...(r.issues.length > 20 ? [`- … ${r.issues.length - 20} more in the report`] : []),
    '',
    `Report: ${base}/${keys.html}`,
    `        ${base}/${keys.json}`,
  ].join('\n');
}

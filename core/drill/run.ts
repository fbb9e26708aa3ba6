/**
 * `dr drill`: the guide's monthly restore drill on one machine. An optional fresh backup, then a
 * restore of the chosen backup into a scratch database `drill_<db>_<yyyymmdd>` on a scratch
 * server, verification against the backup's manifest, the scratch database ALWAYS dropped, and a
 * report (core/drill/report/) written also when a step failed, saying which.
 *
 * A scratch database of that name that already exists is dropped only when it carries the drill
 * comment (a leftover of an earlier drill that was killed before its cleanup); anything else of
 * that name is refused before anything is touched. Two drills of one database on one scratch
 * server at the same time are not supported.
 *
 * One function per step: freshBackup, restoreIntoScratch, verifyScratch, dropScratch (always),
 * holdVerified, writeReport. The restore time is judged against the RTO where the report is built
 * (report/build.ts), so a local drill and the AWS one judge it the same way.
 */

import { runBackup } from '../backup/backup.ts';
import type { Manifest } from '../backup/manifest.ts';
import { DrError } from '../errors.ts';
import { connect, type PgTools, parsePgUrl, quoteIdent, quoteLiteral, withDatabase } from '../pg/connection.ts';
import { readManifest, resolveBackup } from '../repository/backups.ts';
import { REPORTS_ROOT } from '../repository/layout.ts';
import type { Repository } from '../repository/types.ts';
import { holdNewestVerified, type VerifiedHold } from '../repository/verified-hold.ts';
import { runRestore } from '../restore/full.ts';
import type { RestoreResult } from '../restore/result.ts';
import { parseHealthUrl, probeWebSocket } from '../verify/probes.ts';
import { verifyAgainstManifest } from '../verify/verify.ts';
import { achievedRpo, DR_VERSION, fileSigner, manifestSha256, type ReportSigner, signReport } from './evidence.ts';
import { backupFacts } from './facts.ts';
import { buildDrillReport } from './report/build.ts';
import {
  DEFAULT_RTO_SECONDS,
  type DrillEvidence,
  type DrillFacts,
  type DrillReport,
  type TrendPoint,
} from './report/model.ts';
import { type DrillReportKeys, readDrillHistory, writeDrillReport } from './report/store.ts';
import { scratchDatabaseName } from './scratch.ts';

export interface DrillOptions {
  readonly repository: Repository;
  /** Source database URL: take a fresh backup of it first and drill that one. @default - no fresh backup */
  readonly source?: string;
  /** Database in the repository. @default - the source's, or the repository's only one */
  readonly database?: string;
  /** `latest` (falls back past damaged backups, reported) or a backup id. @default 'latest' */
  readonly backup?: string;
  /** Server that receives the scratch database, as a URL (its database part is ignored). */
  readonly scratchServer: string;
  /** @default DEFAULT_RTO_SECONDS (the guide's critical RTO, 1 h) */
  readonly rtoSeconds?: number;
  /** http(s) URLs must answer 2xx; ws(s) URLs must accept a WebSocket handshake. @default - none */
  readonly healthUrls?: readonly string[];
  /** @default 5000 */
  readonly healthTimeoutMs?: number;
  /** Where the report goes. @default - `repository`, under `reports/` */
  readonly reportRepository?: Repository;
  /** Key prefix of the reports. @default - 'reports/' in `repository`, '' in a `reportRepository` */
  readonly reportPrefix?: string;
  /** Restore without ownership and privileges (scratch server without the source's roles). @default false */
  readonly noOwner?: boolean;
  /**
   * Signs the report JSON (core/drill/evidence.ts): an Ed25519 private key file, or a ready signer (KMS
   * on AWS). A key that cannot be read fails the drill's report step, and the report is written
   * unsigned, marked so. @default - unsigned
   */
  readonly signingKey?: string | ReportSigner;
  /** The drill's start time (names the scratch database and the report). @default - now */
  readonly now?: Date;
  readonly jobs?: number;
  readonly tools?: PgTools;
  readonly workDir?: string;
  readonly log?: (message: string) => void;
  /** Called when a long phase starts (for a progress display). */
  readonly onPhase?: (phase: DrillPhase) => void;
}

export type DrillPhase =
  | 'backup'
  | 'download and verify checksums'
  | 'restore'
  | 'verify data'
  | 'drop scratch database'
  | 'report';

export interface DrillResult {
  readonly report: DrillReport;
  /** Keys of the report files in the report repository. */
  readonly keys: DrillReportKeys;
  /** Where to open them: local paths for a file:// repository, s3:// URLs otherwise. */
  readonly files: DrillReportKeys;
  /** After a passed drill: the Legal Hold on the newest verified backup (core/repository/verified-hold.ts). */
  readonly hold?: VerifiedHold;
  /** Why the hold could not be placed (the drill still passes; the store may lack Legal Holds). */
  readonly holdError?: string;
}

/** Marks a scratch database as a drill's, so a leftover can be told from someone's database. */
export const DRILL_COMMENT_PREFIX = 'crypto-stock-dr drill scratch database';

export async function runDrill(options: DrillOptions): Promise<DrillResult> {
  const repo = options.repository;
  const startedAt = options.now ?? new Date();
  const clock = Date.now();
  const rtoSeconds = options.rtoSeconds ?? DEFAULT_RTO_SECONDS;
  if (!(rtoSeconds > 0))
    throw new DrError(`RTO must be a positive number of seconds, got ${rtoSeconds}`, 'e.g. --rto 1h or --rto 3600');

  // Bad input fails before anything is touched.
  const scratchServer = parsePgUrl(options.scratchServer, '--scratch');
  const healthUrls = [...(options.healthUrls ?? [])];
  const wsUrls = healthUrls.filter((u) => /^wss?:/i.test(u));
  const httpUrls = healthUrls.filter((u) => !/^wss?:/i.test(u));
  httpUrls.forEach(parseHealthUrl);
  const source = options.source === undefined ? undefined : parsePgUrl(options.source, '--db');
  const reportRepo = options.reportRepository ?? repo;
  const reportPrefix = options.reportPrefix ?? (options.reportRepository ? '' : `${REPORTS_ROOT}/`);
  if (source) await repo.assertWritable();
  if (reportRepo !== repo) await reportRepo.assertWritable();

  // The database (and so the scratch name) is known before any work: from --database, the
  // source, or the repository's only database.
  const database = options.database ?? source?.database ?? (await resolveBackup(repo, 'latest')).database;
  const scratch = scratchDatabaseName(database, startedAt);
  const log = options.log ?? (() => {});
  await clearLeftover(options.scratchServer, scratch, scratchServer.display, log);

  const errors: { step: string; message: string }[] = [];
  const drill: Drill = {
    options,
    log,
    phase: options.onPhase ?? (() => {}),
    database,
    startedAt,
    scratch,
    scratchUrl: withDatabase(options.scratchServer, scratch),
    errors,
    fail: (step, err) => {
      const message = err instanceof DrError ? err.oneLine() : ((err as Error)?.message ?? String(err));
      errors.push({ step, message });
      log(`${step} failed: ${message}`);
    },
  };

  let backup: BackupStep = { ref: options.backup ?? 'latest' };
  let restored: RestoreStep | undefined;
  let verification: DrillFacts['verification'];
  let cleanup: CleanupStep | undefined;
  let scratchTouched = false;
  try {
    if (source) backup = await freshBackup(drill, source.url);
    if (!errors.length) {
      scratchTouched = true;
      restored = await restoreIntoScratch(drill, backup);
    }
    if (restored?.restore && restored.manifest)
      verification = await verifyScratch(drill, restored.manifest, httpUrls, wsUrls);
  } finally {
    // Always, also after a failure: a drill leaves nothing behind on the scratch server.
    if (scratchTouched) cleanup = await dropScratch(drill);
  }

  const manifest = restored?.manifest;
  const { hold, holdError } =
    restored?.restore && manifest && verification?.passed && errors.length === 0
      ? await holdVerified(drill, manifest)
      : {};

  const { report, keys, files } = await writeReport(drill, {
    reportRepo,
    reportPrefix,
    clock,
    facts: {
      database,
      startedAt,
      rtoSeconds,
      backup: restored?.backupInfo ?? backup.info,
      freshBackupMs: backup.freshBackupMs,
      scratch: scratchTouched
        ? {
            database: scratch,
            server: scratchServer.display.replace(/\/[^/]*$/, ''),
            dropped: cleanup?.dropped ?? false,
          }
        : undefined,
      restore: restored?.restore,
      restoreMs: restored?.restoreMs,
      verification,
      cleanupMs: cleanup?.cleanupMs,
      healthUrls,
    },
    manifest,
  });
  return { report, keys, files, hold, ...(holdError ? { holdError } : {}) };
}

/** What every step of one drill needs. */
interface Drill {
  readonly options: DrillOptions;
  readonly log: (message: string) => void;
  readonly phase: (phase: DrillPhase) => void;
  readonly database: string;
  readonly startedAt: Date;
  readonly scratch: string;
  readonly scratchUrl: string;
  /** Steps that failed so far (the report lists them). */
  readonly errors: readonly { readonly step: string; readonly message: string }[];
  /** Records a failed step and goes on: the report is written whatever failed. */
  readonly fail: (step: string, err: unknown) => void;
}

interface BackupStep {
  /** The backup to restore: `latest`, the option's id, or the fresh backup's id. */
  readonly ref: string;
  readonly info?: DrillFacts['backup'];
  readonly freshBackupMs?: number;
}

/** The fresh backup of `dr drill --db`; a failure is recorded and stops the drill before the restore. */
async function freshBackup(drill: Drill, source: string): Promise<BackupStep> {
  const { options } = drill;
  drill.phase('backup');
  const started = Date.now();
  const ref = options.backup ?? 'latest';
  try {
    const b = await runBackup({
      db: source,
      repository: options.repository,
      jobs: options.jobs,
      tools: options.tools,
      workDir: options.workDir,
      now: drill.startedAt,
      log: drill.log,
    });
    return {
      ref: b.id,
      info: { id: b.id, startedAt: b.startedAt, bytes: b.bytes, tier: b.tier, fresh: true },
      freshBackupMs: b.durationMs,
    };
  } catch (err) {
    drill.fail('backup', err);
    return { ref, freshBackupMs: Date.now() - started };
  }
}

interface RestoreStep {
  /** The backup tried, or restored (after any fallback). */
  readonly backupInfo: DrillFacts['backup'];
  /** Set when the restore completed (and the scratch database was marked). */
  readonly restore?: RestoreResult;
  readonly manifest?: Manifest;
  /** The restore's time when it failed (a result carries its own). */
  readonly restoreMs?: number;
}

/** The backup restored into the scratch database, which is then marked as a drill's. */
async function restoreIntoScratch(drill: Drill, backup: BackupStep): Promise<RestoreStep> {
  const { options, log } = drill;
  const repo = options.repository;
  let backupInfo = backup.info;
  // Which backup, before restoring: a restore that fails still reports the backup it tried.
  try {
    const candidates = await resolveBackup(repo, backup.ref, drill.database);
    // resolveBackup throws rather than return no candidate.
    const m = await readManifest(repo, candidates.database, candidates.ids[0]!);
    backupInfo = { ...backupFacts(m), fresh: backupInfo?.fresh };
  } catch (err) {
    // runRestore reports the same problem (or falls back past it); keep going.
    log(`could not read the manifest of ${backup.ref}: ${(err as Error).message}`);
  }

  drill.phase('download and verify checksums');
  const started = Date.now();
  let manifest: Manifest | undefined;
  try {
    const restore = await runRestore({
      repository: repo,
      backup: backup.ref,
      database: drill.database,
      target: drill.scratchUrl,
      noOwner: options.noOwner,
      // A policy running between the restore and the verification would change what is compared.
      holdTimescaleJobs: true,
      jobs: options.jobs,
      tools: options.tools,
      workDir: options.workDir,
      log: (m) => {
        if (/^restoring into /.test(m)) drill.phase('restore');
        log(m);
      },
    });
    manifest = await readManifest(repo, restore.backup.database, restore.backup.id);
    backupInfo = { ...backupFacts(manifest), fresh: backupInfo?.fresh && backupInfo.id === manifest.id };
    await markScratch(options.scratchServer, drill.scratch, manifest.id, drill.startedAt);
    return { backupInfo, restore, manifest };
  } catch (err) {
    const restoreMs = Date.now() - started;
    drill.fail('restore', err);
    // Read before a later step failed (marking the scratch database): the report's evidence still names it.
    return { backupInfo, manifest, restoreMs };
  }
}

/** The scratch database against the backup's manifest, and the application's URLs. */
async function verifyScratch(
  drill: Drill,
  manifest: Manifest,
  httpUrls: readonly string[],
  wsUrls: readonly string[],
): Promise<DrillFacts['verification']> {
  const { options } = drill;
  drill.phase('verify data');
  const started = Date.now();
  try {
    const [verified, wsChecks] = await Promise.all([
      verifyAgainstManifest({
        manifest,
        target: drill.scratchUrl,
        healthUrls: httpUrls,
        healthTimeoutMs: options.healthTimeoutMs,
        noOwner: options.noOwner,
        skipDatabaseComment: true,
      }),
      Promise.all(wsUrls.map((u) => probeWebSocket(u, options.healthTimeoutMs ?? 5000))),
    ]);
    const checks = [...verified.checks, ...wsChecks];
    const wsFailed = wsChecks.filter((c) => !c.passed).length;
    const totals = { checks: verified.totals.checks + wsChecks.length, failed: verified.totals.failed + wsFailed };
    const verification = {
      passed: verified.passed && wsFailed === 0,
      checks,
      totals,
      durationMs: Date.now() - started,
    };
    drill.log(
      `verification ${verification.passed ? 'passed' : 'FAILED'}: ${totals.checks - totals.failed}/${totals.checks} checks`,
    );
    return verification;
  } catch (err) {
    drill.fail('verify-data', err);
    return undefined;
  }
}

interface CleanupStep {
  readonly dropped: boolean;
  readonly cleanupMs: number;
}

/** Drops the scratch database; a failure is recorded (the report says it was not dropped). */
async function dropScratch(drill: Drill): Promise<CleanupStep> {
  drill.phase('drop scratch database');
  const started = Date.now();
  let dropped = false;
  try {
    await dropDatabase(drill.options.scratchServer, drill.scratch);
    dropped = true;
    drill.log(`dropped scratch database ${drill.scratch}`);
  } catch (err) {
    drill.fail('cleanup', err);
  }
  return { dropped, cleanupMs: Date.now() - started };
}

/**
 * A passed drill verified this backup: the newest verified backup of the database keeps a Legal Hold.
 * A store without Legal Holds (no Object Lock, or an S3-compatible one without the API) does not fail the drill: it is said.
 */
async function holdVerified(
  drill: Drill,
  manifest: Manifest,
): Promise<{ readonly hold?: VerifiedHold; readonly holdError?: string }> {
  try {
    return {
      hold: await holdNewestVerified(drill.options.repository, manifest.database, manifest.id, { log: drill.log }),
    };
  } catch (err) {
    const holdError = err instanceof DrError ? err.oneLine() : ((err as Error)?.message ?? String(err));
    drill.log(`WARNING: no legal hold placed on the newest verified backup (${holdError})`);
    return { holdError };
  }
}

/**
 * The report: signed when a key is given (a key that cannot be read is a failed `sign` step, and
 * the report says why it is unsigned), with the evidence and the trend of the previous drills.
 */
async function writeReport(
  drill: Drill,
  input: {
    readonly reportRepo: Repository;
    readonly reportPrefix: string;
    /** Date.now() when the drill started: finishedAt is taken when the report is built. */
    readonly clock: number;
    readonly facts: Omit<DrillFacts, 'finishedAt' | 'errors' | 'previous' | 'evidence'>;
    readonly manifest?: Manifest;
  },
): Promise<{ readonly report: DrillReport; readonly keys: DrillReportKeys; readonly files: DrillReportKeys }> {
  const { options, log } = drill;
  const { reportRepo, reportPrefix, manifest } = input;
  drill.phase('report');
  let signer: ReportSigner | undefined;
  let unsignedReason: string | undefined;
  if (typeof options.signingKey === 'string') {
    try {
      signer = await fileSigner(options.signingKey);
    } catch (err) {
      unsignedReason = (err as Error).message;
      drill.fail('sign', err);
    }
  } else signer = options.signingKey;
  let evidence: DrillEvidence | undefined;
  if (manifest) {
    evidence = {
      manifestSha256: await manifestSha256(options.repository, manifest.database, manifest.id).catch(() => null),
      achievedRpo: achievedRpo(manifest.startedAt, manifest.tables),
      versions: {
        dr: DR_VERSION,
        pgDump: manifest.dump.version,
        server: manifest.server.version,
        timescaledb: manifest.timescale?.version ?? null,
      },
    };
  }
  let previous: TrendPoint[] = [];
  try {
    previous = await readDrillHistory(reportRepo, drill.database, { prefix: reportPrefix });
  } catch (err) {
    log(`could not read previous drill reports (the trend will be empty): ${(err as Error).message}`);
  }
  const report = await signReport(
    buildDrillReport({
      ...input.facts,
      finishedAt: new Date(drill.startedAt.getTime() + (Date.now() - input.clock)),
      errors: drill.errors,
      previous,
      evidence,
    }),
    signer,
    unsignedReason,
  );
  const keys = await writeDrillReport(reportRepo, report, { prefix: reportPrefix });
  const where = (key: string) => reportRepo.localPath?.(key) ?? `${reportRepo.url.replace(/\/$/, '')}/${key}`;
  const files = { html: where(keys.html), md: where(keys.md), json: where(keys.json) };
  log(`report written: ${files.html}`);
  return { report, keys, files };
}

/** Drops a drill leftover of that name; refuses (DrError) a database of that name that is not one. */
async function clearLeftover(
  server: string,
  scratch: string,
  display: string,
  log: (m: string) => void,
): Promise<void> {
  const admin = await connectAdmin(server);
  try {
    const { rows } = await admin.query<{ comment: string | null }>(
      `SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`,
      [scratch],
    );
    const [row] = rows;
    if (row === undefined) return;
    if (!row.comment?.startsWith(DRILL_COMMENT_PREFIX)) {
      throw new DrError(
        `database ${scratch} already exists on ${display.replace(/\/[^/]*$/, '')} and is not a drill's scratch database`,
        'drop or rename it if it is a leftover (DROP DATABASE), or drill on another --scratch server',
      );
    }
    log(`dropping ${scratch}, left over from an earlier drill (${row.comment})`);
    await admin.query(`DROP DATABASE ${quoteIdent(scratch)} WITH (FORCE)`);
  } finally {
    await admin.end().catch(() => {});
  }
}

async function markScratch(server: string, scratch: string, backupId: string, startedAt: Date): Promise<void> {
  const admin = await connectAdmin(server);
  try {
    const comment = `${DRILL_COMMENT_PREFIX}: backup ${backupId}, drill started ${startedAt.toISOString()}`;
    await admin.query(`COMMENT ON DATABASE ${quoteIdent(scratch)} IS ${quoteLiteral(comment)}`);
  } finally {
    await admin.end().catch(() => {});
  }
}

async function dropDatabase(server: string, name: string): Promise<void> {
  const admin = await connectAdmin(server);
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  } finally {
    await admin.end().catch(() => {});
  }
}

async function connectAdmin(server: string) {
  try {
    return await connect(withDatabase(server, 'postgres'), 'scratch server');
  } catch (err) {
    if (err instanceof DrError && /does not exist/.test(err.message))
      return connect(withDatabase(server, 'template1'), 'scratch server');
    throw err;
  }
}

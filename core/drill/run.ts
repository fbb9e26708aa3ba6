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
 */

import { runBackup } from '../backup/backup.ts';
import type { Manifest } from '../backup/manifest.ts';
import { DrError } from '../errors.ts';
import { connect, type PgTools, parsePgUrl, quoteIdent, quoteLiteral, withDatabase } from '../pg/connection.ts';
import { readManifest, resolveBackup } from '../repository/backups.ts';
import { REPORTS_ROOT } from '../repository/layout.ts';
import type { Repository } from '../repository/types.ts';
import { holdNewestVerified, type VerifiedHold } from '../repository/verified-hold.ts';
import { type RestoreResult, runRestore } from '../restore/full.ts';
import { parseHealthUrl, probeWebSocket } from '../verify/probes.ts';
import { verifyAgainstManifest } from '../verify/verify.ts';
import { achievedRpo, DR_VERSION, fileSigner, manifestSha256, type ReportSigner, signReport } from './evidence.ts';
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
  const log = options.log ?? (() => {});
  const phase = options.onPhase ?? (() => {});
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
  const scratchUrl = withDatabase(options.scratchServer, scratch);
  await clearLeftover(options.scratchServer, scratch, scratchServer.display, log);

  const errors: { step: string; message: string }[] = [];
  const fail = (step: string, err: unknown) => {
    const message = err instanceof DrError ? err.oneLine() : ((err as Error)?.message ?? String(err));
    errors.push({ step, message });
    log(`${step} failed: ${message}`);
  };
  let backupRef = options.backup ?? 'latest';
  let freshBackupMs: number | undefined;
  let backupInfo: DrillFacts['backup'];
  let manifest: Manifest | undefined;
  let restore: RestoreResult | undefined;
  let restoreMs: number | undefined;
  let verification: DrillFacts['verification'];
  let scratchTouched = false;
  let dropped = false;
  let cleanupMs: number | undefined;

  try {
    if (source) {
      phase('backup');
      const started = Date.now();
      try {
        const b = await runBackup({
          db: source.url,
          repository: repo,
          jobs: options.jobs,
          tools: options.tools,
          workDir: options.workDir,
          now: startedAt,
          log,
        });
        freshBackupMs = b.durationMs;
        backupRef = b.id;
        backupInfo = { id: b.id, startedAt: b.startedAt, bytes: b.bytes, tier: b.tier, fresh: true };
      } catch (err) {
        freshBackupMs = Date.now() - started;
        fail('backup', err);
      }
    }

    if (!errors.length) {
      // Which backup, before restoring: a restore that fails still reports the backup it tried.
      try {
        const candidates = await resolveBackup(repo, backupRef, database);
        const m = await readManifest(repo, candidates.database, candidates.ids[0]);
        backupInfo = {
          id: m.id,
          startedAt: m.startedAt,
          bytes: m.totals.bytes,
          tier: m.tier,
          fresh: backupInfo?.fresh,
        };
      } catch (err) {
        // runRestore reports the same problem (or falls back past it); keep going.
        log(`could not read the manifest of ${backupRef}: ${(err as Error).message}`);
      }

      phase('download and verify checksums');
      const started = Date.now();
      scratchTouched = true;
      try {
        restore = await runRestore({
          repository: repo,
          backup: backupRef,
          database,
          target: scratchUrl,
          noOwner: options.noOwner,
          // A policy running between the restore and the verification would change what is compared.
          holdTimescaleJobs: true,
          jobs: options.jobs,
          tools: options.tools,
          workDir: options.workDir,
          log: (m) => {
            if (/^restoring into /.test(m)) phase('restore');
            log(m);
          },
        });
        manifest = await readManifest(repo, restore.backup.database, restore.backup.id);
        backupInfo = {
          id: manifest.id,
          startedAt: manifest.startedAt,
          bytes: manifest.totals.bytes,
          tier: manifest.tier,
          fresh: backupInfo?.fresh && backupInfo.id === manifest.id,
        };
        await markScratch(options.scratchServer, scratch, manifest.id, startedAt);
      } catch (err) {
        restoreMs = Date.now() - started;
        restore = undefined;
        fail('restore', err);
      }
    }

    if (restore && manifest) {
      phase('verify data');
      const started = Date.now();
      try {
        const [verified, wsChecks] = await Promise.all([
          verifyAgainstManifest({
            manifest,
            target: scratchUrl,
            healthUrls: httpUrls,
            healthTimeoutMs: options.healthTimeoutMs,
            noOwner: options.noOwner,
            skipDatabaseComment: true,
          }),
          Promise.all(wsUrls.map((u) => probeWebSocket(u, options.healthTimeoutMs ?? 5000))),
        ]);
        const checks = [...verified.checks, ...wsChecks];
        const wsFailed = wsChecks.filter((c) => !c.passed).length;
        verification = {
          passed: verified.passed && wsFailed === 0,
          checks,
          totals: { checks: verified.totals.checks + wsChecks.length, failed: verified.totals.failed + wsFailed },
          durationMs: Date.now() - started,
        };
        log(
          `verification ${verification.passed ? 'passed' : 'FAILED'}: ${verification.totals!.checks - verification.totals!.failed}/${verification.totals!.checks} checks`,
        );
      } catch (err) {
        fail('verify-data', err);
      }
    }
  } finally {
    // Always, also after a failure: a drill leaves nothing behind on the scratch server.
    if (scratchTouched) {
      phase('drop scratch database');
      const started = Date.now();
      try {
        await dropDatabase(options.scratchServer, scratch);
        dropped = true;
        log(`dropped scratch database ${scratch}`);
      } catch (err) {
        fail('cleanup', err);
      }
      cleanupMs = Date.now() - started;
    }
  }

  // A passed drill verified this backup: the newest verified backup of the database keeps a Legal Hold.
  // A store without Legal Holds (no Object Lock, or an S3-compatible one without the API) does not fail the drill: it is said.
  let hold: VerifiedHold | undefined;
  let holdError: string | undefined;
  if (restore && manifest && verification?.passed && errors.length === 0) {
    try {
      hold = await holdNewestVerified(repo, manifest.database, manifest.id, { log });
    } catch (err) {
      holdError = err instanceof DrError ? err.oneLine() : ((err as Error)?.message ?? String(err));
      log(`WARNING: no legal hold placed on the newest verified backup (${holdError})`);
    }
  }

  phase('report');
  let signer: ReportSigner | undefined;
  let unsignedReason: string | undefined;
  if (typeof options.signingKey === 'string') {
    try {
      signer = await fileSigner(options.signingKey);
    } catch (err) {
      unsignedReason = (err as Error).message;
      fail('sign', err);
    }
  } else signer = options.signingKey;
  let evidence: DrillEvidence | undefined;
  if (manifest) {
    evidence = {
      manifestSha256: await manifestSha256(repo, manifest.database, manifest.id).catch(() => null),
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
    previous = await readDrillHistory(reportRepo, database, { prefix: reportPrefix });
  } catch (err) {
    log(`could not read previous drill reports (the trend will be empty): ${(err as Error).message}`);
  }
  const report = await signReport(
    buildDrillReport({
      database,
      startedAt,
      finishedAt: new Date(startedAt.getTime() + (Date.now() - clock)),
      rtoSeconds,
      backup: backupInfo,
      freshBackupMs,
      scratch: scratchTouched
        ? { database: scratch, server: scratchServer.display.replace(/\/[^/]*$/, ''), dropped }
        : undefined,
      restore,
      restoreMs,
      verification,
      cleanupMs,
      errors,
      healthUrls,
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
  return { report, keys, files, hold, ...(holdError ? { holdError } : {}) };
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
    if (rows.length === 0) return;
    if (!rows[0].comment?.startsWith(DRILL_COMMENT_PREFIX)) {
      throw new DrError(
        `database ${scratch} already exists on ${display.replace(/\/[^/]*$/, '')} and is not a drill's scratch database`,
        'drop or rename it if it is a leftover (DROP DATABASE), or drill on another --scratch server',
      );
    }
    log(`dropping ${scratch}, left over from an earlier drill (${rows[0].comment})`);
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

import { resolve } from 'node:path';
import type { DrillReport } from '../../core/drill/report/model.ts';
import { type DrillPhase, runDrill } from '../../core/drill/run.ts';
import { formatBytes, formatSeconds } from '../../core/format.ts';
import { FileRepository } from '../../core/repository/index.ts';
import { describeFailure } from '../../core/verify/verify.ts';
import {
  COMMON,
  type Io,
  optionalString,
  PG,
  positiveInt,
  REPO,
  repository,
  required,
  strings,
  usage,
} from './args.ts';
import { defineCommand } from './command.ts';

export type DrillCommandResult = DrillReport & {
  readonly files: { readonly html: string; readonly md: string; readonly json: string };
};

export const drillCommand = defineCommand({
  summary: 'Restore drill: restore into a scratch database, verify, drop it, write a PASS/FAIL report',
  synopsis: 'drill --repo URL --scratch URL [flags]',
  flags: {
    ...COMMON,
    repo: REPO.repo,
    db: { type: 'string', arg: 'URL', help: 'take a fresh backup of this database first and drill that one' },
    database: {
      type: 'string',
      arg: 'NAME',
      help: 'database in the repository (default: the --db one, or the only one)',
    },
    backup: {
      type: 'string',
      default: 'latest',
      arg: 'ID',
      help: 'latest (default; falls back past a damaged backup, reported as an issue) or an id',
    },
    scratch: {
      type: 'string',
      arg: 'URL',
      help: 'server for the scratch database drill_<db>_<yyyymmdd>, e.g. postgres://user@staging:5432\n(its database part is ignored); the scratch database is always dropped afterwards',
    },
    'report-dir': {
      type: 'string',
      arg: 'DIR',
      help: 'write the report to DIR/drills/<yyyy-mm-dd>/<db>.{html,md,json}\n(default: into the repository, reports/drills/…)',
    },
    rto: {
      type: 'string',
      default: '1h',
      arg: 'DURATION',
      help: "recovery time objective: 3600, 90m, 1h (default 1h, the guide's critical RTO)",
    },
    'health-url': {
      type: 'string',
      multiple: true,
      arg: 'URL',
      help: "application URL to check (repeatable): http(s) must answer 2xx, ws(s) must\naccept a WebSocket handshake; sorted into the checklist's application/API/WebSocket items",
    },
    'health-timeout': { type: 'string', arg: 'MS', help: 'per URL (default 5000)' },
    'no-owner': {
      type: 'boolean',
      default: false,
      help: "restore without ownership (scratch server lacks the source's roles)",
    },
    'signing-key': {
      type: 'string',
      arg: 'FILE',
      help: 'sign the report JSON with this Ed25519 private key (PEM; openssl genpkey\n-algorithm ed25519); check it later with dr report verify. An unreadable key\nfails the drill and the report is written marked UNSIGNED',
    },
    'kms-key-id': {
      ...REPO['kms-key-id'],
      help: "SSE-KMS key for the s3:// report objects (default: the bucket's encryption)",
    },
    'object-lock': {
      ...REPO['object-lock'],
      help: 'none (default) or governance: lock the report objects for their tier',
    },
    ...PG,
  },
  notes: `PASS: the restore completed within the RTO, every verification check passed and every configured
checklist item is ✓. Exit status: 0 on PASS, 1 on FAIL (the report is written either way).`,
  async run(v, io): Promise<DrillCommandResult> {
    const scratchServer = required(v, 'scratch');
    if (optionalString(v, 'db') !== undefined && optionalString(v, 'backup') !== 'latest')
      throw usage('--db drills the fresh backup it takes, so --backup does not apply; drop one of them');
    const rtoSeconds = parseDuration(required(v, 'rto'));
    const healthTimeoutMs = positiveInt(v, 'health-timeout', 'milliseconds');
    const reportDir = optionalString(v, 'report-dir');
    const progress = new Progress(io, (io.stderr as NodeJS.WriteStream).isTTY === true && v.quiet !== true);
    try {
      const { report, files } = await runDrill({
        repository: repository(v),
        source: optionalString(v, 'db'),
        database: optionalString(v, 'database'),
        backup: required(v, 'backup'),
        scratchServer,
        rtoSeconds,
        healthUrls: strings(v, 'health-url'),
        healthTimeoutMs,
        reportRepository: reportDir ? new FileRepository(resolve(reportDir)) : undefined,
        noOwner: v['no-owner'] === true,
        signingKey: optionalString(v, 'signing-key'),
        jobs: positiveInt(v, 'jobs'),
        tools: { binDir: optionalString(v, 'pg-bin') },
        workDir: optionalString(v, 'work-dir'),
        log: (m) => progress.log(m),
        onPhase: (p) => progress.phase(p),
      });
      return { ...report, files };
    } finally {
      progress.stop();
    }
  },
  human: (r) => {
    const lines = [r.summary];
    if (r.backup)
      lines.push(
        `  backup ${r.backup.id}${r.backup.fresh ? ' (fresh)' : ''}: ${r.backup.bytes === null ? '?' : formatBytes(r.backup.bytes)}, ${r.backup.ageHours.toFixed(1)} h old`,
      );
    lines.push(
      `  restore ${formatSeconds(r.restore.seconds)} against RTO ${formatSeconds(r.restore.rtoSeconds)}: ${r.restore.rtoPassed ? 'PASS' : 'FAIL'}`,
    );
    if (r.scratch)
      lines.push(
        `  scratch database ${r.scratch.database} ${r.scratch.dropped ? 'dropped' : 'NOT dropped: drop it by hand'}`,
      );
    const failed = r.verification?.checks.filter((c) => !c.passed) ?? [];
    for (const c of failed.slice(0, 20)) lines.push(`  FAIL ${c.name}: ${describeFailure(c)}`);
    if (failed.length > 20) lines.push(`  … and ${failed.length - 20} more failed checks (see the report)`);
    for (const i of r.issues.filter((i) => i.kind !== 'failed-check'))
      lines.push(`  ${i.kind} (${i.step}): ${i.message}`);
    lines.push(`  report: ${r.files.html}`);
    return lines.join('\n');
  },
  exitCode: (r) => (r.passed ? 0 : 1),
});

/** Seconds from `3600`, `3600s`, `90m` or `1h`. */
export function parseDuration(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|min|h)?$/.exec(raw.trim());
  const value = m ? Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' || m[2] === 'min' ? 60 : 1) : NaN;
  if (!(value > 0)) throw usage(`--rto must be a duration like 3600, 90m or 1h, got "${raw}"`);
  return value;
}

/**
 * Progress on stderr. On a terminal: the current phase and its elapsed seconds on one line,
 * updated in place every second, with log lines printed above it. Otherwise: plain lines, one
 * when a phase starts and one when it ends.
 */
class Progress {
  private current: { readonly name: DrillPhase; readonly started: number } | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly io: Io,
    private readonly tty: boolean,
  ) {}

  phase(name: DrillPhase): void {
    this.finish();
    this.current = { name, started: Date.now() };
    if (!this.tty) {
      this.io.log(`${name}…`);
      return;
    }
    this.render();
    this.timer = setInterval(() => this.render(), 1000);
    this.timer.unref();
  }

  log(message: string): void {
    if (this.tty && this.current) this.clear();
    this.io.log(message);
    if (this.tty && this.current) this.render();
  }

  stop(): void {
    this.finish();
  }

  private finish(): void {
    if (!this.current) return;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.tty) this.clear();
    this.io.log(`${this.current.name} done in ${((Date.now() - this.current.started) / 1000).toFixed(1)} s`);
    this.current = undefined;
  }

  private render(): void {
    if (!this.current) return;
    this.io.stderr.write(
      `\r\x1b[2K  ${this.current.name} … ${Math.floor((Date.now() - this.current.started) / 1000)} s`,
    );
  }

  private clear(): void {
    this.io.stderr.write('\r\x1b[2K');
  }
}

/**
 * What every backup carries so that anyone can restore it without dr: a `SHA256SUMS` list that
 * `sha256sum -c` checks, and a `RESTORE.md` with the commands, in the order TimescaleDB needs
 * (the same steps as core/restore/target.ts and timescaleRestoreSteps). Both are written before the
 * manifest, beside the data, and are listed in the manifest like every other file.
 */
import { CHECKSUMS_NAME, DATA_DIR, GLOBALS_NAME } from '../repository/layout.ts';

/** `sha256sum` format: `<hex>  <path>`, paths relative to the backup's folder. */
export function checksumList(files: readonly { path: string; sha256: string }[]): string {
  return `${[...files]
    .sort((a, b) => a.path.localeCompare(b.path))
    .map((f) => `${f.sha256}  ${f.path}`)
    .join('\n')}\n`;
}

export interface GuideFacts {
  readonly id: string;
  readonly database: string;
  readonly serverVersion: string;
  readonly pgDumpVersion: string;
  readonly timescaleVersion?: string;
  /** The users' TimescaleDB jobs with their next start at backup time (a dump has no job statistics). */
  readonly timescaleJobs?: readonly { readonly id: number; readonly nextStart: string | null }[];
  readonly globals: boolean;
}

/** The `bash` blocks of the guide are meant to be run as they stand, in the backup's folder, with TARGET set. */
export function restoreGuide(f: GuideFacts): string {
  const globals = f.globals
    ? [
        '# Roles and tablespaces first, if the target server lacks them ("already exists" errors are harmless):',
        `psql -X -d "\${TARGET%/*}/postgres" -f ${GLOBALS_NAME}`,
        '',
      ]
    : [];
  const plain = ['```bash', ...globals, `pg_restore --jobs=4 --exit-on-error --dbname="$TARGET" ${DATA_DIR}`, '```'];
  const timescale = [
    '```bash',
    ...globals,
    `psql -X -v ON_ERROR_STOP=1 -d "$TARGET" -c "CREATE EXTENSION IF NOT EXISTS timescaledb VERSION '${f.timescaleVersion}'" -c "SELECT timescaledb_pre_restore()"`,
    `pg_restore --exit-on-error --section=pre-data --dbname="$TARGET" ${DATA_DIR}`,
    `pg_restore --list ${DATA_DIR} > all.list`,
    `grep -E '^[0-9]+; [0-9]+ [0-9]+ (TABLE DATA|SEQUENCE SET) _timescaledb_(catalog|config) ' all.list > catalog.list`,
    `grep -E '^[0-9]+; [0-9]+ [0-9]+ MATERIALIZED VIEW DATA ' all.list > matviews.list || true`,
    `grep -vxF -f catalog.list all.list | grep -vxF -f matviews.list > rest.list`,
    `pg_restore --exit-on-error --section=data --use-list=catalog.list --dbname="$TARGET" ${DATA_DIR}`,
    `pg_restore --exit-on-error --jobs=4 --section=data --section=post-data --use-list=rest.list --dbname="$TARGET" ${DATA_DIR}`,
    ...(f.timescaleJobs?.length
      ? [
          '# Each policy job next due when the source had it due, not at once (the dump holds no job statistics):',
          `psql -X -v ON_ERROR_STOP=1 -d "$TARGET" ${f.timescaleJobs.map((j) => `-c "SELECT alter_job(${j.id}, next_start => greatest(${j.nextStart ? `'${j.nextStart}'::timestamptz` : 'now()'}, now()))"`).join(' ')}`,
        ]
      : []),
    `psql -X -v ON_ERROR_STOP=1 -d "$TARGET" -c "SELECT timescaledb_post_restore()"`,
    `[ -s matviews.list ] && pg_restore --exit-on-error --section=post-data --use-list=matviews.list --dbname="$TARGET" ${DATA_DIR}`,
    'rm -f all.list catalog.list matviews.list rest.list',
    '```',
  ];
  return [
    `# Restoring backup ${f.id} of ${f.database} by hand`,
    '',
    `This folder is a \`pg_dump --format=directory\` backup (pg_dump ${f.pgDumpVersion}, PostgreSQL ${f.serverVersion}${f.timescaleVersion ? `, TimescaleDB ${f.timescaleVersion}` : ''}),`,
    'written by crypto-stock-dr. `dr restore` does all of this and more (it never touches the target',
    'before the backup is verified); these steps need only `sha256sum`, `pg_restore` and `psql`.',
    '',
    '## 1. Check every file',
    '',
    'In this folder (for an S3 vault, download it first: `aws s3 cp --recursive s3://<vault>/backups/' +
      `${f.database}/${f.id}/ .\`):`,
    '',
    '```bash',
    `sha256sum --quiet -c ${CHECKSUMS_NAME}`,
    '```',
    '',
    'Any line it prints names a damaged file: stop, and use another backup.',
    '',
    '## 2. Restore into a new, empty database',
    '',
    'Create it, then point `TARGET` at it, e.g. `createdb crypto_stock_restored && export TARGET=postgres://user@host:5432/crypto_stock_restored`.',
    '',
    ...(f.timescaleVersion
      ? [
          `The target server needs TimescaleDB ${f.timescaleVersion} installed and \`shared_preload_libraries = 'timescaledb'\`.`,
          "TimescaleDB's catalog rows must load alone and in order (their foreign keys are live), and the",
          'materialized views only after `timescaledb_post_restore()`; everything else loads in parallel:',
          '',
          ...timescale,
        ]
      : plain),
    '',
    '## 3. Check the result',
    '',
    '`dr verify --repo … --backup ' +
      `${f.id} --target "$TARGET"\` compares it with this backup's manifest (counts, content`,
    'fingerprints, schema); without dr, compare `SELECT count(*)` of each table with `tables[].rows` in',
    `\`${f.id}.manifest.json\` (one folder up).`,
    '',
  ].join('\n');
}

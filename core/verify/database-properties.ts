/**
 * Database-level properties, which pg_dump without --create leaves out: owner, the database's
 * privileges (GRANT CONNECT …), comment, connection limit and `ALTER DATABASE … SET` / `ALTER
 * ROLE … IN DATABASE … SET` settings. Read in the backup's snapshot session, recorded in the
 * manifest, and applied to the staging database before it takes the target's name, so a restore
 * (and an --overwrite) brings them back.
 */
import type pg from 'pg';
import { z } from 'zod';
import { quoteIdent, quoteLiteral } from '../pg/connection.ts';
import { onlyRow } from '../pg/rows.ts';

export const DatabasePropertiesSchema = z.object({
  owner: z.string(),
  connectionLimit: z.number().int(),
  comment: z.string().nullable(),
  /** null: the default privileges (PUBLIC may CONNECT and create TEMP tables). */
  grants: z.array(z.object({ grantee: z.string(), privilege: z.string(), grantable: z.boolean() })).nullable(),
  /** `name=value` as pg_db_role_setting stores them; role null for the database's own. */
  settings: z.array(z.object({ role: z.string().nullable(), settings: z.array(z.string()) })),
});
export type DatabaseProperties = z.infer<typeof DatabasePropertiesSchema>;

/** Settings that belong to a restore in progress, never to the database. */
const TRANSIENT = new Set(['timescaledb.restoring']);
/** GUCs whose value is a list written as SQL (pg_dump's GUC_LIST_QUOTE ones). */
const LIST_GUCS = new Set([
  'search_path',
  'temp_tablespaces',
  'session_preload_libraries',
  'local_preload_libraries',
  'shared_preload_libraries',
  'default_text_search_config',
]);

export async function readDatabaseProperties(client: pg.Client): Promise<DatabaseProperties> {
  return onlyRow(
    await client.query<DatabaseProperties>(`
    SELECT pg_get_userbyid(d.datdba) AS owner, d.datconnlimit AS "connectionLimit", shobj_description(d.oid, 'pg_database') AS comment,
           CASE WHEN d.datacl IS NULL THEN NULL ELSE (SELECT coalesce(json_agg(json_build_object(
             'grantee', CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
             'privilege', a.privilege_type, 'grantable', a.is_grantable) ORDER BY a.grantee, a.privilege_type), '[]'::json) FROM aclexplode(d.datacl) a) END AS grants,
           (SELECT coalesce(json_agg(json_build_object('role', CASE WHEN s.setrole = 0 THEN NULL ELSE pg_get_userbyid(s.setrole) END, 'settings', s.setconfig)), '[]'::json)
              FROM pg_db_role_setting s WHERE s.setdatabase = d.oid) AS settings
      FROM pg_database d WHERE d.datname = current_database()`),
  );
}

function settingSql(entry: string): { name: string; value: string } | undefined {
  const at = entry.indexOf('=');
  if (at <= 0) return undefined;
  const name = entry.slice(0, at);
  const value = entry.slice(at + 1);
  if (TRANSIENT.has(name)) return undefined;
  return { name, value: LIST_GUCS.has(name) ? value : quoteLiteral(value) };
}

/**
 * Applies `props` to `database` (the staging copy). Each statement on its own: a role missing on
 * the target server is a warning, not a failed restore. `noOwner` leaves owner and privileges out,
 * as pg_restore --no-owner --no-privileges does.
 */
export async function applyDatabaseProperties(
  admin: pg.Client,
  database: string,
  props: DatabaseProperties,
  options: { readonly noOwner?: boolean },
  warnings: string[],
): Promise<void> {
  const db = quoteIdent(database);
  const run = async (sql: string, what: string) => {
    try {
      await admin.query(sql);
    } catch (err) {
      warnings.push(`database ${what} not restored: ${(err as Error).message}`);
    }
  };
  if (!options.noOwner) await run(`ALTER DATABASE ${db} OWNER TO ${quoteIdent(props.owner)}`, `owner ${props.owner}`);
  if (props.connectionLimit !== -1)
    await run(`ALTER DATABASE ${db} CONNECTION LIMIT ${props.connectionLimit}`, 'connection limit');
  if (props.comment !== null) await run(`COMMENT ON DATABASE ${db} IS ${quoteLiteral(props.comment)}`, 'comment');
  if (!options.noOwner && props.grants !== null) {
    await run(`REVOKE ALL ON DATABASE ${db} FROM PUBLIC`, 'privileges');
    for (const g of props.grants) {
      if (g.grantee === props.owner) continue;
      const grantee = g.grantee === 'PUBLIC' ? 'PUBLIC' : quoteIdent(g.grantee);
      await run(
        `GRANT ${g.privilege} ON DATABASE ${db} TO ${grantee}${g.grantable ? ' WITH GRANT OPTION' : ''}`,
        `privilege ${g.privilege} for ${g.grantee}`,
      );
    }
  }
  for (const group of props.settings) {
    for (const entry of group.settings) {
      const s = settingSql(entry);
      if (!s) continue;
      const target = group.role === null ? `DATABASE ${db}` : `ROLE ${quoteIdent(group.role)} IN DATABASE ${db}`;
      await run(
        `ALTER ${target} SET ${quoteIdent(s.name)} TO ${s.value}`,
        `setting ${entry}${group.role ? ` for ${group.role}` : ''}`,
      );
    }
  }
}

/** One difference (or match) of a database-level property, for verify's checks. */
export interface PropertyComparison {
  readonly property: string;
  readonly expected: string;
  readonly actual: string;
}

/**
 * The backup's database-level properties against the restored database's. Owner and privileges
 * are left out with `noOwner` (a --no-owner restore does not set them); a property of a role the
 * target server lacks (its owner, a grant, a per-role setting) is left out too, since no restore
 * can set it there and the restore has already warned about it.
 */
export function compareDatabaseProperties(
  expected: DatabaseProperties,
  actual: DatabaseProperties,
  options: {
    readonly noOwner?: boolean;
    readonly skipComment?: boolean;
    readonly roleExists: (role: string) => boolean;
  },
): PropertyComparison[] {
  const out: PropertyComparison[] = [
    {
      property: 'connection limit',
      expected: String(expected.connectionLimit),
      actual: String(actual.connectionLimit),
    },
  ];
  if (!options.skipComment)
    out.push({ property: 'comment', expected: expected.comment ?? '(none)', actual: actual.comment ?? '(none)' });
  if (!options.noOwner && options.roleExists(expected.owner)) {
    out.push({ property: 'owner', expected: expected.owner, actual: actual.owner });
    const grants = (p: DatabaseProperties) =>
      p.grants === null
        ? '(default privileges)'
        : p.grants
            .filter((g) => g.grantee !== p.owner && (g.grantee === 'PUBLIC' || options.roleExists(g.grantee)))
            .map((g) => `${g.grantee}:${g.privilege}${g.grantable ? '*' : ''}`)
            .sort()
            .join(', ') || '(none)';
    out.push({ property: 'privileges', expected: grants(expected), actual: grants(actual) });
  }
  const settings = (p: DatabaseProperties) =>
    new Map(
      p.settings
        .filter((g) => g.role === null || options.roleExists(g.role))
        .map((g) => [
          g.role ?? '',
          g.settings
            .filter((s) => !TRANSIENT.has(s.split('=')[0]!))
            .sort()
            .join(', '),
        ]),
    );
  const want = settings(expected);
  const have = settings(actual);
  for (const role of new Set([...want.keys(), ...have.keys()])) {
    out.push({
      property: role ? `settings for role ${role}` : 'settings',
      expected: want.get(role) || '(none)',
      actual: have.get(role) || '(none)',
    });
  }
  return out;
}

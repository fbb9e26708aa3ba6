import type pg from 'pg';

/**
 * The one row of a query that always returns exactly one (a SELECT without FROM, an aggregate, the
 * current database's own row). No row there is a bug in dr, not a fault to explain to the user.
 */
export function onlyRow<T extends pg.QueryResultRow>(result: pg.QueryResult<T>): T {
  const row = result.rows[0];
  if (row === undefined) throw new Error(`expected one row from ${result.command}, got none`);
  return row;
}

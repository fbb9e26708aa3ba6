import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { secretEnvVarFor } from '../../core/contract.ts';
import { DATABASE_NAME } from '../../core/names.ts';

/** One database the job backs up. */
export interface DatabaseTarget {
  /** PostgreSQL database name; also the backup folder `backups/<name>/`. */
  readonly name: string;
  /** Server host as reached from the job's subnets. */
  readonly host: string;
  /** Server port. */
  readonly port: number;
  /** Secret with `{"username":…,"password":…}` (RDS format). */
  readonly secret: secretsmanager.ISecret;
}

/**
 * Checks a database list the way the job and workflow need it: non-empty, valid names, valid
 * ports, and distinct secret env var names (two names may map to the same DR_SECRET_* variable).
 */
export function validateDatabaseTargets(owner: string, databases: readonly DatabaseTarget[]): void {
  if (databases.length === 0) {
    throw new Error(
      `${owner}: databases is empty; pass at least one database to back up (config "databases": [{ "name", "host", "port", "secret" }])`,
    );
  }
  const byEnv = new Map<string, string>();
  for (const db of databases) {
    if (!DATABASE_NAME.test(db.name)) {
      throw new Error(
        `${owner}: database name "${db.name}" is invalid; use letters, digits, _ and - (at most 63, not starting with a digit)`,
      );
    }
    if (!Number.isInteger(db.port) || db.port < 1 || db.port > 65535) {
      throw new Error(`${owner}: database "${db.name}" has port ${db.port}; use an integer from 1 to 65535`);
    }
    const env = secretEnvVarFor(db.name);
    const other = byEnv.get(env);
    if (other !== undefined) {
      throw new Error(
        other === db.name
          ? `${owner}: database "${db.name}" is listed twice; list each database once`
          : `${owner}: databases "${other}" and "${db.name}" both map to secret variable ${env}; rename one`,
      );
    }
    byEnv.set(env, db.name);
  }
}

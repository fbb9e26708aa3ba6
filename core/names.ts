/**
 * Names and limits the configuration, the constructs and the runtime all check. Each rule is
 * stated here once, so lib/config.ts, a construct's props check and dr's own flags cannot drift.
 */

/**
 * A database the stack backs up, restores or drills: a PostgreSQL identifier usable unquoted in
 * paths (backups/<database>/) and env vars, plus `-`. At most 63 bytes (NAMEDATALEN - 1).
 */
export const DATABASE_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,62}$/;
/** How DATABASE_NAME reads in a message. */
export const DATABASE_NAME_RULE = 'letters, digits, _ and -, at most 63, not starting with a digit';

/**
 * A pgBackRest stanza: it ends up in repository paths and in archive_command, so a safe alphabet
 * (letters, digits, _, - and .), no path separators, at most 63 characters.
 */
export const STANZA_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;

/** The shortest recovery time objective a drill is judged against: a drill alone takes longer. */
export const MIN_RTO_SECONDS = 60;

/** Whether `seconds` is a usable RTO: whole seconds, at least MIN_RTO_SECONDS. */
export function isValidRtoSeconds(seconds: number): boolean {
  return Number.isInteger(seconds) && seconds >= MIN_RTO_SECONDS;
}

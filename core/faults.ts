/** Environment faults as one-line errors that say what to do (a full disk, …). */
import { DrError } from './errors.ts';

/**
 * The store refused to give a backup's bytes (403 AccessDenied, a disabled or inaccessible KMS
 * key): a permission problem, not damage. It stops a restore or check at once instead of marking
 * the backup damaged and falling back to older ones, which the same role could not read either.
 */
export class AccessError extends DrError {}

/** pg_dump/pg_restore ran out of space (their message: "No space left on device"). */
export function noSpaceError(stderr: string, tool: string, where: string): DrError | undefined {
  if (!/No space left on device/i.test(stderr)) return undefined;
  return outOfSpace(tool, where);
}

/** The same for dr's own writes there (compressing pg_dump's data files): a Node ENOSPC error. */
export function localNoSpaceError(err: unknown, who: string, where: string): DrError | undefined {
  if ((err as NodeJS.ErrnoException | undefined)?.code !== 'ENOSPC') return undefined;
  return outOfSpace(who, where);
}

function outOfSpace(who: string, where: string): DrError {
  return new DrError(
    `${who} ran out of space in ${where}: no space left on device (ENOSPC)`,
    'free space there, or point --work-dir at a larger volume; the partial files were removed and nothing was recorded',
  );
}

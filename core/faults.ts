/** Environment faults as one-line errors that say what to do (a full disk, …). */
import { DrError } from './errors.ts';

/** pg_dump/pg_restore ran out of space (their message: "No space left on device"). */
export function noSpaceError(stderr: string, tool: string, where: string): DrError | undefined {
  if (!/No space left on device/i.test(stderr)) return undefined;
  return new DrError(
    `${tool} ran out of space in ${where}: no space left on device (ENOSPC)`,
    'free space there, or point --work-dir at a larger volume; the partial files were removed and nothing was recorded',
  );
}

/** Every `dr` command, by name; `dr --help` lists them in this order. */
import type { Command } from './args.ts';
import { backupCommand } from './backup.ts';
import { checkCommand } from './check.ts';
import { drillCommand } from './drill.ts';
import { listCommand } from './list.ts';
import { pitrConfigCommand, pitrRestoreServerCommand } from './pitr.ts';
import { remoteRestoreCommand, remoteStatusCommand } from './remote.ts';
import { restoreCommand } from './restore.ts';
import { verifyCommand } from './verify.ts';

export const COMMANDS: Record<string, Command> = {
  backup: backupCommand,
  list: listCommand,
  check: checkCommand,
  restore: restoreCommand,
  verify: verifyCommand,
  drill: drillCommand,
  // Two-word commands: dr.ts joins `dr pitr config` into 'pitr config'.
  'pitr config': pitrConfigCommand,
  'pitr restore-server': pitrRestoreServerCommand,
  'remote restore': remoteRestoreCommand,
  'remote status': remoteStatusCommand,
};

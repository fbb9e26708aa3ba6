/** Every `dr` command, by name; `dr --help` lists them in this order. */
import type { Command } from './args.ts';
import { backupCommand } from './backup.ts';
import { checkCommand } from './check.ts';
import { doctorCommand } from './doctor.ts';
import { drillCommand } from './drill.ts';
import { listCommand } from './list.ts';
import { pitrCheckCommand, pitrConfigCommand, pitrMarkCommand, pitrRestoreServerCommand } from './pitr.ts';
import { pruneCommand } from './prune.ts';
import { remoteRestoreCommand, remoteStatusCommand } from './remote.ts';
import { reportVerifyCommand } from './report.ts';
import { restoreCommand } from './restore.ts';
import { verifyCommand } from './verify.ts';

export const COMMANDS: Record<string, Command> = {
  backup: backupCommand,
  list: listCommand,
  check: checkCommand,
  restore: restoreCommand,
  verify: verifyCommand,
  drill: drillCommand,
  prune: pruneCommand,
  doctor: doctorCommand,
  // Two-word commands: dr.ts joins `dr pitr config` into 'pitr config'.
  'pitr config': pitrConfigCommand,
  'pitr check': pitrCheckCommand,
  'pitr info': { ...pitrCheckCommand, summary: 'The same report as dr pitr check' },
  'pitr restore-server': pitrRestoreServerCommand,
  'pitr mark': pitrMarkCommand,
  'report verify': reportVerifyCommand,
  'remote restore': remoteRestoreCommand,
  'remote status': remoteStatusCommand,
};

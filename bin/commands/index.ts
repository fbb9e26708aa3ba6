/** Every `dr` command, by name; `dr --help` lists them in this order. */

import { backupCommand } from './backup.ts';
import { checkCommand } from './check.ts';
import type { Command } from './command.ts';
import { doctorCommand } from './doctor.ts';
import { drillCommand } from './drill.ts';
import { listCommand } from './list.ts';
import { pitrCheckCommand, pitrConfigCommand, pitrMarkCommand, pitrRestoreServerCommand } from './pitr.ts';
import { pruneCommand } from './prune.ts';
import { AWS_CLIENTS } from './remote/client.ts';
import { remoteRestoreCommand, remoteStatusCommand } from './remote/commands.ts';
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
  'remote restore': remoteRestoreCommand(AWS_CLIENTS),
  'remote status': remoteStatusCommand(AWS_CLIENTS),
};

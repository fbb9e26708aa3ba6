/**
 * An error the user can act on: `message` says what is wrong, `hint` how to fix it. The CLI
 * prints both on one stderr line and exits with `exitCode`; anything else is a bug and prints
 * its stack.
 */
export class DrError extends Error {
  override readonly name = 'DrError';

  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode: number = 1,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** The one line the CLI prints. */
  oneLine(): string {
    const text = this.hint ? `${this.message}; ${this.hint}` : this.message;
    return text.replace(/\s*\n\s*/g, ' ');
  }
}

/** A backup that exists but cannot be trusted (missing, truncated or altered file). */
export class BackupIntegrityError extends DrError {}

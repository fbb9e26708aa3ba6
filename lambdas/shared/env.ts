/**
 * The one reader of a Lambda's environment: a zod object over process.env, whose first problem
 * becomes a DrError naming the variable. The variables are set by the CDK constructs, so a
 * problem means a stack out of date, not a bad event.
 */
import { z } from 'zod';
import { DrError } from '../../core/errors.ts';

/** A required variable; empty counts as unset, as in the shell. */
export const required = z.string().min(1);
/** An optional variable; empty counts as unset. */
export const optional = z
  .string()
  .optional()
  .transform((v) => v || undefined);
/** A repository URL: s3:// or file://. */
export const repositoryUrl = (what: string) => z.string().regex(/^(s3|file):\/\//, `an s3:// or file:// ${what}`);

/** A variable holding JSON that `schema` accepts; `what` says what it must be. */
export const json = <T extends z.ZodType>(schema: T, what: string) =>
  z.string().transform((text, ctx): z.output<T> => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: `${what} (not JSON)` });
      return z.NEVER;
    }
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0]!;
    ctx.addIssue({ code: 'custom', message: `${what} (${[...issue.path, ''].join('.')} ${issue.message})` });
    return z.NEVER;
  });

/** `schema` applied to `env`; throws a DrError naming the first variable unset or invalid. */
export function readEnv<T extends z.ZodObject>(schema: T, env: NodeJS.ProcessEnv = process.env): z.output<T> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const name = String(issue.path[0]);
  throw new DrError(
    env[name] ? `environment variable ${name} is invalid: ${issue.message}` : `environment variable ${name} is not set`,
    'the CDK construct sets it; redeploy the stack',
  );
}

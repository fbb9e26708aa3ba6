/** Retention tiers of the recovery guide: daily 7 days, weekly 4 weeks, monthly 6 months. */
export const TIERS = ['daily', 'weekly', 'monthly'] as const;
export type Tier = (typeof TIERS)[number];

/** Days an object of each tier is kept; the vault's lifecycle rules and Object Lock use the same numbers. */
export const RETENTION_DAYS: Readonly<Record<Tier, number>> = { daily: 7, weekly: 28, monthly: 180 };

/**
 * Drill evidence (reports) is kept this long: over a year, so a year of monthly drills survives,
 * locked in COMPLIANCE mode on S3 so that not even the account's admins can shorten it.
 */
export const EVIDENCE_RETENTION_DAYS = 400;

/** The retention class of drill evidence, beside the backup tiers: its own tag value and lifecycle rule. */
export const EVIDENCE = 'evidence';
export type RetentionClass = Tier | typeof EVIDENCE;

/** Days an object of each retention class is kept. */
export function retentionDays(retention: RetentionClass): number {
  return retention === EVIDENCE ? EVIDENCE_RETENTION_DAYS : RETENTION_DAYS[retention];
}

/** The tag every stored object carries, so that lifecycle rules expire it by tier. */
export const RETENTION_TAG_KEY = 'retention';

/** `monthly` on the 1st of the month (UTC), `weekly` on Sundays, `daily` otherwise. */
export function tierFor(date: Date): Tier {
  if (date.getUTCDate() === 1) return 'monthly';
  if (date.getUTCDay() === 0) return 'weekly';
  return 'daily';
}

export function isTier(value: string): value is Tier {
  return (TIERS as readonly string[]).includes(value);
}

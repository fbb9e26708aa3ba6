/** Retention tiers of the recovery guide: daily 7 days, weekly 4 weeks, monthly 6 months. */
export const TIERS = ['daily', 'weekly', 'monthly'] as const;
export type Tier = (typeof TIERS)[number];

/** Days an object of each tier is kept; the vault's lifecycle rules and Object Lock use the same numbers. */
export const RETENTION_DAYS: Readonly<Record<Tier, number>> = { daily: 7, weekly: 28, monthly: 180 };

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

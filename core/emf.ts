/**
 * CloudWatch Embedded Metric Format: one JSON log line that CloudWatch Logs turns into metrics
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
 * A Lambda prints it to stdout; no PutMetricData call, no SDK, and the line is testable as text.
 */

export type EmfUnit = 'Seconds' | 'Count' | 'None';

export interface EmfMetric {
  readonly name: string;
  readonly value: number;
  readonly unit: EmfUnit;
}

/** The EMF line for `metrics` under `namespace` with one set of `dimensions`, or undefined when there are none. */
export function emfLine(
  namespace: string,
  dimensions: Readonly<Record<string, string>>,
  metrics: readonly EmfMetric[],
  timestamp: Date = new Date(),
): string | undefined {
  if (metrics.length === 0) return undefined;
  const names = new Set([...Object.keys(dimensions), '_aws']);
  for (const m of metrics) {
    if (names.has(m.name)) throw new Error(`EMF metric name ${m.name} is used twice or collides with a dimension`);
    if (!Number.isFinite(m.value)) throw new Error(`EMF metric ${m.name} has no finite value (${m.value})`);
    names.add(m.name);
  }
  return JSON.stringify({
    _aws: {
      Timestamp: timestamp.getTime(),
      CloudWatchMetrics: [
        {
          Namespace: namespace,
          Dimensions: [Object.keys(dimensions)],
          Metrics: metrics.map((m) => ({ Name: m.name, Unit: m.unit })),
        },
      ],
    },
    ...dimensions,
    ...Object.fromEntries(metrics.map((m) => [m.name, m.value])),
  });
}

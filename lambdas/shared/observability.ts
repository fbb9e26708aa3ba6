/**
 * Logs and metrics of every Lambda, through Powertools for AWS Lambda: JSON log lines (level,
 * message, service, correlation id) and CloudWatch Embedded Metric Format documents on stdout,
 * which CloudWatch Logs turns into metrics; no PutMetricData call.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { z } from 'zod';
import { Metrics as MetricNames } from '../../core/contract.ts';

/**
 * The field every workflow adds to its Lambdas' events (`$$.Execution.Id`): the correlation id of
 * their log lines (startInvocation). Strict event schemas spread it in.
 */
export const ExecutionArnField = { executionArn: z.string().min(1).optional() };

export interface Observability {
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** The Logger and Metrics of the Lambda `service` (its folder under lambdas/), in namespace Metrics.namespace. */
export function observability(service: string): Observability {
  const logger = new Logger({ serviceName: service });
  const metrics = new Metrics({ namespace: MetricNames.namespace, serviceName: service, logger });
  // Powertools adds a `service` dimension by default; the alarms (lib/constructs/monitoring.ts,
  // rpo-watch.ts) match metrics with exactly one dimension, Database or Stanza, so it must not.
  metrics.clearDefaultDimensions();
  return { logger, metrics };
}

export interface MetricValue {
  readonly name: string;
  readonly value: number;
  readonly unit: 'Seconds' | 'Count' | 'None';
}

/**
 * Flushes `values` as one EMF document under `dimensions`, stamped `timestamp`. Nothing at all
 * when `values` is empty: no datapoint, so the missing-data alarms decide.
 */
export function publishMetrics(
  metrics: Metrics,
  dimensions: Readonly<Record<string, string>>,
  values: readonly MetricValue[],
  timestamp: Date,
): void {
  if (values.length === 0) return;
  for (const v of values)
    if (!Number.isFinite(v.value)) throw new Error(`metric ${v.name} has no finite value (${v.value})`);
  metrics.addDimensions({ ...dimensions });
  for (const v of values) metrics.addMetric(v.name, v.unit, v.value);
  metrics.setTimestamp(timestamp);
  metrics.publishStoredMetrics();
}

/**
 * Starts an invocation's logging: the Lambda context (request id, function) when the runtime gives
 * one, and the correlation id, so every line of one run can be found together: the Step Functions
 * execution's ARN, which every workflow passes its Lambdas as `executionArn` (`$$.Execution.Id`;
 * else `executionName`). In a drill, the run of one database (`restoreResultName`, which also
 * names its restore job's result) is the key `drillRun`.
 */
export function startInvocation(logger: Logger, event: unknown, context?: unknown): void {
  logger.resetKeys();
  if (context && typeof context === 'object' && 'awsRequestId' in context)
    logger.addContext(context as Parameters<Logger['addContext']>[0]);
  const e = (event ?? {}) as Record<string, unknown>;
  const execution = [e.executionArn, e.executionName].find((v) => typeof v === 'string' && v);
  if (execution) logger.setCorrelationId(execution);
  if (typeof e.restoreResultName === 'string' && e.restoreResultName)
    logger.appendKeys({ drillRun: e.restoreResultName });
}

/**
 * The Lambdas' shared Powertools set-up: EMF documents with exactly the dimensions given (the
 * alarms match on them), nothing for no values, and log lines carrying the correlation id.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../../core/contract.ts';
import { observability, publishMetrics, startInvocation } from '../../../lambdas/shared/observability.ts';
import { captureStdout, type StdoutCapture } from '../../support/handler.ts';

let stdout: StdoutCapture;
beforeAll(() => {
  stdout = captureStdout();
});
afterAll(() => stdout.restore());

describe('observability (Powertools Logger and Metrics)', () => {
  it('publishes one EMF document in the namespace, with only the given dimension and the given time', () => {
    const { metrics } = observability('test-service');
    const mark = stdout.mark();
    const at = new Date(Date.now() - 60_000);
    publishMetrics(
      metrics,
      { [Metrics.dimension]: 'crypto_stock' },
      [
        { name: Metrics.drillPassed, value: 1, unit: 'None' },
        { name: Metrics.restoreSeconds, value: 12.5, unit: 'Seconds' },
      ],
      at,
    );
    expect(stdout.emf(mark)).toEqual([
      {
        _aws: {
          Timestamp: at.getTime(),
          CloudWatchMetrics: [
            {
              Namespace: Metrics.namespace,
              Dimensions: [[Metrics.dimension]],
              Metrics: [
                { Name: Metrics.drillPassed, Unit: 'None' },
                { Name: Metrics.restoreSeconds, Unit: 'Seconds' },
              ],
            },
          ],
        },
        [Metrics.dimension]: 'crypto_stock',
        [Metrics.drillPassed]: 1,
        [Metrics.restoreSeconds]: 12.5,
      },
    ]);
    // The next document carries only its own dimension and values.
    publishMetrics(metrics, { [Metrics.stanzaDimension]: 'main' }, [{ name: 'X', value: 0, unit: 'Count' }], at);
    expect(stdout.emf(mark)[1]).toEqual({
      _aws: expect.objectContaining({
        CloudWatchMetrics: [expect.objectContaining({ Dimensions: [[Metrics.stanzaDimension]] })],
      }),
      [Metrics.stanzaDimension]: 'main',
      X: 0,
    });
  });

  it('publishes nothing for no values (no datapoint: the missing-data alarms decide), and refuses a non-finite one', () => {
    const { metrics } = observability('test-service');
    const mark = stdout.mark();
    publishMetrics(metrics, { [Metrics.dimension]: 'crypto_stock' }, [], new Date());
    expect(stdout.json(mark)).toEqual([]);
    expect(() =>
      publishMetrics(
        metrics,
        { [Metrics.dimension]: 'x' },
        [{ name: 'Y', value: Number.NaN, unit: 'None' }],
        new Date(),
      ),
    ).toThrow('metric Y has no finite value');
  });

  it("logs JSON with the service and the execution's ARN as correlation id, a drill's run as drillRun, reset at the next invocation", () => {
    const { logger } = observability('restore-result');
    const arn = 'arn:aws:states:eu-west-1:123456789012:execution:dr-restore:restore-2026-12-07';
    const mark = stdout.mark();
    startInvocation(logger, { executionArn: arn, executionName: 'restore-2026-12-07' });
    logger.info('read the result');
    startInvocation(logger, { executionName: 'restore-2026-12-07', restoreResultName: 'c0ffee' });
    logger.info('no ARN');
    startInvocation(logger, {});
    logger.info('no execution');
    const [first, second, third] = stdout.json(mark);
    expect(first).toMatchObject({
      level: 'INFO',
      message: 'read the result',
      service: 'restore-result',
      correlation_id: arn,
    });
    expect(second).toMatchObject({ correlation_id: 'restore-2026-12-07', drillRun: 'c0ffee' });
    expect(third).toMatchObject({ message: 'no execution' });
    expect(third).not.toHaveProperty('correlation_id');
    expect(third).not.toHaveProperty('drillRun');
  });
});

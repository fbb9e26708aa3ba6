import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';

export interface BackupScheduleProps {
  /** The backup workflow to start. */
  readonly stateMachine: sfn.IStateMachine;
  /**
   * When to start it (EventBridge rules run in UTC).
   * @default events.Schedule.cron({ minute: '0', hour: '2' }) - cron(0 2 * * ? *), 02:00 UTC daily
   */
  readonly schedule?: events.Schedule;
  /**
   * Whether the rule is enabled.
   * @default true
   */
  readonly enabled?: boolean;
}

/** Starts the backup workflow on a schedule, with `{}` as input so the job picks the tier by date. */
export class BackupSchedule extends Construct {
  public readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: BackupScheduleProps) {
    super(scope, id);
    // A fixed input, not the scheduled event: the workflow reads only an optional "tier".
    this.rule = startOnSchedule(
      this,
      props,
      'crypto-stock-dr: nightly backup of every configured database',
      events.Schedule.cron({ minute: '0', hour: '2' }),
    );
  }
}

export interface DrillScheduleProps {
  /** The drill workflow to start. */
  readonly stateMachine: sfn.IStateMachine;
  /**
   * When to start it (UTC).
   * @default events.Schedule.cron({ minute: '0', hour: '3', weekDay: 'SUN#1' }) - cron(0 3 ? * SUN#1 *), 03:00 UTC on the first Sunday of each month
   */
  readonly schedule?: events.Schedule;
  /**
   * Whether the rule is enabled (config `drill.scheduleEnabled`).
   * @default true
   */
  readonly enabled?: boolean;
}

/** Starts the restore drill of every configured database once a month, with `{}` as input (today's date names the scratch databases). */
export class DrillSchedule extends Construct {
  public readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: DrillScheduleProps) {
    super(scope, id);
    this.rule = startOnSchedule(
      this,
      props,
      'crypto-stock-dr: monthly restore drill (first Sunday) of every configured database',
      events.Schedule.cron({ minute: '0', hour: '3', weekDay: 'SUN#1' }),
    );
  }
}

/** A rule starting `props.stateMachine` with `{}` as input on `props.schedule ?? defaultSchedule`. */
function startOnSchedule(
  scope: Construct,
  props: BackupScheduleProps | DrillScheduleProps,
  description: string,
  defaultSchedule: events.Schedule,
): events.Rule {
  const rule = new events.Rule(scope, 'Rule', {
    description,
    schedule: props.schedule ?? defaultSchedule,
    enabled: props.enabled ?? true,
  });
  rule.addTarget(new targets.SfnStateMachine(props.stateMachine, { input: events.RuleTargetInput.fromObject({}) }));
  return rule;
}

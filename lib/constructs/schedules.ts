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
    this.rule = new events.Rule(this, 'Rule', {
      description: 'crypto-stock-dr: nightly backup of every configured database',
      schedule: props.schedule ?? events.Schedule.cron({ minute: '0', hour: '2' }),
      enabled: props.enabled ?? true,
    });
    // A fixed input, not the scheduled event: the workflow reads only an optional "tier".
    this.rule.addTarget(new targets.SfnStateMachine(props.stateMachine, { input: events.RuleTargetInput.fromObject({}) }));
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
    this.rule = new events.Rule(this, 'Rule', {
      description: 'crypto-stock-dr: monthly restore drill (first Sunday) of every configured database',
      schedule: props.schedule ?? events.Schedule.cron({ minute: '0', hour: '3', weekDay: 'SUN#1' }),
      enabled: props.enabled ?? true,
    });
    this.rule.addTarget(new targets.SfnStateMachine(props.stateMachine, { input: events.RuleTargetInput.fromObject({}) }));
  }
}

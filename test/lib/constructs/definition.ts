import type { Template } from 'aws-cdk-lib/assertions';

/** Pseudo parameters and a dummy ARN per reference, so a definition can be parsed and run offline. */
const PSEUDO: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': 'us-east-1',
  'AWS::AccountId': '123456789012',
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': 'TestDr',
};

/** Resolves Fn::Join / Ref / Fn::GetAtt into plain strings (references become dummy ARNs). */
export function resolveTokens(value: unknown): string {
  if (typeof value === 'string') return value;
  const o = value as Record<string, any>;
  if ('Fn::Join' in o) return (o['Fn::Join'][1] as unknown[]).map(resolveTokens).join(o['Fn::Join'][0]);
  if ('Ref' in o) return PSEUDO[o.Ref] ?? `arn:aws:dummy:us-east-1:123456789012:ref/${o.Ref}`;
  if ('Fn::GetAtt' in o)
    return `arn:aws:dummy:us-east-1:123456789012:getatt/${o['Fn::GetAtt'][0]}/${o['Fn::GetAtt'][1]}`;
  throw new Error(`cannot resolve ${JSON.stringify(value)}`);
}

/**
 * A state machine's definition as plain JSON: the one whose logical id contains `construct` (its
 * construct id, e.g. 'BackupWorkflow'), or the template's only one when `construct` is omitted.
 */
export function definitionOf(template: Template, construct?: string): Record<string, any> {
  const all = Object.entries(template.findResources('AWS::StepFunctions::StateMachine')) as [
    string,
    { Properties: { DefinitionString: unknown } },
  ][];
  const machines = construct === undefined ? all : all.filter(([logicalId]) => logicalId.includes(construct));
  if (machines.length !== 1)
    throw new Error(
      `expected one state machine${construct ? ` of ${construct}` : ''}, found ${machines.length}: ${all.map(([id]) => id).join(', ')}`,
    );
  return JSON.parse(resolveTokens(machines[0]![1].Properties.DefinitionString));
}

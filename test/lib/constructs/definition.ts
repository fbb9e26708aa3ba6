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
  if ('Fn::GetAtt' in o) return `arn:aws:dummy:us-east-1:123456789012:getatt/${o['Fn::GetAtt'][0]}/${o['Fn::GetAtt'][1]}`;
  throw new Error(`cannot resolve ${JSON.stringify(value)}`);
}

/** The (single) state machine's definition as plain JSON. */
export function definitionOf(template: Template): Record<string, any> {
  const machines = Object.values(template.findResources('AWS::StepFunctions::StateMachine')) as { Properties: { DefinitionString: unknown } }[];
  if (machines.length !== 1) throw new Error(`expected one state machine, found ${machines.length}`);
  return JSON.parse(resolveTokens(machines[0].Properties.DefinitionString));
}

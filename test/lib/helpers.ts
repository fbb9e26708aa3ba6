import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { type DrConfig, parseConfig } from '../../lib/config.ts';
import { DrStack, type DrStackProps } from '../../lib/dr-stack.ts';

const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};

/** An App with cdk.json's context (feature flags included), so tests see what `cdk synth` deploys. */
export function newApp(): App {
  return new App({ context: cdkJson.context });
}

/**
 * `raw` parsed as an example config (placeholders allowed, missing offsite account, scratch server
 * and alert subscription filled with stand-ins), as most template tests need; parseConfig itself
 * for a deployable one.
 */
export function testConfig(raw: Record<string, unknown> = {}): DrConfig {
  return parseConfig({ example: true, ...raw });
}

/** cdk.json's raw `dr` object. */
export function shippedRaw(): Record<string, unknown> {
  return structuredClone(cdkJson.context.dr) as Record<string, unknown>;
}

/** The configuration cdk.json ships with. */
export function shippedConfig(): DrConfig {
  return parseConfig(cdkJson.context.dr);
}

export interface BuiltStack {
  readonly app: App;
  readonly stack: DrStack;
  readonly template: Template;
}

/** Builds the whole stack from raw config (as cdk.json's `dr` would hold it). */
export function buildStack(rawConfig?: unknown, props: Partial<DrStackProps> = {}): BuiltStack {
  const app = newApp();
  const config = rawConfig === undefined ? shippedConfig() : testConfig(rawConfig as Record<string, unknown>);
  const stack = new DrStack(app, 'TestDr', { config, ...props });
  return { app, stack, template: Template.fromStack(stack) };
}

/** The one resource of `type` in the template (fails when there is not exactly one). */
export function onlyResource(template: Template, type: string, props?: object): { Properties: Record<string, any> } {
  const found = Object.values(template.findResources(type, props ? { Properties: props } : undefined));
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0] as { Properties: Record<string, any> };
}

#!/usr/bin/env node
/**
 * The CDK app. The only place that reads configuration: cdk.json context `dr`, or the JSON file
 * named by context `configFile` (`npx cdk synth -c configFile=prod.json`), validated by lib/config.ts.
 */
import { readFileSync } from 'node:fs';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { parseConfig } from '../lib/config.ts';
import { blockExampleDeploy, DrStack } from '../lib/dr-stack.ts';
import { addOffsiteStack } from '../lib/offsite-stack.ts';

const app = new App();

const configFile: unknown = app.node.tryGetContext('configFile');
let raw: unknown;
if (typeof configFile === 'string' && configFile !== '') {
  try {
    raw = JSON.parse(readFileSync(configFile, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read the dr config file ${configFile} (context configFile): ${(err as Error).message}`);
  }
} else {
  raw = app.node.tryGetContext('dr');
}
const config = parseConfig(raw);

const primary = new DrStack(app, 'CryptoStockDr', {
  config,
  description: 'crypto-stock-dr: PostgreSQL/TimescaleDB backups to an encrypted, versioned S3 vault',
  // Set by the CDK CLI from the current credentials; needed only for an existing VPC (vpcId lookup).
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});

if (config.offsite.enabled) {
  // The primary account, as the offsite bucket policy names it (needed for a second account).
  const offsite = addOffsiteStack(
    app,
    primary,
    config.offsite,
    process.env.CDK_DEFAULT_ACCOUNT,
    config.breakGlassRoleArn,
  );
  if (config.example) blockExampleDeploy(offsite, config.placeholders);
}

Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

/** The one Secrets Manager read of the Lambdas: a secret's SecretString (database credentials as JSON). */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DrError } from '../../core/errors.ts';

/** Reads a secret's SecretString; what the handlers take as `getSecret`, so tests can pass credentials instead. */
export type SecretReader = (arn: string) => Promise<string>;

/** GetSecretValue through `client`; a secret without a string value is a DrError. */
export function secretReader(client: Pick<SecretsManagerClient, 'send'>): SecretReader {
  return async (arn) => {
    const response = await client.send(new GetSecretValueCommand({ SecretId: arn }));
    if (response.SecretString === undefined)
      throw new DrError(`secret ${arn} has no string value`, 'store the credentials as a JSON SecretString');
    return response.SecretString;
  };
}

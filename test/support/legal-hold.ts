/**
 * s3rver implements neither PutObjectLegalHold nor GetObjectLegalHold (test/core/repository/verified-hold.test.ts
 * proves it), and Legal Holds are an AWS S3 data-plane feature with no local equivalent here: this
 * client sends every request to the real s3rver except those two, answered from `holds`.
 */
import { GetObjectLegalHoldCommand, PutObjectLegalHoldCommand, type S3Client } from '@aws-sdk/client-s3';

/** s3rver for everything, except the two Legal Hold commands, answered from `holds` (bucket/key -> ON/OFF). */
export function legalHoldClient(real: S3Client, holds: Map<string, 'ON' | 'OFF'>, calls: string[] = []): S3Client {
  const send = async (command: any) => {
    if (command instanceof PutObjectLegalHoldCommand) {
      const { Bucket, Key, LegalHold } = command.input;
      calls.push(`${LegalHold!.Status} ${Key}`);
      holds.set(`${Bucket}/${Key}`, LegalHold!.Status as 'ON' | 'OFF');
      return {};
    }
    if (command instanceof GetObjectLegalHoldCommand) {
      const status = holds.get(`${command.input.Bucket}/${command.input.Key}`);
      if (status === undefined)
        throw Object.assign(new Error('The specified object does not have a ObjectLock configuration'), {
          name: 'NoSuchObjectLockConfiguration',
          $metadata: { httpStatusCode: 404 },
        });
      return { LegalHold: { Status: status } };
    }
    return real.send(command);
  };
  return new Proxy(real, { get: (target, prop) => (prop === 'send' ? send : Reflect.get(target, prop)) });
}

// AWS MSK IAM authentication: an OAUTHBEARER token that AWS's signer library computes locally (a
// SigV4-presigned `kafka-cluster:Connect` URL for the region) from the process's AWS credentials.
import type { IssuedToken } from './token-cache';

export interface MskIamOptions {
  region: string;
  /** Assumed (STS) before signing; else the default credentials chain signs. */
  roleArn?: string;
}

/** The session name of an assumed role: shows in CloudTrail as who connected. */
export const MSK_ROLE_SESSION_NAME = 'sluice';

/** A signed token and when it expires (the signer's default lifetime: 15 minutes). */
export async function mskIamToken(options: MskIamOptions): Promise<IssuedToken> {
  // Loaded on first use: the AWS SDK is large, and most processes never read from MSK.
  const { generateAuthToken } = await import('aws-msk-iam-sasl-signer-js');
  const { token, expiryTime } = await generateAuthToken(
    options.roleArn === undefined
      ? { region: options.region }
      : {
          region: options.region,
          awsRoleArn: options.roleArn,
          awsRoleSessionName: MSK_ROLE_SESSION_NAME,
        },
  );
  return { value: token, expiresAt: expiryTime };
}

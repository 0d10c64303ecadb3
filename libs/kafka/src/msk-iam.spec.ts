import { mskIamToken } from './msk-iam';

/** The presigned URL a MSK IAM token carries (base64url, no padding). */
function signedUrl(token: string): URL {
  return new URL(Buffer.from(token, 'base64url').toString());
}

describe('mskIamToken', () => {
  const saved = { ...process.env };

  beforeEach(() => {
    // Fake static credentials: the default chain takes them from the environment, and the
    // signer computes the token locally (no network).
    process.env.AWS_ACCESS_KEY_ID = 'AKIAEXAMPLEEXAMPLE00';
    process.env.AWS_SECRET_ACCESS_KEY = 'fake/secret/key/for/a/unit/test/only0000';
    delete process.env.AWS_SESSION_TOKEN;
    delete process.env.AWS_PROFILE;
  });

  afterEach(() => {
    process.env = { ...saved };
  });

  it('signs a kafka-cluster:Connect request for the region with the environment credentials', async () => {
    const before = Date.now();
    const { value, expiresAt } = await mskIamToken({ region: 'eu-west-1' });
    const url = signedUrl(value);
    expect(url.hostname).toBe('kafka.eu-west-1.amazonaws.com');
    expect(url.searchParams.get('Action')).toBe('kafka-cluster:Connect');
    expect(url.searchParams.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(url.searchParams.get('X-Amz-Credential')).toMatch(
      /^AKIAEXAMPLEEXAMPLE00\/\d{8}\/eu-west-1\/kafka-cluster\/aws4_request$/,
    );
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    // The signer's 15-minute lifetime, which the token cache refreshes ahead of.
    expect(expiresAt).toBeGreaterThanOrEqual(before + 14 * 60_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 15 * 60_000 + 1_000);

    const other = signedUrl((await mskIamToken({ region: 'us-east-2' })).value);
    expect(other.hostname).toBe('kafka.us-east-2.amazonaws.com');
    expect(other.searchParams.get('X-Amz-Credential')).toContain('/us-east-2/kafka-cluster/');
  });
});

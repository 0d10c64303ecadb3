// A bearer token that is fetched, kept until shortly before it expires, then fetched again; one
// fetch at a time however many connections ask at once (a consumer group's brokers, the probe).

export interface IssuedToken {
  value: string;
  /** Epoch ms when the issuer says the token stops being accepted; undefined when unknown. */
  expiresAt?: number;
}

export interface TokenCacheOptions {
  /** Refresh this long before expiry (or a fifth of the lifetime when that is shorter). */
  refreshMarginMs?: number;
  /** How long a token without a stated expiry is reused. */
  unknownLifetimeMs?: number;
  now?: () => number;
}

const DEFAULT_MARGIN_MS = 60_000;
const DEFAULT_UNKNOWN_LIFETIME_MS = 60_000;

export class TokenCache {
  private current: { value: string; refreshAt: number } | undefined;
  private inFlight: Promise<string> | undefined;
  private readonly now: () => number;

  constructor(
    private readonly issue: () => Promise<IssuedToken>,
    private readonly options: TokenCacheOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  /** A token valid for a while yet: the cached one, or a fresh one. */
  async token(): Promise<string> {
    if (this.current && this.now() < this.current.refreshAt) return this.current.value;
    this.inFlight ??= this.refresh().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async refresh(): Promise<string> {
    const issuedAt = this.now();
    const token = await this.issue();
    this.current = { value: token.value, refreshAt: this.refreshAt(issuedAt, token.expiresAt) };
    return token.value;
  }

  private refreshAt(issuedAt: number, expiresAt: number | undefined): number {
    if (expiresAt === undefined) {
      return issuedAt + (this.options.unknownLifetimeMs ?? DEFAULT_UNKNOWN_LIFETIME_MS);
    }
    // Counted from when the request left, so a slow answer does not stretch the lifetime.
    const lifetime = Math.max(0, expiresAt - issuedAt);
    const margin = Math.min(this.options.refreshMarginMs ?? DEFAULT_MARGIN_MS, lifetime / 5);
    return issuedAt + lifetime - margin;
  }
}

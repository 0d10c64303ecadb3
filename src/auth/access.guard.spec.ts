import { Controller, Get, HttpException, Logger, Post } from '@nestjs/common';
import { DiscoveryModule, Reflector } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { SLUICE_CONFIG, type ApiAccessConfig, type SluiceConfig } from '../config';
import { Access } from './access.decorator';
import { AccessGuard } from './access.guard';
import { RouteAccessCheck } from './route-access.check';
import { parseApiTokens, tokenDigest } from './tokens';

@Controller('x')
class Routes {
  @Get()
  @Access('read')
  read() {}

  @Post()
  @Access('operate')
  operate() {}

  @Post('undeclared')
  undeclared() {}
}

function configWith(api: Partial<ApiAccessConfig>): SluiceConfig {
  const full: ApiAccessConfig = {
    mode: 'tokens',
    tokens: parseApiTokens(`r:read:${tokenDigest('R')},o:operate:${tokenDigest('O')}`).tokens,
    metricsDigest: undefined,
    corsOrigins: [],
    rateLimitPerMinute: 0,
    ...api,
  };
  return { api: full } as SluiceConfig;
}

function context(
  handler: keyof Routes,
  method: string,
  headers: Record<string, string>,
  remote = '10.1.1.1',
) {
  const type = method === 'POST' ? { 'content-type': 'application/json' } : {};
  const host = { host: remote.includes(':') ? `[${remote}]:3000` : `${remote}:3000` };
  const req = {
    method,
    headers: { ...host, ...type, ...headers },
    url: '/x',
    socket: { remoteAddress: remote },
  };
  const res = { setHeader: jest.fn(), once: jest.fn(), statusCode: 200 };
  return {
    getType: () => 'http',
    getHandler: () => Routes.prototype[handler],
    getClass: () => Routes,
    switchToHttp: () => ({ getRequest: () => req, getResponse: () => res }),
  } as never;
}

function statusOf(run: () => unknown): number {
  try {
    run();
    return 200;
  } catch (err) {
    if (err instanceof HttpException) return err.getStatus();
    throw err;
  }
}

// The audit lines are asserted end to end (test/auth.test.ts); here they would only be noise.
beforeAll(() => {
  Logger.overrideLogger(false);
});

describe('AccessGuard', () => {
  const guard = new AccessGuard(new Reflector(), configWith({}));
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it('gives 401 with no or an unknown token, 403 below the role, passes at or above it', () => {
    expect(statusOf(() => guard.canActivate(context('read', 'GET', {})))).toBe(401);
    expect(statusOf(() => guard.canActivate(context('read', 'GET', bearer('nope'))))).toBe(401);
    expect(statusOf(() => guard.canActivate(context('read', 'GET', bearer('R'))))).toBe(200);
    expect(statusOf(() => guard.canActivate(context('operate', 'POST', bearer('R'))))).toBe(403);
    expect(statusOf(() => guard.canActivate(context('operate', 'POST', bearer('O'))))).toBe(200);
  });

  it('refuses a POST whose body is not JSON or YAML (cross-site simple requests)', () => {
    const post = (type: Record<string, string>) =>
      statusOf(() => guard.canActivate(context('operate', 'POST', { ...bearer('O'), ...type })));
    expect(post({ 'content-type': 'text/plain' })).toBe(415);
    expect(post({ 'content-type': 'application/x-www-form-urlencoded' })).toBe(415);
    expect(post({ 'content-type': '' })).toBe(415);
    expect(post({ 'content-type': 'application/yaml' })).toBe(200);
    expect(post({ 'content-type': 'application/json; charset=utf-8' })).toBe(200);
  });

  it('treats a route with no declaration as admin', () => {
    expect(statusOf(() => guard.canActivate(context('undeclared', 'POST', bearer('O'))))).toBe(403);
  });

  it('without tokens serves loopback clients only, unless API_AUTH=off', () => {
    const loopback = new AccessGuard(new Reflector(), configWith({ mode: 'loopback', tokens: [] }));
    expect(statusOf(() => loopback.canActivate(context('operate', 'POST', {}, '127.0.0.1')))).toBe(
      200,
    );
    expect(statusOf(() => loopback.canActivate(context('operate', 'POST', {}, '::1')))).toBe(200);
    expect(statusOf(() => loopback.canActivate(context('read', 'GET', {}, '10.1.1.1')))).toBe(403);
    // DNS rebinding: a loopback client whose request names another host.
    expect(
      statusOf(() =>
        loopback.canActivate(
          context('read', 'GET', { host: 'evil.example.com:3000' }, '127.0.0.1'),
        ),
      ),
    ).toBe(403);
    expect(
      statusOf(() =>
        loopback.canActivate(context('read', 'GET', { host: 'localhost:3000' }, '127.0.0.1')),
      ),
    ).toBe(200);
    const off = new AccessGuard(new Reflector(), configWith({ mode: 'off', tokens: [] }));
    expect(statusOf(() => off.canActivate(context('operate', 'POST', {}, '10.1.1.1')))).toBe(200);
  });
});

describe('RouteAccessCheck', () => {
  it('refuses to start while a route declares no access', async () => {
    const module = await Test.createTestingModule({
      imports: [DiscoveryModule],
      controllers: [Routes],
      providers: [RouteAccessCheck, { provide: SLUICE_CONFIG, useValue: configWith({}) }],
    }).compile();
    await expect(module.init()).rejects.toThrow(
      'route(s) with no @Access declaration: Routes.undeclared',
    );
  });
});

import { describe, expect, it, vi } from 'vitest';
import { DeferredChildLogger, createLogger, maskUrlCredentials } from '../../service/log.js';

function capture(): { lines: string[]; logger: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(l) } }) };
}

describe('logger redaction', () => {
  it('censors secret fields at the top level and one level down', () => {
    const { lines, logger } = capture();
    logger.info(
      {
        password: 'pw-top',
        token: 'tok-top',
        storeUrl: 'postgres://u:pg-secret@db/crs',
        headers: { authorization: 'Bearer hdr-secret' },
        dataverse: { clientSecret: 'cs-secret' },
        campaign: { apiPassword: 'api-secret' },
        req: { headers: { authorization: 'Basic req-secret' } },
        visible: 'keep-me',
      },
      'hello',
    );
    const line = lines.join('');
    for (const secret of ['pw-top', 'tok-top', 'pg-secret', 'hdr-secret', 'cs-secret', 'api-secret', 'req-secret']) {
      expect(line).not.toContain(secret);
    }
    expect(line).toContain('keep-me');
    expect(line).toContain('[redacted]');
  });

  it('censors the secrets of a logged config object', () => {
    const { lines, logger } = capture();
    logger.info({
      config: {
        adminToken: 'adm-secret',
        storeUrl: 'postgres://u:pg2@db/x',
        webhook: { token: 'wh-secret', password: 'wh-pw' },
        dataverse: { clientSecret: 'dv-secret' },
        campaign: { apiPassword: 'cp-secret' },
      },
    });
    const line = lines.join('');
    for (const secret of ['adm-secret', 'pg2', 'wh-secret', 'wh-pw', 'dv-secret', 'cp-secret']) expect(line).not.toContain(secret);
  });
});

describe('DeferredChildLogger (per-request logger)', () => {
  it('makes no pino child until something is logged', () => {
    const { logger } = capture();
    const child = vi.spyOn(logger, 'child');
    const deferred = new DeferredChildLogger(logger, { reqId: 'req-1' }, undefined);
    expect(deferred.level).toBe('info');
    deferred.debug('below the level');
    expect(child).toHaveBeenCalledTimes(1); // debug() needs the real child too: pino decides, not us
    child.mockClear();
    const unused = new DeferredChildLogger(logger, { reqId: 'req-2' }, undefined);
    expect(unused.level).toBe('info');
    expect(child).not.toHaveBeenCalled();
  });

  it('logs with the request bindings, the parent bindings and redaction, once child is made', () => {
    const { lines, logger } = capture();
    const deferred = new DeferredChildLogger(logger.child({ component: 'http' }), { reqId: 'req-7' }, undefined);
    deferred.warn({ authorization: 'Bearer sekrit', clientId: '42' }, 'quarantined');
    deferred.error('second line');
    const [first, second] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first).toMatchObject({ reqId: 'req-7', component: 'http', clientId: '42', authorization: '[redacted]', msg: 'quarantined', level: 40 });
    expect(second).toMatchObject({ reqId: 'req-7', msg: 'second line', level: 50 });
    expect(lines.join('')).not.toContain('sekrit');
  });

  it('honours a route log level and changes of level', () => {
    const { lines, logger } = capture();
    const deferred = new DeferredChildLogger(logger, { reqId: 'r' }, { level: 'error' });
    expect(deferred.level).toBe('error');
    deferred.warn('dropped');
    expect(lines).toHaveLength(0);
    deferred.level = 'warn';
    deferred.warn('kept');
    expect(lines).toHaveLength(1);
    expect(deferred.child({ sub: 1 }).level).toBe('warn');
  });
});

describe('maskUrlCredentials', () => {
  it.each([
    ['postgres://crs:hunter2@db:5432/crs', 'postgres://crs:***@db:5432/crs'],
    ['postgresql://crs@db/crs', 'postgresql://crs@db/crs'],
    ['sqlite:./data/crs.sqlite', 'sqlite:./data/crs.sqlite'],
    ['https://u:p@x.example/path', 'https://u:***@x.example/path'],
  ])('%s → %s', (input, expected) => expect(maskUrlCredentials(input)).toBe(expected));
});

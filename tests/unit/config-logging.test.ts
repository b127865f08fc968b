import { describe, expect, it } from 'vitest';
import { createLogger, maskUrlCredentials } from '../../service/log.js';

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

describe('maskUrlCredentials', () => {
  it.each([
    ['postgres://crs:hunter2@db:5432/crs', 'postgres://crs:***@db:5432/crs'],
    ['postgresql://crs@db/crs', 'postgresql://crs@db/crs'],
    ['sqlite:./data/crs.sqlite', 'sqlite:./data/crs.sqlite'],
    ['https://u:p@x.example/path', 'https://u:***@x.example/path'],
  ])('%s → %s', (input, expected) => expect(maskUrlCredentials(input)).toBe(expected));
});

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { ConfigError, OPTIONS, loadConfig } from '../src/config.js';

function configFile(content: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'mailverify-config-')), 'config.json');
  writeFileSync(path, content);
  return path;
}

describe('loadConfig', () => {
  it('gives every option a working default', () => {
    const config = loadConfig({ env: {} });
    expect(config.smtpPort).toBe(25);
    expect(config.greylistRetry).toEqual([60, 240]);
    expect(config.allowPrivateMx).toBe(false);
    expect(config.cache).toBe(true);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads the environment over the defaults', () => {
    const config = loadConfig({
      env: {
        MAILVERIFY_SMTP_PORT: '2525',
        MAILVERIFY_DNS_SERVERS: '127.0.0.1:5353, 127.0.0.2',
        MAILVERIFY_ALLOW_PRIVATE_MX: 'yes',
        MAILVERIFY_GREYLIST_RETRY: '0',
      },
    });
    expect(config.smtpPort).toBe(2525);
    expect(config.dnsServers).toHaveLength(2);
    expect(config.allowPrivateMx).toBe(true);
    expect(config.greylistRetry).toEqual([]);
  });

  it('lets the file set options, the environment override the file, flags override both', () => {
    const file = configFile(
      JSON.stringify({ smtpPort: 2600, heloName: 'mx.file.example', timeout: 9 }),
    );
    const config = loadConfig({
      env: { MAILVERIFY_SMTP_PORT: '2700', MAILVERIFY_TIMEOUT: '12' },
      file,
      overrides: { timeout: 3 },
    });
    expect(config.heloName).toBe('mx.file.example');
    expect(config.smtpPort).toBe(2700);
    expect(config.timeout).toBe(3);
  });

  it('lists every problem at once, named by flag and environment variable', () => {
    const attempt = () =>
      loadConfig({
        env: { MAILVERIFY_SMTP_PORT: 'abc', MAILVERIFY_CONCURRENCY: '0' },
        overrides: { mailFrom: 'not an address' },
      });
    expect(attempt).toThrow(ConfigError);
    try {
      attempt();
    } catch (error) {
      const problems = (error as ConfigError).problems.join('\n');
      expect(problems).toContain('--smtp-port (MAILVERIFY_SMTP_PORT)');
      expect(problems).toContain('--concurrency (MAILVERIFY_CONCURRENCY)');
      expect(problems).toContain('--from (MAILVERIFY_MAIL_FROM)');
    }
  });

  it('refuses a DNS server given by name and a proxy that is not SOCKS5', () => {
    expect(() => loadConfig({ env: {}, overrides: { dnsServers: ['dns.example.net'] } })).toThrow(
      /--dns-server/,
    );
    expect(() => loadConfig({ env: {}, overrides: { proxy: 'http://127.0.0.1:8080' } })).toThrow(
      /--proxy/,
    );
  });

  it('refuses unknown keys and broken JSON in the config file', () => {
    expect(() => loadConfig({ env: {}, file: configFile('{"smtpPrt": 25}') })).toThrow(/smtpPrt/);
    expect(() => loadConfig({ env: {}, file: configFile('{smtpPort') })).toThrow(/not valid JSON/);
    expect(() => loadConfig({ env: {}, file: '/nonexistent/mailverify.json' })).toThrow(
      /config file/,
    );
  });

  it('is documented option by option in the README', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const option of OPTIONS) {
      expect(readme, option.env).toContain(`\`${option.env}\``);
      if (option.flag) expect(readme, option.flag).toContain(`\`${option.flag}`);
    }
  });
});

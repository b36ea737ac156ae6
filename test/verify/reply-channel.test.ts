import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';

import { ReplyChannel } from '../../src/verify/reply-channel.js';
import type { ChannelSettings } from '../../src/verify/reply-channel.js';

/** A socket stand-in: what the channel writes is kept, what the server says is pushed. */
function createFakeSocket() {
  const written: string[] = [];
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      written.push(chunk.toString('utf8'));
      callback();
    },
  });
  const say = (text: string): void => {
    socket.push(Buffer.from(text));
  };
  return { socket, written, say };
}

function openChannel(settings: Partial<ChannelSettings> = {}) {
  const fake = createFakeSocket();
  const transcript: string[] = [];
  let failedCount = 0;
  const channel = new ReplyChannel(fake.socket, {
    limits: {},
    onTranscript: (direction, line) => transcript.push(`${direction}: ${line}`),
    onFailed: () => (failedCount += 1),
    ...settings,
  });
  return { channel, ...fake, transcript, failedCount: () => failedCount };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('ReplyChannel', () => {
  it('hands each reply to the command that waited first, even in one chunk', async () => {
    const { channel, say } = openChannel();
    const first = channel.expect('mail', 1_000);
    const second = channel.expect('rcpt', 1_000);

    say('250 2.1.0 Sender OK\r\n550 5.1.1 No such user\r\n');

    expect(await first).toEqual({
      ok: true,
      reply: { code: 250, enhancedCode: '2.1.0', text: 'Sender OK' },
    });
    expect(await second).toEqual({
      ok: true,
      reply: { code: 550, enhancedCode: '5.1.1', text: 'No such user' },
    });
  });

  it('writes all lines at once and shows them in the transcript without CRLF', async () => {
    const { channel, written, say, transcript } = openChannel();
    const reply = channel.expect('rcpt', 1_000);

    channel.write(['RCPT TO:<a@example.test>\r\n']);
    say('250 OK\r\n');
    await reply;

    expect(written).toEqual(['RCPT TO:<a@example.test>\r\n']);
    expect(transcript).toEqual(['client: RCPT TO:<a@example.test>', 'server: 250 OK']);
  });

  it('fails with protocol_error on a reply nobody asked for, and destroys the socket', async () => {
    const { channel, socket, say, failedCount } = openChannel();

    say('250 surprise\r\n');
    await flush();

    expect(channel.hasFailed).toBe(true);
    expect(channel.failureAt('mail')).toMatchObject({ kind: 'protocol_error', stage: 'mail' });
    expect(socket.destroyed).toBe(true);
    expect(failedCount()).toBe(1);
  });

  it('takes an unrequested 421 for the server closing the session (RFC 5321 3.8)', async () => {
    const { channel, say } = openChannel();

    say('421 4.3.2 Service shutting down\r\n');
    await flush();

    expect(channel.failureAt('rcpt')).toMatchObject({ kind: 'closed', stage: 'rcpt' });
  });

  it('times out the oldest wait and fails the later ones with it', async () => {
    const { channel } = openChannel();

    const first = channel.expect('mail', 30);
    const second = channel.expect('rcpt', 5_000);

    expect(await first).toMatchObject({ ok: false, failure: { kind: 'timeout', stage: 'mail' } });
    expect(await second).toMatchObject({ ok: false, failure: { kind: 'timeout', stage: 'rcpt' } });
  });

  it('answers a wait at once after a failure, at the stage asked', async () => {
    const { channel, failedCount } = openChannel();
    channel.fail({ kind: 'closed', message: 'session closed by the client' });
    channel.fail({ kind: 'timeout', message: 'later trouble' });

    expect(await channel.expect('ehlo', 1_000)).toEqual({
      ok: false,
      failure: { kind: 'closed', stage: 'ehlo', message: 'session closed by the client' },
    });
    expect(failedCount()).toBe(1);
  });

  it('fails with closed when the connection ends in the middle of a reply', async () => {
    const { channel, socket, say } = openChannel();
    const reply = channel.expect('rcpt', 1_000);

    say('250-first line\r\n');
    socket.push(null);

    expect(await reply).toMatchObject({
      ok: false,
      failure: { kind: 'closed', message: 'connection closed in the middle of a reply' },
    });
  });

  it('stops reading after the STARTTLS go-ahead, so injected replies are never believed', async () => {
    const { channel, say } = openChannel();
    const goAhead = channel.expect('tls', 1_000, true);

    say('220 2.0.0 Ready to start TLS\r\n250 injected in the clear\r\n');
    expect(await goAhead).toMatchObject({ ok: true, reply: { code: 220 } });

    const afterTls = channel.expect('ehlo', 1_000);
    const upgraded = createFakeSocket();
    channel.continueOver(upgraded.socket);
    upgraded.say('250 greeted over TLS\r\n');

    expect(await afterTls).toMatchObject({
      ok: true,
      reply: { code: 250, text: 'greeted over TLS' },
    });
  });

  it('keeps reading after a refused STARTTLS', async () => {
    const { channel, say } = openChannel();
    const refusal = channel.expect('tls', 1_000, true);
    const next = channel.expect('mail', 1_000);

    say('454 4.7.0 TLS not available\r\n250 2.1.0 OK\r\n');

    expect(await refusal).toMatchObject({ ok: true, reply: { code: 454 } });
    expect(await next).toMatchObject({ ok: true, reply: { code: 250 } });
  });

  it('fails with protocol_error when a reply line exceeds maxLineBytes', async () => {
    const { channel, say } = openChannel({ limits: { maxLineBytes: 64 } });
    const reply = channel.expect('banner', 1_000);

    say(`220 ${'x'.repeat(200)}`);

    expect(await reply).toMatchObject({ ok: false, failure: { kind: 'protocol_error' } });
  });
});

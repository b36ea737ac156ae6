/**
 * `mailverify doctor`: reports whether this machine's sender identity is
 * sound. Exit status 1 when any check fails.
 */
import { Command } from 'commander';

import { createResolver } from '../verify/create-resolver.js';
import { createSocks5Opener, createTcpOpener } from '../verify/open-socket.js';
import type { IdentityResolver } from '../verify/types.js';
import type { CommandIo } from './check-command.js';
import { CommandExit } from './command-exit.js';
import { diagnoseSender } from './diagnose-sender.js';
import { addVerificationOptions, loadCommandConfig } from './verification-options.js';

const DOCTOR_TIMEOUT_MS = 10_000;

export function createDoctorCommand(io: CommandIo): Command {
  const command = new Command('doctor')
    .description('check outbound SMTP, reverse DNS and SPF of the sender identity')
    .option('--host <host[:port]>', 'mail server to connect to')
    .option('--domain <domain>', 'connect to the first mail server of this domain')
    .option('--egress-ip <ip>', 'public IP that mail servers see, when behind NAT or a proxy');
  addVerificationOptions(command);

  command.action(async (options: { host?: string; domain?: string; egressIp?: string }) => {
    const config = loadCommandConfig(command, io.env);
    const resolver = createResolver({
      servers: config.dnsServers,
      timeoutMs: DOCTOR_TIMEOUT_MS,
      tries: 2,
    }) as IdentityResolver;
    const opener = config.proxy ? createSocks5Opener(config.proxy) : createTcpOpener();

    const reports = await diagnoseSender(
      {
        heloName: config.heloName,
        mailFrom: config.mailFrom,
        smtpPort: config.smtpPort,
        host: options.host,
        domain: options.domain,
        egressIp: options.egressIp,
        timeoutMs: DOCTOR_TIMEOUT_MS,
        isProxied: Boolean(config.proxy),
      },
      { resolver, opener },
    );

    for (const report of reports) {
      io.stdout.write(`${report.status.padEnd(5)} ${report.name.padEnd(14)} ${report.detail}\n`);
    }
    const failed = reports.filter((report) => report.status === 'fail');
    if (failed.length > 0) {
      throw new CommandExit('failure', `${failed.length} check(s) failed`);
    }
  });
  return command;
}

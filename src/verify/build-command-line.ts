/**
 * SMTP command lines, built from their parts. Every argument is checked
 * here, the last step before the socket, so no address can end a line or a
 * path early and smuggle in a command of its own.
 */

// RFC 5321 4.5.3.1.4: a command line is at most 512 octets, CRLF included.
const MAX_COMMAND_LINE_BYTES = 512;

// Control characters (C0, DEL, C1), lone surrogates and angle brackets: none
// may reach the wire, so no argument can end a line or a path early.
const UNSAFE_ARGUMENT = /[\p{Cc}\p{Cs}<>]/u;

/** The only commands this client can put on the wire. */
export type SmtpCommand =
  | { verb: 'EHLO' | 'HELO'; domain: string }
  | { verb: 'MAIL FROM'; reversePath: string; smtputf8?: boolean }
  | { verb: 'RCPT TO'; forwardPath: string }
  | { verb: 'STARTTLS' | 'RSET' | 'QUIT' };

/**
 * Builds one command line, CRLF included. Throws on an argument that could
 * smuggle a line end, a control byte or an angle bracket: the syntax module
 * rejects such addresses first, so reaching here with one is a bug.
 */
export function buildCommandLine(command: SmtpCommand): string {
  const line = `${formatCommand(command)}\r\n`;

  if (Buffer.byteLength(line, 'utf8') > MAX_COMMAND_LINE_BYTES) {
    throw new Error(`${command.verb} command longer than ${MAX_COMMAND_LINE_BYTES} octets`);
  }
  return line;
}

function formatCommand(command: SmtpCommand): string {
  switch (command.verb) {
    case 'EHLO':
    case 'HELO':
      requireSafeArgument(command.verb, command.domain);
      if (command.domain === '' || /\s/.test(command.domain)) {
        throw new Error(`${command.verb} needs a domain without spaces`);
      }
      return `${command.verb} ${command.domain}`;
    case 'MAIL FROM': {
      requireSafeArgument(command.verb, command.reversePath);
      // RFC 6531 3.4: the SMTPUTF8 parameter marks a transaction with UTF-8 addresses.
      const parameter = command.smtputf8 === true ? ' SMTPUTF8' : '';
      return `MAIL FROM:<${command.reversePath}>${parameter}`;
    }
    case 'RCPT TO':
      requireSafeArgument(command.verb, command.forwardPath);
      if (command.forwardPath === '') {
        throw new Error('RCPT TO needs a recipient');
      }
      return `RCPT TO:<${command.forwardPath}>`;
    default:
      return command.verb;
  }
}

function requireSafeArgument(verb: string, argument: string): void {
  if (UNSAFE_ARGUMENT.test(argument)) {
    throw new Error(`${verb} argument holds a control character or angle bracket`);
  }
}

/** `--name=value` flags of a host; the stack dir is among them so /proc/PID/cmdline names it. */
export function hostArgs(argv: string[], required: string[]): Map<string, string> {
  const args = new Map<string, string>();
  for (const arg of argv) {
    const match = /^--([^=]+)=(.*)$/s.exec(arg);
    if (match?.[1] !== undefined && match[2] !== undefined) args.set(match[1], match[2]);
  }
  const missing = required.filter((name) => !args.has(name));
  if (missing.length > 0) {
    process.stderr.write(`missing flags: ${missing.map((name) => `--${name}=`).join(' ')}\n`);
    process.exit(2);
  }
  return args;
}

export function hostLog(line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

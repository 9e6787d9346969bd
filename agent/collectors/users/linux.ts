import type { UsersData } from '../../../shared/inventory.js';
import type { CollectorContext } from '../types.js';
import { readRequired, readText, runText, under } from '../util.js';
import { lockedUsers, parseGroup, parsePasswd, parseWho } from './parse.js';

export async function linuxUsers(ctx: CollectorContext): Promise<UsersData> {
  const passwd = await readRequired(under(ctx.root, '/etc/passwd'));
  const groups = parseGroup((await readText(under(ctx.root, '/etc/group'))) ?? '');
  const shadow = await readText(under(ctx.root, '/etc/shadow'));
  const accounts = parsePasswd(passwd, groups, shadow === null ? null : lockedUsers(shadow));
  // `who` reads utmp; without utmp (containers) it prints nothing, which is "no sessions".
  const who = await runText(ctx, 'who', ['--ips']).catch(() => '');
  return { accounts, sessions: parseWho(who, ctx.now, -ctx.now.getTimezoneOffset()) };
}

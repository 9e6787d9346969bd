import type { UsersData } from '../../../shared/inventory.js';
import type { CollectorContext } from '../types.js';
import { runText } from '../util.js';
import { parseDsclList, parseDsclMembership, parseWho } from './parse.js';

export async function darwinUsers(ctx: CollectorContext): Promise<UsersData> {
  const ids = parseDsclList(await runText(ctx, 'dscl', ['.', '-list', '/Users', 'UniqueID']));
  const shells = parseDsclList(await runText(ctx, 'dscl', ['.', '-list', '/Users', 'UserShell']).catch(() => ''));
  const homes = parseDsclList(await runText(ctx, 'dscl', ['.', '-list', '/Users', 'NFSHomeDirectory']).catch(() => ''));
  const admins = parseDsclMembership(await runText(ctx, 'dscl', ['.', '-read', '/Groups/admin', 'GroupMembership']).catch(() => ''));
  const accounts = [...ids].map(([name, id]) => {
    const shell = shells.get(name) ?? null;
    return { name, id, admin: id === '0' || admins.has(name), disabled: shell && /(nologin|false)$/.test(shell) ? true : null, shell, home: homes.get(name) ?? null };
  });
  const who = await runText(ctx, 'who', []).catch(() => '');
  return { accounts, sessions: parseWho(who, ctx.now, -ctx.now.getTimezoneOffset()) };
}

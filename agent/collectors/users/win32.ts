import type { UsersData } from '../../../shared/inventory.js';
import type { CollectorContext } from '../types.js';
import { powershell } from '../util.js';
import { parseQuser, parseWin32Accounts } from './parse.js';

export const WIN32_USERS_SCRIPT = [
  '[pscustomobject]@{',
  "Users = @(Get-LocalUser | Select-Object Name,Enabled,@{n='SID';e={$_.SID.Value}});",
  "Admins = @(Get-LocalGroupMember -SID S-1-5-32-544 | Select-Object Name,@{n='SID';e={$_.SID.Value}},PrincipalSource)",
  '} | ConvertTo-Json -Depth 3',
].join(' ');

export async function win32Users(ctx: CollectorContext): Promise<UsersData> {
  const accounts = parseWin32Accounts(await powershell(ctx, WIN32_USERS_SCRIPT));
  // quser exits 1 with "No User exists for *" when nobody is logged on.
  const q = await ctx.run('quser', []);
  return { accounts, sessions: q.error ? [] : parseQuser(q.stdout, -ctx.now.getTimezoneOffset()) };
}

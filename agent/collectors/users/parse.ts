/** Pure parsers for the users collector. */
import type { AccountData, SessionData } from '../../../shared/inventory.js';
import { asArray, str, type Json } from '../util.js';

const ADMIN_GROUPS = new Set(['sudo', 'wheel', 'admin']);
const NOLOGIN = /(^|\/)(nologin|false)$/;

export interface GroupEntry { name: string; gid: number; members: string[] }

export function parseGroup(text: string): GroupEntry[] {
  return text.split('\n').flatMap((line) => {
    const f = line.split(':');
    if (f.length < 4 || !f[0] || line.startsWith('#')) return [];
    return [{ name: f[0], gid: Number(f[2]), members: (f[3] ?? '').trim().split(',').filter(Boolean) }];
  });
}

/** Users whose password field in /etc/shadow starts with "!" or "*" (locked); the hashes are never kept. */
export function lockedUsers(shadow: string): Set<string> {
  const out = new Set<string>();
  for (const line of shadow.split('\n')) {
    const f = line.split(':');
    if (f.length > 1 && f[0] && (f[1]!.startsWith('!') || f[1]!.startsWith('*'))) out.add(f[0]);
  }
  return out;
}

/** /etc/passwd + /etc/group (+ locked set from /etc/shadow when readable). */
export function parsePasswd(passwd: string, groups: GroupEntry[], locked: Set<string> | null): AccountData[] {
  const adminGids = new Set(groups.filter((g) => ADMIN_GROUPS.has(g.name)).map((g) => g.gid));
  const adminMembers = new Set(groups.filter((g) => ADMIN_GROUPS.has(g.name)).flatMap((g) => g.members));
  return passwd.split('\n').flatMap((line) => {
    const f = line.split(':');
    if (f.length < 7 || !f[0] || line.startsWith('#') || line.startsWith('+')) return [];
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    const shell = f[6]!.trim() || null;
    const nologin = shell !== null && NOLOGIN.test(shell);
    return [{
      name: f[0],
      id: String(uid),
      admin: uid === 0 || adminGids.has(gid) || adminMembers.has(f[0]),
      disabled: nologin ? true : locked ? locked.has(f[0]) : null,
      shell,
      home: f[5] || null,
    }];
  });
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Local wall-clock time → ISO, given the host's offset from UTC in minutes (east positive). */
function localToIso(y: number, mo: number, d: number, h: number, mi: number, offsetMin: number): string {
  return new Date(Date.UTC(y, mo, d, h, mi) - offsetMin * 60_000).toISOString();
}

/**
 * `who` / `who --ips`: "alice  pts/0  2026-11-24 09:12 (192.0.2.10)" (a locale with ISO dates) or
 * "alice  pts/0  Nov 24 09:12 (host)" (C locale and macOS, no year: the most recent such date before `now`).
 */
export function parseWho(text: string, now: Date, offsetMin = 0): SessionData[] {
  const out: SessionData[] = [];
  for (const line of text.split('\n')) {
    const iso = /^(\S+)\s+(\S+)\s+(\d{4})-(\d{2})-(\d{2})\s+(\d{1,2}):(\d{2})(.*)$/.exec(line);
    const bsd = iso ? null : /^(\S+)\s+(\S+)\s+([A-Z][a-z]{2})\s+(\d{1,2})\s+(\d{1,2}):(\d{2})(.*)$/.exec(line);
    let since: string;
    let rest: string;
    if (iso) {
      since = localToIso(+iso[3]!, +iso[4]! - 1, +iso[5]!, +iso[6]!, +iso[7]!, offsetMin);
      rest = iso[8]!;
    } else if (bsd && MONTHS.includes(bsd[3]!)) {
      const mo = MONTHS.indexOf(bsd[3]!);
      let y = now.getUTCFullYear();
      if (Date.UTC(y, mo, +bsd[4]!) > now.getTime() + 86_400_000) y--;
      since = localToIso(y, mo, +bsd[4]!, +bsd[5]!, +bsd[6]!, offsetMin);
      rest = bsd[7]!;
    } else continue;
    const m = (iso ?? bsd)!;
    const from = /\(([^)]*)\)/.exec(rest)?.[1] ?? (rest.trim().split(/\s+/).pop() || null);
    out.push({ user: m[1]!, tty: m[2]!, from: from || null, since, state: null });
  }
  return out;
}

/** Windows: { Users: Get-LocalUser, Admins: Get-LocalGroupMember -SID S-1-5-32-544 } (SIDs as strings). */
export function parseWin32Accounts(json: unknown): AccountData[] {
  const o: Json = asArray(json)[0] ?? {};
  const admins = asArray(o.Admins);
  const adminSids = new Set(admins.map((a) => str(a.SID)).filter(Boolean));
  const adminNames = new Set(admins.map((a) => str(a.Name)?.split('\\').pop()?.toLowerCase()).filter(Boolean));
  return asArray(o.Users).flatMap((u) => {
    const name = str(u.Name);
    if (!name) return [];
    const sid = str(u.SID) ?? '';
    return [{ name, id: sid, admin: adminSids.has(sid) || adminNames.has(name.toLowerCase()), disabled: typeof u.Enabled === 'boolean' ? !u.Enabled : null, shell: null, home: null }];
  });
}

/**
 * `quser`: fixed-width columns under a header; SESSIONNAME is blank for disconnected sessions, the
 * current session is marked with ">". LOGON TIME follows the user's locale: parsed when it is M/D/YYYY h:mm [AM|PM].
 */
export function parseQuser(text: string, offsetMin = 0): SessionData[] {
  const lines = text.split(/\r?\n/);
  const hi = lines.findIndex((l) => /USERNAME\s+SESSIONNAME\s+ID\s+STATE/i.test(l));
  if (hi < 0) return [];
  const header = lines[hi]!;
  const col = (n: string) => header.indexOf(n);
  const cSession = col('SESSIONNAME');
  const cId = col('ID');
  const out: SessionData[] = [];
  for (const line of lines.slice(hi + 1)) {
    if (!line.trim()) continue;
    const user = line.slice(1, cSession).trim();
    const session = line.slice(cSession, cId).trim() || null;
    const rest = line.slice(cId).trim().split(/\s+/);
    const state = rest[1] ?? null;
    const logon = line.slice(cId);
    out.push({ user, tty: session, from: null, since: parseUsDate(logon, offsetMin), state });
  }
  return out;
}

function parseUsDate(s: string, offsetMin: number): string | null {
  const m = /(\d{1,2})\/(\d{1,2})\/(\d{4})\s+(\d{1,2}):(\d{2})(?:\s*(AM|PM))?/i.exec(s);
  if (!m) return null;
  let h = +m[4]!;
  if (m[6]) h = (h % 12) + (m[6].toUpperCase() === 'PM' ? 12 : 0);
  return localToIso(+m[3]!, +m[1]! - 1, +m[2]!, h, +m[5]!, offsetMin);
}

/** `dscl . -list /Users <Attr>`: "name   value" lines. */
export function parseDsclList(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+(.+)$/.exec(line.trim());
    if (m) out.set(m[1]!, m[2]!.trim());
  }
  return out;
}

/** `dscl . -read /Groups/admin GroupMembership`: "GroupMembership: root alice". */
export function parseDsclMembership(text: string): Set<string> {
  const m = /GroupMembership:\s*(.*)/.exec(text);
  return new Set(m ? m[1]!.trim().split(/\s+/).filter(Boolean) : []);
}

/** Remote administration over SSH (MLPS 8.1.4.1 b/c, 8.1.4.2): sshd_config read the way sshd reads it. */
import { posix } from 'node:path';
import type { CheckContext, CheckDef, CheckOutcome } from '../types.js';
import { parseSshdConfig } from './parse.js';
import { globDir, linux, na, num, pass, fail } from './util.js';

const ART = ['art9', 'art31'];
const MAIN = '/etc/ssh/sshd_config';

interface Sshd { values: Record<string, { value: string; file: string }>; files: string[] }

/** Effective global sshd settings: first value wins, `Include` expanded in place, `Match` blocks ignored. */
export async function sshdConfig(ctx: CheckContext): Promise<Sshd | null> {
  const main = await ctx.readFile(MAIN);
  if (main === null) return null;
  const out: Sshd = { values: {}, files: [] };
  const visit = async (path: string, text: string, depth: number) => {
    out.files.push(path);
    for (const item of parseSshdConfig(text)) {
      if ('include' in item) {
        if (depth > 8) continue;
        for (const pat of item.include) {
          const abs = pat.startsWith('/') ? pat : `/etc/ssh/${pat}`;
          const paths = /[*?]/.test(posix.basename(abs)) ? await globDir(ctx, posix.dirname(abs), posix.basename(abs)) : [abs];
          for (const p of paths) {
            const t = await ctx.readFile(p);
            if (t !== null) await visit(p, t, depth + 1);
          }
        }
      } else if (!(item.key in out.values)) out.values[item.key] = { value: item.value, file: path };
    }
  };
  await visit(MAIN, main, 0);
  return out;
}

function sshCheck(o: Omit<CheckDef, 'os' | 'profiles' | 'run' | 'articles'> & { judge: (cfg: Sshd) => CheckOutcome }): CheckDef {
  return linux({
    ...o, articles: ART,
    async run(ctx) {
      const cfg = await sshdConfig(ctx);
      if (!cfg) return na('OpenSSH server is not installed (no /etc/ssh/sshd_config)');
      return o.judge(cfg);
    },
  });
}

const get = (cfg: Sshd, key: string) => cfg.values[key.toLowerCase()];
const ev = (cfg: Sshd, keys: string[]) => Object.fromEntries([['files', cfg.files], ...keys.map((k) => [k, get(cfg, k) ? `${get(cfg, k)!.value} (${get(cfg, k)!.file})` : 'default'])]);

const rootLogin = sshCheck({
  id: 'linux.ssh.root_login',
  title: { en: 'SSH does not accept direct root login', zh: 'SSH 禁止 root 直接登录' },
  mlps: '8.1.4.2 d) 访问控制: 管理用户权限分离，禁止超级用户远程直接登录',
  remediation: { en: 'Set `PermitRootLogin no` in /etc/ssh/sshd_config (before any Match block, and check sshd_config.d/), then `systemctl reload sshd`.', zh: '在 /etc/ssh/sshd_config 中（任何 Match 段之前，并检查 sshd_config.d/）设置 `PermitRootLogin no`，然后执行 `systemctl reload sshd`。' },
  judge(cfg) {
    // OpenSSH ≥ 7.0 defaults to prohibit-password, which still lets root in with a key.
    const v = (get(cfg, 'PermitRootLogin')?.value ?? 'prohibit-password').toLowerCase();
    const e = ev(cfg, ['PermitRootLogin']);
    return v === 'no' ? pass(e) : fail(`PermitRootLogin ${v}`, e);
  },
});

const WEAK_CIPHER = /(^|,)[^,]*(-cbc|arcfour[^,]*|3des[^,]*|blowfish[^,]*|cast128[^,]*)(,|$)/i;
const WEAK_MAC = /(^|,)(hmac-md5[^,]*|hmac-sha1-96[^,]*|hmac-md5-96[^,]*|umac-64@openssh\.com|hmac-ripemd160[^,]*)(,|$)/i;
const WEAK_KEX = /(^|,)(diffie-hellman-group1-sha1|diffie-hellman-group-exchange-sha1|gss-group1-sha1-[^,]*)(,|$)/i;

const crypto = sshCheck({
  id: 'linux.ssh.crypto',
  title: { en: 'SSH uses protocol 2 and no weak ciphers, MACs or key exchanges', zh: 'SSH 仅使用协议版本 2，且未启用弱加密算法、MAC 或密钥交换算法' },
  mlps: '8.1.4.1 c) 身份鉴别: 远程管理时防止鉴别信息在传输中被窃听',
  remediation: { en: 'Remove `Protocol 1` and any CBC/arcfour/3DES ciphers, MD5/SHA1-96 MACs and group1/group-exchange-sha1 key exchanges from Ciphers, MACs and KexAlgorithms in /etc/ssh/sshd_config (or delete those lines to use OpenSSH defaults).', zh: '从 /etc/ssh/sshd_config 的 Protocol、Ciphers、MACs、KexAlgorithms 中删除 `Protocol 1`、CBC/arcfour/3DES 加密算法、MD5/SHA1-96 MAC 及 group1/group-exchange-sha1 密钥交换（或删除这些行以使用 OpenSSH 默认值）。' },
  judge(cfg) {
    const e = ev(cfg, ['Protocol', 'Ciphers', 'MACs', 'KexAlgorithms']);
    const bad: string[] = [];
    if (/1/.test(get(cfg, 'Protocol')?.value ?? '2')) bad.push('Protocol 1');
    // A leading +/^ adds to the defaults; the listed names are what matter either way.
    const list = (k: string) => (get(cfg, k)?.value ?? '').replace(/^[+^-]/, '');
    if (!(get(cfg, 'Ciphers')?.value ?? '').startsWith('-') && WEAK_CIPHER.test(list('Ciphers'))) bad.push(`Ciphers ${list('Ciphers')}`);
    if (!(get(cfg, 'MACs')?.value ?? '').startsWith('-') && WEAK_MAC.test(list('MACs'))) bad.push(`MACs ${list('MACs')}`);
    if (!(get(cfg, 'KexAlgorithms')?.value ?? '').startsWith('-') && WEAK_KEX.test(list('KexAlgorithms'))) bad.push(`KexAlgorithms ${list('KexAlgorithms')}`);
    return bad.length === 0 ? pass(e) : fail(`weak SSH settings: ${bad.join('; ')}`, e);
  },
});

const idle = sshCheck({
  id: 'linux.ssh.idle_timeout',
  title: { en: 'SSH drops idle sessions within 15 minutes', zh: 'SSH 空闲会话 15 分钟内断开' },
  mlps: '8.1.4.1 b) 身份鉴别: 网络登录连接超时自动退出',
  remediation: { en: 'Set `ClientAliveInterval 300` and `ClientAliveCountMax 3` in /etc/ssh/sshd_config (and TMOUT for the shell, see linux.session.tmout), then `systemctl reload sshd`.', zh: '在 /etc/ssh/sshd_config 中设置 `ClientAliveInterval 300` 与 `ClientAliveCountMax 3`（并配合 TMOUT，见 linux.session.tmout），然后执行 `systemctl reload sshd`。' },
  judge(cfg) {
    const interval = num(get(cfg, 'ClientAliveInterval')?.value) ?? 0;
    const count = num(get(cfg, 'ClientAliveCountMax')?.value) ?? 3;
    const e = ev(cfg, ['ClientAliveInterval', 'ClientAliveCountMax']);
    if (interval <= 0) return fail('ClientAliveInterval is 0 (default): unresponsive sessions are never dropped by sshd', e);
    const total = interval * Math.max(count, 1);
    return total <= 900 ? pass(e) : fail(`sessions are dropped after ${total}s (want ≤ 900)`, e);
  },
});

const maxAuth = sshCheck({
  id: 'linux.ssh.max_auth_tries',
  title: { en: 'SSH allows at most 5 authentication attempts per connection', zh: 'SSH 单次连接认证尝试不超过 5 次' },
  mlps: '8.1.4.1 b) 身份鉴别: 限制非法登录次数',
  remediation: { en: 'Set `MaxAuthTries 4` in /etc/ssh/sshd_config, then `systemctl reload sshd`.', zh: '在 /etc/ssh/sshd_config 中设置 `MaxAuthTries 4`，然后执行 `systemctl reload sshd`。' },
  judge(cfg) {
    const v = num(get(cfg, 'MaxAuthTries')?.value) ?? 6;
    const e = ev(cfg, ['MaxAuthTries']);
    return v <= 5 ? pass(e) : fail(`MaxAuthTries ${v}${get(cfg, 'MaxAuthTries') ? '' : ' (default)'} (want ≤ 5)`, e);
  },
});

const emptyPw = sshCheck({
  id: 'linux.ssh.permit_empty_passwords',
  title: { en: 'SSH refuses accounts with empty passwords', zh: 'SSH 禁止空口令账户登录' },
  mlps: '8.1.4.1 a) 身份鉴别: 禁止空口令登录',
  remediation: { en: 'Set `PermitEmptyPasswords no` in /etc/ssh/sshd_config, then `systemctl reload sshd`.', zh: '在 /etc/ssh/sshd_config 中设置 `PermitEmptyPasswords no`，然后执行 `systemctl reload sshd`。' },
  judge(cfg) {
    const v = (get(cfg, 'PermitEmptyPasswords')?.value ?? 'no').toLowerCase();
    const e = ev(cfg, ['PermitEmptyPasswords']);
    return v === 'no' ? pass(e) : fail(`PermitEmptyPasswords ${v}`, e);
  },
});

export const remoteChecks: CheckDef[] = [rootLogin, crypto, idle, maxAuth, emptyPw];

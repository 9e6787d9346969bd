/**
 * Pure parsers for removable-media collection on Linux: /proc/self/mountinfo, `lsblk -J`,
 * `blkid -p -o udev`, the mount-table differ and the device glob. Text in, typed rows out; the
 * tests feed captured outputs from tests/fixtures/linux/media/.
 */

export interface MountEntry {
  /** Mount id (field 1): unique while mounted, reused after. */
  id: number;
  parentId: number;
  /** `major:minor` of st_dev for files on this mount (0:N for virtual and some btrfs mounts). */
  majorMinor: string;
  major: number;
  minor: number;
  /** Root of the mount inside its file system (`/` unless a bind mount of a subtree). */
  root: string;
  /** Where it is mounted, unescaped (may hold spaces, tabs, newlines, backslashes). */
  mountPoint: string;
  /** Per-mount options (field 6): `ro`/`rw`, `nosuid`, `relatime`… */
  options: string[];
  /** Optional fields such as `shared:1`, `master:2`. */
  optional: string[];
  fsType: string;
  /** Mount source, unescaped: `/dev/sdb1`, `tmpfs`, `none`… */
  source: string;
  /** Super-block options (field after the source). */
  superOptions: string[];
  /** True when the mount or its super block is read-only. */
  readOnly: boolean;
}

/**
 * mountinfo escapes space, tab, newline and backslash as `\040`, `\011`, `\012`, `\134` (the kernel's
 * `mangle()`); any other byte is raw. Decode the escapes as bytes so multi-byte UTF-8 survives.
 */
export function unescapeOctal(s: string): string {
  if (!s.includes('\\')) return s;
  const raw = Buffer.from(s, 'utf8');
  const out: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!;
    if (b === 0x5c && i + 3 < raw.length && isOctal(raw[i + 1]) && isOctal(raw[i + 2]) && isOctal(raw[i + 3])) {
      out.push(((raw[i + 1]! - 48) * 64 + (raw[i + 2]! - 48) * 8 + (raw[i + 3]! - 48)) & 0xff);
      i += 3;
    } else out.push(b);
  }
  return Buffer.from(out).toString('utf8');
}

function isOctal(b: number | undefined): boolean {
  return b !== undefined && b >= 48 && b <= 55;
}

/** Parse /proc/<pid>/mountinfo (proc(5)). Malformed lines are skipped, never thrown on. */
export function parseMountinfo(text: string): MountEntry[] {
  const rows: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const f = line.split(' ');
    const dash = f.indexOf('-', 6);
    if (f.length < 10 || dash < 0 || f.length < dash + 3) continue;
    const [maj, min] = f[2]!.split(':');
    const major = Number(maj);
    const minor = Number(min);
    if (!Number.isInteger(major) || !Number.isInteger(minor)) continue;
    const options = f[5]!.split(',');
    const superOptions = (f[dash + 3] ?? '').split(',').filter(Boolean);
    rows.push({
      id: Number(f[0]),
      parentId: Number(f[1]),
      majorMinor: `${major}:${minor}`,
      major,
      minor,
      root: unescapeOctal(f[3]!),
      mountPoint: unescapeOctal(f[4]!),
      options,
      optional: f.slice(6, dash),
      fsType: unescapeOctal(f[dash + 1]!),
      source: unescapeOctal(f[dash + 2]!),
      superOptions,
      readOnly: options.includes('ro') || superOptions.includes('ro'),
    });
  }
  return rows;
}

/** Mounts backed by a block device node (the only kind removable media produce); btrfs reports 0:N, so go by the source. */
export function blockDeviceMounts(rows: MountEntry[]): MountEntry[] {
  return rows.filter((r) => r.source.startsWith('/dev/'));
}

/** Identity of a mount for diffs: the mount point and the device behind it. */
export function mountKey(m: Pick<MountEntry, 'mountPoint' | 'majorMinor'>): string {
  return `${m.mountPoint}\0${m.majorMinor}`;
}

export interface MountDiff<A, B = A> {
  added: B[];
  removed: A[];
  /** Same mount point and device, options changed (e.g. remounted read-only): [before, after]. */
  changed: [A, B][];
}

type Keyed = Pick<MountEntry, 'mountPoint' | 'majorMinor' | 'options'>;

/** Diff two mount tables by mount point + device (Tailscale-style: callers only see changes). */
export function diffMounts<A extends Keyed, B extends Keyed = A>(prev: A[], next: B[]): MountDiff<A, B> {
  const before = new Map(prev.map((m) => [mountKey(m), m]));
  const after = new Map(next.map((m) => [mountKey(m), m]));
  const added: B[] = [];
  const removed: A[] = [];
  const changed: [A, B][] = [];
  for (const [k, m] of after) {
    const old = before.get(k);
    if (!old) added.push(m);
    else if (old.options.join(',') !== m.options.join(',')) changed.push([old, m]);
  }
  for (const [k, m] of before) if (!after.has(k)) removed.push(m);
  return { added, removed, changed };
}

export interface LsblkRow {
  name: string;
  path: string | null;
  sizeBytes: number | null;
  label: string | null;
  fsType: string | null;
  readOnly: boolean | null;
  removable: boolean | null;
  /** Transport: `usb`, `sata`, `nvme`… (null for loop and virtual devices). */
  transport: string | null;
  /** Parent's name for partitions (from the JSON nesting). */
  parent: string | null;
}

/** `lsblk -J -b -o NAME,SIZE,LABEL,FSTYPE,RO,RM,TRAN[,PATH]`; util-linux < 2.33 prints "0"/"1" and sizes as strings. */
export function parseLsblkJson(text: string): LsblkRow[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`lsblk printed invalid JSON: ${(e as Error).message}`);
  }
  const list = (doc as { blockdevices?: unknown }).blockdevices;
  const rows: LsblkRow[] = [];
  const walk = (items: unknown, parent: string | null) => {
    if (!Array.isArray(items)) return;
    for (const it of items as Record<string, unknown>[]) {
      if (typeof it !== 'object' || it === null || typeof it.name !== 'string') continue;
      rows.push({
        name: it.name,
        path: typeof it.path === 'string' ? it.path : null,
        sizeBytes: toInt(it.size),
        label: typeof it.label === 'string' && it.label !== '' ? it.label : null,
        fsType: typeof it.fstype === 'string' && it.fstype !== '' ? it.fstype : null,
        readOnly: toBool(it.ro),
        removable: toBool(it.rm),
        transport: typeof it.tran === 'string' && it.tran !== '' ? it.tran : null,
        parent,
      });
      walk(it.children, it.name);
    }
  };
  walk(list, null);
  return rows;
}

function toInt(v: unknown): number | null {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  return null;
}

function toBool(v: unknown): boolean | null {
  if (typeof v === 'boolean') return v;
  if (v === '1' || v === 1) return true;
  if (v === '0' || v === 0) return false;
  return null;
}

export interface BlkidInfo {
  label: string | null;
  fsType: string | null;
  uuid: string | null;
}

/**
 * `blkid -p -o udev <dev>`: probes the device itself, so it works where lsblk has no udev database
 * (containers, this VM). `ID_FS_LABEL_ENC` keeps UTF-8 and escapes unsafe bytes as `\xNN`.
 */
export function parseBlkidUdev(text: string): BlkidInfo {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1));
  }
  const enc = kv.get('ID_FS_LABEL_ENC');
  const label = enc !== undefined ? unescapeHex(enc) : kv.get('ID_FS_LABEL') ?? null;
  return { label: label || null, fsType: kv.get('ID_FS_TYPE') || null, uuid: kv.get('ID_FS_UUID') || null };
}

function unescapeHex(s: string): string {
  if (!s.includes('\\x')) return s;
  const raw = Buffer.from(s, 'utf8');
  const out: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const hex = i + 3 < raw.length && raw[i] === 0x5c && raw[i + 1] === 0x78 ? raw.subarray(i + 2, i + 4).toString('latin1') : '';
    if (/^[0-9a-fA-F]{2}$/.test(hex)) {
      out.push(parseInt(hex, 16));
      i += 3;
    } else out.push(raw[i]!);
  }
  return Buffer.from(out).toString('utf8');
}

/**
 * A small, safe glob for device paths: `*` (any run without `/`), `?` (one character but `/`),
 * `[a-z]`, `[!0-9]`, and `\x` for a literal. No regular expression is built from the pattern.
 * (Node 20's path.matchesGlob exists but is experimental and prints an ExperimentalWarning.)
 */
export function globMatch(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let starP = -1;
  let starT = -1;
  while (t < text.length) {
    const pc = pattern[p];
    if (pc === '*') {
      starP = ++p;
      starT = t;
      continue;
    }
    if (pc !== undefined) {
      const step = matchOne(pattern, p, text[t]!);
      if (step > 0) {
        p += step;
        t++;
        continue;
      }
    }
    // Backtrack: let the last `*` swallow one more character, but never a `/`.
    if (starP >= 0 && text[starT] !== '/') {
      p = starP;
      t = ++starT;
      continue;
    }
    return false;
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

/** Length of the pattern token at `p` if it matches `ch`, else 0. */
function matchOne(pattern: string, p: number, ch: string): number {
  const pc = pattern[p]!;
  if (pc === '?') return ch === '/' ? 0 : 1;
  if (pc === '\\' && p + 1 < pattern.length) return pattern[p + 1] === ch ? 2 : 0;
  if (pc === '[') {
    let i = p + 1;
    const negate = pattern[i] === '!' || pattern[i] === '^';
    if (negate) i++;
    let hit = false;
    let first = true;
    while (i < pattern.length && (first || pattern[i] !== ']')) {
      first = false;
      const lo = pattern[i]!;
      if (pattern[i + 1] === '-' && i + 2 < pattern.length && pattern[i + 2] !== ']') {
        if (ch >= lo && ch <= pattern[i + 2]!) hit = true;
        i += 3;
      } else {
        if (ch === lo) hit = true;
        i++;
      }
    }
    if (i >= pattern.length) return pc === ch ? 1 : 0; // unterminated: a literal `[`
    return hit !== negate && ch !== '/' ? i + 1 - p : 0;
  }
  return pc === ch ? 1 : 0;
}

/** First glob of `globs` matching any of the names, or null. */
export function firstGlobMatch(globs: readonly string[], names: readonly string[]): string | null {
  for (const g of globs) if (names.some((n) => globMatch(g, n))) return g;
  return null;
}

/**
 * Collectors (osquery's tables): one folder each, `index.ts` picks the OS variant, and variants read
 * files under the context's roots or run commands through its runner — so tests feed fixture trees
 * and recorded outputs. A collector that cannot run on a host returns `unsupported` or `error` with
 * the reason; it never throws into the agent and never blocks other collectors.
 */
import type { Runner } from '../exec.js';

export interface CollectorContext {
  platform: NodeJS.Platform;
  /** Filesystem root for plain files such as /etc/os-release (tests: a fixture tree). */
  root: string;
  procfs: string;
  sysfs: string;
  run: Runner;
  now: Date;
}

export type Collected<T> =
  | { status: 'ok'; data: T }
  | { status: 'unsupported'; reason: string }
  | { status: 'error'; reason: string };

export type CollectorImpl<T> = (ctx: CollectorContext) => Promise<T>;

/** Thrown by a variant when this host cannot provide the data at all (e.g. systemd is not PID 1): becomes `unsupported`. */
export class CollectorUnsupported extends Error {
  override name = 'CollectorUnsupported';
}

export interface Collector<T> {
  readonly name: string;
  collect(ctx: CollectorContext): Promise<Collected<T>>;
}

/** Make a collector from per-platform variants; a missing platform is `unsupported`, a throw is `error`. */
export function collector<T>(name: string, variants: Partial<Record<NodeJS.Platform, CollectorImpl<T>>>, timeoutMs = 60_000): Collector<T> {
  return {
    name,
    async collect(ctx) {
      const impl = variants[ctx.platform];
      if (!impl) return { status: 'unsupported', reason: `${name} is not collected on ${ctx.platform}` };
      let timer: NodeJS.Timeout | undefined;
      try {
        const data = await Promise.race([
          impl(ctx),
          new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${name} timed out after ${timeoutMs} ms`)), timeoutMs); }),
        ]);
        return { status: 'ok', data };
      } catch (e) {
        if (e instanceof CollectorUnsupported) return { status: 'unsupported', reason: `${name}: ${e.message}` };
        return { status: 'error', reason: `${name}: ${(e as Error).message}` };
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

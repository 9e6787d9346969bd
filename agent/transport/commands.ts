/**
 * Long-polls the server for commands and policy changes. The cursor (last command seq handled)
 * is saved, so a command is handled at least once, also across restarts.
 */
import type { Logger } from 'pino';
import type { Part } from '../supervisor.js';
import { isCertificateError, ServerError, type AgentClient, type CommandsResult } from './client.js';
import { Backoff, afterRetryAfter, sleep } from './backoff.js';

export interface CommandHandlers {
  policyVersion(): number;
  cursor(): number;
  setCursor(seq: number): void;
  /** The server has another policy version: fetch and apply it. */
  policyChanged(version: number, signal: AbortSignal): Promise<void>;
  command(c: CommandsResult['commands'][number]): Promise<void>;
  certificateError(): void;
}

/** Paces the polls (agent/transport/heartbeat.ts): how long each waits, and what goes before it. */
export interface PollPace {
  pollWait(maxSeconds: number): number;
  beforePoll(signal: AbortSignal): Promise<void>;
}

export class CommandPoller implements Part {
  readonly name = 'commands';
  constructor(
    private readonly client: () => AgentClient,
    private readonly h: CommandHandlers,
    private readonly waitSeconds: number,
    private readonly log: Logger,
    private readonly pace?: PollPace,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(1000, 300_000);
    // The first poll answers at once, and the policy is fetched then whatever its version: at start
    // the agent re-reads what it must apply.
    let first = true;
    while (!signal.aborted) {
      try {
        if (!first) await this.pace?.beforePoll(signal);
        if (signal.aborted) return;
        const wait = first ? 0 : this.pace?.pollWait(this.waitSeconds) ?? this.waitSeconds;
        const res = await this.client().getCommands(this.h.cursor(), this.h.policyVersion(), wait, signal);
        backoff.reset();
        if (first || res.policyVersion !== this.h.policyVersion()) await this.h.policyChanged(res.policyVersion, signal);
        first = false;
        for (const c of res.commands) {
          try {
            await this.h.command(c);
          } catch (err) {
            this.log.error({ err, command: c.type, seq: c.seq }, 'command failed');
          }
          this.h.setCursor(c.seq);
        }
      } catch (err) {
        if (signal.aborted) return;
        if (isCertificateError(err)) this.h.certificateError();
        const wait = err instanceof ServerError && err.retryAfterMs !== undefined ? afterRetryAfter(err.retryAfterMs) : backoff.next();
        this.log.debug({ err: (err as Error).message, waitMs: Math.round(wait) }, 'command poll failed');
        await sleep(wait, signal);
      }
    }
  }
}

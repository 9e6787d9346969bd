/** What the server forwards for one new violation; both the syslog line and the webhook body are made from it. */
import type { Severity } from '../../shared/events.js';

export interface AlertMessage {
  /** Violation (event) id; receivers use it as the idempotency key, since delivery is at least once. */
  id: string;
  /** When the violation happened, ISO 8601. */
  time: string;
  /** The host that reported it; hostname and group are untrusted text from the agent side. */
  host: { id: string; hostname: string; group: string };
  /** Event type, e.g. `egress.violation`. */
  type: string;
  severity: Severity;
  /** Regulation articles the violation evidences, e.g. `["art29", "art31"]`. */
  articles: string[];
  /** One line for a person; untrusted text from the agent side. */
  summary: string;
  /** Console link to the violation, when the console URL is known. */
  url: string | null;
  /** True when the violation was raised by a drill, not a real event. */
  drill: boolean;
}

/** Counters for one target (or, summed, for the forwarder). */
export interface TargetStats {
  /** Waiting plus the one being delivered or waiting to retry. */
  queued: number;
  /** Deliveries that succeeded. */
  sent: number;
  /** Attempts after a failed attempt. */
  retried: number;
  /** Messages given up on: permanent failure, attempts used up, dropped from a full queue, or target turned off. */
  deadLettered: number;
  lastError: string | null;
}

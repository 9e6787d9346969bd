import { describe, expect, it } from 'vitest';
import { deriveViolation, timeOrderedId } from '../../../server/rules/violations.js';
import { draftViolations } from '../../../server/violations.js';
import { newEvent, type StoredEvent } from '../../../shared/events.js';

const stored = (type: string, data: Record<string, unknown>): StoredEvent => ({ ...newEvent(type, 'high', ['art29'], data), host: 'h1', receivedAt: '2026-12-05T00:00:00.000Z' });

describe('violation ids', () => {
  it('are RFC 9562 version-7 UUIDs carrying the time, ordered by it', () => {
    const at = new Date('2026-12-05T17:16:27.123Z');
    const id = timeOrderedId(at);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(at.getTime());
    const later = timeOrderedId(new Date(at.getTime() + 1));
    expect(later > id).toBe(true);
    expect(new Set(Array.from({ length: 1000 }, () => timeOrderedId(at))).size).toBe(1000);
  });

  it('come with every derived violation', () => {
    const at = new Date('2026-12-05T00:00:00Z');
    const v = deriveViolation(stored('egress.violation', { remoteAddress: '203.0.113.9' }), at);
    expect(v?.id.replace(/-/g, '').slice(0, 13)).toBe(`${at.getTime().toString(16).padStart(12, '0')}7`);
  });
});

describe('draftViolations', () => {
  it('drafts the rules that need only the event and leaves drills and hardening runs to the store path', () => {
    const now = new Date('2026-12-05T00:00:00Z');
    const egress = stored('egress.violation', { remoteAddress: '203.0.113.9' });
    const drill = stored('drill', { commandSeq: 3 });
    const check = stored('host.check', { profile: 'p', summary: { pass: 1, fail: 2 } });
    const beat = stored('agent.heartbeat', {});
    const { drafts, later } = draftViolations([egress, drill, check, beat], now);
    expect(drafts.map((d) => [d.eventId, d.hostId, d.rule])).toEqual([[egress.id, 'h1', 'egress.outbound_unauthorised']]);
    expect(later.map((e) => e.id)).toEqual([drill.id, check.id]);
  });
});

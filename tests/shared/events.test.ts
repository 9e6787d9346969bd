/** The hot-path validator and the schema (the spec) agree on every case. */
import { describe, it, expect } from 'vitest';
import { EventSchema, validateEvent, newEvent } from '../../shared/events.js';

const base = () => newEvent('usb.attached', 'high', ['art31'], { vendorId: '0781', nested: { a: [1, 2] } });

const cases: [string, unknown][] = [
  ['valid', base()],
  ['drill', { ...base(), type: 'drill' }],
  ['with host', { ...base(), host: 'h-1' }],
  ['offset time', { ...base(), time: '2026-11-25T08:00:00.123+08:00' }],
  ['empty articles', { ...base(), articles: [] }],
  ['uppercase uuid', { ...base(), id: base().id.toUpperCase() }],
  ['null', null],
  ['array', [base()]],
  ['string', 'event'],
  ['extra key', { ...base(), extra: 1 }],
  ['missing id', { ...base(), id: undefined }],
  ['bad id', { ...base(), id: 'not-a-uuid' }],
  ['numeric id', { ...base(), id: 42 }],
  ['type without dot', { ...base(), type: 'heartbeat' }],
  ['type uppercase', { ...base(), type: 'Agent.Started' }],
  ['type too long', { ...base(), type: 'a.' + 'b'.repeat(70) }],
  ['time not iso', { ...base(), time: '25/11/2026' }],
  ['time impossible', { ...base(), time: '2026-13-45T99:00:00Z' }],
  ['time without zone', { ...base(), time: '2026-11-25T08:00:00' }],
  ['host number', { ...base(), host: 7 }],
  ['host too long', { ...base(), host: 'h'.repeat(129) }],
  ['severity unknown', { ...base(), severity: 'urgent' }],
  ['articles not array', { ...base(), articles: 'art29' }],
  ['article malformed', { ...base(), articles: ['article29'] }],
  ['too many articles', { ...base(), articles: Array.from({ length: 33 }, () => 'art1') }],
  ['data array', { ...base(), data: [] }],
  ['data null', { ...base(), data: null }],
  ['data string', { ...base(), data: 'x' }],
  ['missing data', { ...base(), data: undefined }],
];

describe('validateEvent', () => {
  for (const [name, input] of cases) {
    it(`agrees with EventSchema: ${name}`, () => {
      const json = input === undefined ? undefined : JSON.parse(JSON.stringify(input)) as unknown;
      const fast = validateEvent(json);
      const spec = EventSchema.safeParse(json);
      expect(typeof fast !== 'string').toBe(spec.success);
      if (typeof fast === 'string') expect(fast).toMatch(/^[a-z]+(\.\d+)?: /);
    });
  }
});

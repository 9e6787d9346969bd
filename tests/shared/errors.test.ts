import { describe, it, expect } from 'vitest';
import { ERRORS, TgError, errorBody } from '../../shared/errors.js';

describe('error table', () => {
  it('has stable TG_E_ codes, each with a status and a message', () => {
    for (const [code, e] of Object.entries(ERRORS)) {
      expect(code).toMatch(/^TG_E_[A-Z0-9_]+$/);
      expect(e.message.length).toBeGreaterThan(5);
      expect(e.status === 0 || (e.status >= 400 && e.status < 600)).toBe(true);
      const err = new TgError(code as keyof typeof ERRORS);
      expect(err.code).toBe(code);
      expect(err.toJSON()).toEqual(errorBody(code as keyof typeof ERRORS));
      expect(Object.keys(err.toJSON().error)).toEqual(['code', 'message']); // no stack crosses the wire
    }
  });
});

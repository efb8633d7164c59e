import { expect } from 'chai';
import { defaultCacheMaxBytes } from '../src/options.js';

describe('worker defaults', () => {
  it('keeps an eighth of the machine memory for objects, between 64 MiB and 2 GiB', () => {
    const MiB = 1024 * 1024;
    expect(defaultCacheMaxBytes(8 * 1024 * MiB)).to.equal(1024 * MiB);
    expect(defaultCacheMaxBytes(256 * MiB)).to.equal(64 * MiB);
    expect(defaultCacheMaxBytes(64 * 1024 * MiB)).to.equal(2048 * MiB);
  });
});

import { expect } from 'chai';
import { parseFailpoints } from '../src/failpoints.js';

describe('LAMBDASTORE_FAILPOINTS', () => {
  it('is empty when unset, and reads name=ms items', () => {
    expect(parseFailpoints(undefined).size).to.equal(0);
    expect(parseFailpoints('').size).to.equal(0);
    expect([...parseFailpoints(' prepared.hold = 250 ')]).to.deep.equal([['prepared.hold', 250]]);
  });

  it('refuses unknown points and bad values, naming the item', () => {
    for (const bad of ['nope=1', 'prepared.hold', 'prepared.hold=-1', 'prepared.hold=soon']) {
      expect(() => parseFailpoints(bad), bad).to.throw(/LAMBDASTORE_FAILPOINTS: bad item/);
    }
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeliveryError, sanitizeForTerminal } from './delivery.js';
import { classifyTmuxError, exactTarget } from './tmux-adapter.js';

describe('sanitizeForTerminal', () => {
  it('removes escape sequences and control characters, and turns line breaks into spaces', () => {
    const { text } = sanitizeForTerminal(
      '\u001b[31mred\u001b[0m\r\nnext\tline\u0007 \u001b]0;title\u0007bell\u0000\u009b end  ',
      8192,
    );
    assert.equal(text, 'red next line bell end');
  });
  it('cuts to the byte bound without splitting a character', () => {
    const { text, truncated } = sanitizeForTerminal('é'.repeat(10), 5);
    assert.equal(text, 'éé');
    assert.equal(truncated, true);
    assert.equal(sanitizeForTerminal('short', 5).truncated, false);
  });
});

describe('tmux targets and errors', () => {
  it('asks tmux for exact session names', () => {
    assert.equal(exactTarget('agent1'), '=agent1:');
    assert.equal(exactTarget('agent1:0.1'), '=agent1:0.1');
    assert.equal(exactTarget('%12'), '%12');
  });
  it('classifies failures', () => {
    const classify = (stderr: string, extra: object = {}) =>
      classifyTmuxError(Object.assign(new Error('failed'), extra), stderr, 'send-keys');
    assert.equal(classify("can't find pane: nope").code, 'TARGET_MISSING');
    assert.equal(classify('no server running on /tmp/tmux-0/x').code, 'TARGET_MISSING');
    assert.equal(
      classify('error connecting to /tmp/tmux-0/x (No such file or directory)').code,
      'TARGET_MISSING',
    );
    assert.equal(classify('', { killed: true }).code, 'TIMEOUT');
    assert.equal(classify('', { code: 'ENOENT' }).code, 'RUNTIME_UNAVAILABLE');
    assert.equal(classify('something else').code, 'COMMAND_FAILED');
  });
  it('says which failures are worth retrying', () => {
    assert.equal(new DeliveryError('TIMEOUT', 'x').retryable, true);
    assert.equal(new DeliveryError('PANE_DEAD', 'x').retryable, false);
    assert.equal(new DeliveryError('NOT_CONFIGURED', 'x').retryable, false);
  });
});

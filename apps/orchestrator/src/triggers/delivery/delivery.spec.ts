import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeliveryError, sanitizeForTerminal } from './delivery.js';
import { allowlistedEnvironment } from '../../agents/process-environment.js';
import { classifyTmuxError, exactTarget, unsentText } from './tmux-adapter.js';

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

describe('unsentText', () => {
  it('sees nothing on an empty line or one that ends in a prompt', () => {
    for (const line of [
      '',
      '   ',
      '$ ',
      'user@host:~/repo$ ',
      '# ',
      '> ',
      '❯ ',
      '› ',
      'codex › ',
      'Password: ',
    ]) {
      assert.equal(unsentText(line), undefined, JSON.stringify(line));
    }
  });
  it('sees what a person typed and has not sent, after a prompt or on a bare line', () => {
    assert.equal(unsentText('$ human typed this'), '$ human typed this');
    assert.equal(unsentText('human typed this'), 'human typed this');
    assert.equal(unsentText('› fix the tests   '), '› fix the tests');
    assert.equal(unsentText('$ ls -l'), '$ ls -l');
  });
});

describe('allowlistedEnvironment', () => {
  const orchestrator = {
    PATH: '/usr/bin',
    HOME: '/root',
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    DATABASE_URL: 'postgres://secret@db/guardkit',
    REDIS_URL: 'redis://:secret@redis',
    GATEWAY_JWT_SECRET: 'secret',
    OPENAI_API_KEY: 'sk-secret',
  };
  it('passes the basics and never the service settings or secrets', () => {
    assert.deepEqual(allowlistedEnvironment(orchestrator, []), {
      PATH: '/usr/bin',
      HOME: '/root',
      LANG: 'C.UTF-8',
      LC_ALL: 'C.UTF-8',
    });
  });
  it('passes the variables TRIGGER_COMMAND_ENV names', () => {
    assert.equal(allowlistedEnvironment(orchestrator, ['OPENAI_API_KEY'])['OPENAI_API_KEY'], 'sk-secret');
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { answerStatusOf, parseRoleAnswer } from './role-answer.js';

describe('parseRoleAnswer (SPEC 6.2 answer contract)', () => {
  it('reads an answer line, the last one winning', () => {
    const out = [
      'thinking…',
      '{"status":"CHANGES_REQUESTED","summary":"first","details":""}',
      '{"status":"OK","summary":"done","details":"all good"}',
    ].join('\n');
    assert.deepEqual(parseRoleAnswer(out), { status: 'OK', summary: 'done', details: 'all good' });
  });

  it('reads the answer inside a Codex agent message, fenced or not', () => {
    const message = 'Here it is:\n```json\n{"status":"APPROVED","summary":"ship it","details":{"n":1}}\n```';
    const out = [
      '{"type":"thread.started","thread_id":"t1"}',
      JSON.stringify({ type: 'item.completed', item: { type: 'agent_message', text: message } }),
    ].join('\n');
    assert.deepEqual(parseRoleAnswer(out), {
      status: 'OK',
      summary: 'ship it',
      details: '{\n  "n": 1\n}',
    });
  });

  it('accepts the aliases Staremaster accepts, in any case', () => {
    assert.equal(answerStatusOf('pass'), 'OK');
    assert.equal(answerStatusOf('Approved'), 'OK');
    assert.equal(answerStatusOf('changes-requested'), 'CHANGES_REQUESTED');
    assert.equal(answerStatusOf('FAILED'), 'CHANGES_REQUESTED');
    assert.equal(answerStatusOf('blocked'), 'BLOCKED');
    assert.equal(answerStatusOf('maybe'), undefined);
    assert.equal(answerStatusOf(3), undefined);
  });

  it('finds nothing in output without an answer: a failed attempt', () => {
    assert.equal(parseRoleAnswer('I changed the files.\nAll done!'), undefined);
    assert.equal(parseRoleAnswer('{"status":"WHATEVER","summary":"x"}'), undefined);
    assert.equal(parseRoleAnswer('{"type":"turn.completed"}\n{not json'), undefined);
  });

  it('reads an answer spread over lines in plain text output', () => {
    const out = 'Result:\n{\n  "status": "BLOCKED",\n  "summary": "no access"\n}\n';
    assert.deepEqual(parseRoleAnswer(out), { status: 'BLOCKED', summary: 'no access', details: '' });
  });
});

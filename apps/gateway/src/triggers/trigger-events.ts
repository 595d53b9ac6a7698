import { Injectable } from '@nestjs/common';
import { TERMINAL_TRIGGER_STATES } from '#contracts';
import { Bus } from '#bus';
import { StatusEvents } from '../sse/status-events.js';
import { SseStreams } from '../sse/sse-streams.js';

/** `GET /triggers/:id/events`: a trigger's state changes (`event: trigger`), ending at a terminal state. */
@Injectable()
export class TriggerEvents extends StatusEvents {
  constructor(bus: Bus, streams: SseStreams) {
    super(bus, streams, {
      role: 'triggers',
      label: 'trigger',
      event: 'trigger',
      idField: 'trigger_id',
      stateField: 'state',
      terminal: TERMINAL_TRIGGER_STATES,
      subjectFor: (id) => bus.subjects.triggerStatus(id),
      allSubjects: () => bus.subjects.allTriggerStatus(),
      idOf: (subject) => bus.subjects.triggerIdOf(subject),
    });
  }
}

import { Injectable } from '@nestjs/common';
import { TERMINAL_BUILD_STATUSES } from '#contracts';
import { Bus } from '#bus';
import { StatusEvents } from '../sse/status-events.js';
import { SseStreams } from '../sse/sse-streams.js';

/** `GET /builds/:id/events` and `GET /events?builds=`: build status events (`event: status`). */
@Injectable()
export class BuildEvents extends StatusEvents {
  constructor(bus: Bus, streams: SseStreams) {
    super(bus, streams, {
      role: 'builds',
      label: 'build',
      event: 'status',
      idField: 'build_id',
      stateField: 'status',
      terminal: TERMINAL_BUILD_STATUSES,
      subjectFor: (id) => bus.subjects.buildStatus(id),
      allSubjects: () => bus.subjects.allBuildStatus(),
      idOf: (subject) => bus.subjects.buildIdOf(subject),
    });
  }
}

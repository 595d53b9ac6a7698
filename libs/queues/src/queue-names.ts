import { agentQueueName, BUILT_IN_ROLES, QUEUE_NAMES } from '#contracts';
import type { Settings } from '#platform';

/** The roles with an agent queue from the start: the built-in ones and those AGENT_CONCURRENCY names. */
export function agentRoles(settings: Settings): string[] {
  return [
    ...new Set([...BUILT_IN_ROLES, ...Object.keys(settings.agents.concurrency).filter((r) => r !== '*')]),
  ];
}

/** Every queue of an installation: the trigger queues and the agent queues (SPEC 6.3), for the board. */
export function allQueueNames(settings: Settings): string[] {
  return [...QUEUE_NAMES, ...agentRoles(settings).map(agentQueueName)];
}

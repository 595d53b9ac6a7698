// The gateway's own rules, as it wrote them into the page (dashboard.controller.ts): one copy, not a second.
const config = JSON.parse(document.getElementById('gk-config').textContent);

/** BUILD_STALE_MINUTES. */
export const staleMinutes = config.staleMinutes;
/** completed, failed, cancelled. */
export const terminalStatuses = new Set(config.terminalStatuses);
/** Each kind's commands and the states they are for: {pipeline: {pause: ['queued', 'running'], …}, workflow: …}. */
export const commands = config.commands;

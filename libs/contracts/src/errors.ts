/**
 * Every error that crosses a boundary (HTTP, NATS request/reply, a log line) is one of these.
 * `code` is the stable wire name; `retryable` tells a caller whether trying again can succeed.
 * The original error travels in `cause`, as nats.js does.
 */
export abstract class GuardkitError extends Error {
  abstract readonly code: string;
  readonly retryable: boolean = false;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An id that may not go into a subject or a path. */
export class InvalidIdError extends GuardkitError {
  readonly code = 'INVALID_ID';
}

/** A document (file, request body, message) that does not match its schema. */
export class ValidationError extends GuardkitError {
  readonly code = 'INVALID_PAYLOAD';

  constructor(
    message: string,
    readonly problems: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class NotFoundError extends GuardkitError {
  readonly code = 'NOT_FOUND';
}

/** NATS did not answer in time or is disconnected; the same call may succeed later. */
export class BusUnavailableError extends GuardkitError {
  readonly code = 'BUS_UNAVAILABLE';
  override readonly retryable = true;
}

/** No token, or one that does not verify (SPEC 4.3); the message never says which check failed. */
export class UnauthorizedError extends GuardkitError {
  readonly code = 'UNAUTHORIZED';
}

/** A valid token whose `gk` claim does not allow the request (SPEC 4.3). */
export class ForbiddenError extends GuardkitError {
  readonly code = 'FORBIDDEN';
}

/** A stream could not be created or brought up to date at start (JetStream kept refusing or not answering). */
export class StreamProvisioningError extends GuardkitError {
  readonly code = 'STREAM_PROVISIONING';
}

/** A request/reply call that found no service listening on its subject. */
export class ServiceUnavailableError extends GuardkitError {
  readonly code = 'SERVICE_UNAVAILABLE';
  override readonly retryable = true;
}

/** An error a remote service reported over request/reply, carried back with its code. */
export class RemoteError extends GuardkitError {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Base class, so a caller can catch every local-stack failure in one place. */
export class StackError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The compiled host scripts are missing: the stack spawns JS from dist/, never TS. */
export class StackBuildMissingError extends StackError {}

/** redis-server or librdkafka is not installed and cannot be installed from here. */
export class SystemPackageError extends StackError {}

/** A server did not become healthy in time or died while starting; carries its log tail. */
export class ServiceStartError extends StackError {}

/** Another `up`/`down` on the same stack dir holds the lock for too long. */
export class StackLockError extends StackError {}

/** The operation needs a running service that is not running. */
export class StackNotRunningError extends StackError {}

/** The dev Kafka host refused or failed a control request (topic, broker state, produce). */
export class KafkaControlError extends StackError {}

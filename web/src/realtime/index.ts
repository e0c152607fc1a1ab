export { RealtimeClient, type ConnectionState, type RealtimeEvents, type SocketLike, type SocketFactory } from "./client";
export { Outbox, MemoryStorage, type OutboxItem, type KeyValueStorage } from "./outbox";
export * from "./frames";
export { backoffDelay } from "./backoff";
export { Sequencer } from "./sequencer";

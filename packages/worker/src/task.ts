/** What crosses between the worker's main thread and its Piscina threads. */
import type { MessagePort } from 'node:worker_threads';

export interface ExecTask {
  /** File holding the module source, written by the main thread before the first task. */
  modulePath: string;
  moduleId: string;
  type: string;
  id: string;
  /** Method to run; `init` for a create of a type that has one. */
  method: string;
  args: Uint8Array;
  argsEncoding: number;
  readonly: boolean;
  /** Packed entries of the object (see snapshot.ts); absent for objects too large to ship. */
  snapshot?: SharedArrayBuffer;
  /** Changes since `snapshot` was packed, same layout; value length 0 = deleted. Read first. */
  overlay?: SharedArrayBuffer;
  /** Answers reads when there is no snapshot: post {key} or {scan}, receive values. */
  port?: MessagePort;
  /** A create: the object is new and empty, and a missing `init` is not an error. */
  create: boolean;
  maxValueBytes: number;
  /**
   * Only when the call is traced (sampled): W3C context of the call's thread span, and a tag the
   * thread's open requests carry so the main thread can tie nested-call spans to this task.
   */
  trace?: Record<string, string>;
  traceTag?: number;
  /** BroadcastChannel on which the thread asks the main thread about callees of `ctx.invoke`. */
  channel: string;
  /** Report which entries the call read (`ExecResult.reads`): its commit validates them. */
  trackReads?: boolean;
}

/** Thread -> main over the worker's BroadcastChannel: open a callee object for `ctx.invoke`. */
export interface OpenRequest {
  kind: 'open';
  thread: number;
  seq: number;
  type: string;
  id: string;
  /** ctx.create: the object must not exist yet; it starts empty. */
  create: boolean;
  /** Traced chains only: the method called, the caller's span context and the task's trace tag. */
  method?: string;
  trace?: Record<string, string>;
  tag?: number;
}

/** Main -> thread: the callee's state and code, or why not. */
export interface OpenReply {
  kind: 'opened';
  thread: number;
  seq: number;
  error?: ExecError;
  modulePath?: string;
  moduleId?: string;
  methods?: Array<{ name: string; readonly: boolean; timeoutMs: number }>;
  version?: number;
  snapshot?: SharedArrayBuffer;
  overlay?: SharedArrayBuffer;
  /** Traced chains only: the context of the nested call's span (parent of the calls it makes). */
  trace?: Record<string, string>;
}

/** An object other than the call's own that the transaction read or wrote (through ctx.invoke). */
export interface ObjectPart {
  type: string;
  id: string;
  /** Version the transaction read; validated at commit. */
  seenVersion: number;
  writes: Array<[string, Uint8Array | null]>;
  /** Entries read (validated per entry set at commit); absent = the whole object (it scanned). */
  reads?: string[];
  /** Created by the transaction (ctx.create): it must still not exist at commit. */
  create?: boolean;
}

export interface ExecError {
  code: string;
  message: string;
}

export interface ExecResult {
  ok: boolean;
  result?: Uint8Array;
  resultEncoding?: number;
  /** Entry writes, values encoded with their tag byte; null deletes. In write order, last wins. */
  writes?: Array<[string, Uint8Array | null]>;
  /** Entries of the call's own object it read, when the task asked (`trackReads`) and it did not scan. */
  reads?: string[];
  /** Other objects of this worker the call's chain touched through ctx.invoke. */
  parts?: ObjectPart[];
  error?: ExecError;
  /** Traced tasks only: when each nested call (by open seq) ended, ms since the epoch. */
  calls?: NestedCallTiming[];
  /** Traced tasks only: when the call started running in its thread (ms since the epoch). */
  startedMs?: number;
}

export interface NestedCallTiming {
  seq: number;
  endMs: number;
  error?: string;
}

/** One Piscina task: calls run one after another; `progress` says which runs and since when. */
export interface ThreadBatch {
  tasks: ExecTask[];
  /** Int32Array(2): [index of the running call + 1, its start in ms after baseMs]. */
  progress: SharedArrayBuffer;
  baseMs: number;
}

/** On-demand read protocol over `ExecTask.port` (large objects only). */
export type PortRequest = { seq: number; get: string } | { seq: number; scan: string };
export type PortReply = { seq: number; value?: Uint8Array; keys?: string[]; error?: string };

// Live job updates: the WebSocket of the API (`/api/events` for all my jobs, `.../jobs/{id}/events` for one),
// and, where the socket cannot be had (no such route, a proxy that drops upgrades), polling with UWS WAIT.
//
// Messages (see the API's WebSocket contract): {"type": "job", "service", "jobId", "phase", "progress",
// "job": <job document>} first for the current state and then on every change; {"type": "deleted", ...}.
// Close codes 1000/4401/4403/4404 are final (no reconnect); others (1001 server stopping, 1013 try again
// later, 4408 too slow, a dropped connection) reconnect with a growing delay, and a socket that never
// opened makes the caller fall back to polling.

import { API_BASE, FINAL_PHASES, getJob, jobUrl, loginUrl, xsrfToken, type Job } from "./api";

export interface JobMessage {
  type: "job";
  service: string;
  jobId: string;
  job: Job;
}

export interface DeletedMessage {
  type: "deleted";
  service: string;
  jobId: string;
}

export type LiveMessage = JobMessage | DeletedMessage;

export interface LiveHandlers {
  onJob(job: Job): void;
  onDeleted(service: string, jobId: string): void;
  /** The socket is not available: the caller polls instead. */
  onUnavailable(): void;
  /** The server closed for good (4401 unauthenticated, 4403 forbidden, 4404 not found). */
  onClosed?(code: number, reason: string): void;
}

/** Close codes after which reconnecting cannot help: the server's normal close (1000: the job was deleted,
 * nothing more will come), 4401 unauthenticated, 4403 forbidden, 4404 no such job. */
export const FINAL_CLOSE_CODES = new Set([1000, 4401, 4403, 4404]);
/** Reconnect delays (ms) after a socket that worked closes; then the last one, over and over. */
const RECONNECT_DELAYS = [500, 1000, 2000, 5000, 10000];

export function socketUrl(path: string, loc: Location = window.location): string {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  const token = xsrfToken();
  return `${scheme}//${loc.host}${path}${token ? `?_xsrf=${encodeURIComponent(token)}` : ""}`;
}

export function parseMessage(data: unknown): LiveMessage | null {
  if (typeof data !== "string") return null;
  try {
    const message = JSON.parse(data) as Partial<LiveMessage> & { job?: Job };
    if (message.type === "job" && message.job && typeof message.job.jobId === "string") return message as JobMessage;
    if (message.type === "deleted" && typeof message.jobId === "string") return message as DeletedMessage;
  } catch {
    // not JSON: ignored
  }
  return null;
}

/** Follow a WebSocket path; returns the function that stops following. */
export function followSocket(path: string, handlers: LiveHandlers): () => void {
  let socket: WebSocket | null = null;
  let stopped = false;
  let opened = false;
  let attempt = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const connect = () => {
    if (stopped) return;
    let ws: WebSocket;
    try {
      ws = new WebSocket(socketUrl(path));
    } catch {
      handlers.onUnavailable();
      return;
    }
    socket = ws;
    ws.onopen = () => {
      opened = true;
      attempt = 0;
    };
    ws.onmessage = (event) => {
      const message = parseMessage(event.data);
      if (!message) return;
      if (message.type === "job") handlers.onJob(message.job);
      else handlers.onDeleted(message.service, message.jobId);
    };
    ws.onclose = (event) => {
      socket = null;
      if (stopped) return;
      if (FINAL_CLOSE_CODES.has(event.code)) {
        handlers.onClosed?.(event.code, event.reason);
        return;
      }
      if (!opened) {
        // It never opened: no WebSocket here (an API without the route, a proxy without upgrades).
        handlers.onUnavailable();
        return;
      }
      const delay = RECONNECT_DELAYS[Math.min(attempt, RECONNECT_DELAYS.length - 1)];
      attempt += 1;
      timer = setTimeout(connect, delay);
    };
  };
  connect();
  return () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
    socket?.close(1000);
  };
}

/** Seconds a poll waits on the server (UWS WAIT): short, so that progress (no phase change) shows too. */
export const POLL_WAIT = 5;
/** Pause between two polls that failed (ms). */
export const POLL_ERROR_DELAY = 3000;

/** Wait `ms`, or less when `signal` aborts (a poll loop stopped mid-pause ends at once). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    // The listener goes with the pause: a long-lived poll loop pauses on the same signal again and again.
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

/**
 * Follow one job by polling with WAIT until it is final; returns the function that stops.
 * A 404 means the job is gone (deleted): `onDeleted` and the end.
 */
export function pollJob(service: string, jobId: string, handlers: Pick<LiveHandlers, "onJob" | "onDeleted">): () => void {
  const controller = new AbortController();
  const { signal } = controller;
  (async () => {
    while (!signal.aborted) {
      try {
        const job = await getJob(service, jobId, POLL_WAIT, signal);
        if (signal.aborted) return;
        handlers.onJob(job);
        if (FINAL_PHASES.has(job.phase)) return;
      } catch (error) {
        if (signal.aborted) return;
        if ((error as { status?: number }).status === 404) {
          handlers.onDeleted(service, jobId);
          return;
        }
        await sleep(POLL_ERROR_DELAY, signal);
      }
    }
  })();
  return () => controller.abort();
}

/** A socket closed with 4401 (the session ended meanwhile): to the login, and back to this page. */
export function reloginOn(code: number): void {
  if (code === 4401) window.location.assign(loginUrl(window.location.pathname + window.location.search));
}

/** Follow one job live: its WebSocket, else polling; returns the function that stops. */
export function followJob(
  service: string,
  jobId: string,
  handlers: Pick<LiveHandlers, "onJob" | "onDeleted"> & { onMode?(mode: LiveMode): void },
): () => void {
  let stopPoll: (() => void) | null = null;
  handlers.onMode?.("socket");
  const stopSocket = followSocket(`${jobUrl(service, jobId)}/events`, {
    onJob: handlers.onJob,
    onDeleted: handlers.onDeleted,
    onUnavailable: () => {
      handlers.onMode?.("polling");
      stopPoll = pollJob(service, jobId, handlers);
    },
    onClosed: (code) => {
      if (code === 4404) handlers.onDeleted(service, jobId);
      reloginOn(code);
    },
  });
  return () => {
    stopSocket();
    stopPoll?.();
  };
}

export type LiveMode = "socket" | "polling";

export const EVENTS_PATH = `${API_BASE}/events`;

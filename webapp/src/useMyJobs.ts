// "My jobs" of one service, kept live: the job list once, then the WebSocket `/api/events` (every change of
// every job of mine), or, without a socket, polling: a UWS WAIT on the newest unfinished job and a fresh
// list and documents after each answer.

import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, FINAL_PHASES, getJob, listJobs, type Job, type JobRef, type Phase, type Progress } from "./api";
import { EVENTS_PATH, followSocket, POLL_ERROR_DELAY, POLL_WAIT, reloginOn, sleep, type LiveMode } from "./live";

export interface JobRow {
  jobId: string;
  phase: Phase;
  runId: string | null;
  creationTime: string;
  progress: Progress | null;
  /** Names of the positions, when the job document is known (for a short description). */
  summary: string | null;
}

/** Jobs shown (newest first); older ones are in the API's list. */
export const MAX_ROWS = 50;
/** Unfinished jobs whose documents a poll fetches (for their progress). */
const POLL_DOCUMENTS = 10;

function fromRef(ref: JobRef, old?: JobRow): JobRow {
  return {
    jobId: ref.jobId,
    phase: ref.phase,
    runId: ref.runId,
    creationTime: ref.creationTime,
    progress: old && old.phase === ref.phase ? old.progress : null,
    summary: old?.summary ?? null,
  };
}

export function describe(job: Job): string {
  const p = job.parameters;
  const parts: string[] = [];
  const positions = (p.pos?.length ?? 0) + (p.circle?.length ?? 0) + (p.polygon?.length ?? 0) + (p.ra ? 1 : 0);
  const table = p.positions?.[0];
  const rows = table ? Math.max(table.trim().split(/\r?\n/).length - 1, 0) : 0;
  if (positions + rows) parts.push(`${positions + rows} position${positions + rows === 1 ? "" : "s"}`);
  if (p.format?.[0]) parts.push(p.format[0].toUpperCase());
  if (p.bundle?.[0] && p.bundle[0] !== "none") parts.push(p.bundle[0]);
  return parts.join(" · ");
}

function fromJob(job: Job): JobRow {
  return {
    jobId: job.jobId,
    phase: job.phase,
    runId: job.runId,
    creationTime: job.creationTime,
    progress: job.progress,
    summary: describe(job),
  };
}

function sorted(rows: Map<string, JobRow>): JobRow[] {
  return [...rows.values()].sort((a, b) => b.creationTime.localeCompare(a.creationTime)).slice(0, MAX_ROWS);
}

export function useMyJobs(service: string) {
  const rows = useRef(new Map<string, JobRow>());
  const [jobs, setJobs] = useState<JobRow[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [mode, setMode] = useState<LiveMode>("socket");

  const publish = useCallback(() => setJobs(sorted(rows.current)), []);

  const update = useCallback(
    (job: Job) => {
      if (job.service !== service) return;
      rows.current.set(job.jobId, fromJob(job));
      publish();
    },
    [service, publish],
  );

  const remove = useCallback(
    (_service: string, jobId: string) => {
      if (rows.current.delete(jobId)) publish();
    },
    [publish],
  );

  const refresh = useCallback(
    async (signal: AbortSignal) => {
      const refs = await listJobs(service, signal);
      const next = new Map<string, JobRow>();
      for (const ref of refs) next.set(ref.jobId, fromRef(ref, rows.current.get(ref.jobId)));
      rows.current = next;
      publish();
      setError(null);
    },
    [service, publish],
  );

  useEffect(() => {
    const controller = new AbortController();
    const { signal } = controller;
    let stopSocket: (() => void) | null = null;

    const poll = async () => {
      setMode("polling");
      while (!signal.aborted) {
        try {
          const open = sorted(rows.current).filter((r) => !FINAL_PHASES.has(r.phase));
          if (open.length) {
            // Answers at once when the newest unfinished job changes phase, else after POLL_WAIT seconds.
            update(await getJob(service, open[0].jobId, POLL_WAIT, signal));
            await refresh(signal);
            const still = sorted(rows.current).filter((r) => !FINAL_PHASES.has(r.phase)).slice(0, POLL_DOCUMENTS);
            const documents = await Promise.all(still.map((r) => getJob(service, r.jobId, undefined, signal).catch(() => null)));
            documents.forEach((job) => job && update(job));
          } else {
            await sleep(POLL_WAIT * 1000, signal);
            if (!signal.aborted) await refresh(signal);
          }
        } catch (caught) {
          if (signal.aborted) return;
          setError(caught instanceof ApiError ? caught.message : "Lost contact with the API; retrying.");
          await sleep(POLL_ERROR_DELAY, signal);
        }
      }
    };

    refresh(signal)
      .catch((caught: unknown) => {
        if (!signal.aborted) setError(caught instanceof ApiError ? caught.message : "The job list cannot be loaded.");
      })
      .finally(() => {
        if (signal.aborted) return;
        stopSocket = followSocket(EVENTS_PATH, {
          onJob: update,
          onDeleted: remove,
          onUnavailable: () => void poll(),
          onClosed: reloginOn,
        });
      });
    return () => {
      controller.abort();
      stopSocket?.();
    };
  }, [service, update, remove, refresh]);

  return { jobs, error, mode, add: update, update, remove };
}

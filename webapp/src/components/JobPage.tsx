import { useEffect, useMemo, useRef, useState } from "react";
import {
  ABORTABLE_PHASES,
  abortJob,
  ApiError,
  deleteJob,
  fetchManifest,
  getJob,
  resultUrl,
  type Job,
  type Manifest,
  type ManifestRow,
  type Result,
} from "../api";
import { followJob, type LiveMode } from "../live";
import { BASE, navigate, onLinkClick } from "../router";
import { formatTime } from "./JobList";
import { PhaseBadge, ProgressBar } from "./Phase";
import { PreviewDialog } from "./PreviewDialog";

/** Previews shown at first (a job may have thousands); a button shows the rest. */
export const PREVIEWS_SHOWN = 48;
/** Manifest rows shown at first. */
export const ROWS_SHOWN = 200;

interface Props {
  service: string;
  jobId: string;
  onJob?(job: Job): void;
  onDeleted?(service: string, jobId: string): void;
}

export function formatSize(size: number | null | undefined): string {
  if (size === null || size === undefined) return "";
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KB`;
  return `${(size / 1024 / 1024).toFixed(1)} MB`;
}

export function JobPage({ service, jobId, onJob, onDeleted }: Props) {
  const [job, setJob] = useState<Job | null>(null);
  const [gone, setGone] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [mode, setMode] = useState<LiveMode>("socket");
  const [manifest, setManifest] = useState<Manifest | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const callbacks = useRef({ onJob, onDeleted });
  callbacks.current = { onJob, onDeleted };

  useEffect(() => {
    const controller = new AbortController();
    const seen = (next: Job) => {
      setJob(next);
      callbacks.current.onJob?.(next);
    };
    const deleted = () => {
      setGone(true);
      callbacks.current.onDeleted?.(service, jobId);
    };
    getJob(service, jobId, undefined, controller.signal)
      .then(seen)
      .catch((error: unknown) => {
        if (controller.signal.aborted) return;
        if (error instanceof ApiError && error.status === 404) deleted();
        else setProblem(error instanceof Error ? error.message : String(error));
      });
    const stop = followJob(service, jobId, { onJob: seen, onDeleted: deleted, onMode: setMode });
    return () => {
      controller.abort();
      stop();
    };
  }, [service, jobId]);

  const hasManifest = job?.results.some((r) => r.id === "manifest-json") ?? false;
  useEffect(() => {
    if (!hasManifest) return;
    const controller = new AbortController();
    fetchManifest(service, jobId, controller.signal)
      .then(setManifest)
      .catch(() => {
        // The results are still listed; only the statuses are missing (e.g. a storage without CORS).
      });
    return () => controller.abort();
  }, [service, jobId, hasManifest]);

  if (gone) {
    return (
      <section className="panel">
        <h1>Job {jobId}</h1>
        <p role="status">This job does not exist (or no longer does).</p>
        <p>
          <a href={BASE} onClick={onLinkClick}>
            Back to my jobs
          </a>
        </p>
      </section>
    );
  }
  if (!job) {
    return (
      <section className="panel">
        <h1>Job {jobId}</h1>
        {problem ? (
          <p className="error" role="alert">
            {problem}
          </p>
        ) : (
          <p>Loading…</p>
        )}
      </section>
    );
  }

  const act = async (action: () => Promise<void>) => {
    setBusy(true);
    setProblem(null);
    try {
      await action();
    } catch (error) {
      setProblem(error instanceof Error ? error.message : String(error));
    } finally {
      setBusy(false);
    }
  };
  const abort = () =>
    act(async () => {
      const next = await abortJob(service, jobId);
      setJob(next);
      onJob?.(next);
    });
  const remove = () =>
    act(async () => {
      await deleteJob(service, jobId);
      onDeleted?.(service, jobId);
      navigate(BASE);
    });

  return (
    <div className="job-page">
      <section className="panel" aria-labelledby="job-heading">
        <p>
          <a href={BASE} onClick={onLinkClick}>
            ← My jobs
          </a>
        </p>
        <h1 id="job-heading">
          Job <code>{job.jobId}</code>
          {job.runId && <span className="muted"> ({job.runId})</span>}
        </h1>
        <div className="job-status" role="status" aria-live="polite" data-testid="job-status">
          <PhaseBadge phase={job.phase} />
          {job.phase === "EXECUTING" && job.progress && <ProgressBar progress={job.progress} />}
        </div>
        <dl className="job-times">
          <dt>Created</dt>
          <dd>{formatTime(job.creationTime)}</dd>
          {job.startTime && (
            <>
              <dt>Started</dt>
              <dd>{formatTime(job.startTime)}</dd>
            </>
          )}
          {job.endTime && (
            <>
              <dt>Ended</dt>
              <dd>{formatTime(job.endTime)}</dd>
            </>
          )}
          {job.ownerId && (
            <>
              <dt>Owner</dt>
              <dd>{job.ownerId}</dd>
            </>
          )}
        </dl>
        {job.errorSummary && (
          <p className="error" role="alert">
            {job.errorSummary.message}
          </p>
        )}
        {problem && (
          <p className="error" role="alert">
            {problem}
          </p>
        )}
        <div className="actions">
          {ABORTABLE_PHASES.has(job.phase) && (
            <button type="button" onClick={abort} disabled={busy}>
              Abort job
            </button>
          )}
          {confirming ? (
            <>
              <button type="button" className="danger" onClick={remove} disabled={busy}>
                Yes, delete this job
              </button>
              <button type="button" className="secondary" onClick={() => setConfirming(false)}>
                Keep it
              </button>
            </>
          ) : (
            <button type="button" className="secondary" onClick={() => setConfirming(true)} disabled={busy}>
              Delete job…
            </button>
          )}
        </div>
        <details className="parameters">
          <summary>Parameters</summary>
          <dl>
            {Object.entries(job.parameters).map(([name, list]) => (
              <div key={name}>
                <dt>{name}</dt>
                <dd>
                  <pre>{list.join("\n")}</pre>
                </dd>
              </div>
            ))}
          </dl>
        </details>
        <p className="muted small">{mode === "socket" ? "Live updates." : "Live updates by polling (no WebSocket)."}</p>
      </section>
      {job.results.length > 0 && <Results service={service} job={job} manifest={manifest} />}
    </div>
  );
}

function label(row: ManifestRow | undefined, result: Result): string {
  if (!row) return result.id;
  const band = row.band !== null && row.band !== undefined ? `${row.band} GHz` : "";
  return [row.name, band, row.map].filter(Boolean).join(" · ");
}

function Results({ service, job, manifest }: { service: string; job: Job; manifest: Manifest | null }) {
  const [allPreviews, setAllPreviews] = useState(false);
  const [allRows, setAllRows] = useState(false);
  const [open, setOpen] = useState<number | null>(null);
  const byFile = useMemo(() => new Map((manifest?.rows ?? []).map((row) => [row.file, row])), [manifest]);
  const pngs = job.results.filter((r) => r.mimeType === "image/png");
  const shown = allPreviews ? pngs : pngs.slice(0, PREVIEWS_SHOWN);
  const url = (r: Result) => resultUrl(service, job.jobId, r.id);
  const bundle = job.results.find((r) => r.id === "bundle");
  const rows = manifest?.rows ?? [];

  return (
    <>
      <section className="panel" aria-labelledby="downloads-heading">
        <h2 id="downloads-heading">Downloads</h2>
        {bundle && (
          <p>
            <a className="button" href={url(bundle)} download data-testid="bundle-link">
              Download the bundle ({formatSize(bundle.size)})
            </a>
          </p>
        )}
        <ul className="downloads">
          {job.results.map((r) => (
            <li key={r.id}>
              <a href={url(r)} download>
                {r.id}
              </a>{" "}
              <span className="muted">
                {r.mimeType} {formatSize(r.size)}
              </span>
            </li>
          ))}
        </ul>
        {pngs.length === 0 && job.phase === "COMPLETED" && (
          <p className="muted" data-testid="no-previews">
            {bundle
              ? "The cutouts are in the bundle: previews show for jobs without one (bundle: none, format: png or both)."
              : "No PNG previews: choose the format png or both to see the cutouts here."}
          </p>
        )}
      </section>
      {pngs.length > 0 && (
        <section className="panel" aria-labelledby="previews-heading">
          <h2 id="previews-heading">Previews ({pngs.length})</h2>
          <ul className="preview-grid">
            {shown.map((r, index) => {
              const row = byFile.get(r.id);
              return (
                <li key={r.id}>
                  <button type="button" className="thumb" onClick={() => setOpen(index)} aria-label={`Open preview ${label(row, r)}`}>
                    <img src={url(r)} alt="" loading="lazy" width={160} height={160} />
                  </button>
                  <span className="caption">
                    {label(row, r)}
                    {row && <span className={`status status-${row.status}`}> {row.status}</span>}
                  </span>
                </li>
              );
            })}
          </ul>
          {!allPreviews && pngs.length > shown.length && (
            <button type="button" className="secondary" onClick={() => setAllPreviews(true)}>
              Show all {pngs.length} previews
            </button>
          )}
          {open !== null && shown[open] && (
            <PreviewDialog
              title={label(byFile.get(shown[open].id), shown[open])}
              src={url(shown[open])}
              onClose={() => setOpen(null)}
              onPrevious={open > 0 ? () => setOpen(open - 1) : undefined}
              onNext={open < shown.length - 1 ? () => setOpen(open + 1) : undefined}
            />
          )}
        </section>
      )}
      {rows.length > 0 && (
        <section className="panel" aria-labelledby="positions-heading">
          <h2 id="positions-heading">Positions</h2>
          {manifest?.summary?.positions_by_status && (
            <p>
              {Object.entries(manifest.summary.positions_by_status)
                .map(([status, count]) => `${count} ${status}`)
                .join(", ")}
            </p>
          )}
          <div className="table-scroll">
            <table className="manifest" data-testid="manifest">
              <thead>
                <tr>
                  <th scope="col">Position</th>
                  <th scope="col">RA</th>
                  <th scope="col">Dec</th>
                  <th scope="col">Band</th>
                  <th scope="col">Map</th>
                  <th scope="col">Status</th>
                  <th scope="col">File</th>
                </tr>
              </thead>
              <tbody>
                {(allRows ? rows : rows.slice(0, ROWS_SHOWN)).map((row, i) => (
                  <tr key={`${row.file}-${row.name}-${i}`}>
                    <th scope="row">{row.name}</th>
                    <td>{row.ra.toFixed(4)}</td>
                    <td>{row.dec.toFixed(4)}</td>
                    <td>{row.band ?? ""}</td>
                    <td>{row.map}</td>
                    <td>
                      <span className={`status status-${row.status}`}>{row.status}</span>
                      {row.message && <div className="muted small">{row.message}</div>}
                    </td>
                    <td>
                      {row.file && job.results.some((r) => r.id === row.file) ? (
                        <a href={resultUrl(service, job.jobId, row.file)} download>
                          {row.file}
                        </a>
                      ) : (
                        row.file
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {!allRows && rows.length > ROWS_SHOWN && (
            <button type="button" className="secondary" onClick={() => setAllRows(true)}>
              Show all {rows.length} rows
            </button>
          )}
        </section>
      )}
    </>
  );
}

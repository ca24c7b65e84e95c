import type { LiveMode } from "../live";
import { jobPath, onLinkClick } from "../router";
import type { JobRow } from "../useMyJobs";
import { PhaseBadge, ProgressBar } from "./Phase";

export function formatTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function JobList({ jobs, error, mode }: { jobs: JobRow[]; error: string | null; mode: LiveMode }) {
  return (
    <div className="job-list">
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {jobs.length === 0 ? (
        <p>No jobs yet.</p>
      ) : (
        <table>
          <caption className="visually-hidden">My cutout jobs, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Job</th>
              <th scope="col">Created</th>
              <th scope="col">Phase</th>
            </tr>
          </thead>
          <tbody>
            {jobs.map((job) => (
              <tr key={job.jobId} data-job-id={job.jobId}>
                <td>
                  <a href={jobPath(job.jobId)} onClick={onLinkClick}>
                    {job.runId || job.jobId}
                  </a>
                  {job.summary && <div className="muted">{job.summary}</div>}
                </td>
                <td>{formatTime(job.creationTime)}</td>
                <td>
                  <PhaseBadge phase={job.phase} />
                  {job.phase === "EXECUTING" && job.progress && <ProgressBar progress={job.progress} compact />}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p className="muted small">{mode === "socket" ? "Live updates." : "Live updates by polling (no WebSocket)."}</p>
    </div>
  );
}

import type { Phase, Progress } from "../api";

export function PhaseBadge({ phase }: { phase: Phase }) {
  return <span className={`phase phase-${phase.toLowerCase()}`}>{phase}</span>;
}

export function ProgressBar({ progress, compact = false }: { progress: Progress; compact?: boolean }) {
  const total = Math.max(progress.total, 0);
  const done = Math.min(Math.max(progress.done, 0), total || progress.done);
  const text = total ? `${done} of ${total}` : `${done}`;
  return (
    <span className={compact ? "progress compact" : "progress"}>
      <progress max={total || undefined} value={total ? done : undefined} aria-label={`Progress: ${text}`} />
      <span className="progress-text">
        {text}
        {!compact && progress.message ? ` · ${progress.message}` : ""}
      </span>
    </span>
  );
}

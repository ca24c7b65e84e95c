import { useEffect, useRef } from "react";

interface Props {
  title: string;
  src: string;
  onClose(): void;
  onPrevious?: () => void;
  onNext?: () => void;
}

/** A modal with one preview at full size: Escape closes it, arrow keys step, the focus stays inside. */
export function PreviewDialog({ title, src, onClose, onPrevious, onNext }: Props) {
  const closeRef = useRef<HTMLButtonElement>(null);
  const dialogRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    closeRef.current?.focus();
    return () => before?.focus();
  }, []);

  const onKeyDown = (event: React.KeyboardEvent) => {
    if (event.key === "Escape") {
      event.preventDefault();
      onClose();
    } else if (event.key === "ArrowLeft" && onPrevious) {
      onPrevious();
    } else if (event.key === "ArrowRight" && onNext) {
      onNext();
    } else if (event.key === "Tab") {
      // Keep the focus within the dialog.
      const focusable = dialogRef.current?.querySelectorAll<HTMLElement>("button:not([disabled]), a[href]");
      if (!focusable || focusable.length === 0) return;
      const first = focusable[0];
      const last = focusable[focusable.length - 1];
      if (event.shiftKey && document.activeElement === first) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && document.activeElement === last) {
        event.preventDefault();
        first.focus();
      }
    }
  };

  return (
    <div className="backdrop" onClick={onClose}>
      <div
        ref={dialogRef}
        className="dialog"
        role="dialog"
        aria-modal="true"
        aria-labelledby="preview-title"
        onClick={(e) => e.stopPropagation()}
        onKeyDown={onKeyDown}
      >
        <div className="dialog-header">
          <h2 id="preview-title">{title}</h2>
          <button ref={closeRef} type="button" className="secondary" onClick={onClose}>
            Close
          </button>
        </div>
        <img src={src} alt={`Cutout preview: ${title}`} className="preview-large" />
        <div className="actions">
          <button type="button" className="secondary" onClick={onPrevious} disabled={!onPrevious}>
            Previous
          </button>
          <button type="button" className="secondary" onClick={onNext} disabled={!onNext}>
            Next
          </button>
          <a className="button" href={src} download>
            Download PNG
          </a>
        </div>
      </div>
    </div>
  );
}

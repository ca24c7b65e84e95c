// A two-page router on the History API: the app's base (/app/cutout/) and /app/cutout/jobs/<id>.
import { useEffect, useState } from "react";

export const BASE = import.meta.env.BASE_URL.replace(/\/?$/, "/");

export type Route = { page: "home" } | { page: "job"; jobId: string };

export function parseRoute(pathname: string): Route {
  const rest = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : "";
  const match = /^jobs\/([^/]+)\/?$/.exec(rest);
  return match ? { page: "job", jobId: decodeURIComponent(match[1]) } : { page: "home" };
}

export function jobPath(jobId: string): string {
  return `${BASE}jobs/${encodeURIComponent(jobId)}`;
}

const listeners = new Set<() => void>();

export function navigate(path: string): void {
  if (path !== window.location.pathname) window.history.pushState(null, "", path);
  listeners.forEach((listener) => listener());
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.pathname));
  useEffect(() => {
    const update = () => setRoute(parseRoute(window.location.pathname));
    listeners.add(update);
    window.addEventListener("popstate", update);
    return () => {
      listeners.delete(update);
      window.removeEventListener("popstate", update);
    };
  }, []);
  return route;
}

/** A click on an in-app link: navigate without reloading (a modified click opens a tab as usual). */
export function onLinkClick(event: React.MouseEvent<HTMLAnchorElement>): void {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(event.currentTarget.pathname);
}

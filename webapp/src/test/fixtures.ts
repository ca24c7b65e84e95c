// Shared test data: the cutout service as GET /api/services describes it (cutout-schema.json is the real
// schema, checked against the Python model by tests/webapp/test_webapp_build.py), and a completed job.
import type { Job, Manifest, ServiceInfo } from "../api";
import schema from "./cutout-schema.json";

export const cutoutService: ServiceInfo = {
  name: "cutout",
  title: "Map cutouts",
  description: "Postage stamps of the SPT-3G maps.",
  jobs: "http://localhost/api/cutout/jobs",
  parameters: schema,
};

export function job(overrides: Partial<Job> = {}): Job {
  return {
    jobId: "j1",
    href: "http://localhost/api/cutout/jobs/j1",
    runId: null,
    ownerId: null,
    phase: "EXECUTING",
    service: "cutout",
    creationTime: "2026-11-30T22:00:00Z",
    startTime: "2026-11-30T22:00:01Z",
    endTime: null,
    executionDuration: 3600,
    destruction: null,
    parameters: { positions: ["name,ra,dec\na,1,2\nb,3,4\nc,5,6"], format: ["png"] },
    results: [],
    errorSummary: null,
    progress: { done: 1, total: 3, message: "cutting" },
    ...overrides,
  };
}

export const completedJob = job({
  phase: "COMPLETED",
  endTime: "2026-11-30T22:00:03Z",
  progress: null,
  results: [
    { id: "a_field1_150GHz.png", href: "x", size: 2048, mimeType: "image/png" },
    { id: "b_field1_150GHz.png", href: "x", size: 2048, mimeType: "image/png" },
    { id: "bundle", href: "x", size: 4096, mimeType: "application/zip" },
    { id: "manifest", href: "x", size: 100, mimeType: "text/csv" },
    { id: "manifest-json", href: "x", size: 100, mimeType: "application/json" },
  ],
});

export const manifest: Manifest = {
  summary: { positions: 3, files: 2, positions_by_status: { ok: 2, outside: 1 } },
  rows: [
    { name: "a", ra: 1, dec: 2, band: 150, map: "field1", file: "a_field1_150GHz.png", format: "png", status: "ok", message: "" },
    { name: "b", ra: 3, dec: 4, band: 150, map: "field1", file: "b_field1_150GHz.png", format: "png", status: "partial", message: "" },
    { name: "c", ra: 5, dec: 6, band: null, map: "", file: "", format: "png", status: "outside", message: "no map covers it" },
  ],
};

/** A fetch double: answers by "METHOD path" (path without the query), records every call. */
export function fakeFetch(routes: Record<string, (init: RequestInit, url: URL) => Response | Promise<Response>>) {
  const calls: { method: string; url: URL; init: RequestInit }[] = [];
  const fn = async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(String(input), "http://localhost");
    const method = (init.method ?? "GET").toUpperCase();
    calls.push({ method, url, init });
    const route = routes[`${method} ${url.pathname}`];
    if (!route) return json({ error: "NotFound", message: `no route ${method} ${url.pathname}`, status: 404 }, 404);
    return route(init, url);
  };
  return { fn, calls };
}

export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

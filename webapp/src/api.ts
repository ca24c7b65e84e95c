// The API calls of the web app: same-origin fetches to /api and /account, JSON in and out.
//
// Cookie-authenticated POST and DELETE carry Tornado's XSRF token (the `_xsrf` cookie, sent back as the
// `X-XSRFToken` header); a 4xx answer's error document (`{"error", "message", "status", "parameter"}`)
// becomes an ApiError, so a form can show the message next to the parameter it names.

export const API_BASE = "/api";
export const ACCOUNT_BASE = "/account";

export type Phase =
  | "PENDING"
  | "QUEUED"
  | "EXECUTING"
  | "COMPLETED"
  | "ERROR"
  | "ABORTED"
  | "UNKNOWN"
  | "HELD"
  | "SUSPENDED"
  | "ARCHIVED";

export const FINAL_PHASES: ReadonlySet<Phase> = new Set(["COMPLETED", "ERROR", "ABORTED", "ARCHIVED"]);
export const ABORTABLE_PHASES: ReadonlySet<Phase> = new Set(["PENDING", "QUEUED", "EXECUTING", "HELD", "SUSPENDED"]);

export interface Progress {
  done: number;
  total: number;
  message: string;
}

export interface Result {
  id: string;
  href: string;
  size?: number | null;
  mimeType?: string | null;
}

export interface Job {
  jobId: string;
  href: string;
  runId: string | null;
  ownerId: string | null;
  phase: Phase;
  service: string;
  creationTime: string;
  startTime?: string | null;
  endTime?: string | null;
  executionDuration: number;
  destruction?: string | null;
  parameters: Record<string, string[]>;
  results: Result[];
  errorSummary: { type: string; hasDetail: boolean; message: string } | null;
  progress: Progress | null;
}

export interface JobRef {
  jobId: string;
  href: string;
  phase: Phase;
  runId: string | null;
  ownerId: string | null;
  creationTime: string;
}

export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  examples?: unknown[];
  maxLength?: number;
  $ref?: string;
  [key: string]: unknown;
}

export interface ServiceInfo {
  name: string;
  title: string;
  description: string;
  jobs: string;
  parameters: JsonSchema;
}

export interface Me {
  auth: boolean;
  username: string | null;
  roles: string[];
  admin: boolean;
}

export interface ManifestRow {
  name: string;
  ra: number;
  dec: number;
  band: number | null;
  map: string;
  file: string;
  format: string;
  status: string;
  message: string;
}

export interface Manifest {
  summary?: { positions?: number; files?: number; positions_by_status?: Record<string, number> };
  rows: ManifestRow[];
}

/** An answer other than 2xx, with the server's message and the parameter it names (if any). */
export class ApiError extends Error {
  readonly status: number;
  readonly parameter: string | null;

  constructor(status: number, message: string, parameter: string | null = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.parameter = parameter;
  }
}

/** The value of a cookie of this page, or null. */
export function cookie(name: string): string | null {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

/** The XSRF token to send with a cookie-authenticated POST or DELETE (null when the server set none). */
export function xsrfToken(): string | null {
  return cookie("_xsrf");
}

async function errorFrom(response: Response): Promise<ApiError> {
  const text = await response.text();
  try {
    const body = JSON.parse(text) as { message?: string; parameter?: string | null };
    if (body && typeof body.message === "string") {
      return new ApiError(response.status, body.message, body.parameter ?? null);
    }
  } catch {
    // not JSON: the text itself (a proxy's page, a DALI text document)
  }
  return new ApiError(response.status, text.trim().slice(0, 500) || `${response.status} ${response.statusText}`);
}

export interface RequestOptions {
  method?: string;
  body?: BodyInit;
  contentType?: string;
  signal?: AbortSignal;
}

/** A same-origin request answered with JSON; a non-2xx answer throws an ApiError. */
export async function request<T>(url: string, options: RequestOptions = {}): Promise<T> {
  const method = options.method ?? "GET";
  const headers: Record<string, string> = { Accept: "application/json" };
  if (options.contentType) headers["Content-Type"] = options.contentType;
  if (method !== "GET" && method !== "HEAD") {
    const token = xsrfToken();
    if (token) headers["X-XSRFToken"] = token;
  }
  const response = await fetch(url, {
    method,
    headers,
    body: options.body,
    credentials: "same-origin",
    signal: options.signal,
  });
  if (!response.ok) throw await errorFrom(response);
  const text = await response.text();
  return (text ? JSON.parse(text) : null) as T;
}

function form(pairs: [string, string][]): { body: string; contentType: string } {
  return { body: new URLSearchParams(pairs).toString(), contentType: "application/x-www-form-urlencoded" };
}

export function jobsUrl(service: string): string {
  return `${API_BASE}/${encodeURIComponent(service)}/jobs`;
}

export function jobUrl(service: string, jobId: string): string {
  return `${jobsUrl(service)}/${encodeURIComponent(jobId)}`;
}

/** A result's URL on this origin (the document's href is absolute, naming the host the API saw). */
export function resultUrl(service: string, jobId: string, resultId: string): string {
  return `${jobUrl(service, jobId)}/results/${encodeURIComponent(resultId)}`;
}

export async function fetchServices(signal?: AbortSignal): Promise<ServiceInfo[]> {
  const body = await request<{ services: ServiceInfo[] }>(`${API_BASE}/services`, { signal });
  return body.services;
}

export function fetchMe(signal?: AbortSignal): Promise<Me> {
  return request<Me>(`${ACCOUNT_BASE}/me`, { signal });
}

export async function listJobs(service: string, signal?: AbortSignal): Promise<JobRef[]> {
  const body = await request<{ jobs: JobRef[] }>(jobsUrl(service), { signal });
  return body.jobs;
}

/** The job; with `wait`, a UWS long poll (WAIT seconds) that answers early when the phase changes. */
export function getJob(service: string, jobId: string, wait?: number, signal?: AbortSignal): Promise<Job> {
  const query = wait !== undefined ? `?WAIT=${wait}` : "";
  return request<Job>(jobUrl(service, jobId) + query, { signal });
}

/** Create a job and start it (PHASE=RUN); the 303 is followed to the new job's document. */
export function createJob(service: string, pairs: [string, string][], run = true): Promise<Job> {
  const all: [string, string][] = run ? [...pairs, ["PHASE", "RUN"]] : pairs;
  const { body, contentType } = form(all);
  return request<Job>(jobsUrl(service), { method: "POST", body, contentType });
}

export function abortJob(service: string, jobId: string): Promise<Job> {
  const { body, contentType } = form([["PHASE", "ABORT"]]);
  return request<Job>(`${jobUrl(service, jobId)}/phase`, { method: "POST", body, contentType });
}

/** Delete a job (the 303 to the job list is followed). */
export async function deleteJob(service: string, jobId: string): Promise<void> {
  await request<unknown>(jobUrl(service, jobId), { method: "DELETE" });
}

export function fetchManifest(service: string, jobId: string, signal?: AbortSignal): Promise<Manifest> {
  return request<Manifest>(resultUrl(service, jobId, "manifest-json"), { signal });
}

export function logoutUrl(): string {
  // Back to the app afterwards: with auth on, that is the login page again.
  return `${ACCOUNT_BASE}/logout?next=${encodeURIComponent(import.meta.env.BASE_URL)}`;
}

export function loginUrl(next: string): string {
  return `${ACCOUNT_BASE}/login?next=${encodeURIComponent(next)}`;
}

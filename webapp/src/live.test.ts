import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { followSocket, parseMessage, pollJob, socketUrl } from "./live";
import { FakeSocket } from "./test/fakeSocket";
import { fakeFetch, job, json } from "./test/fixtures";

beforeEach(() => {
  FakeSocket.reset();
  vi.stubGlobal("WebSocket", FakeSocket);
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
  document.cookie = "_xsrf=; expires=Thu, 01 Jan 1970 00:00:00 GMT";
});

const handlers = () => ({ onJob: vi.fn(), onDeleted: vi.fn(), onUnavailable: vi.fn(), onClosed: vi.fn() });

describe("followSocket", () => {
  it("connects with the XSRF token and hands on job and deleted messages", () => {
    document.cookie = "_xsrf=abc";
    const h = handlers();
    const stop = followSocket("/api/events", h);
    const socket = FakeSocket.last();
    expect(socket.url).toBe(`ws://${window.location.host}/api/events?_xsrf=abc`);
    socket.open();
    socket.send({ type: "job", service: "cutout", jobId: "j1", phase: "EXECUTING", progress: null, job: job() });
    socket.send({ type: "deleted", service: "cutout", jobId: "j2" });
    socket.send({ type: "other" });
    expect(h.onJob).toHaveBeenCalledWith(job());
    expect(h.onDeleted).toHaveBeenCalledWith("cutout", "j2");
    stop();
    expect(socket.closed).toBe(1000);
  });

  it("reports a socket that never opened as unavailable (the caller polls)", () => {
    const h = handlers();
    followSocket("/api/events", h);
    FakeSocket.last().serverClose(1006);
    expect(h.onUnavailable).toHaveBeenCalledOnce();
    expect(FakeSocket.instances).toHaveLength(1);
  });

  it("reconnects after a socket that worked drops, but not after a final close code", () => {
    vi.useFakeTimers();
    const h = handlers();
    followSocket("/api/events", h);
    FakeSocket.last().open();
    FakeSocket.last().serverClose(1001);
    vi.advanceTimersByTime(600);
    expect(FakeSocket.instances).toHaveLength(2);
    FakeSocket.last().open();
    FakeSocket.last().serverClose(4401, "unauthenticated");
    vi.advanceTimersByTime(20000);
    expect(FakeSocket.instances).toHaveLength(2);
    expect(h.onClosed).toHaveBeenCalledWith(4401, "unauthenticated");
    expect(h.onUnavailable).not.toHaveBeenCalled();
  });
  it("does not reconnect after the server's normal close (the job was deleted)", () => {
    vi.useFakeTimers();
    const h = handlers();
    followSocket("/api/cutout/jobs/j1/events", h);
    FakeSocket.last().open();
    FakeSocket.last().serverClose(1000, "the job was deleted");
    vi.advanceTimersByTime(20000);
    expect(FakeSocket.instances).toHaveLength(1);
    expect(h.onClosed).toHaveBeenCalledWith(1000, "the job was deleted");
  });
});

describe("pollJob", () => {
  it("follows a job with WAIT until it is final", async () => {
    const phases = ["QUEUED", "EXECUTING", "COMPLETED"] as const;
    let i = 0;
    const api = fakeFetch({ "GET /api/cutout/jobs/j1": () => json(job({ phase: phases[i++] })) });
    vi.stubGlobal("fetch", api.fn);
    const onJob = vi.fn();
    pollJob("cutout", "j1", { onJob, onDeleted: vi.fn() });
    await vi.waitFor(() => expect(onJob).toHaveBeenCalledTimes(3));
    expect(onJob.mock.calls.map(([j]) => j.phase)).toEqual(["QUEUED", "EXECUTING", "COMPLETED"]);
    expect(api.calls.every((c) => c.url.searchParams.get("WAIT") === "5")).toBe(true);
    expect(api.calls).toHaveLength(3);
  });

  it("stops with onDeleted when the job is gone", async () => {
    vi.stubGlobal("fetch", fakeFetch({}).fn);
    const onDeleted = vi.fn();
    pollJob("cutout", "j9", { onJob: vi.fn(), onDeleted });
    await vi.waitFor(() => expect(onDeleted).toHaveBeenCalledWith("cutout", "j9"));
  });
});

describe("messages", () => {
  it("ignores what is not a job or deleted message", () => {
    expect(parseMessage("not json")).toBeNull();
    expect(parseMessage(JSON.stringify({ type: "job" }))).toBeNull();
    expect(parseMessage(new ArrayBuffer(2))).toBeNull();
    expect(socketUrl("/x", { protocol: "https:", host: "h.org" } as Location)).toBe("wss://h.org/x");
  });
});

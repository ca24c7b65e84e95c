import { render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { App } from "./App";
import { FakeSocket } from "./test/fakeSocket";
import { cutoutService, fakeFetch, job, json } from "./test/fixtures";

beforeEach(() => {
  FakeSocket.reset();
  vi.stubGlobal("WebSocket", FakeSocket);
  window.history.replaceState(null, "", "/app/cutout/");
});
afterEach(() => vi.unstubAllGlobals());

const ref = (jobId: string, phase: string, creationTime: string) => ({
  jobId, phase, creationTime, href: `http://localhost/api/cutout/jobs/${jobId}`, runId: null, ownerId: "alice",
});

function api(me: unknown) {
  return fakeFetch({
    "GET /api/services": () => json({ services: [cutoutService] }),
    "GET /account/me": () => json(me),
    "GET /api/cutout/jobs": () =>
      json({ version: "1.1", jobs: [ref("old", "COMPLETED", "2026-11-30T20:00:00Z"), ref("j1", "QUEUED", "2026-11-30T22:00:00Z")] }),
  });
}

describe("App", () => {
  it("shows who is logged in with a logout link, the form and my jobs newest first", async () => {
    vi.stubGlobal("fetch", api({ auth: true, username: "alice", sub: "u1", roles: ["spt-user"], admin: false }).fn);
    render(<App />);
    expect(await screen.findByTestId("username")).toHaveTextContent("alice");
    expect(screen.getByRole("link", { name: "Log out" })).toHaveAttribute("href", `/account/logout?next=${encodeURIComponent(import.meta.env.BASE_URL)}`);
    expect(await screen.findByRole("button", { name: "Submit job" })).toBeInTheDocument();
    const table = await screen.findByRole("table", { name: /My cutout jobs/ });
    await waitFor(() => expect(within(table).getAllByRole("link").map((a) => a.textContent)).toEqual(["j1", "old"]));
  });

  it("keeps my jobs live from /api/events: progress, new jobs and deletions", async () => {
    vi.stubGlobal("fetch", api({ auth: false, username: null, roles: [], admin: false }).fn);
    render(<App />);
    expect(await screen.findByText("Login is off on this server")).toBeInTheDocument();
    const table = await screen.findByRole("table", { name: /My cutout jobs/ });
    await waitFor(() => expect(FakeSocket.instances.some((s) => s.url.endsWith("/api/events"))).toBe(true));
    const socket = FakeSocket.instances.find((s) => s.url.endsWith("/api/events"))!;
    socket.open();
    socket.send({ type: "job", service: "cutout", jobId: "j1", job: job({ progress: { done: 1, total: 3, message: "" } }) });
    await waitFor(() => expect(within(table).getByLabelText("Progress: 1 of 3")).toBeInTheDocument());
    socket.send({ type: "job", service: "cutout", jobId: "j2", job: job({ jobId: "j2", creationTime: "2026-11-30T23:00:00Z" }) });
    socket.send({ type: "job", service: "echo", jobId: "e1", job: job({ jobId: "e1", service: "echo" }) });
    socket.send({ type: "deleted", service: "cutout", jobId: "old" });
    await waitFor(() => expect(within(table).getAllByRole("link").map((a) => a.textContent)).toEqual(["j2", "j1"]));
    expect(within(table).getAllByText("3 positions · PNG")).toHaveLength(2);
  });

  it("without a socket, polls: a WAIT on the newest unfinished job, then the list and its documents", async () => {
    let phase = "QUEUED";
    const calls = fakeFetch({
      "GET /api/services": () => json({ services: [cutoutService] }),
      "GET /account/me": () => json({ auth: false, username: null, roles: [], admin: false }),
      "GET /api/cutout/jobs": () => json({ version: "1.1", jobs: [ref("j1", phase, "2026-11-30T22:00:00Z")] }),
      "GET /api/cutout/jobs/j1": (_init, url) => {
        if (url.searchParams.get("WAIT")) phase = "COMPLETED";
        return json(job({ phase: phase as "COMPLETED", progress: null }));
      },
    });
    vi.stubGlobal("fetch", calls.fn);
    render(<App />);
    const table = await screen.findByRole("table", { name: /My cutout jobs/ });
    await waitFor(() => expect(FakeSocket.instances.some((s) => s.url.endsWith("/api/events"))).toBe(true));
    FakeSocket.instances.find((s) => s.url.endsWith("/api/events"))!.serverClose(1006);
    await waitFor(() => expect(within(table).getByText("COMPLETED")).toBeInTheDocument());
    expect(calls.calls.some((c) => c.url.pathname === "/api/cutout/jobs/j1" && c.url.searchParams.get("WAIT") === "5")).toBe(true);
    expect(screen.getByText(/by polling/)).toBeInTheDocument();
  });
});

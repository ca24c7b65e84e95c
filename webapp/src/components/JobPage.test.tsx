import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { JobPage } from "./JobPage";
import { FakeSocket } from "../test/fakeSocket";
import { completedJob, fakeFetch, job, json, manifest } from "../test/fixtures";

beforeEach(() => {
  FakeSocket.reset();
  vi.stubGlobal("WebSocket", FakeSocket);
});
afterEach(() => {
  vi.unstubAllGlobals();
  document.cookie = "_xsrf=; expires=Thu, 01 Jan 1970 00:00:00 GMT";
});

describe("JobPage", () => {
  it("follows the job's socket: phase and progress change without a reload", async () => {
    vi.stubGlobal("fetch", fakeFetch({ "GET /api/cutout/jobs/j1": () => json(job({ phase: "QUEUED", progress: null })) }).fn);
    render(<JobPage service="cutout" jobId="j1" />);
    const status = await screen.findByTestId("job-status");
    await waitFor(() => expect(status).toHaveTextContent("QUEUED"));
    const socket = FakeSocket.last();
    expect(socket.url).toMatch(/\/api\/cutout\/jobs\/j1\/events$/);
    socket.open();
    socket.send({ type: "job", service: "cutout", jobId: "j1", job: job({ progress: { done: 2, total: 3, message: "" } }) });
    await waitFor(() => expect(status).toHaveTextContent("EXECUTING"));
    expect(within(status).getByLabelText("Progress: 2 of 3")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Abort job" })).toBeEnabled();
  });

  it("falls back to WAIT polling when the socket never opens", async () => {
    let calls = 0;
    const api = fakeFetch({
      "GET /api/cutout/jobs/j1": () => json(calls++ < 1 ? job() : completedJob),
      "GET /api/cutout/jobs/j1/results/manifest-json": () => json(manifest),
    });
    vi.stubGlobal("fetch", api.fn);
    render(<JobPage service="cutout" jobId="j1" />);
    FakeSocket.last().serverClose(1006);
    await waitFor(() => expect(screen.getByTestId("job-status")).toHaveTextContent("COMPLETED"));
    expect(api.calls.some((c) => c.url.searchParams.get("WAIT") === "5")).toBe(true);
    expect(screen.getByText(/by polling/)).toBeInTheDocument();
  });

  it("shows previews in a grid with each position's status, the bundle and downloads", async () => {
    vi.stubGlobal("fetch", fakeFetch({
      "GET /api/cutout/jobs/j1": () => json(completedJob),
      "GET /api/cutout/jobs/j1/results/manifest-json": () => json(manifest),
    }).fn);
    const user = userEvent.setup();
    render(<JobPage service="cutout" jobId="j1" />);
    const grid = await screen.findByRole("heading", { name: "Previews (2)" });
    const thumbs = within(grid.closest("section")!).getAllByRole("button", { name: /Open preview/ });
    expect(thumbs).toHaveLength(2);
    await waitFor(() => expect(thumbs[1]).toHaveAccessibleName("Open preview b · 150 GHz · field1"));
    const table = screen.getByTestId("manifest");
    expect(within(table).getAllByRole("row")).toHaveLength(4);
    expect(within(table).getByText("outside")).toBeInTheDocument();
    expect(within(table).getByText("no map covers it")).toBeInTheDocument();
    expect(screen.getByText("2 ok, 1 outside")).toBeInTheDocument();
    expect(screen.getByTestId("bundle-link")).toHaveAttribute("href", "/api/cutout/jobs/j1/results/bundle");
    expect(screen.queryByRole("button", { name: "Abort job" })).not.toBeInTheDocument();

    // A preview opens in a dialog; the keyboard steps through and Escape closes it.
    await user.click(thumbs[0]);
    const dialog = screen.getByRole("dialog", { name: "a · 150 GHz · field1" });
    expect(within(dialog).getByRole("img")).toHaveAttribute("src", "/api/cutout/jobs/j1/results/a_field1_150GHz.png");
    expect(within(dialog).getByRole("button", { name: "Close" })).toHaveFocus();
    await user.keyboard("{ArrowRight}");
    expect(screen.getByRole("dialog", { name: "b · 150 GHz · field1" })).toBeInTheDocument();
    await user.keyboard("{Escape}");
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
  });

  it("aborts and deletes with the XSRF token", async () => {
    document.cookie = "_xsrf=t1";
    const api = fakeFetch({
      "GET /api/cutout/jobs/j1": () => json(job()),
      "POST /api/cutout/jobs/j1/phase": () => json(job({ phase: "ABORTED", progress: null })),
      "DELETE /api/cutout/jobs/j1": () => json({ version: "1.1", jobs: [] }),
    });
    vi.stubGlobal("fetch", api.fn);
    const onDeleted = vi.fn();
    const user = userEvent.setup();
    render(<JobPage service="cutout" jobId="j1" onDeleted={onDeleted} />);
    await user.click(await screen.findByRole("button", { name: "Abort job" }));
    await waitFor(() => expect(screen.getByTestId("job-status")).toHaveTextContent("ABORTED"));
    const abort = api.calls.find((c) => c.method === "POST")!;
    expect(String(abort.init.body)).toBe("PHASE=ABORT");
    expect((abort.init.headers as Record<string, string>)["X-XSRFToken"]).toBe("t1");

    await user.click(screen.getByRole("button", { name: "Delete job…" }));
    await user.click(screen.getByRole("button", { name: "Yes, delete this job" }));
    await waitFor(() => expect(onDeleted).toHaveBeenCalledWith("cutout", "j1"));
    const remove = api.calls.find((c) => c.method === "DELETE")!;
    expect((remove.init.headers as Record<string, string>)["X-XSRFToken"]).toBe("t1");
  });

  it("says so when the job does not exist", async () => {
    vi.stubGlobal("fetch", fakeFetch({}).fn);
    render(<JobPage service="cutout" jobId="nope" />);
    expect(await screen.findByText(/does not exist/)).toBeInTheDocument();
  });
});

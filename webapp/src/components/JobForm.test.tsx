import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { JobForm } from "./JobForm";
import { completedJob, cutoutService, fakeFetch, json } from "../test/fixtures";

afterEach(() => {
  vi.unstubAllGlobals();
  document.cookie = "_xsrf=; expires=Thu, 01 Jan 1970 00:00:00 GMT";
});

/** The API refuses the submission with a 400 naming `parameter`, as the server's UsageError does. */
function rejectSubmission(message: string, parameter: string) {
  vi.stubGlobal("fetch", fakeFetch({
    "POST /api/cutout/jobs": () => json({ error: "UsageError", message, status: 400, parameter }, 400),
  }).fn);
}

describe("JobForm", () => {
  it("labels every control and groups them", () => {
    render(<JobForm service={cutoutService} onCreated={() => {}} />);
    expect(screen.getByRole("group", { name: "Positions" })).toBeInTheDocument();
    expect(screen.getByLabelText("Positions table (CSV)")).toBeInTheDocument();
    expect(screen.getByLabelText("Or upload a CSV file")).toBeInTheDocument();
    expect(screen.getByLabelText("Size (arcmin)")).toHaveValue(5);
    expect(screen.getByRole("group", { name: "Bands (GHz)" })).toBeInTheDocument();
    expect(screen.getByRole("checkbox", { name: "150" })).not.toBeChecked();
    expect(screen.getByLabelText("Format")).toHaveValue("fits");
    expect(screen.getByLabelText("Bundle")).toHaveValue("none");
    // Every form control has an accessible name.
    for (const control of document.querySelectorAll("input, select, textarea")) {
      expect(control.id ? document.querySelector(`label[for="${control.id}"]`) ?? control.closest("label") : control.closest("label")).not.toBeNull();
    }
  });

  it("submits the parameters with PHASE=RUN and the XSRF token, then reports the job", async () => {
    document.cookie = "_xsrf=tok%7C123";
    const api = fakeFetch({ "POST /api/cutout/jobs": () => json({ ...completedJob, phase: "QUEUED" }) });
    vi.stubGlobal("fetch", api.fn);
    const onCreated = vi.fn();
    const user = userEvent.setup();
    render(<JobForm service={cutoutService} onCreated={onCreated} />);
    await user.type(screen.getByLabelText("Positions table (CSV)"), "name,ra,dec{enter}a,1,2");
    await user.click(screen.getByRole("checkbox", { name: "95" }));
    await user.selectOptions(screen.getByLabelText("Format"), "png");
    await user.selectOptions(screen.getByLabelText("Bundle"), "zip");
    await user.click(screen.getByRole("button", { name: "Submit job" }));
    await waitFor(() => expect(onCreated).toHaveBeenCalledOnce());
    const [call] = api.calls;
    const headers = call.init.headers as Record<string, string>;
    expect(headers["X-XSRFToken"]).toBe("tok|123");
    expect(headers["Content-Type"]).toBe("application/x-www-form-urlencoded");
    expect([...new URLSearchParams(String(call.init.body))]).toEqual([
      ["positions", "name,ra,dec\na,1,2"],
      ["band", "95"],
      ["format", "png"],
      ["bundle", "zip"],
      ["PHASE", "RUN"],
    ]);
  });

  it("shows the server's 400 message next to the field it names, and focuses that field", async () => {
    const message = "invalid parameter size '0': must be in (0, 60] arcmin";
    rejectSubmission(message, "size");
    const user = userEvent.setup();
    render(<JobForm service={cutoutService} onCreated={() => {}} />);
    const size = screen.getByLabelText("Size (arcmin)");
    await user.clear(size);
    await user.type(size, "0");
    await user.click(screen.getByRole("button", { name: "Submit job" }));
    const error = await screen.findByText(message);
    expect(size).toHaveAttribute("aria-invalid", "true");
    expect(size.getAttribute("aria-describedby")).toContain(error.id);
    await waitFor(() => expect(size).toHaveFocus());
    // Editing the field clears its message.
    await user.type(size, "1");
    expect(screen.queryByText(message)).not.toBeInTheDocument();
  });

  it("shows an error naming no field above the buttons", async () => {
    const message = "no position given: use POS (or CIRCLE/POLYGON), ra and dec, or a positions table";
    rejectSubmission(message, "Host");
    const user = userEvent.setup();
    render(<JobForm service={cutoutService} onCreated={() => {}} />);
    await user.click(screen.getByRole("button", { name: "Submit job" }));
    expect(await screen.findByTestId("form-error")).toHaveTextContent(message);
  });

  it("reads an uploaded CSV file into the positions table", async () => {
    const user = userEvent.setup();
    render(<JobForm service={cutoutService} onCreated={() => {}} />);
    const csv = "name,ra,dec\nx,10,-50\ny,11,-51\n";
    await user.upload(screen.getByLabelText("Or upload a CSV file"), new File([csv], "targets.csv", { type: "text/csv" }));
    await waitFor(() => expect(screen.getByLabelText("Positions table (CSV)")).toHaveValue(csv));
  });
});

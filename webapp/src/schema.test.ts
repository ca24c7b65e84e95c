import { describe, expect, it } from "vitest";
import { fieldFor, fieldsFromSchema, initialValues, toPairs } from "./schema";
import { sections } from "./ui";
import { cutoutService } from "./test/fixtures";

const fields = fieldsFromSchema(cutoutService.parameters);
const byName = Object.fromEntries(fields.map((f) => [f.name, f]));

describe("fieldsFromSchema", () => {
  it("makes one field per parameter, named as a request names it", () => {
    expect(fields.map((f) => f.name)).toEqual(Object.keys(cutoutService.parameters.properties!));
    expect(byName.positions).toBeDefined(); // the alias, not positions_table
    expect(byName.ID).toBeDefined();
  });

  it("picks a widget from each type", () => {
    expect(byName.format).toMatchObject({ widget: "select", options: ["fits", "png", "both"], initial: "fits" });
    expect(byName.bundle).toMatchObject({ widget: "select", options: ["none", "tar.gz", "zip"] });
    expect(byName.band).toMatchObject({ widget: "checkboxes", options: ["95", "150", "220"], initial: [] });
    expect(byName.colormap).toMatchObject({ widget: "select", initial: "gray" });
    expect(byName.axes).toMatchObject({ widget: "checkbox", initial: false });
    expect(byName.size).toMatchObject({ widget: "number", numeric: "number", initial: "5" });
    expect(byName.ra).toMatchObject({ widget: "number", nullable: true, initial: "" });
    expect(byName.positions).toMatchObject({ widget: "textarea", nullable: true });
    expect(byName.pos).toMatchObject({ widget: "lines", initial: "", example: "CIRCLE 352.5 -55.2 0.05" });
  });

  it("groups the fields into sections, positions first, the rarely used folded", () => {
    const result = sections(fields);
    expect(result.map((s) => s.title)).toEqual(["Positions", "Cutout", "Output", "More options"]);
    expect(result[0].fields.map((f) => f.name)).toEqual(["positions", "pos", "ra", "dec"]);
    expect(result[3].folded).toBe(true);
    expect(result.flatMap((s) => s.fields)).toHaveLength(fields.length);
  });
});

describe("toPairs", () => {
  it("sends only what differs from the defaults, lists as repeated names", () => {
    const values = initialValues(fields);
    expect(toPairs(fields, values)).toEqual([]);
    values.positions = "name,ra,dec\na,1,2\n";
    values.pos = "CIRCLE 1 2 0.1\n\n CIRCLE 3 4 0.1 ";
    values.band = ["150", "95"];
    values.format = "png";
    values.axes = true;
    values.size = " 2.5 ";
    expect(toPairs(fields, values)).toEqual([
      ["pos", "CIRCLE 1 2 0.1"],
      ["pos", "CIRCLE 3 4 0.1"],
      ["size", "2.5"],
      ["positions", "name,ra,dec\na,1,2\n"],
      ["band", "150"],
      ["band", "95"],
      ["format", "png"],
      ["axes", "true"],
    ]);
  });

  it("finds the field an error names, whatever its case", () => {
    expect(fieldFor(fields, "POS")?.name).toBe("pos");
    expect(fieldFor(fields, "id")?.name).toBe("ID");
    expect(fieldFor(fields, "Host")).toBeNull();
    expect(fieldFor(fields, null)).toBeNull();
  });
});

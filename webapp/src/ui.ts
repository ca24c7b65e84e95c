// How the cutout form groups the fields the schema gives: sections, their order, short labels and hints.
// Only presentation: a parameter the schema gains later still shows up (in "More options"), and one it
// loses disappears; what each field is and accepts comes from the schema (schema.ts).

import type { FieldSpec } from "./schema";

export interface Section {
  title: string;
  /** Folded away (a <details>) until opened. */
  folded: boolean;
  fields: FieldSpec[];
}

interface Hint {
  section: string;
  label?: string;
  help?: string;
  placeholder?: string;
  /** A positions table: a text area plus a CSV file chooser that fills it. */
  upload?: boolean;
}

const POSITIONS = "Positions";
const CUTOUT = "Cutout";
const OUTPUT = "Output";
const MORE = "More options";

export const SECTION_ORDER: { title: string; folded: boolean }[] = [
  { title: POSITIONS, folded: false },
  { title: CUTOUT, folded: false },
  { title: OUTPUT, folded: false },
  { title: MORE, folded: true },
];

export const HINTS: Record<string, Hint> = {
  positions: {
    section: POSITIONS,
    label: "Positions table (CSV)",
    help: "Type, paste or upload a table with a header line: name, ra, dec and optionally size (degrees; size in arcmin).",
    placeholder: "name,ra,dec\nsrc1,352.5,-55.2\nsrc2,353.0,-55.4",
    upload: true,
  },
  pos: {
    section: POSITIONS,
    label: "SODA positions (one per line)",
    placeholder: "CIRCLE 352.5 -55.2 0.05",
  },
  ra: { section: POSITIONS, label: "RA of a single position (deg)" },
  dec: { section: POSITIONS, label: "Dec of a single position (deg)" },
  size: { section: CUTOUT, label: "Size (arcmin)" },
  band: { section: CUTOUT, label: "Bands (GHz)", help: "None checked: every band." },
  ID: { section: CUTOUT, label: "Maps (one per line)", help: "Empty: every map covering the position." },
  format: { section: OUTPUT, label: "Format" },
  bundle: { section: OUTPUT, label: "Bundle" },
  scaling: { section: OUTPUT, label: "PNG scaling" },
  colormap: { section: OUTPUT, label: "PNG colormap", help: "The colours of PNG intensities." },
  axes: { section: OUTPUT, label: "Axes and colour bar on PNGs" },
};

export function hintFor(name: string): Hint | undefined {
  return HINTS[name];
}

/** The fields in their sections, in the order of SECTION_ORDER and, within one, of HINTS. */
export function sections(fields: FieldSpec[]): Section[] {
  const order = Object.keys(HINTS);
  const rank = (f: FieldSpec) => {
    const i = order.indexOf(f.name);
    return i < 0 ? order.length : i;
  };
  return SECTION_ORDER.map(({ title, folded }) => ({
    title,
    folded,
    fields: fields
      .filter((f) => (HINTS[f.name]?.section ?? MORE) === title)
      .sort((a, b) => rank(a) - rank(b)),
  })).filter((s) => s.fields.length > 0);
}

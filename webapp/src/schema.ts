// From a service's parameter schema (the JSON Schema of its pydantic model, in GET /api/services) to the
// fields of a form, and from the form's values back to the request's (name, value) pairs.
//
// Every property of the schema becomes a field; how it is shown comes from its type: an enum is a select,
// a boolean a checkbox, a number a number input, an array a repeatable value (one per line, or checkboxes
// when the schema lists the choices in `x-options`), a long string a text area. `ui.ts` only groups and
// orders them.

import type { JsonSchema } from "./api";

export type Widget = "text" | "textarea" | "number" | "select" | "checkbox" | "checkboxes" | "lines";

export type FieldValue = string | string[] | boolean;

export interface FieldSpec {
  /** The parameter's name in a request (the schema's property name, an alias where the model has one). */
  name: string;
  label: string;
  description: string | null;
  widget: Widget;
  /** Choices of a select or of checkboxes. */
  options: string[];
  /** The value the form starts with (the schema's default, as the form holds it). */
  initial: FieldValue;
  /** The number type of a number input or of a list's items. */
  numeric: "number" | "integer" | null;
  required: boolean;
  nullable: boolean;
  maxLength: number | null;
  example: string | null;
}

function resolve(schema: JsonSchema, root: JsonSchema): JsonSchema {
  const ref = schema.$ref;
  if (typeof ref === "string" && ref.startsWith("#/")) {
    let node: unknown = root;
    for (const part of ref.slice(2).split("/")) {
      node = (node as Record<string, unknown> | undefined)?.[part];
    }
    if (node && typeof node === "object") return { ...(node as JsonSchema), ...schema, $ref: undefined };
  }
  return schema;
}

/** The schema without its `null` alternative (`anyOf: [X, {type: null}]` → X), and whether it had one. */
function nonNull(schema: JsonSchema, root: JsonSchema): { schema: JsonSchema; nullable: boolean } {
  const resolved = resolve(schema, root);
  if (Array.isArray(resolved.anyOf)) {
    const others = resolved.anyOf.map((s) => resolve(s, root)).filter((s) => s.type !== "null");
    const nullable = others.length < resolved.anyOf.length;
    if (others.length === 1) {
      const { anyOf: _drop, ...rest } = resolved;
      void _drop;
      return { schema: { ...others[0], ...rest }, nullable };
    }
    return { schema: resolved, nullable };
  }
  if (Array.isArray(resolved.type)) {
    const types = resolved.type.filter((t) => t !== "null");
    return { schema: { ...resolved, type: types.length === 1 ? types[0] : types }, nullable: types.length < resolved.type.length };
  }
  return { schema: resolved, nullable: false };
}

function asText(value: unknown): string {
  if (value === null || value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

function numericType(schema: JsonSchema): "number" | "integer" | null {
  return schema.type === "integer" ? "integer" : schema.type === "number" ? "number" : null;
}

/** Long text parameters (an uploaded table) get a text area rather than a one-line input. */
const TEXTAREA_MIN_LENGTH = 1000;

/** One field of the form per property of `schema`, in the schema's order. */
export function fieldsFromSchema(root: JsonSchema): FieldSpec[] {
  const properties = root.properties ?? {};
  const required = new Set(root.required ?? []);
  return Object.entries(properties).map(([name, raw]) => {
    const { schema, nullable } = nonNull(raw, root);
    const base = {
      name,
      label: schema.title ?? raw.title ?? name,
      description: (schema.description ?? raw.description ?? null) as string | null,
      required: required.has(name),
      nullable,
      maxLength: typeof schema.maxLength === "number" ? schema.maxLength : null,
      example: Array.isArray(raw.examples) && raw.examples.length ? asText(raw.examples[0]) : null,
    };
    const fallback = raw.default !== undefined ? raw.default : schema.default;
    if (Array.isArray(schema.enum)) {
      return {
        ...base,
        widget: "select",
        options: schema.enum.map(asText),
        initial: asText(fallback ?? (nullable ? "" : schema.enum[0])),
        numeric: null,
      };
    }
    if (schema.type === "boolean") {
      return { ...base, widget: "checkbox", options: [], initial: fallback === true, numeric: null };
    }
    if (schema.type === "array") {
      const items = nonNull(schema.items ?? {}, root).schema;
      const choices = (schema["x-options"] ?? items.enum) as unknown[] | undefined;
      const initial = Array.isArray(fallback) ? fallback.map(asText) : [];
      if (Array.isArray(choices) && choices.length) {
        return { ...base, widget: "checkboxes", options: choices.map(asText), initial, numeric: numericType(items) };
      }
      return { ...base, widget: "lines", options: [], initial: initial.join("\n"), numeric: numericType(items) };
    }
    const choices = schema["x-options"];
    if (Array.isArray(choices) && choices.length) {
      // A string with its usual values listed (the server accepts what the title says, e.g. any case).
      return { ...base, widget: "select", options: choices.map(asText), initial: asText(fallback), numeric: null };
    }
    const numeric = numericType(schema);
    if (numeric) {
      return { ...base, widget: "number", options: [], initial: asText(fallback), numeric };
    }
    const long = base.maxLength === null || base.maxLength > TEXTAREA_MIN_LENGTH;
    const widget: Widget = long && base.maxLength !== null ? "textarea" : "text";
    return { ...base, widget, options: [], initial: asText(fallback), numeric: null };
  });
}

export type FormValues = Record<string, FieldValue>;

export function initialValues(fields: FieldSpec[]): FormValues {
  return Object.fromEntries(fields.map((f) => [f.name, Array.isArray(f.initial) ? [...f.initial] : f.initial]));
}

/** Lines of a list field: one value per line, blank lines dropped. */
export function splitLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

/**
 * The request's parameters: one pair per value (a list repeats its name), only those the user set.
 *
 * A value left at the schema's default is not sent, so the server's default applies (and a job's
 * parameters show what the user chose); an empty optional value is not sent either.
 */
export function toPairs(fields: FieldSpec[], values: FormValues): [string, string][] {
  const pairs: [string, string][] = [];
  for (const field of fields) {
    const value = values[field.name];
    if (value === undefined) continue;
    if (field.widget === "checkbox") {
      if (value !== field.initial) pairs.push([field.name, value ? "true" : "false"]);
    } else if (field.widget === "lines" && typeof value === "string") {
      const list = splitLines(value);
      if (!sameList(list, splitLines(String(field.initial)))) for (const item of list) pairs.push([field.name, item]);
    } else if (Array.isArray(value)) {
      const initial = Array.isArray(field.initial) ? field.initial : [];
      if (!sameList(value, initial)) for (const item of value) pairs.push([field.name, item]);
    } else if (typeof value === "string") {
      const text = field.widget === "textarea" ? value : value.trim();
      if (text.trim() !== "" && text !== field.initial) pairs.push([field.name, text]);
    }
  }
  return pairs;
}

/** The field an error's `parameter` names (parameter names are case-insensitive in DALI), or null. */
export function fieldFor(fields: FieldSpec[], parameter: string | null): FieldSpec | null {
  if (!parameter) return null;
  const wanted = parameter.toLowerCase();
  return fields.find((f) => f.name.toLowerCase() === wanted) ?? null;
}

import { useMemo, useRef, useState, type FormEvent } from "react";
import { ApiError, createJob, type Job, type ServiceInfo } from "../api";
import { fieldFor, fieldsFromSchema, initialValues, toPairs, type FieldSpec, type FieldValue, type FormValues } from "../schema";
import { hintFor, sections } from "../ui";

/** Largest CSV file read into the positions field (the API refuses larger bodies anyway). */
export const MAX_UPLOAD_BYTES = 8 * 1024 * 1024;

interface Props {
  service: ServiceInfo;
  onCreated(job: Job): void;
}

/** The form of a new job, generated from the service's parameter schema; the API's 400s shown by the field. */
export function JobForm({ service, onCreated }: Props) {
  const fields = useMemo(() => fieldsFromSchema(service.parameters), [service]);
  const [values, setValues] = useState<FormValues>(() => initialValues(fields));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const formRef = useRef<HTMLFormElement>(null);

  const set = (name: string, value: FieldValue) => {
    setValues((old) => ({ ...old, [name]: value }));
    setErrors((old) => {
      if (!(name in old)) return old;
      const { [name]: _gone, ...rest } = old;
      void _gone;
      return rest;
    });
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setErrors({});
    setFormError(null);
    try {
      const job = await createJob(service.name, toPairs(fields, values));
      onCreated(job);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const field = error instanceof ApiError ? fieldFor(fields, error.parameter) : null;
      if (field) {
        setErrors({ [field.name]: message });
        // The field with the problem gets the focus, and its message is read out with it.
        requestAnimationFrame(() => {
          const input = formRef.current?.querySelector<HTMLElement>(`[data-field="${field.name}"]`);
          const details = input?.closest("details");
          if (details) details.open = true;
          input?.focus();
        });
      } else {
        setFormError(message);
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <form ref={formRef} className="job-form" onSubmit={submit} noValidate aria-describedby="form-intro">
      <p id="form-intro" className="muted">
        {service.description}
      </p>
      {sections(fields).map((section) => {
        const body = section.fields.map((field) => (
          <Field key={field.name} field={field} value={values[field.name]} error={errors[field.name]} onChange={set} />
        ));
        return section.folded ? (
          <details key={section.title} className="section">
            <summary>{section.title}</summary>
            {body}
          </details>
        ) : (
          <fieldset key={section.title} className="section">
            <legend>{section.title}</legend>
            {body}
          </fieldset>
        );
      })}
      {formError && (
        <p className="error" role="alert" data-testid="form-error">
          {formError}
        </p>
      )}
      <div className="actions">
        <button type="submit" disabled={busy}>
          {busy ? "Submitting…" : "Submit job"}
        </button>
        <button
          type="button"
          className="secondary"
          onClick={() => {
            setValues(initialValues(fields));
            setErrors({});
            setFormError(null);
          }}
        >
          Reset
        </button>
      </div>
    </form>
  );
}

interface FieldProps {
  field: FieldSpec;
  value: FieldValue | undefined;
  error: string | undefined;
  onChange(name: string, value: FieldValue): void;
}

function Field({ field, value, error, onChange }: FieldProps) {
  const hint = hintFor(field.name);
  const id = `field-${field.name}`;
  const helpId = `${id}-help`;
  const errorId = `${id}-error`;
  const label = hint?.label ?? field.label;
  const help = hint?.help ?? (hint?.label ? field.label : null) ?? field.description;
  const describedBy = [help ? helpId : null, error ? errorId : null].filter(Boolean).join(" ") || undefined;
  const common = {
    id,
    name: field.name,
    "data-field": field.name,
    "aria-invalid": error ? true : undefined,
    "aria-describedby": describedBy,
  };
  const text = typeof value === "string" ? value : "";
  let control: React.ReactNode;

  switch (field.widget) {
    case "select":
      control = (
        <select {...common} value={text} onChange={(e) => onChange(field.name, e.target.value)}>
          {field.nullable && <option value="">(default)</option>}
          {field.options.map((option) => (
            <option key={option} value={option}>
              {option}
            </option>
          ))}
        </select>
      );
      break;
    case "checkbox":
      control = (
        <input {...common} type="checkbox" checked={value === true} onChange={(e) => onChange(field.name, e.target.checked)} />
      );
      break;
    case "checkboxes": {
      const chosen = Array.isArray(value) ? value : [];
      return (
        <fieldset className={error ? "field invalid" : "field"} aria-describedby={describedBy}>
          <legend>{label}</legend>
          <div className="choices" data-field={field.name} tabIndex={-1}>
            {field.options.map((option) => (
              <label key={option} className="choice">
                <input
                  type="checkbox"
                  name={field.name}
                  value={option}
                  checked={chosen.includes(option)}
                  onChange={(e) =>
                    onChange(
                      field.name,
                      e.target.checked ? [...chosen, option] : chosen.filter((c) => c !== option),
                    )
                  }
                />
                {option}
              </label>
            ))}
          </div>
          <Messages help={help} helpId={helpId} error={error} errorId={errorId} />
        </fieldset>
      );
    }
    case "number":
      control = (
        <input
          {...common}
          type="number"
          inputMode="decimal"
          step={field.numeric === "integer" ? 1 : "any"}
          value={text}
          onChange={(e) => onChange(field.name, e.target.value)}
        />
      );
      break;
    case "lines":
    case "textarea":
      control = (
        <>
          <textarea
            {...common}
            rows={field.widget === "textarea" ? 5 : 2}
            spellCheck={false}
            placeholder={hint?.placeholder ?? field.example ?? undefined}
            value={text}
            onChange={(e) => onChange(field.name, e.target.value)}
          />
          {hint?.upload && <Upload field={field} onLoad={(content) => onChange(field.name, content)} />}
        </>
      );
      break;
    default:
      control = (
        <input
          {...common}
          type="text"
          placeholder={hint?.placeholder ?? field.example ?? undefined}
          value={text}
          onChange={(e) => onChange(field.name, e.target.value)}
        />
      );
  }

  return (
    <div className={`field field-${field.widget}${error ? " invalid" : ""}`}>
      {field.widget === "checkbox" ? (
        <label htmlFor={id} className="choice">
          {control}
          {label}
        </label>
      ) : (
        <>
          <label htmlFor={id}>{label}</label>
          {control}
        </>
      )}
      <Messages help={help} helpId={helpId} error={error} errorId={errorId} />
    </div>
  );
}

function Messages({ help, helpId, error, errorId }: { help: string | null; helpId: string; error?: string; errorId: string }) {
  return (
    <>
      {help && (
        <p id={helpId} className="help">
          {help}
        </p>
      )}
      {error && (
        <p id={errorId} className="field-error" role="alert">
          {error}
        </p>
      )}
    </>
  );
}

function Upload({ field, onLoad }: { field: FieldSpec; onLoad(content: string): void }) {
  const [problem, setProblem] = useState<string | null>(null);
  const id = `field-${field.name}-file`;
  return (
    <div className="upload">
      <label htmlFor={id}>Or upload a CSV file</label>
      <input
        id={id}
        type="file"
        accept=".csv,.tsv,.txt,.xml,.vot,text/csv,text/plain"
        onChange={async (e) => {
          const file = e.target.files?.[0];
          if (!file) return;
          if (file.size > MAX_UPLOAD_BYTES) {
            setProblem(`${file.name} is larger than ${MAX_UPLOAD_BYTES / 1024 / 1024} MB.`);
            return;
          }
          setProblem(null);
          onLoad(await file.text());
        }}
      />
      {problem && (
        <p className="field-error" role="alert">
          {problem}
        </p>
      )}
    </div>
  );
}

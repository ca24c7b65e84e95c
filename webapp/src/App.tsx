import { useEffect, useState } from "react";
import { ApiError, fetchServices, type Job, type ServiceInfo } from "./api";
import { JobForm } from "./components/JobForm";
import { JobList } from "./components/JobList";
import { JobPage } from "./components/JobPage";
import { UserBar } from "./components/UserBar";
import { useMyJobs } from "./useMyJobs";
import { BASE, jobPath, navigate, onLinkClick, useRoute } from "./router";

/** The service this app is for. */
export const SERVICE = "cutout";

export function App() {
  const route = useRoute();
  const [service, setService] = useState<ServiceInfo | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const myJobs = useMyJobs(SERVICE);

  useEffect(() => {
    const controller = new AbortController();
    fetchServices(controller.signal)
      .then((services) => {
        const found = services.find((s) => s.name === SERVICE);
        if (found) setService(found);
        else setLoadError(`This server offers no "${SERVICE}" service.`);
      })
      .catch((error: unknown) => {
        if (controller.signal.aborted) return;
        setLoadError(error instanceof ApiError ? error.message : "The API cannot be reached.");
      });
    return () => controller.abort();
  }, []);

  useEffect(() => {
    document.title = route.page === "job" ? `Job ${route.jobId} · SPT-3G cutouts` : "SPT-3G map cutouts";
  }, [route]);

  const created = (job: Job) => {
    myJobs.add(job);
    navigate(jobPath(job.jobId));
  };

  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="app-header">
        <a className="app-title" href={BASE} onClick={onLinkClick}>
          SPT-3G map cutouts
        </a>
        <UserBar />
      </header>
      <main id="main" tabIndex={-1}>
        {loadError && (
          <p className="error" role="alert">
            {loadError}
          </p>
        )}
        {route.page === "job" ? (
          <JobPage key={route.jobId} service={SERVICE} jobId={route.jobId} onJob={myJobs.update} onDeleted={myJobs.remove} />
        ) : (
          <div className="home">
            <section className="panel" aria-labelledby="new-job-heading">
              <h1 id="new-job-heading">New cutout job</h1>
              {service ? <JobForm service={service} onCreated={created} /> : !loadError && <p>Loading the service…</p>}
            </section>
            <section className="panel" aria-labelledby="my-jobs-heading">
              <h2 id="my-jobs-heading">My jobs</h2>
              <JobList jobs={myJobs.jobs} error={myJobs.error} mode={myJobs.mode} />
            </section>
          </div>
        )}
      </main>
    </>
  );
}

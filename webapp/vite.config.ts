/// <reference types="vitest/config" />
// The cutout web app. `npm run dev` (or `npm start`, as the chart's devMode and the Okteto manifests run it)
// serves /app/cutout/ with hot reload on PORT (3000) and proxies /api (WebSockets included) and /account to
// the API at API_PROXY_TARGET (default http://127.0.0.1:8080, `make run`). `npm run build` writes dist/,
// which the API serves under /app/cutout (spt_api/handlers/webapp.py).
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

const target = process.env.API_PROXY_TARGET ?? "http://127.0.0.1:8080";
const host = process.env.HOST ?? "127.0.0.1";
// On a laptop (127.0.0.1) Vite's Host check stays (DNS rebinding); in the cluster (HOST=0.0.0.0, the chart's
// devMode and Okteto) the Ingress's host name reaches it, and the Ingress decides who gets there.
const local = ["127.0.0.1", "localhost", "::1"].includes(host);

export default defineConfig({
  base: "/app/cutout/",
  plugins: [react()],
  server: {
    host,
    allowedHosts: local ? undefined : true,
    port: Number(process.env.PORT ?? 3000),
    strictPort: true,
    proxy: {
      // The Host header is kept (no changeOrigin): the API checks a browser's Origin against it.
      "/api": { target, ws: true },
      "/account": { target },
    },
  },
  build: { outDir: "dist", sourcemap: true },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
  },
});

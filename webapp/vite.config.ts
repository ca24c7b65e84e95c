/// <reference types="vitest/config" />
// The cutout web app. `npm run dev` (or `npm start`, as the chart's devMode and the Okteto manifests run it)
// serves /app/cutout/ with hot reload on PORT (3000) and proxies /api (WebSockets included) and /account to
// the API at API_PROXY_TARGET (default http://127.0.0.1:8080, `make run`). `npm run build` writes dist/,
// which the API serves under /app/cutout (spt_api/handlers/webapp.py).
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

const target = process.env.API_PROXY_TARGET ?? "http://127.0.0.1:8080";

export default defineConfig({
  base: "/app/cutout/",
  plugins: [react()],
  server: {
    host: process.env.HOST ?? "127.0.0.1",
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

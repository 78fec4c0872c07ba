import { resolve } from 'node:path';
import { defineConfig } from 'vite';

// The page (src/web) is bundled into dist/web, which `hwr serve` serves at `/`. The bundle must work
// under a CSP without 'unsafe-inline': only external module scripts and stylesheets are emitted.
export default defineConfig({
  root: resolve(import.meta.dirname, 'src/web'),
  base: './',
  build: {
    outDir: resolve(import.meta.dirname, 'dist/web'),
    emptyOutDir: true,
    target: 'es2022',
    // No module-preload polyfill: every browser that runs the page's ES2022 has <link rel=modulepreload>.
    // The lazy chunks (TF.js for in-browser inference, the offline outbox) are fetched by import().
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: true,
    // The in-browser inference chunk (TF.js core + layers + wasm and cpu backends, about 740 kB, 200 kB gzip)
    // is that large by nature; it loads only with import() (src/web/device.ts), never with the page.
    chunkSizeWarningLimit: 800,
    // Two pages: the draw page at / and the admin view at /admin (served as admin.html).
    rollupOptions: {
      input: {
        main: resolve(import.meta.dirname, 'src/web/index.html'),
        admin: resolve(import.meta.dirname, 'src/web/admin.html'),
      },
    },
  },
  server: {
    // `npm run dev:web` next to `hwr serve --port 3000`: the dev page talks to the real API.
    proxy: { '/api': 'http://127.0.0.1:3000' },
  },
});

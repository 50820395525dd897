import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The build goes where the server serves it from: packages/server/dist/dashboard (see server src/main.ts).
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../server/dist/dashboard', import.meta.url)),
    emptyOutDir: true,
    sourcemap: false,
  },
  server: { proxy: { '/v1': 'http://127.0.0.1:8787', '/health': 'http://127.0.0.1:8787' } },
});

import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

const api = process.env.SLIPWAY_API_URL ?? 'http://127.0.0.1:3000'

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: { '/api': api, '/readyz': api, '/healthz': api },
  },
  build: { target: 'es2022', sourcemap: true },
})

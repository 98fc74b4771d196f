// First import of main.tsx: zod is told not to compile parsers before any schema exists (CSP).
import '@slipway/contracts/no-eval'

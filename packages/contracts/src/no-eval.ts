import { z } from 'zod'

// Parse without generating code. Zod compiles fast object parsers with `new Function` when a
// schema is created, which the dashboard's Content-Security-Policy (no 'unsafe-eval') refuses,
// and even zod's probe for it is reported as a violation. The dashboard imports this module
// before anything else (apps/web/src/main.tsx), so no schema has been created yet.
z.config({ jitless: true })

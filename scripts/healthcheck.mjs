// Container health check: exits 0 when the URL (argument, or HEALTHCHECK_URL) answers 2xx within 3 s.
// Node is in every image; curl and wget are not.
const url = process.argv[2] ?? process.env.HEALTHCHECK_URL ?? 'http://127.0.0.1:3000/readyz';
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
}

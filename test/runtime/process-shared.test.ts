// The runtime's process tests (process.test.ts) again, on shared workers: every guest there is made
// suspendable and hosted by one of two threads, so waits, pause, kill and output go through suspension.
process.env.WW_TEST_WORKERS = 'shared';
await import('./process.test.js');

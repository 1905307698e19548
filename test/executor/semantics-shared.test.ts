// semantics.test.ts again on shared workers (many guests per thread): every wait there suspends its guest.
process.env.WW_TEST_WORKERS = 'shared';
await import('./semantics.test.js');

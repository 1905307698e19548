// runtime.test.ts again on shared workers: accept, recv, send and poll of pre-opened sockets suspend the guest.
process.env.WW_TEST_WORKERS = 'shared';
await import('./runtime.test.js');

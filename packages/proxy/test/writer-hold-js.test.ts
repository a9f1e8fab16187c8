/**
 * The held mode of a writer switch on the JavaScript relay (engine: js):
 * writer-hold.test.ts again, with BATON_TEST_ENGINE=js.
 */
process.env.BATON_TEST_ENGINE = 'js';
await import('./writer-hold.test.js');

/**
 * The JavaScript relay (engine: js) under every relay test the native
 * engine passes: relay.test.ts again, with BATON_TEST_ENGINE=js.
 */
process.env.BATON_TEST_ENGINE = 'js';
await import('./relay.test.js');

/**
 * e2e-workers.test.ts again on the JavaScript relay (engine: js), which stays
 * under the same tests as the native engine.
 */
process.env.BATON_TEST_ENGINE = 'js';
await import('./e2e-workers.test.js');

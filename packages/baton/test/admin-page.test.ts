/**
 * The status page as text: one self-contained document (nothing fetched from
 * another origin, so it works offline), the stable hooks the end-to-end test
 * and scripts rely on, and an inline script that parses and never hands API
 * data to the HTML parser. Its behaviour in a browser is covered by
 * test/e2e-status-page.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderStatusPage } from '../src/admin/page.js';

const page = renderStatusPage();

function inlineScripts(html: string): string[] {
  return [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)].map((m) => {
    assert.doesNotMatch(m[1] ?? '', /\bsrc\s*=/i, 'scripts are inline');
    return m[2] ?? '';
  });
}

test('the page is one complete HTML document', () => {
  assert.match(page, /^<!doctype html>\s*<html lang="en">/i);
  assert.equal(page.match(/<html\b/gi)?.length, 1);
  assert.equal(page.match(/<\/html>/gi)?.length, 1);
  assert.equal(page.match(/<body\b/gi)?.length, 1);
  assert.match(page, /<meta charset="utf-8">/i);
  assert.match(page, /<meta name="viewport"/i);
  assert.equal(renderStatusPage(), page, 'the same document every time');
});

test('nothing is fetched from another origin', () => {
  for (const bad of [/src\s*=\s*["']?(https?:)?\/\//i, /href\s*=\s*["']?(https?:)?\/\//i, /@import/i, /url\(\s*["']?(https?:)?\/\//i, /@font-face/i]) {
    assert.doesNotMatch(page, bad);
  }
  assert.doesNotMatch(page, /<link\b(?![^>]*rel="icon"[^>]*href="data:)/i, 'the only link is the empty data: favicon');
  const script = inlineScripts(page).join('\n');
  // Only the relative API paths, so the page also works behind a path prefix.
  assert.deepEqual([...script.matchAll(/fetch\(\s*'([^']*)'/g)].map((m) => m[1]).sort(), ['api/services/', 'api/status']);
});

test('the stable hooks are there: rows, buttons, VRRP blocks, loaded flag', () => {
  const script = inlineScripts(page).join('\n');
  for (const hook of ["'data-service'", "'data-server'", "'data-state'", "'data-action'", "'data-vrrp'", 'document.body.dataset.loaded = \'1\'']) {
    assert.ok(script.includes(hook), `the script sets ${hook}`);
  }
  for (const action of ['ready', 'drain', 'maint']) assert.ok(script.includes(`action('${action}'`), `a ${action} button`);
  assert.match(page, /<body data-loaded="0">/);
  for (const id of ['banner', 'message', 'message-text', 'token', 'auth', 'services', 'vrrp']) {
    assert.match(page, new RegExp(`id="${id}"`), `#${id}`);
  }
  assert.match(page, /id="auth" hidden/, 'the token input shows only when the API asks for it');
  assert.match(page, /sessionStorage/);
  assert.match(script, /'Authorization'|Authorization = 'Bearer '/);
});

test('a change is a same-origin JSON POST, the only kind the API accepts', () => {
  const script = inlineScripts(page).join('\n');
  // The API answers 415 to any other body type and 403 to another origin.
  assert.match(script, /'Content-Type': 'application\/json'/);
  assert.match(script, /method: 'POST', headers, body: JSON\.stringify\(\{ state \}\)/);
  assert.doesNotMatch(script, /mode:\s*'no-cors'|credentials:\s*'include'/);
});

test('the inline script parses and keeps API data away from the HTML parser', () => {
  const scripts = inlineScripts(page);
  assert.equal(scripts.length, 1);
  const script = scripts[0]!;
  // Compiles without running (it needs a DOM).
  assert.doesNotThrow(() => new Function(script));
  assert.doesNotMatch(script, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/);
  assert.doesNotMatch(script, /<\/script/i);
  assert.match(script, /textContent/);
  assert.match(script, /encodeURIComponent\(service\)/);
  assert.match(script, /encodeURIComponent\(server\)/);
});

test('CSS and script are inline and the page stays small', () => {
  assert.equal(page.match(/<style>/g)?.length, 1);
  assert.match(page, /system-ui/);
  assert.ok(Buffer.byteLength(page) < 40_000, `page is ${Buffer.byteLength(page)} bytes`);
});

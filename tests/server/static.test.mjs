// The web app's files: content types, the security headers, and no way out of web/.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, http, rawGet, rawHttp, startServer } from './harness.mjs';

const WEB = path.join(ROOT, 'web');

let server;
before(async () => { server = await startServer({ args: ['--web-root', WEB] }); });
after(async () => { await server?.kill(); });

function assertSecurityHeaders(headers) {
  const get = (name) => (typeof headers.get === 'function' ? headers.get(name) : headers[name]);
  const csp = get('content-security-policy');
  assert.ok(csp, 'Content-Security-Policy is set');
  assert.match(csp, /(^|;)\s*default-src 'self'\s*(;|$)/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(get('x-content-type-options'), 'nosniff');
  assert.equal(get('x-frame-options'), 'DENY');
}

describe('static files', () => {
  test('GET / is web/index.html as HTML with the security headers', async () => {
    const r = await http(server, '/');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(r.text, fs.readFileSync(path.join(WEB, 'index.html'), 'utf8'));
    assertSecurityHeaders(r.headers);
  });

  test('every file of web/ is served byte for byte with its content type', async () => {
    const types = {
      '.html': 'text/html; charset=utf-8',
      '.js': 'text/javascript; charset=utf-8',
      '.css': 'text/css; charset=utf-8',
      '.svg': 'image/svg+xml',
      '.json': 'application/json; charset=utf-8',
      '.png': 'image/png',
    };
    const files = fs.readdirSync(WEB, { recursive: true })
      .filter((f) => fs.statSync(path.join(WEB, f)).isFile() && types[path.extname(f)]);
    assert.ok(files.some((f) => f.endsWith('.js')) && files.some((f) => f.endsWith('.css')));
    for (const file of files) {
      const urlPath = `/${file.split(path.sep).join('/')}`;
      const response = await fetch(server.url + urlPath);
      const body = Buffer.from(await response.arrayBuffer());
      assert.equal(response.status, 200, urlPath);
      assert.equal(response.headers.get('content-type'), types[path.extname(file)], urlPath);
      assert.ok(body.equals(fs.readFileSync(path.join(WEB, file))), `${urlPath} served as is`);
      assertSecurityHeaders(response.headers);
    }
  });

  test('HEAD gives the headers and length without a body', async () => {
    const r = await rawHttp(server, `HEAD /index.html HTTP/1.1\r\nHost: ${server.host}\r\nConnection: close\r\n\r\n`);
    assert.equal(r.status, 200);
    assert.equal(Number(r.headers['content-length']), fs.statSync(path.join(WEB, 'index.html')).size);
    assert.equal(r.body, '');
    assertSecurityHeaders(r.headers);
  });

  test('404 for a missing file, a directory, and a file outside the app', async () => {
    for (const p of ['/missing.html', '/js', '/js/', '/package.json']) {
      const r = await http(server, p);
      assert.equal(r.status, 404, p);
      assertSecurityHeaders(r.headers);
    }
  });

  test('405 with Allow for a method other than GET and HEAD', async () => {
    const r = await http(server, '/index.html', { method: 'POST', body: 'x' });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'GET, HEAD');
  });
});

describe('path traversal', () => {
  // Sent byte for byte (fetch would normalise the dots away). None may reach a
  // file outside web/, whatever the encoding.
  const attempts = [
    '/../CMakeLists.txt',
    '/js/../../CMakeLists.txt',
    '/%2e%2e/CMakeLists.txt',
    '/%2E%2E/%2E%2E/etc/passwd',
    '/..%2fCMakeLists.txt',
    '/..%2FCMakeLists.txt',
    '/js/..%2f..%2fCMakeLists.txt',
    '/%252e%252e/CMakeLists.txt',
    '/..%5cCMakeLists.txt',
    '/..\\CMakeLists.txt',
    '/js/%2e%2e%2f%2e%2e%2fREADME.md',
    '/%c0%ae%c0%ae/CMakeLists.txt',
    '/./index.html',
    '//etc/passwd',
    '/index.html%00.js',
    '/%',
    '/%zz',
    '/..',
    'index.html',
  ];
  for (const target of attempts) {
    test(`GET ${target} is refused`, async () => {
      const r = await rawGet(server, target);
      assert.ok([400, 404].includes(r.status), `status ${r.status}`);
      assert.doesNotMatch(r.body, /cmake_minimum_required|root:x:0:0|# parley/);
    });
  }

  test('a symlink inside web/ cannot lead out of it', async (t) => {
    const dir = fs.mkdtempSync(path.join(ROOT, 'build', 'webroot-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>t</title>');
    fs.symlinkSync(path.join(ROOT, 'CMakeLists.txt'), path.join(dir, 'escape.txt'));
    const other = await startServer({ args: ['--web-root', dir] });
    try {
      assert.equal((await http(other, '/')).status, 200);
      const r = await http(other, '/escape.txt');
      assert.ok([400, 404].includes(r.status), `status ${r.status}`);
      assert.doesNotMatch(r.text, /cmake_minimum_required/);
    } finally {
      await other.kill();
    }
  });
});

// A light HTTP load client for the benchmarks (Node, keep-alive, one process): it costs
// far less CPU per request than a Python client, so on a shared 2-core machine the
// server's figures are the server's. Reads one JSON job on stdin, prints one JSON answer.
//
// Job: {base, mode, requests: [{path, headers}], connections, seconds, warmup_s, users}
//   closed: `connections` loops, each sending the next request (round robin over
//           `requests`) as soon as its answer is in, for `seconds` after `warmup_s`.
//   open:   `users` users (user i sends requests[i % n]), each about once a second
//           (a uniform 0.5-1.5 s gap, not waiting for answers), for `seconds`.
//   once:   every request once, `connections` at a time; answers kept in order.
// Answer: {ms: [latency of each counted request], statuses: {code: count}, elapsed_s,
//          results (once: [{status, etag}])}. Status 0 is a connection error.
"use strict";
const http = require("http");

const job = JSON.parse(require("fs").readFileSync(0, "utf8"));
const base = new URL(job.base);
const agent = new http.Agent({ keepAlive: true, maxSockets: job.connections || job.users || 64 });

function get(req) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const done = (status, etag) =>
      resolve({ status, etag, ms: Number(process.hrtime.bigint() - started) / 1e6 });
    const r = http.request(
      { host: base.hostname, port: base.port, path: req.path, headers: req.headers || {}, agent },
      (res) => {
        res.on("data", () => {});
        res.on("end", () => done(res.statusCode, res.headers.etag || null));
        res.on("error", () => done(0, null));
      },
    );
    r.on("error", () => done(0, null));
    r.end();
  });
}

async function closed() {
  const ms = [];
  const statuses = {};
  let next = 0;
  const warmEnd = Date.now() + (job.warmup_s || 0) * 1000;
  const end = warmEnd + job.seconds * 1000;
  async function loop() {
    while (Date.now() < end) {
      const req = job.requests[next++ % job.requests.length];
      const counted = Date.now() >= warmEnd;
      const a = await get(req);
      if (counted && Date.now() <= end) {
        ms.push(a.ms);
        statuses[a.status] = (statuses[a.status] || 0) + 1;
      }
    }
  }
  const loops = [];
  for (let i = 0; i < job.connections; i++) loops.push(loop());
  await Promise.all(loops);
  return { ms, statuses, elapsed_s: job.seconds };
}

async function open() {
  const ms = [];
  const statuses = {};
  const pending = [];
  const end = Date.now() + job.seconds * 1000;
  const users = [];
  for (let u = 0; u < job.users; u++) {
    users.push(
      new Promise((resolveUser) => {
        const req = job.requests[u % job.requests.length];
        const send = () => {
          if (Date.now() >= end) return resolveUser();
          pending.push(
            get(req).then((a) => {
              ms.push(a.ms);
              statuses[a.status] = (statuses[a.status] || 0) + 1;
            }),
          );
          setTimeout(send, 500 + Math.random() * 1000);
        };
        setTimeout(send, Math.random() * 1000);
      }),
    );
  }
  await Promise.all(users);
  await Promise.all(pending);
  return { ms, statuses, elapsed_s: job.seconds };
}

async function once() {
  const results = new Array(job.requests.length);
  const ms = [];
  const statuses = {};
  let next = 0;
  const started = process.hrtime.bigint();
  async function loop() {
    while (next < job.requests.length) {
      const i = next++;
      const a = await get(job.requests[i]);
      results[i] = { status: a.status, etag: a.etag };
      ms.push(a.ms);
      statuses[a.status] = (statuses[a.status] || 0) + 1;
    }
  }
  const loops = [];
  for (let i = 0; i < job.connections; i++) loops.push(loop());
  await Promise.all(loops);
  const elapsed_s = Number(process.hrtime.bigint() - started) / 1e9;
  return { ms, statuses, elapsed_s, results };
}

const modes = { closed, open, once };
modes[job.mode]().then((answer) => {
  process.stdout.write(JSON.stringify(answer));
  agent.destroy();
});

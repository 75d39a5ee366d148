#!/usr/bin/env node
// bench/wire_counter.js: a TCP proxy that counts the round trips a client
// (zsimemd) makes to a server, for bench/backends. It reads what the client
// sends, counts each message that ends a round trip, then forwards the bytes
// unchanged; answers are passed back as they come.
//
//   node bench/wire_counter.js MODE LISTEN_PORT TARGET_HOST:TARGET_PORT CONTROL_PORT
//
// MODE:
//   pg    PostgreSQL's frontend protocol (v3). The first messages (SSLRequest,
//         GSSENCRequest, the startup packet) have no type byte: an int32
//         length, then a code; every later one is a type byte and an int32
//         length. 'Q' (simple query) and 'S' (Sync, which ends an extended
//         query: Parse/Bind/Execute) each cost one round trip. A Bind names
//         its prepared statement, whose text the Parse gave: that is how a
//         round trip is labelled.
//   http  HTTP/1.1 requests (DynamoDB's JSON protocol, the Firestore
//         emulator's REST API): each request is one round trip, labelled by
//         its X-Amz-Target operation, else by its method and path.
//
// GET http://127.0.0.1:CONTROL_PORT/count answers the counts so far as JSON:
//   {"round_trips": N, "connections": N, "kinds": {KIND: N, ...}, "labels": {LABEL: N, ...}}
// where KIND is read, write, audit (an append of audit records only: a
// read's deferred audit), prepare or other, and connections counts the
// client's connections (PostgreSQL: startup packets; HTTP: TCP connections).
// The proxy runs until it is killed.
"use strict";

const net = require("net");
const http = require("http");

const [mode, listenPort, target, controlPort] = process.argv.slice(2);
if (!["pg", "http"].includes(mode) || !listenPort || !target || !controlPort) {
  process.stderr.write("usage: wire_counter.js pg|http LISTEN_PORT TARGET_HOST:TARGET_PORT CONTROL_PORT\n");
  process.exit(2);
}
const colon = target.lastIndexOf(":");
const targetHost = target.slice(0, colon);
const targetPort = Number(target.slice(colon + 1));

const counts = { round_trips: 0, connections: 0, kinds: {}, labels: {} };
function count(kind, label) {
  counts.round_trips += 1;
  counts.kinds[kind] = (counts.kinds[kind] || 0) + 1;
  const key = `${kind}: ${label}`;
  counts.labels[key] = (counts.labels[key] || 0) + 1;
}

// ---- PostgreSQL -----------------------------------------------------------

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

function cstring(buf, at) {
  const end = buf.indexOf(0, at);
  return [buf.toString("utf8", at, end), end + 1];
}

// What a statement does, from its text and (for a call of append) its first
// parameter: the records, "[]" when it only appends audit records.
function classifyPg(sql, firstParam) {
  const text = sql.replace(/\s+/g, " ").trim();
  if (/\.append\(/.test(text)) {
    return firstParam === "[]" ? ["audit", "append(audit records only)"] : ["write", "append(versions)"];
  }
  const from = /^SELECT .*? FROM (\S+?)(?:\s|$)/i.exec(text);
  if (from) {
    const table = from[1].replace(/^"?[^".]*"?\./, "");
    return ["read", `SELECT FROM ${table}`];
  }
  return ["other", text.slice(0, 48)];
}

function pgParser() {
  let buffer = Buffer.alloc(0);
  let typed = false; // past the startup packet
  const statements = new Map(); // prepared statement name -> text
  let pending = null; // [kind, label] of the extended query until its Sync
  return (chunk) => {
    buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
    for (;;) {
      if (!typed) {
        if (buffer.length < 8) return;
        const length = buffer.readInt32BE(0);
        if (buffer.length < length) return;
        const code = buffer.readInt32BE(4);
        if (code !== SSL_REQUEST && code !== GSSENC_REQUEST && code !== CANCEL_REQUEST) {
          typed = true;
          counts.connections += 1; // its exchange (authentication) is not counted
        }
        buffer = buffer.subarray(length);
        continue;
      }
      if (buffer.length < 5) return;
      const type = String.fromCharCode(buffer[0]);
      const length = buffer.readInt32BE(1);
      if (buffer.length < 1 + length) return;
      const body = buffer.subarray(5, 1 + length);
      buffer = buffer.subarray(1 + length);
      if (type === "Q") {
        const [sql] = cstring(body, 0);
        const [kind, label] = classifyPg(sql, null);
        count(kind === "read" || kind === "write" ? kind : "other", `simple query: ${label}`);
      } else if (type === "P") {
        const [name, at] = cstring(body, 0);
        const [sql] = cstring(body, at);
        if (name) statements.set(name, sql);
        pending = pending || ["prepare", `parse: ${classifyPg(sql, null)[1]}`];
        pending.sql = sql;
      } else if (type === "B") {
        let [, at] = cstring(body, 0); // portal
        let name;
        [name, at] = cstring(body, at);
        const formats = body.readInt16BE(at);
        at += 2 + 2 * formats;
        const params = body.readInt16BE(at);
        at += 2;
        let first = null;
        if (params > 0) {
          const size = body.readInt32BE(at);
          first = size < 0 ? null : body.toString("utf8", at + 4, at + 4 + size);
        }
        const sql = name ? statements.get(name) || "" : (pending && pending.sql) || "";
        pending = classifyPg(sql, first);
      } else if (type === "S") {
        const [kind, label] = pending || ["other", "sync"];
        count(kind, label);
        pending = null;
      }
      // D, E, C, H, X and the rest neither end a round trip nor label one.
    }
  };
}

// ---- HTTP -----------------------------------------------------------------

function classifyHttp(method, path, headers, body) {
  const amzTarget = headers["x-amz-target"];
  if (amzTarget) {
    const operation = amzTarget.slice(amzTarget.lastIndexOf(".") + 1);
    if (["GetItem", "BatchGetItem", "Query", "Scan", "DescribeTable"].includes(operation)) {
      return ["read", operation];
    }
    if (operation === "PutItem" && body.includes('"user_id":{"S":"$audit"}')) {
      return ["audit", "PutItem of an audit record"];
    }
    return ["write", operation];
  }
  // Firestore's REST API: documents:commit / :batchWrite write (a commit
  // that writes no version, only documents of the audit collection, is an
  // audit write), the rest read.
  const bare = path.split("?")[0];
  const verb = /:([A-Za-z]+)$/.exec(bare);
  const what = verb ? `:${verb[1]}` : bare.replace(/\/documents\/.*/, "/documents/...");
  const writes = method === "PATCH" || method === "DELETE" || (verb && ["commit", "batchWrite"].includes(verb[1]));
  if (writes && !body.includes("/versions/") && body.includes("/documents/audit/")) {
    return ["audit", `${method} ${what} of audit records only`];
  }
  return [writes ? "write" : "read", `${method} ${what}`];
}

function httpParser() {
  let buffer = Buffer.alloc(0);
  return (chunk) => {
    buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
    for (;;) {
      const end = buffer.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = buffer.toString("latin1", 0, end).split("\r\n");
      const [method, path] = head[0].split(" ");
      const headers = {};
      for (const line of head.slice(1)) {
        const at = line.indexOf(":");
        if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
      }
      let at = end + 4;
      let body = "";
      if (/chunked/i.test(headers["transfer-encoding"] || "")) {
        const parts = [];
        for (;;) {
          const line = buffer.indexOf("\r\n", at);
          if (line < 0) return; // wait for more
          const size = parseInt(buffer.toString("latin1", at, line), 16);
          if (buffer.length < line + 2 + size + 2) return;
          parts.push(buffer.subarray(line + 2, line + 2 + size));
          at = line + 2 + size + 2;
          if (size === 0) break; // no trailers expected
        }
        body = Buffer.concat(parts).toString("utf8");
      } else {
        const size = Number(headers["content-length"] || 0);
        if (buffer.length < at + size) return;
        body = buffer.toString("utf8", at, at + size);
        at += size;
      }
      buffer = buffer.subarray(at);
      const [kind, label] = classifyHttp(method, path, headers, body);
      count(kind, label);
    }
  };
}

// ---- The proxy and its control port ----------------------------------------

const proxy = net.createServer((client) => {
  if (mode === "http") counts.connections += 1;
  const parse = mode === "pg" ? pgParser() : httpParser();
  const server = net.connect(targetPort, targetHost);
  client.setNoDelay(true);
  server.setNoDelay(true);
  const close = () => {
    client.destroy();
    server.destroy();
  };
  client.on("data", (chunk) => {
    try {
      parse(chunk); // counted before the server can see it
    } catch (error) {
      process.stderr.write(`wire_counter: cannot parse the client's stream: ${error.stack}\n`);
      counts.parse_errors = (counts.parse_errors || 0) + 1;
    }
    server.write(chunk);
  });
  server.on("data", (chunk) => client.write(chunk));
  client.on("end", () => server.end());
  server.on("end", () => client.end());
  client.on("error", close);
  server.on("error", close);
  client.on("close", close);
  server.on("close", close);
});
proxy.listen(Number(listenPort), "127.0.0.1");

http
  .createServer((request, response) => {
    if (request.url !== "/count") {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(counts));
  })
  .listen(Number(controlPort), "127.0.0.1");

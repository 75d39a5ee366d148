// A TCP proxy on loopback: node tcp_proxy.js LISTEN_PORT TARGET_PORT.
//
// tests/services/run puts it in front of the Firestore emulator, which keeps
// its data in memory only: stopping the proxy takes the emulator away from
// its clients (refused connections, open ones cut) without losing what it
// stored, as stopping a real server would.
'use strict';
const net = require('net');

const [listenPort, targetPort] = process.argv.slice(2).map(Number);
if (!listenPort || !targetPort) {
  console.error('usage: node tcp_proxy.js LISTEN_PORT TARGET_PORT');
  process.exit(2);
}

net
  .createServer({ noDelay: true }, (client) => {
    const server = net.connect({ host: '127.0.0.1', port: targetPort, noDelay: true });
    const close = () => {
      client.destroy();
      server.destroy();
    };
    for (const socket of [client, server]) {
      socket.on('error', close);
      socket.on('close', close);
    }
    client.pipe(server);
    server.pipe(client);
  })
  .listen(listenPort, '127.0.0.1');

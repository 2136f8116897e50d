/**
 * The bench's "broker alone" process: the aedes version citypipe embeds, on TCP 127.0.0.1, with
 * authenticate and authorizePublish hooks that accept everything and no pipeline behind them. The
 * difference between this and citypipe end to end is what authentication, ACLs, validation,
 * enrichment, the spool and writing cost.
 * Prints `{"port":N}` once listening; SIGTERM stops it.
 */
import net from 'node:net';
import { Aedes } from 'aedes';

const aedes = await Aedes.createBroker({
  authenticate: (_client, _username, _password, done) => done(null, true),
  authorizePublish: (_client, _packet, done) => done(null),
});
const server = net.createServer(aedes.handle);
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: (server.address() as net.AddressInfo).port }) + '\n');
});
const stop = (): void => {
  server.close();
  aedes.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

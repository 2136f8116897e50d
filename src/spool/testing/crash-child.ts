/**
 * Child process of the kill -9 test: appends payloads as fast as the disk takes them (fsync on, small
 * segments so segments roll under the kill), reads everything back and acknowledges it (every third
 * record 30 ms late, so acks come out of order and the cursor lags), and prints `d <seq> <i>` when
 * an append's `done` fired and `a <seq>` when it acknowledged one. It never stops by itself; the
 * test kills it with SIGKILL.
 *
 * Usage: node --import ./register-ts.mjs crash-child.ts <dir>
 */
import { Spool } from '../spool.js';
import { crashPayload } from './crash-payload.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: crash-child.ts <dir>');

// On Linux, stdout to a pipe is written synchronously: the line is in the pipe before the next
// append, however soon the kill comes.
const say = (line: string) => process.stdout.write(`${line}\n`);

const spool = new Spool({ dir, maxBytes: 1024 * 1024 * 1024, segmentBytes: 64 * 1024, cursorIntervalMs: 20 });
await spool.start();
say('started');

let i = 0;
let inFlight = 0;
function pump(): void {
  while (inFlight < 500) {
    const index = i++;
    inFlight++;
    const seq = spool.append(crashPayload(index), (err) => {
      inFlight--;
      if (err) say(`e ${index} ${err.message}`);
      else say(`d ${seq} ${index}`);
    });
  }
  setImmediate(pump);
}
pump();

for (;;) {
  const records = await spool.read(200);
  for (const r of records) {
    const ack = () => {
      spool.ack(r.seq);
      say(`a ${r.seq}`);
    };
    if (r.seq % 3 === 0) setTimeout(ack, 30);
    else ack();
  }
}

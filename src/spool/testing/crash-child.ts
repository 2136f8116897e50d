/**
 * Child process of the kill -9 test: appends payloads as fast as the disk takes them (fsync on, small
 * segments so segments roll under the kill), reads everything back and acknowledges it (every third
 * record 30 ms late, so acks come out of order and the cursor lags), and reports `d <seq> <i>` when
 * an append's `done` fired and `a <seq>` when it acknowledged one. It never stops by itself; the
 * test kills it with SIGKILL.
 *
 * The report goes to a file with a synchronous write, not to stdout: stdout to a pipe is written
 * asynchronously once the pipe is full (Node queues the rest in the process), so a parent slow to
 * read would lose the last lines to the kill, while the acks they report had already let the spool
 * delete their records. A returned write(2) is in the kernel, which a SIGKILL does not undo.
 *
 * Usage: node --import ./register-ts.mjs crash-child.ts <dir> <report file>
 */
import { openSync, writeSync } from 'node:fs';
import { Spool } from '../spool.js';
import { crashPayload } from './crash-payload.js';

const [dir, reportFile] = process.argv.slice(2);
if (!dir || !reportFile) throw new Error('usage: crash-child.ts <dir> <report file>');

const report = openSync(reportFile, 'a');
/** The line is in the file before the next append or ack, however soon the kill comes. */
const say = (line: string) => {
  const b = Buffer.from(`${line}\n`);
  for (let off = 0; off < b.length; ) off += writeSync(report, b, off, b.length - off);
};

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

/**
 * (b) aedes alone and (c) Debian's mosquitto, with the same publishers and no pipeline.
 */
import { startAedesOnly, startMosquitto, type BrokerProcess } from './processes.js';
import { bench, fmt, HOST, type BenchContext } from './run-context.js';

export async function brokerAlone(ctx: BenchContext, which: 'aedes' | 'mosquitto'): Promise<{ qos0: number; qos1: number }> {
  const { sizes } = ctx;
  const label = which === 'aedes' ? '(b) aedes alone' : '(c) mosquitto';
  const broker: BrokerProcess =
    which === 'aedes'
      ? await startAedesOnly(bench('aedes-only.js'), 4096)
      : await startMosquitto(ctx.opts.mosquitto, ctx.workDir, 4096);
  try {
    await ctx.connectPublishers({ host: HOST, port: broker.port }, label);
    const rates = { qos0: 0, qos1: 0 };
    for (const qos of [0, 1] as const) {
      ctx.log(`${label}, QoS ${qos}: ${sizes.publishers} publishers × ${fmt(sizes.brokerMessagesPerPublisher)} messages`);
      const sampler = ctx.sampler({ broker: [broker.pid], generator: [ctx.main!.pid] });
      const r = await ctx.publishMax(qos, sizes.brokerMessagesPerPublisher, true);
      const usage = sampler.stop();
      ctx.processes[`${label} QoS ${qos}`] = usage;
      ctx.noteGeneratorBound(`${label} QoS ${qos}`, usage);
      rates[qos === 0 ? 'qos0' : 'qos1'] = ctx.brokerRate(r, qos, `${label} QoS ${qos}`);
      ctx.log(`    ${fmt(rates[qos === 0 ? 'qos0' : 'qos1'])} msgs/s`);
    }
    await ctx.main!.request({ cmd: 'disconnect' }, 30_000);
    return rates;
  } finally {
    await broker.stop();
  }
}

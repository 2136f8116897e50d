/** What every node-cron schedule of the service does when it stops. */
import type { ScheduledTask } from 'node-cron';

/** Stops a schedule and releases it (node-cron keeps a stopped task registered until destroyed). */
export async function stopCronTask(task: ScheduledTask | undefined): Promise<void> {
  if (!task) return;
  await task.stop();
  await task.destroy();
}

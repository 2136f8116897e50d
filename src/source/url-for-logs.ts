/**
 * A broker URL as logs and `/readyz` may show it: without the user name and password a URL may
 * carry (`mqtt://user:secret@host`).
 */
export function urlForLogs(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    u.username = '';
    return u.toString();
  } catch {
    return 'the configured URL';
  }
}

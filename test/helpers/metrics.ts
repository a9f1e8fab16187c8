/** Reading Prometheus text in tests: the samples of one metric whose labels include the given ones. */

function samples(text: string, name: string, labels: Record<string, string>): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    const body = line.slice(name.length);
    if (Object.entries(labels).every(([k, v]) => body.includes(`${k}="${v}"`))) out.push(Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
}

/** The first matching sample's value, or undefined. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  return samples(text, name, labels)[0];
}

/** The sum of every matching sample. */
export function sum(text: string, name: string, labels: Record<string, string> = {}): number {
  return samples(text, name, labels).reduce((a, b) => a + b, 0);
}

/**
 * Writes a mapped keepalived config as baton.yaml text: the yaml package's
 * Document API, so every part carries a comment naming the keepalived block
 * it came from, and every keyword that was not imported is a comment beside
 * its block (file:line, the statement, why).
 *
 * Invariants: the text is a pure function of the mapping (golden tests pin
 * it); small maps and argv lists are written in flow style so a server or a
 * command stays on one line.
 */
import { Document, isMap, isSeq, type Node } from 'yaml';
import type { MappedConfig } from './map.js';

const FLOW_PARENTS = new Set(['servers', 'command', 'notify', 'notify_master', 'notify_backup', 'notify_fault', 'notify_stop', 'unicast_peers', 'virtual_ips', 'interfaces', 'instances']);

/** Flow style for short leaves: server entries, argv lists, address lists. */
function styleFlow(node: unknown, parentKey: string | undefined): void {
  if (isSeq(node)) {
    if (parentKey && FLOW_PARENTS.has(parentKey) && parentKey !== 'servers' && parentKey !== 'notify') node.flow = true;
    for (const item of node.items) {
      if (parentKey === 'servers' && isMap(item)) item.flow = true;
      if ((parentKey === 'notify' || parentKey?.startsWith('notify_')) && isSeq(item)) item.flow = true;
      if (parentKey === 'interfaces' && isMap(item)) item.flow = true;
      styleFlow(item, undefined);
    }
  } else if (isMap(node)) {
    for (const pair of node.items) {
      const key = String((pair.key as { value?: unknown })?.value ?? pair.key);
      if ((key === 'garp' || key === 'scripts') && isMap(pair.value)) (pair.value as { flow?: boolean }).flow = true;
      styleFlow(pair.value, key);
    }
  }
}

export function emitBatonYaml(mapped: MappedConfig, sourceName: string): string {
  const doc = new Document(mapped.config);
  styleFlow(doc.contents, undefined);
  const header = [
    ` Baton config imported from ${sourceName} by \`baton import-keepalived\`.`,
    ' Each part names the keepalived block it came from. "note:" lines tell what',
    ' differs or has no effect under Baton; "DECIDE:" lines tell what keepalived',
    ' did that this file does not do: read them before the first start.',
  ];
  if (mapped.env.length > 0) {
    header.push('', ' Set these variables where Baton runs (the values are not copied here):');
    for (const e of mapped.env) header.push(`   ${e.name}: ${e.why}`);
  }
  const top = mapped.header.map((l) => ` ${l}`);
  if (top.length > 0) header.push('', ...top);
  doc.commentBefore = header.join('\n');
  for (const c of mapped.comments) {
    const node = doc.getIn(c.path, true) as Node | undefined;
    if (!node) continue;
    if (c.inline) {
      node.comment = ` ${c.before.join('; ')}`;
      continue;
    }
    const text = c.before.map((l) => ` ${l}`).join('\n');
    node.commentBefore = node.commentBefore ? `${node.commentBefore}\n${text}` : text;
  }
  if (mapped.config.vrrp === undefined && mapped.config.services === undefined) {
    // An empty mapping still has to be a valid file: say why it is empty.
    doc.comment = ' nothing in the source maps to a service or a VRRP instance';
  }
  const text = doc.toString({ lineWidth: 0, flowCollectionPadding: false });
  return text.endsWith('\n') ? text : `${text}\n`;
}

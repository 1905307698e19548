// The node tree as `argo get` prints it: one line per step with its phase, template, duration and
// message, indented under its parent, cut to a terminal's width. Step groups are not lines of their
// own (as in argo get): their steps hang under the steps template that holds them.
import type { NodeStatus, Phase, WorkflowStatus } from './model.js';

const SYMBOL: Record<Phase, string> = { Succeeded: '✔', Failed: '✖', Error: '⚠', Skipped: '○', Omitted: '○', Running: '●', Pending: '◷' };

export function formatTree(name: string, status: WorkflowStatus, width: number): string {
  const nodes = new Map(Object.values(status.nodes).map((n) => [n.id, n]));
  const rows: { prefix: string; node: NodeStatus }[] = [];
  const shown = (n: NodeStatus): NodeStatus[] => (n.type === 'StepGroup' ? (n.children ?? []).flatMap((c) => shown(nodes.get(c)!)) : [n]);
  const visit = (node: NodeStatus, prefix: string, childPrefix: string): void => {
    rows.push({ prefix, node });
    const children = (node.children ?? []).flatMap((c) => shown(nodes.get(c)!));
    children.forEach((child, i) => {
      const last = i === children.length - 1;
      visit(child, `${childPrefix}${last ? '└─' : '├─'}`, `${childPrefix}${last ? '  ' : '│ '}`);
    });
  };
  const roots = [...nodes.values()].filter((n) => ![...nodes.values()].some((p) => p.children?.includes(n.id)));
  for (const root of roots) visit(root, '', '');

  const header = [`Name:      ${name}`, `Status:    ${status.phase}`, ...(status.message ? [`Message:   ${status.message}`] : []), `Duration:  ${duration(status.startedAt, status.finishedAt)}`, ''];
  const cells = rows.map(({ prefix, node }) => [`${prefix}${SYMBOL[node.phase]} ${node.displayName}`, node.templateName ?? '', duration(node.startedAt, node.finishedAt), node.message ?? '']);
  const titles = ['STEP', 'TEMPLATE', 'DURATION', 'MESSAGE'];
  const widths = [0, 1, 2].map((c) => Math.max(titles[c]!.length, ...cells.map((r) => [...r[c]!].length)));
  const line = (r: string[]): string => {
    const text = r.map((cell, c) => (c < 3 ? pad(cell, widths[c]!) : cell)).join('  ').trimEnd();
    return [...text].length > width ? `${[...text].slice(0, Math.max(width - 1, 1)).join('')}…` : text;
  };
  return `${[...header.map((h) => line([h, '', '', '']).trimEnd()), line(titles), ...cells.map(line)].join('\n')}\n`;
}

function pad(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - [...text].length));
}

function duration(start: string, end: string | undefined): string {
  if (!end) return '';
  const ms = Date.parse(end) - Date.parse(start);
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
}

/** go-units RAMInBytes: binary multiples, optional `i`/`b` suffix (`10m`, `1g`, `512KiB`); undefined if malformed. */
export function ramInBytes(v: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(v);
  if (!match) return undefined;
  const power = match[2] ? 'kmgtp'.indexOf(match[2].toLowerCase()) + 1 : 0;
  return Math.floor(Number(match[1]) * 1024 ** power);
}

/** The `dr` CLI. (Skeleton: commands land in the following commits.) */
export async function main(argv: string[]): Promise<number> {
  process.stderr.write(`dr: not implemented yet: ${argv[0] ?? ''}\n`);
  return 2;
}

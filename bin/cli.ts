/** The CLI's entry for the bundle (scripts/build-cli.mjs): runs main() on the process arguments. */
import { main } from './dr.ts';

process.exitCode = await main(process.argv.slice(2));

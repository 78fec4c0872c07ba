// Runs the hwr CLI from source in a child process (node --import tsx test/crash/hwr-entry.ts serve ...).
import { main } from '../../src/cli/main.js';

await main(process.argv);

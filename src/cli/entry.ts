// Entry point for `hwr` child processes started by the server (admin retrain jobs): the same CLI as
// bin/hwr.js, runnable from the sources (node --import tsx) as well as from dist/.
import { main } from './main.js';

await main(process.argv);

// solc 0.8.20 through npm's solc-js (emscripten; nothing is downloaded at run time).
// Two uses, one file:
//   * `node solcjs.js --version` / `node solcjs.js --standard-json < input.json`: the command-line
//     surface of a native solc that ezkl's create_evm_verifier probes (through svm, as
//     $HOME/.svm/0.8.20/solc-0.8.20); the worker points a throw-away HOME at a shim that runs this;
//   * the worker's own compile of the verifier (standard JSON in, standard JSON out).
// The solc-js package directory comes from AGORA_SOLCJS_DIR (the repository's node_modules/solc).
const solc = require(process.env.AGORA_SOLCJS_DIR || 'solc');
const args = process.argv.slice(2);
if (args.includes('--version')) {
  console.log('solc, the solidity compiler commandline interface');
  console.log('Version: ' + solc.version());
  process.exit(0);
}
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => { process.stdout.write(solc.compile(input)); });

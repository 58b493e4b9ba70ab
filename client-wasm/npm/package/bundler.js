// The entry point for bundlers that import .wasm as an ES module (webpack 5 with
// `experiments.asyncWebAssembly`, Vite with vite-plugin-wasm): wasm-bindgen's `--target bundler`
// build, which initialises itself when imported.
export { TetherSocket } from './tether-socket.js';

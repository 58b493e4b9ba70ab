// The entry point for browsers and for bundlers that load wasm through `new URL(..., import.meta.url)`
// (Vite, webpack 5, esbuild with a file loader): wasm-bindgen's `--target web` build, initialised
// here with top-level await, so `new TetherSocket(...)` works as soon as the import resolves.
import init from './tether_ws.js';

await init();

export { TetherSocket } from './tether-socket.js';
